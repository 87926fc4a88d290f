package content

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

func TestResolve(t *testing.T) {
	two := []string{"/srv/tftp", "/var/lib/tftpboot/"}
	cases := []struct {
		name    string
		file    string
		roots   []string
		secure  bool
		root    string
		rel     string
		errMsg  string // ERROR 2 message; "" for success
		inTftpd string // what in.tftpd 5.2 answers when it differs, for the record
	}{
		// Secure mode: relative to the single root, leading slash or not.
		{name: "secure plain", file: "pxelinux.0", roots: []string{"/"}, secure: true, root: "/", rel: "pxelinux.0"},
		{name: "secure absolute", file: "/boot/vmlinuz", roots: []string{"/"}, secure: true, root: "/", rel: "boot/vmlinuz"},
		{name: "secure dot slashes", file: "//a/./b", roots: []string{"/srv"}, secure: true, root: "/srv", rel: "a/b"},
		{name: "secure reverse", file: "a/../b", roots: []string{"/"}, secure: true, errMsg: MsgReversePath},
		{name: "secure no root", file: "a", secure: true, errMsg: MsgForbiddenDir},
		{name: "secure nul", file: "a\x00b", roots: []string{"/"}, secure: true, errMsg: MsgBadFilename},

		// Non-secure mode: in.tftpd's three checks.
		{name: "relative", file: "pxelinux.0", roots: two, errMsg: MsgOnlyAbsolute},
		{name: "relative dir", file: "srv/tftp/a", roots: two, errMsg: MsgOnlyAbsolute},
		{name: "dotdot relative", file: "../x", roots: two, errMsg: MsgOnlyAbsolute},
		{name: "empty", file: "", roots: two, errMsg: MsgOnlyAbsolute},
		{name: "first root", file: "/srv/tftp/pxelinux.0", roots: two, root: "/srv/tftp", rel: "pxelinux.0"},
		{name: "second root, trailing slash", file: "/var/lib/tftpboot/a/b", roots: two, root: "/var/lib/tftpboot/", rel: "a/b"},
		{name: "double slash inside", file: "/srv/tftp//a", roots: two, root: "/srv/tftp", rel: "a"},
		{name: "dot inside", file: "/srv/tftp/./a", roots: two, root: "/srv/tftp", rel: "a"},
		{name: "reverse inside", file: "/srv/tftp/../etc/passwd", roots: two, errMsg: MsgReversePath},
		{name: "reverse between roots", file: "/srv/tftp/../../var/lib/tftpboot/a", roots: two, errMsg: MsgReversePath},
		{name: "trailing dotdot", file: "/srv/tftp/a/..", roots: two, errMsg: MsgReversePath, inTftpd: "opens /srv/tftp, ERROR 0 Is a directory"},
		{name: "outside", file: "/etc/passwd", roots: two, errMsg: MsgForbiddenDir},
		{name: "string prefix only", file: "/srv/tftpX/a", roots: two, errMsg: MsgForbiddenDir, inTftpd: "looked up, ERROR 1"},
		{name: "leading double slash", file: "//srv/tftp/a", roots: two, root: "/srv/tftp", rel: "a", inTftpd: "Forbidden directory"},
		{name: "the root itself", file: "/srv/tftp", roots: two, root: "/srv/tftp", rel: "."},
		{name: "no roots", file: "/srv/tftp/a", errMsg: MsgForbiddenDir, inTftpd: "serves any absolute path"},
		{name: "root slash", file: "/etc/hosts", roots: []string{"/"}, root: "/", rel: "etc/hosts"},
		{name: "nested roots, first listed wins", file: "/srv/tftp/a", roots: []string{"/srv", "/srv/tftp"}, root: "/srv", rel: "tftp/a"},
		{name: "relative root never matches", file: "/tftp/a", roots: []string{"tftp"}, errMsg: MsgForbiddenDir},
		{name: "nul", file: "/srv/tftp/a\x00", roots: two, errMsg: MsgBadFilename},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, rel, err := Resolve(c.file, c.roots, c.secure)
			if c.errMsg != "" {
				var pe *tftp.Error
				if !errors.As(err, &pe) || pe.Code != proto.ErrAccessViolation || pe.Message != c.errMsg {
					t.Fatalf("Resolve(%q) = %q, %q, %v; want ERROR 2 %q", c.file, root, rel, err, c.errMsg)
				}
				return
			}
			if err != nil || root != c.root || rel != c.rel {
				t.Fatalf("Resolve(%q) = %q, %q, %v; want %q, %q", c.file, root, rel, err, c.root, c.rel)
			}
		})
	}
}

// TestResolveThenOpen checks that what Resolve accepts is what FileStore
// opens: rel never escapes root.
func TestResolveThenOpen(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "a"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "a", "f"), []byte("hello"), 0o644))
	root, rel, err := Resolve(dir+"/a//./f", []string{dir}, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenFileStore(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := s.Open(rel)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
