// Package sdnotify tells the service manager about the server's state:
// systemd's notification protocol (sd_notify(3)), without libsystemd. The
// service manager names a unix datagram socket in NOTIFY_SOCKET; each
// notification is one datagram of newline-separated VARIABLE=value
// assignments ("READY=1", "MAINPID=1234", "STOPPING=1", "STATUS=text").
// The kernel attaches the sender's credentials, which systemd checks
// against NotifyAccess= (with NotifyAccess=main, only the service's main
// process is heard).
package sdnotify

import (
	"errors"
	"net"
	"os"
	"strings"
	"time"
)

// EnvSocket is the variable the service manager sets to its socket.
const EnvSocket = "NOTIFY_SOCKET"

// Socket is where notifications go; the zero value sends nothing.
type Socket string

// TakeEnv returns the socket named in NOTIFY_SOCKET and removes the
// variable from the environment, so that no child process (a worker)
// inherits it: sd_notify(3)'s unset_environment. A process that hands the
// service over to another (an upgrade) gives that one the variable again.
func TakeEnv() Socket {
	s := os.Getenv(EnvSocket)
	os.Unsetenv(EnvSocket)
	return Socket(s)
}

// Env is the variable's assignment for a child's environment, "" for
// the zero Socket.
func (s Socket) Env() string {
	if s == "" {
		return ""
	}
	return EnvSocket + "=" + string(s)
}

// ErrUnsupported is returned for a socket address that is neither a path
// nor an abstract name (systemd 254's vsock: addresses in VMs).
var ErrUnsupported = errors.New("sdnotify: unsupported socket address")

// sendTimeout bounds a send to a service manager that does not read.
const sendTimeout = 2 * time.Second

// Send sends one notification, the assignments joined by newlines. It
// does nothing for the zero Socket. An address starting with "@" is in
// the abstract namespace.
func (s Socket) Send(assignments ...string) error {
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(string(s), "/") && !strings.HasPrefix(string(s), "@") {
		return ErrUnsupported
	}
	// Go maps a leading "@" to the abstract namespace's NUL byte.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: string(s), Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err = c.Write([]byte(strings.Join(assignments, "\n")))
	return err
}
