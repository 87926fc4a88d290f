package server

import (
	"errors"
	"fmt"
)

// A Kind classifies what keeps a Server from starting, so that a command
// can choose its exit status (fbtftp-master uses in.tftpd's sysexits).
type Kind int

// The kinds of StartError.
const (
	KindUsage      Kind = iota + 1 // fields that cannot go together (too many directories, an address of the wrong family)
	KindNoInput                    // a missing directory, map file, worker binary, or an address that does not resolve
	KindNoUser                     // User names no user
	KindOS                         // sockets, processes: the system refused
	KindCantCreate                 // the HTTP cache directory cannot be created
	KindConfig                     // a bad map file or template data file, an HTTP cache inside a root
)

// StartError is what keeps a Server from starting. Its message is the
// one in.tftpd prints for the same mistake, where it has one.
type StartError struct {
	Kind Kind
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

func startErr(k Kind, format string, args ...any) error {
	return &StartError{Kind: k, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the Kind of a StartError in err's chain, 0 if none.
func KindOf(err error) Kind {
	var e *StartError
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
