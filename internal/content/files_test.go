package content

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

func TestClean(t *testing.T) {
	cases := []struct {
		in, want string
		code     proto.ErrorCode
		fail     bool
	}{
		{"pxelinux.0", "pxelinux.0", 0, false},
		{"/boot/vmlinuz", "boot/vmlinuz", 0, false},
		{"//a/./b//c", "a/b/c", 0, false},
		{"/", ".", 0, false},
		{"..", "", proto.ErrAccessViolation, true},
		{"../etc/passwd", "", proto.ErrAccessViolation, true},
		{"a/../b", "", proto.ErrAccessViolation, true},
		{"a/..", "", proto.ErrAccessViolation, true},
		{"a/...", "a/...", 0, false},
		{"a\x00b", "", proto.ErrAccessViolation, true},
	}
	for _, c := range cases {
		got, err := Clean(c.in)
		if c.fail {
			var pe *tftp.Error
			if !errors.As(err, &pe) || pe.Code != c.code {
				t.Errorf("Clean(%q) err %v, want code %d", c.in, err, c.code)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Clean(%q) = %q %v, want %q", c.in, got, err, c.want)
		}
	}
}

func codeOf(err error) (proto.ErrorCode, string, bool) {
	var pe *tftp.Error
	if errors.As(err, &pe) {
		return pe.Code, pe.Message, true
	}
	return 0, "", false
}

func TestOpen(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	must(t, os.WriteFile(secret, []byte("secret"), 0o644))
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "ok"), []byte("ok"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "private"), []byte("p"), 0o640))
	must(t, os.Mkdir(filepath.Join(root, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "dir", "in"), []byte("in"), 0o644))
	must(t, os.Symlink("dir/in", filepath.Join(root, "inside-link")))
	must(t, os.Symlink(secret, filepath.Join(root, "abs-out")))
	must(t, os.Symlink("/ok", filepath.Join(root, "abs-in"))) // as built for a chroot
	must(t, os.Symlink("../"+filepath.Base(outside)+"/secret", filepath.Join(root, "rel-out")))
	must(t, os.Symlink(outside, filepath.Join(root, "dir-out")))
	must(t, os.Symlink("loop", filepath.Join(root, "loop")))
	must(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))

	s, err := OpenFileStore(root, false)
	must(t, err)
	defer s.Close()
	cases := []struct {
		name    string
		content string
		code    proto.ErrorCode
	}{
		{"ok", "ok", 0},
		{"/ok", "ok", 0},
		{"dir/in", "in", 0},
		{"inside-link", "in", 0},
		{"missing", "", proto.ErrNotFound},
		{"ok/x", "", proto.ErrNotFound}, // ENOTDIR
		{strings.Repeat("n", 300), "", proto.ErrNotFound},
		{"private", "", proto.ErrAccessViolation},
		{"dir", "", proto.ErrAccessViolation},
		{"/", "", proto.ErrAccessViolation},
		{"fifo", "", proto.ErrAccessViolation},
		// Links resolve inside the root, as in a chroot: an absolute link
		// to /ok is the root's ok; links that point outside find nothing.
		{"abs-in", "ok", 0},
		{"abs-out", "", proto.ErrNotFound},
		{"rel-out", "", proto.ErrNotFound},
		{"dir-out/secret", "", proto.ErrNotFound},
		{"../" + filepath.Base(outside) + "/secret", "", proto.ErrAccessViolation},
		{"loop", "", proto.ErrAccessViolation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := s.Open(c.name)
			if c.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				b := make([]byte, 16)
				n, _ := f.ReadAt(b, 0)
				if string(b[:n]) != c.content {
					t.Fatalf("content %q", b[:n])
				}
				return
			}
			if f != nil {
				f.Close()
			}
			code, msg, ok := codeOf(err)
			if !ok || code != c.code {
				t.Fatalf("err %v (code %d, msg %q), want code %d", err, code, msg, c.code)
			}
		})
	}
	p, err := OpenFileStore(root, true)
	must(t, err)
	defer p.Close()
	if f, err := p.Open("private"); err != nil {
		t.Fatalf("permissive: %v", err)
	} else {
		f.Close()
	}
	if _, err := OpenFileStore(filepath.Join(root, "missing"), false); err == nil {
		t.Fatal("opened a missing root")
	}
}

func TestMapOpenError(t *testing.T) {
	if code, _, _ := codeOf(MapOpenError(syscall.EACCES)); code != proto.ErrAccessViolation {
		t.Error("EACCES")
	}
	if _, _, ok := codeOf(MapOpenError(syscall.EIO)); ok {
		t.Error("EIO must stay an internal error")
	}
	if _, _, ok := codeOf(MapOpenError(errors.New("weird"))); ok {
		t.Error("unknown error must stay internal")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
