package fbtftp

import "context"

// Handler resolves a request to content. ServeTFTP runs in the session's
// worker process, after the sandbox (chroot, unprivileged user) is in
// place. It returns the data to send, or an error that becomes the ERROR
// packet (see WireError). ctx ends when the session must stop.
//
// Uploads (WRQ) are given to handlers that also implement WriteHandler;
// others answer them with ERROR 2.
type Handler interface {
	ServeTFTP(ctx context.Context, r *Request) (ResponseData, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) (ResponseData, error)

// ServeTFTP calls f(ctx, r).
func (f HandlerFunc) ServeTFTP(ctx context.Context, r *Request) (ResponseData, error) {
	return f(ctx, r)
}
