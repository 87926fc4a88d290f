package ipc

// msgReady is the type of the Ready message.
const msgReady byte = 6

// AppendReady appends a Ready message: a worker handed a session with
// Handoff.Reuse set says with it that the session is over (its Stats and
// OriginStats sent, its background work done, every descriptor of the
// session closed) and that it waits for another Handoff.
//
//	 1 byte
//	+------+
//	|  06  |   exactly 1 byte
//	+------+
func AppendReady(b []byte) []byte { return append(b, msgReady) }

// DecodeReady decodes a Ready message; every error wraps ErrMalformed.
func DecodeReady(b []byte) error {
	r := reader{b: b, msg: "ready"}
	r.start(msgReady)
	return r.done()
}

// SendReady sends a Ready message (worker side), only after the Stats of a
// session handed over with Handoff.Reuse.
func (c *Conn) SendReady() error {
	return c.sendMsg(func(b []byte) ([]byte, error) { return AppendReady(b), nil }, nil)
}
