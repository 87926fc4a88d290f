package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// Uploads (WRQ) through the real binaries: fbtftp-master -s ROOT with
// in.tftpd's upload flags, the stock worker chrooted in ROOT as nobody when
// the test runs as root.

// requireUploadFlags skips when the master's command line does not know
// the upload flags yet.
func requireUploadFlags(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{{"-c", "-V"}, {"-U", "022", "-V"}, {"--read-only", "-V"}, {"--max-upload", "1000", "-V"}} {
		if _, stderr, code := runMaster(t, filepath.Join(bin, "fbtftp-master"), args...); code != 0 {
			t.Skipf("fbtftp-master does not accept %v yet: %s", args[:len(args)-1], strings.TrimSpace(stderr))
		}
	}
}

// uploadDir is a root the unprivileged worker can write to (the temporary
// file of an upload goes next to the target).
func uploadDir(t *testing.T) string {
	t.Helper()
	d := worldReadableDir(t)
	os.Chmod(d, 0o777)
	return d
}

func putFile(t *testing.T, addr netip.AddrPort, file string, o client.Options, data []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if o.Timeout == 0 {
		o.Timeout = 500 * time.Millisecond
	}
	size := int64(len(data))
	if o.Mode == proto.ModeNetascii {
		size, _ = proto.NetasciiSize(bytes.NewReader(data))
	}
	_, err := client.Put(ctx, addr, file, o, bytes.NewReader(data), size)
	return err
}

// stored checks what the server stored under root.
func stored(t *testing.T, root, name string, want []byte, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(root, name)
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: %v (%d bytes, want %d)", name, err, len(got), len(want))
		return
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %o, want %o", name, fi.Mode().Perm(), mode)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && st.Uid != 65534 {
		t.Errorf("%s: owner %d, want nobody (the worker's user)", name, st.Uid)
	}
}

func noTempFiles(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".fbtftp-upload") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestUploadsEndToEnd(t *testing.T) {
	requireUploadFlags(t)
	root := uploadDir(t)
	s := startServer(t, root, "127.0.0.1:0", "-c", "--prefork", "2")
	files := map[string][]byte{"zero": nil, "one": pattern("one", 1), "b512": pattern("b512", 512),
		"odd": pattern("odd", 300_007)}
	// The project's client: every option.
	for name, data := range files {
		for i, o := range []client.Options{{}, {Blksize: 1468, Tsize: true}, {Blksize: 1024, Windowsize: 8},
			{Blksize: 65464}} {
			file := fmt.Sprintf("own-%s-%d", name, i)
			if err := putFile(t, s.addr, file, o, data); err != nil {
				t.Fatalf("%s %+v: %v", file, o, err)
			}
			stored(t, root, file, data, 0o666)
			if got, _, err := get(t, s.addr, file, client.Options{}); err != nil || !bytes.Equal(got, data) {
				t.Errorf("download of %s: %v", file, err)
			}
		}
	}
	// Real clients.
	for _, c := range testenv.Clients() {
		for name, data := range files {
			for i, u := range []testenv.Upload{{}, {Blksize: 1468, Tsize: true}, {Blksize: 1468, Windowsize: 16}} {
				u.Host, u.File, u.Data = s.addr, fmt.Sprintf("%s-%s-%d", c.Name, name, i), data
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := c.Upload(ctx, t, u)
				cancel()
				if errors.Is(err, testenv.ErrUnsupported) {
					continue
				}
				if err != nil {
					t.Errorf("%s %s: %v", c.Name, u.File, err)
					continue
				}
				stored(t, root, u.File, data, 0o666)
			}
		}
	}
	// Overwrite with tftp-hpa, netascii (converted by the client).
	text := []byte("line one\nline two\r\nbare cr\r end\n")
	if err := testenv.TftpHPAUpload(context.Background(), t, testenv.Upload{Host: s.addr, File: "own-odd-0",
		Data: text, Mode: "netascii"}); err != nil && !errors.Is(err, testenv.ErrUnsupported) {
		t.Errorf("netascii: %v", err)
	} else if err == nil {
		stored(t, root, "own-odd-0", text, 0o666)
	}
	noTempFiles(t, root)
	for _, m := range s.sessions() {
		if m["outcome"] != "success" {
			t.Errorf("session %v", m)
		}
	}
}

func TestUploadFlagsEndToEnd(t *testing.T) {
	requireUploadFlags(t)
	if os.Geteuid() != 0 {
		t.Skip("the worker's user matters here: needs a root master that drops to nobody")
	}
	old := []byte("old")
	cases := []struct {
		name string
		args []string
		file string
		data []byte
		code proto.ErrorCode // 0: accepted
		msg  string
		mode fs.FileMode
	}{
		{name: "overwrite without -c", file: "ww", mode: 0o666},
		// The worker's user may write the file, but not everyone may.
		{name: "not world-writable", file: "ro-nobody", code: proto.ErrAccessViolation,
			msg: "File must have global write permissions"},
		{name: "not writable by the user", file: "ro", code: proto.ErrAccessViolation, msg: "Permission denied"},
		{name: "-p, not writable by the user", args: []string{"-p"}, file: "ro", code: proto.ErrAccessViolation,
			msg: "Permission denied"},
		{name: "-p", args: []string{"-p"}, file: "ro-nobody", mode: 0o644},
		{name: "no -c", file: "new", code: proto.ErrNotFound, msg: "File not found"},
		{name: "-c -U 022", args: []string{"-c", "-U", "022"}, file: "new", code: proto.ErrAccessViolation,
			msg: "File must have global write permissions"},
		{name: "-c -p -U 027", args: []string{"-c", "-p", "-U", "027"}, file: "new", mode: 0o640},
		{name: "-c in a subdirectory", args: []string{"-c"}, file: "/sub/new", mode: 0o666},
		{name: "--read-only", args: []string{"--read-only"}, file: "ww", code: proto.ErrAccessViolation},
		{name: "--max-upload", args: []string{"--max-upload", "1000"}, file: "ww", data: pattern("x", 1001),
			code: proto.ErrDiskFull},
		{name: "--max-upload fits", args: []string{"--max-upload", "1K"}, file: "ww", data: pattern("x", 1000), mode: 0o666},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := uploadDir(t)
			for name, mode := range map[string]fs.FileMode{"ww": 0o666, "ro": 0o644, "ro-nobody": 0o644} {
				p := filepath.Join(root, name)
				os.WriteFile(p, old, mode)
				os.Chmod(p, mode)
			}
			os.Chown(filepath.Join(root, "ro-nobody"), 65534, 65534)
			os.Mkdir(filepath.Join(root, "sub"), 0o777)
			os.Chmod(filepath.Join(root, "sub"), 0o777)
			s := startServer(t, root, "127.0.0.1:0", c.args...)
			data := c.data
			if data == nil {
				data = pattern(c.name, 5000)
			}
			err := putFile(t, s.addr, c.file, client.Options{Retries: -1, Timeout: 3 * time.Second}, data)
			if c.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				stored(t, root, c.file, data, c.mode)
			} else {
				var se *tftp.Error
				if !errors.As(err, &se) || se.Code != c.code || (c.msg != "" && se.Message != c.msg) {
					t.Fatalf("got %v, want ERROR %d %q", err, c.code, c.msg)
				}
				if got, _ := os.ReadFile(filepath.Join(root, c.file)); c.file == "ww" && !bytes.Equal(got, old) {
					t.Errorf("target changed")
				}
			}
			noTempFiles(t, root)
		})
	}
}

// TestUploadWorkerKilled kills the worker in the middle of an upload: the
// old content stays and the master, outside the chroot, removes the
// temporary file when it accounts for the crash.
func TestUploadWorkerKilled(t *testing.T) {
	requireUploadFlags(t)
	root := uploadDir(t)
	old := []byte("old content")
	p := filepath.Join(root, "f")
	os.WriteFile(p, old, 0o666)
	os.Chmod(p, 0o666)
	s := startServer(t, root, "127.0.0.1:0", "-c")
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpWRQ, "f", "octet", nil)
	pkt, err := sess.RecvPacket(5 * time.Second)
	if err != nil || pkt.Op != proto.OpACK || pkt.Block != 0 {
		t.Fatalf("%+v %v", pkt, err)
	}
	peer := pkt.From
	sess.SendData(peer, 1, bytes.Repeat([]byte{'n'}, 512))
	if pkt, err := sess.RecvPacket(5 * time.Second); err != nil || pkt.Op != proto.OpACK || pkt.Block != 1 {
		t.Fatalf("%+v %v", pkt, err)
	}
	if _, err := os.Stat(filepath.Join(root, ".f.fbtftp-upload")); err != nil {
		t.Fatalf("no temporary file during the upload: %v", err)
	}
	kids := children(s.pid())
	if len(kids) != 1 {
		t.Fatalf("children %v", kids)
	}
	killPID(kids[0])
	ss := s.waitSessions(1)
	if ss[0]["outcome"] != "worker_crash" {
		t.Fatalf("session %v", ss[0])
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, old) {
		t.Errorf("target changed: %q", got)
	}
	noTempFiles(t, root)
	// The next upload works.
	if err := putFile(t, s.addr, "f", client.Options{}, []byte("new")); err != nil {
		t.Fatal(err)
	}
	stored(t, root, "f", []byte("new"), 0o666)
}
