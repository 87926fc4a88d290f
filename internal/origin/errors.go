package origin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// The wire errors of this package. Every error Open and the readers return
// wraps exactly one of them, so the TFTP engine (anything looking for a
// TFTPError method with errors.As) sends its code and message; the rest of
// the error text (status, URL, network error) is for logs only.
var (
	// errNotFound is sent for 404 and 410.
	errNotFound = &tftp.Error{Code: tftp.CodeNotFound, Message: tftp.CodeNotFound.String()}
	// errAccess is sent for 401 and 403.
	errAccess = &tftp.Error{Code: tftp.CodeAccessViolation, Message: tftp.CodeAccessViolation.String()}
	// errOrigin is sent for everything else: other statuses, network
	// errors, timeouts, short bodies, bad URLs, cache failures.
	errOrigin = &tftp.Error{Code: tftp.CodeUndefined, Message: "origin error"}
)

// Causes, for logs and errors.Is.
var (
	// ErrIdleTimeout means the origin sent nothing for IdleTimeout while a
	// read waited for the body.
	ErrIdleTimeout = errors.New("origin idle timeout")
	// ErrHeaderTimeout means the origin did not answer with a status line
	// and headers within HeaderTimeout.
	ErrHeaderTimeout = errors.New("origin response header timeout")
	// ErrTooLarge means the object is larger than Client.MaxSize.
	ErrTooLarge = errors.New("origin object larger than the size limit")
	// ErrFillTimeout means a cache fill was stopped (Client.Abort) because
	// it outlived its session by more than the time a worker gives it.
	ErrFillTimeout = errors.New("cache fill time limit reached")
	// ErrLockTimeout means another process kept a cache entry locked for
	// longer than Cache.LockWait.
	ErrLockTimeout = errors.New("cache entry lock wait timed out")
)

// wrap returns an error that sends wire on the wire and reads
// "origin: <url>: <cause>" in logs.
func wrap(wire *tftp.Error, url string, cause error) error {
	return fmt.Errorf("origin: %s: %w: %w", url, cause, wire)
}

// statusError maps a final HTTP status other than 200 (and 304 during
// revalidation) to a TFTP error.
func statusError(url string, resp *http.Response) error {
	cause := &statusCause{code: resp.StatusCode, status: resp.Status}
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return wrap(errNotFound, url, cause)
	case http.StatusUnauthorized, http.StatusForbidden:
		return wrap(errAccess, url, cause)
	}
	return wrap(errOrigin, url, cause)
}
