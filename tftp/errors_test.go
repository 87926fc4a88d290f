package tftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestWireError(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		code ErrorCode
		msg  string
	}{
		{"sentinel", ErrNotFound, CodeNotFound, "File not found"},
		{"own message", &Error{Code: CodeAccessViolation, Message: "Reverse path not allowed"}, CodeAccessViolation, "Reverse path not allowed"},
		{"wrapped coded", fmt.Errorf("open: %w", &Error{Code: CodeDiskFull, Message: "quota"}), CodeDiskFull, "quota"},
		{"coded wins over its cause", &Error{Code: CodeUndefined, Message: "origin error", Err: fs.ErrNotExist}, CodeUndefined, "origin error"},
		{"cause never sent", &Error{Code: CodeNotFound, Err: errors.New("/srv/secret/path")}, CodeNotFound, "File not found"},
		{"remote", &Error{Code: CodeOptionRefused, Message: "no", Remote: true}, CodeOptionRefused, "no"},
		{"ENOENT", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, CodeNotFound, "File not found"},
		{"fs.ErrNotExist", fs.ErrNotExist, CodeNotFound, "File not found"},
		{"EACCES", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, CodeAccessViolation, "Access violation"},
		{"EPERM", syscall.EPERM, CodeAccessViolation, "Access violation"},
		{"ENOSPC", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, CodeDiskFull, "Disk full or allocation exceeded"},
		{"EDQUOT", fmt.Errorf("commit: %w", syscall.EDQUOT), CodeDiskFull, "Disk full or allocation exceeded"},
		{"EFBIG", syscall.EFBIG, CodeDiskFull, "Disk full or allocation exceeded"},
		{"context deadline", fmt.Errorf("fetch: %w", context.DeadlineExceeded), CodeUndefined, "timed out"},
		{"i/o deadline", &os.PathError{Op: "read", Path: "x", Err: os.ErrDeadlineExceeded}, CodeUndefined, "timed out"},
		{"other", errors.New("dial tcp 10.0.0.1:80: connection refused"), CodeUndefined, "server error"},
		{"EIO", syscall.EIO, CodeUndefined, "server error"},
		{"nil cause", &Error{Code: CodeIllegalOp}, CodeIllegalOp, "Illegal TFTP operation"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, msg := WireError(c.err)
			if code != c.code || msg != c.msg {
				t.Errorf("WireError(%v) = %d %q, want %d %q", c.err, code, msg, c.code, c.msg)
			}
		})
	}
}

func TestErrorIsAndText(t *testing.T) {
	remote := &Error{Code: CodeNotFound, Message: "nope", Remote: true}
	local := &Error{Code: CodeNotFound, Message: "gone", Err: fs.ErrNotExist}
	for _, e := range []error{remote, local, fmt.Errorf("x: %w", local)} {
		if !errors.Is(e, ErrNotFound) || errors.Is(e, ErrAccessViolation) {
			t.Errorf("%v: errors.Is by code", e)
		}
	}
	if !errors.Is(local, fs.ErrNotExist) {
		t.Error("the cause is not unwrapped")
	}
	if got := local.Error(); got != "gone: file does not exist" {
		t.Errorf("local: %q", got)
	}
	if got := remote.Error(); got != `peer sent error 1: "nope"` {
		t.Errorf("remote: %q", got)
	}
	if got := ErrDiskFull.Error(); got != "Disk full or allocation exceeded" {
		t.Errorf("sentinel: %q", got)
	}
}

func TestNames(t *testing.T) {
	want := map[ErrorCode]string{0: "Undefined error code", 1: "File not found", 2: "Access violation",
		3: "Disk full or allocation exceeded", 4: "Illegal TFTP operation", 5: "Unknown transfer ID",
		6: "File already exists", 7: "No such user", 8: "Failure to negotiate RFC2347 options", 9: "error code 9"}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("%d: %q want %q", c, c.String(), s)
		}
	}
	if OpRRQ.String() != "RRQ" || OpOACK.String() != "OACK" || Opcode(9).String() != "opcode(9)" {
		t.Error("opcode names")
	}
	for op := OpRRQ; op <= OpOACK; op++ {
		if strings.HasPrefix(op.String(), "opcode(") {
			t.Errorf("no name for %d", op)
		}
	}
	if ModeNetascii.String() != "netascii" || ModeOctet.String() != "octet" {
		t.Error("mode names")
	}
	for _, o := range []Outcome{OutcomeSuccess, OutcomeShutdown, OutcomeWorkerCrash} {
		if !o.Valid() {
			t.Errorf("%q invalid", o)
		}
	}
	if Outcome("nope").Valid() || Source("nope").Valid() || !SourceNone.Valid() || !SourceCache.Valid() {
		t.Error("Valid")
	}
}
