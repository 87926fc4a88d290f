package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen makes a notification socket that reports senders' pids, as
// systemd's does (SO_PASSCRED).
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	return c
}

// receive reads one notification and its sender's pid.
func receive(t *testing.T, c *net.UnixConn) (string, int) {
	t.Helper()
	buf, oob := make([]byte, 4096), make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return string(buf[:n]), int(cred.Pid)
		}
	}
	t.Fatal("no credentials")
	return "", 0
}

func TestSend(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run("abstract="+strconv.FormatBool(abstract), func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "notify")
			if abstract {
				name = "@fbtftp-sdnotify-test-" + strconv.Itoa(os.Getpid())
			}
			c := listen(t, name)
			t.Setenv(EnvSocket, name)
			s := TakeEnv()
			if _, ok := os.LookupEnv(EnvSocket); ok {
				t.Error("NOTIFY_SOCKET still in the environment")
			}
			if s.Env() != EnvSocket+"="+name {
				t.Errorf("Env() = %q", s.Env())
			}
			if err := s.Send("MAINPID=42", "READY=1"); err != nil {
				t.Fatal(err)
			}
			msg, pid := receive(t, c)
			if msg != "MAINPID=42\nREADY=1" || pid != os.Getpid() {
				t.Errorf("got %q from pid %d", msg, pid)
			}
		})
	}
}

func TestSendNothing(t *testing.T) {
	var s Socket
	if err := s.Send("READY=1"); err != nil || s.Env() != "" {
		t.Errorf("zero Socket: %v %q", err, s.Env())
	}
	if err := Socket("vsock:2:1234").Send("READY=1"); err != ErrUnsupported {
		t.Errorf("vsock: %v", err)
	}
	if err := Socket(filepath.Join(t.TempDir(), "none")).Send("READY=1"); err == nil {
		t.Error("no error for a missing socket")
	}
}
