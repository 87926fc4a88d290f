package udp

import "errors"

// ErrInterrupted is returned by SessionConn.ReadPacket once Interrupt has
// been called. It is distinct from a timeout: it does not satisfy
// errors.Is(err, os.ErrDeadlineExceeded).
var ErrInterrupted = errors.New("session interrupted")
