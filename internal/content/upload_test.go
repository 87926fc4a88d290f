package content

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

func uploadCode(err error) (proto.ErrorCode, string) {
	if errors.As(err, new(*tftp.Error)) {
		return tftp.WireError(err)
	}
	return proto.ErrUndefined, ""
}

// tempFiles lists the temporary upload files under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && isTempName(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// readRegular returns the content of p if it is a regular file (never
// opening a FIFO).
func readRegular(p string) []byte {
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	b, _ := os.ReadFile(p)
	return b
}

func put(u *Upload, data []byte) error {
	if _, err := u.Write(data); err != nil {
		u.Abort()
		return err
	}
	if err := u.Commit(); err != nil {
		u.Abort()
		return err
	}
	return nil
}

func TestUploadRules(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "dir"), 0o777)
	write := func(name string, mode fs.FileMode) {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte("old"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write("ww", 0o666)
	write("ro", 0o644)
	write("dir/ww", 0o662)
	os.Symlink("ww", filepath.Join(root, "link"))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		file       string
		permissive bool
		opts       UploadOptions
		code       proto.ErrorCode // 0: success
		msg        string
		mode       fs.FileMode // expected mode after success
	}{
		{name: "overwrite world-writable", file: "ww", mode: 0o666},
		{name: "overwrite keeps mode", file: "/dir/ww", mode: 0o662},
		{name: "not world-writable", file: "ro", code: proto.ErrAccessViolation, msg: MsgWorldWrite},
		{name: "permissive", file: "ro", permissive: true, mode: 0o644},
		{name: "missing without create", file: "new1", code: proto.ErrNotFound, msg: "File not found"},
		{name: "create umask 0", file: "new2", opts: UploadOptions{Create: true}, mode: 0o666},
		{name: "create umask 022", file: "dir/new3", permissive: true, opts: UploadOptions{Create: true, Umask: 0o022}, mode: 0o644},
		{name: "create umask 077", file: "new4", permissive: true, opts: UploadOptions{Create: true, Umask: 0o077}, mode: 0o600},
		{name: "create umask 002 not permissive", file: "new5", opts: UploadOptions{Create: true, Umask: 0o002},
			code: proto.ErrAccessViolation, msg: MsgWorldWrite},
		{name: "create umask 020 not permissive", file: "new6", opts: UploadOptions{Create: true, Umask: 0o020}, mode: 0o646},
		{name: "missing directory", file: "nodir/x", opts: UploadOptions{Create: true}, code: proto.ErrNotFound},
		{name: "file as directory", file: "ww/x", opts: UploadOptions{Create: true}, code: proto.ErrNotFound},
		{name: "directory", file: "dir", code: proto.ErrAccessViolation, msg: MsgNotRegular},
		{name: "root", file: "/", code: proto.ErrAccessViolation, msg: MsgNotRegular},
		{name: "symlink", file: "link", permissive: true, code: proto.ErrAccessViolation, msg: MsgNotRegular},
		{name: "fifo", file: "fifo", code: proto.ErrAccessViolation, msg: MsgNotRegular},
		{name: "reverse path", file: "../x", opts: UploadOptions{Create: true}, code: proto.ErrAccessViolation, msg: MsgReversePath},
		{name: "reserved name", file: ".x" + tempSuffix, opts: UploadOptions{Create: true}, code: proto.ErrAccessViolation},
		{name: "long name", file: strings.Repeat("n", 250), opts: UploadOptions{Create: true}, mode: 0o666},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenFileStore(root, c.permissive)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := filepath.Join(root, c.file)
			before := readRegular(p)
			u, err := s.Upload(c.file, c.opts)
			if err == nil {
				err = put(u, []byte("new content"))
			}
			if c.code != 0 || c.msg != "" {
				code, msg := uploadCode(err)
				if err == nil || code != c.code || (c.msg != "" && msg != c.msg) {
					t.Fatalf("got %v (%d %q), want code %d %q", err, code, msg, c.code, c.msg)
				}
				if after := readRegular(p); !bytes.Equal(before, after) {
					t.Errorf("target changed to %q", after)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got, _ := os.ReadFile(p)
				if string(got) != "new content" {
					t.Errorf("content %q", got)
				}
				if fi, _ := os.Stat(p); fi.Mode().Perm() != c.mode {
					t.Errorf("mode %o, want %o", fi.Mode().Perm(), c.mode)
				}
			}
			if tf := tempFiles(t, root); len(tf) > 0 {
				t.Errorf("temporary files left: %v", tf)
			}
		})
	}
}

func TestUploadAbortAndLock(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "f")
	os.WriteFile(p, []byte("old"), 0o666)
	os.Chmod(p, 0o666)
	s, _ := OpenFileStore(root, false)
	defer s.Close()

	u, err := s.Upload("f", UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("half"))
	tmp := filepath.Join(root, TempName("f"))
	fi, err := os.Stat(tmp)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("temporary file while uploading: %v %v", fi, err)
	}
	// A second upload of the same file is refused while the first runs.
	if _, err := s.Upload("/f", UploadOptions{}); err == nil {
		t.Fatal("concurrent upload accepted")
	} else if code, msg := uploadCode(err); code != proto.ErrAccessViolation || msg != MsgBusy {
		t.Fatalf("concurrent upload: %v", err)
	}
	// The master does not remove a live upload's file either.
	if removed, err := RemoveStaleUpload(root, "f"); removed || err != nil {
		t.Fatalf("RemoveStaleUpload on a live upload: %v %v", removed, err)
	}
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := u.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("after abort: %q", got)
	}
	if tf := tempFiles(t, root); len(tf) > 0 {
		t.Fatalf("temporary files left: %v", tf)
	}

	// A dead upload's file (unlocked) is removed by the next upload.
	os.WriteFile(tmp, []byte("stale"), 0o600)
	u, err = s.Upload("f", UploadOptions{})
	if err != nil {
		t.Fatalf("upload over a stale temporary file: %v", err)
	}
	if err := put(u, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new" {
		t.Fatalf("after commit: %q", got)
	}
	// Abort after Commit changes nothing.
	if err := u.Abort(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new" {
		t.Fatalf("abort after commit: %q", got)
	}

	// ... and by the master.
	os.WriteFile(tmp, []byte("stale"), 0o600)
	if removed, err := RemoveStaleUpload(root, "/f"); !removed || err != nil {
		t.Fatalf("RemoveStaleUpload: %v %v", removed, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale file still there: %v", err)
	}
	for _, name := range []string{"f", "missing/x", "../x", "/"} {
		if removed, err := RemoveStaleUpload(root, name); removed || err != nil {
			t.Errorf("RemoveStaleUpload(%q) with nothing to remove: %v %v", name, removed, err)
		}
	}
	// Something else under the reserved name is left alone.
	os.Mkdir(tmp, 0o755)
	if removed, _ := RemoveStaleUpload(root, "f"); removed {
		t.Error("a directory was removed")
	}
	if _, err := s.Upload("f", UploadOptions{}); err == nil {
		t.Error("upload with a directory under the temporary name accepted")
	}
}

func TestTempName(t *testing.T) {
	if n := TempName("a.cfg"); n != ".a.cfg.fbtftp-upload" || !isTempName(n) {
		t.Errorf("TempName %q", n)
	}
	long := strings.Repeat("x", 255)
	if n := TempName(long); len(n) > 255 || !isTempName(n) || n == TempName(long[1:]) {
		t.Errorf("TempName(long) %q", n)
	}
	for _, n := range []string{"a", ".a", "a.fbtftp-upload", ".fbtftp-uploadx"} {
		if isTempName(n) {
			t.Errorf("isTempName(%q)", n)
		}
	}
}

func TestMapWriteError(t *testing.T) {
	for _, c := range []struct {
		err  error
		code proto.ErrorCode
	}{
		{syscall.ENOSPC, proto.ErrDiskFull},
		{syscall.EDQUOT, proto.ErrDiskFull},
		{&fs.PathError{Op: "write", Err: syscall.EFBIG}, proto.ErrDiskFull},
		{syscall.EACCES, proto.ErrAccessViolation},
		{syscall.EROFS, proto.ErrAccessViolation},
		{syscall.EIO, proto.ErrUndefined},
	} {
		code, _ := uploadCode(MapWriteError("write", c.err))
		if code != c.code {
			t.Errorf("%v: code %d, want %d", c.err, code, c.code)
		}
		if !errors.Is(MapWriteError("write", c.err), c.err) {
			t.Errorf("%v: cause lost", c.err)
		}
	}
}

// mountTmpfs mounts a small tmpfs on dir for the test, or skips.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0777", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

func TestUploadDiskFull(t *testing.T) {
	root := t.TempDir()
	mountTmpfs(t, root, "64k")
	p := filepath.Join(root, "f")
	os.WriteFile(p, []byte("old"), 0o666)
	os.Chmod(p, 0o666)
	s, _ := OpenFileStore(root, false)
	defer s.Close()
	u, err := s.Upload("f", UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	block := bytes.Repeat([]byte{'x'}, 4096)
	for range 64 {
		if _, err = u.Write(block); err != nil {
			break
		}
	}
	if code, msg := uploadCode(err); code != proto.ErrDiskFull || msg != "Disk full or allocation exceeded" {
		t.Fatalf("write on a full disk: %v (%d %q)", err, code, msg)
	}
	u.Abort()
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("target %q", got)
	}
	if tf := tempFiles(t, root); len(tf) > 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
}

// TestUploadThroughLinks: directory links are resolved inside the root, as
// for downloads (and in in.tftpd's chroot); links out find nothing.
func TestUploadThroughLinks(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "real"), 0o777)
	os.Symlink("/real", filepath.Join(root, "abs"))
	os.Symlink("../real", filepath.Join(root, "real", "rel"))
	os.Symlink(outside, filepath.Join(root, "out"))
	s, _ := OpenFileStore(root, false)
	defer s.Close()
	for _, c := range []struct {
		file, stored string
		code         proto.ErrorCode
	}{
		{"abs/a", "real/a", 0},
		{"/real/rel/b", "real/b", 0},
		{"out/c", "", proto.ErrNotFound},
	} {
		u, err := s.Upload(c.file, UploadOptions{Create: true})
		if err == nil {
			err = put(u, []byte(c.file))
		}
		if c.code != 0 {
			if code, _ := uploadCode(err); err == nil || code != c.code {
				t.Errorf("%s: %v, want code %d", c.file, err, c.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if got, _ := os.ReadFile(filepath.Join(root, c.stored)); string(got) != c.file {
			t.Errorf("%s: stored %q in %s", c.file, got, c.stored)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written outside the root: %v", ents)
	}
	// The master finds a dead upload's file the same way.
	os.WriteFile(filepath.Join(root, "real", TempName("x")), nil, 0o600)
	if removed, err := RemoveStaleUpload(root, "/abs/x"); !removed || err != nil {
		t.Errorf("RemoveStaleUpload through a link: %v %v", removed, err)
	}
	if tf := tempFiles(t, root); len(tf) > 0 {
		t.Errorf("temporary files left: %v", tf)
	}
}
