package client

import (
	"errors"
	"fmt"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// ErrTimeout is wrapped by the error Get and Put return when the retransmit
// budget ran out, and by Session.Recv when nothing arrived in time.
var ErrTimeout = errors.New("tftp: timeout")

// ProtocolError reports a packet from the server that breaks the protocol
// (a malformed or unexpected packet, an OACK we did not ask for, a DATA
// block larger than the block size). The client answered it with an ERROR
// packet carrying Code before giving up.
type ProtocolError struct {
	Code   proto.ErrorCode // the code the client sent to the server
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("tftp: protocol error: %s", e.Reason)
}
