package client

import (
	"errors"
	"fmt"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// ErrTimeout is wrapped by the error Get and Put return when the retransmit
// budget ran out, and by Session.Recv when nothing arrived in time.
var ErrTimeout = errors.New("tftp: timeout")

// ServerError is an ERROR packet the server sent (RFC 1350 §5): the code
// and the message exactly as received.
type ServerError struct {
	Code    proto.ErrorCode
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("tftp: server error %d (%s): %s", uint16(e.Code), e.Code, e.Message)
}

// Is reports whether target is a *ServerError with the same code, so that
// errors.Is(err, &ServerError{Code: proto.ErrNotFound}) works.
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*ServerError)
	return ok && t.Code == e.Code
}

// TFTPError returns the code and message, like proto.Error.
func (e *ServerError) TFTPError() (proto.ErrorCode, string) { return e.Code, e.Message }

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
