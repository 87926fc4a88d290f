package master_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/fileserver"
	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/test/testenv"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// uploadWorkerEnv makes the test binary a stock worker (fileserver.New,
// which implements WriteHandler). It is checked in init, before TestMain.
const uploadWorkerEnv = "FBTFTP_TEST_UPLOAD_WORKER"

func init() {
	if os.Getenv(uploadWorkerEnv) == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	files, err := fileserver.New(fileserver.Config{})
	if err == nil {
		err = fbtftp.ServeWorker(ctx, files, fbtftp.WorkerConfig{})
	}
	stop()
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// startUploads starts a master whose workers accept uploads, with flags
// (ipc.Flag...) and further changes by mod.
func startUploads(t *testing.T, flags uint32, mod func(*master.Config)) *env {
	t.Helper()
	return start(t, func(c *master.Config) {
		c.AllowWrite = true
		c.WorkerEnv = []string{uploadWorkerEnv + "=1"}
		c.Settings.Flags = flags | ipc.FlagSecure
		if mod != nil {
			mod(c)
		}
	})
}

func put(t *testing.T, addr netip.AddrPort, file string, o client.Options, data []byte) (client.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if o.Timeout == 0 {
		o.Timeout = 300 * time.Millisecond
	}
	size := int64(len(data))
	if o.Mode == proto.ModeNetascii {
		size, _ = proto.NetasciiSize(bytes.NewReader(data))
	}
	return client.Put(ctx, addr, file, o, bytes.NewReader(data), size)
}

// writeFile creates root/name with content and exactly mode.
func writeFile(t *testing.T, root, name string, content []byte, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(root, name)
	if d := filepath.Dir(p); d != root {
		os.MkdirAll(d, 0o777)
		os.Chmod(d, 0o777) // for a worker running as nobody
	}
	if err := os.WriteFile(p, content, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// checkFile fails unless root/name holds want with mode.
func checkFile(t *testing.T, root, name string, want []byte, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(root, name)
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %v: %d bytes %.40q, want %d bytes %.40q", name, err, len(got), got, len(want), want)
	}
	if fi, _ := os.Stat(p); mode != 0 && fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %o, want %o", name, fi.Mode().Perm(), mode)
	}
}

// noTemp fails if an upload's temporary file is left under root.
func noTemp(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".fbtftp-upload") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func serverErr(err error) (proto.ErrorCode, string, bool) {
	var se *tftp.Error
	if errors.As(err, &se) {
		return se.Code, se.Message, true
	}
	return 0, "", false
}

// text has LF, CR LF, bare CR and NUL, and CR LF across block boundaries.
func text() []byte {
	var b bytes.Buffer
	b.WriteString("line1\nline2\r\nbare\rcr\x00nul\n")
	for i := range 600 {
		fmt.Fprintf(&b, "%d%s\n", i, strings.Repeat("y", i%13))
	}
	b.WriteString("ends in cr\r")
	return b.Bytes()
}

func TestUploadTransfers(t *testing.T) {
	e := startUploads(t, ipc.FlagCreate, nil)
	cases := []struct {
		name string
		data []byte
		o    client.Options
	}{
		{"up-empty", nil, client.Options{}},
		{"up-one", pattern(1), client.Options{}},
		{"up-block", pattern(512), client.Options{}},
		{"up-blocks", pattern(512 * 7), client.Options{}},
		{"up-odd", pattern(100_003), client.Options{}},
		{"tsize", pattern(300_000), client.Options{Blksize: 1468, Tsize: true}},
		{"window8", pattern(200_000), client.Options{Blksize: 1024, Windowsize: 8}},
		{"window8-tsize", pattern(8 * 1024 * 3), client.Options{Blksize: 1024, Windowsize: 8, Tsize: true}},
		{"netascii", text(), client.Options{Mode: proto.ModeNetascii}},
		{"netascii-tsize", text(), client.Options{Mode: proto.ModeNetascii, Blksize: 1000, Tsize: true}},
		{"dir/nested", pattern(3000), client.Options{Blksize: 8192}},
	}
	os.Mkdir(filepath.Join(e.root, "dir"), 0o777)
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, "/", "_"), func(t *testing.T) {
			res, err := put(t, e.addr, c.name, c.o, c.data)
			if err != nil {
				t.Fatal(err)
			}
			checkFile(t, e.root, c.name, c.data, 0o666)
			if c.o.Tsize && res.Tsize != int64(len(c.data)) && c.o.Mode != proto.ModeNetascii {
				t.Errorf("tsize acknowledged %d", res.Tsize)
			}
			// Downloads see the new content.
			if got, _, err := get(t, e.addr, c.name, client.Options{Mode: c.o.Mode}); err != nil || !bytes.Equal(got, c.data) {
				t.Errorf("download after upload: %v (%d bytes)", err, len(got))
			}
		})
	}
	noTemp(t, e.root)
	waitFor(t, "stats", func() bool { return len(e.stats()) == 2*len(cases) })
	for _, s := range e.stats() {
		if s.Outcome != stats.OutcomeSuccess {
			t.Errorf("stats %+v", s)
		}
		if s.Op == proto.OpWRQ && s.Filename == "up-odd" && s.Bytes != 100_003 {
			t.Errorf("bytes %d", s.Bytes)
		}
	}
}

func TestUploadPolicy(t *testing.T) {
	old := []byte("old content")
	data := pattern(2000)
	cases := []struct {
		name      string
		flags     uint32
		umask     uint32
		masterOff bool // AllowWrite false: the master answers
		setup     func(root string)
		file      string
		code      proto.ErrorCode // 0: accepted
		msg       string
		mode      fs.FileMode
	}{
		{name: "overwrite world-writable", setup: existing(old, 0o666), file: "f", mode: 0o666},
		{name: "overwrite keeps mode", setup: existing(old, 0o646), file: "f", mode: 0o646},
		{name: "not world-writable", setup: existing(old, 0o644), file: "f", code: proto.ErrAccessViolation,
			msg: "File must have global write permissions"},
		{name: "permissive", flags: ipc.FlagPermissive, setup: existing(old, 0o644), file: "f", mode: 0o644},
		{name: "create refused", file: "new", code: proto.ErrNotFound, msg: "File not found"},
		{name: "create", flags: ipc.FlagCreate, file: "new", mode: 0o666},
		{name: "create umask", flags: ipc.FlagCreate | ipc.FlagPermissive, umask: 0o027, file: "new", mode: 0o640},
		{name: "create umask without -p", flags: ipc.FlagCreate, umask: 0o022, file: "new", code: proto.ErrAccessViolation,
			msg: "File must have global write permissions"},
		{name: "create in missing dir", flags: ipc.FlagCreate, file: "nodir/new", code: proto.ErrNotFound},
		{name: "create under a file", flags: ipc.FlagCreate, setup: existing(old, 0o666), file: "f/new",
			code: proto.ErrNotFound},
		{name: "directory", flags: ipc.FlagCreate | ipc.FlagPermissive, setup: func(r string) { os.Mkdir(filepath.Join(r, "f"), 0o777) },
			file: "f", code: proto.ErrAccessViolation},
		{name: "reverse path", flags: ipc.FlagCreate, file: "../new", code: proto.ErrAccessViolation},
		{name: "read-only", flags: ipc.FlagReadOnly | ipc.FlagCreate | ipc.FlagPermissive, setup: existing(old, 0o666),
			file: "f", code: proto.ErrAccessViolation, msg: "Uploads are not enabled"},
		{name: "master refuses", masterOff: true, flags: ipc.FlagCreate, setup: existing(old, 0o666), file: "f",
			code: proto.ErrAccessViolation, msg: "Uploads are not enabled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startUploads(t, c.flags, func(cfg *master.Config) {
				cfg.Settings.Umask = c.umask
				cfg.AllowWrite = !c.masterOff
			})
			if c.setup != nil {
				c.setup(e.root)
			}
			p := filepath.Join(e.root, c.file)
			before, _ := os.ReadFile(p)
			_, err := put(t, e.addr, c.file, client.Options{Retries: -1, Timeout: 2 * time.Second}, data)
			if c.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				checkFile(t, e.root, c.file, data, c.mode)
			} else {
				code, msg, ok := serverErr(err)
				if !ok || code != c.code || (c.msg != "" && msg != c.msg) {
					t.Fatalf("got %v, want ERROR %d %q", err, c.code, c.msg)
				}
				if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
					t.Errorf("target changed: %.40q", after)
				}
			}
			noTemp(t, e.root)
		})
	}
}

func existing(content []byte, mode fs.FileMode) func(root string) {
	return func(root string) {
		p := filepath.Join(root, "f")
		os.WriteFile(p, content, mode)
		os.Chmod(p, mode)
	}
}

// startWRQ sends a WRQ for file (blksize 512, no options), waits for ACK 0,
// sends full DATA blocks 1..n and waits for their ACKs. It returns the
// session and the server's session address.
func startWRQ(t *testing.T, addr netip.AddrPort, file string, n int) (*client.Session, netip.AddrPort) {
	t.Helper()
	s, err := client.NewSession(addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SendRequest(proto.OpWRQ, file, "octet", nil); err != nil {
		t.Fatal(err)
	}
	p, err := s.RecvPacket(10 * time.Second)
	if err != nil || p.Op != proto.OpACK || p.Block != 0 {
		t.Fatalf("answer to WRQ: %+v %v", p, err)
	}
	peer := p.From
	for blk := 1; blk <= n; blk++ {
		s.SendData(peer, uint16(blk), bytes.Repeat([]byte{byte('A' + blk)}, 512))
		p, err := s.RecvPacket(10 * time.Second)
		if err != nil || p.Op != proto.OpACK || p.Block != uint16(blk) {
			t.Fatalf("ACK %d: %+v %v", blk, p, err)
		}
	}
	return s, peer
}

func TestUploadInterrupted(t *testing.T) {
	old := []byte("the old content")
	cases := []struct {
		name    string
		sandbox bool
		remap   bool
		outcome stats.Outcome
		act     func(t *testing.T, e *env, s *client.Session, peer netip.AddrPort)
	}{
		{name: "client error", outcome: stats.OutcomeClientError,
			act: func(t *testing.T, e *env, s *client.Session, peer netip.AddrPort) {
				s.SendError(peer, proto.ErrUndefined, "user cancelled")
			}},
		{name: "client vanishes", outcome: stats.OutcomeTimeout,
			act: func(t *testing.T, e *env, s *client.Session, peer netip.AddrPort) { s.Close() }},
		{name: "shutdown", outcome: stats.OutcomeShutdown,
			act: func(t *testing.T, e *env, s *client.Session, peer netip.AddrPort) { e.stop(t) }},
		{name: "worker killed", outcome: stats.OutcomeWorkerCrash, act: killWorker},
		{name: "worker killed sandboxed", sandbox: true, outcome: stats.OutcomeWorkerCrash, act: killWorker},
		// A map rule sends "up/f" to "sub/f": the master finds the
		// temporary file under the remapped name.
		{name: "worker killed remapped", remap: true, outcome: stats.OutcomeWorkerCrash, act: killWorker},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.sandbox && os.Geteuid() != 0 {
				t.Skip("the sandbox needs root")
			}
			const rules = "r ^up/(.*) sub/\\1\n"
			e := startUploads(t, 0, func(cfg *master.Config) {
				cfg.Settings.Timeout = 50 * time.Millisecond
				cfg.DrainTimeout = 100 * time.Millisecond
				if c.remap {
					wc, err := ipc.SealWorkerConfig(&ipc.WorkerConfig{MapRules: []byte(rules)})
					if err != nil {
						t.Fatal(err)
					}
					cfg.WorkerConfig = wc
					if cfg.Rules, err = remap.Parse(strings.NewReader(rules)); err != nil {
						t.Fatal(err)
					}
				}
				if c.sandbox {
					// Chrooted in the root as nobody: the master finds the
					// temporary file at chroot + "/" + name.
					cfg.Sandbox = sandbox.Spec{Chroot: cfg.Settings.Roots[0], Drop: true, UID: 65534, GID: 65534}
					cfg.Settings.Roots = []string{"/"}
				}
			})
			if c.sandbox {
				os.Chmod(e.root, 0o777)
			}
			writeFile(t, e.root, "sub/f", old, 0o666)
			name := "sub/f"
			if c.remap {
				name = "up/f"
			}
			s, peer := startWRQ(t, e.addr, name, 3)
			if _, err := os.Stat(filepath.Join(e.root, "sub", ".f.fbtftp-upload")); err != nil {
				t.Fatalf("no temporary file during the upload: %v", err)
			}
			c.act(t, e, s, peer)
			waitFor(t, "session end", func() bool { return len(e.stats()) == 1 })
			if st := e.stats()[0]; st.Outcome != c.outcome || st.Op != proto.OpWRQ {
				t.Errorf("outcome %s, want %s", st.Outcome, c.outcome)
			}
			checkFile(t, e.root, "sub/f", old, 0o666)
			noTemp(t, e.root)
		})
	}
}

// killWorker SIGKILLs the worker serving the session.
func killWorker(t *testing.T, e *env, s *client.Session, peer netip.AddrPort) {
	pid := childPID(t, os.Getpid())
	if pid == 0 {
		t.Fatal("no worker")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "crash counted", func() bool { return e.m.Counters().Crashes == 1 })
}

func TestUploadConcurrent(t *testing.T) {
	e := startUploads(t, ipc.FlagCreate, func(c *master.Config) { c.Settings.Timeout = time.Second })
	old := []byte("old")
	writeFile(t, e.root, "f", old, 0o666)
	a, peer := startWRQ(t, e.addr, "f", 2)
	// A second upload of the file is refused while the first runs.
	_, err := put(t, e.addr, "f", client.Options{Retries: -1, Timeout: 2 * time.Second}, pattern(5000))
	if code, msg, ok := serverErr(err); !ok || code != proto.ErrAccessViolation || !strings.Contains(msg, "another upload") {
		t.Fatalf("concurrent upload: %v", err)
	}
	// A download sees the old content, whole.
	if got, _, err := get(t, e.addr, "f", client.Options{}); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("download during the upload: %v %q", err, got)
	}
	// The first upload finishes: block 3, short. The server may have
	// re-sent ACK 2 meanwhile.
	a.SendData(peer, 3, []byte("end"))
	for {
		p, err := a.RecvPacket(10 * time.Second)
		if err == nil && p.Op == proto.OpACK && p.Block == 2 {
			continue
		}
		if err != nil || p.Op != proto.OpACK || p.Block != 3 {
			t.Fatalf("final ACK: %+v %v", p, err)
		}
		break
	}
	want := append(append(bytes.Repeat([]byte{'B'}, 512), bytes.Repeat([]byte{'C'}, 512)...), "end"...)
	checkFile(t, e.root, "f", want, 0o666)
	if got, _, err := get(t, e.addr, "f", client.Options{}); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("download after the upload: %v", err)
	}
	// Now the second one may go.
	if _, err := put(t, e.addr, "f", client.Options{}, pattern(5000)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, e.root, "f", pattern(5000), 0o666)
	noTemp(t, e.root)
}

func TestUploadMaxUpload(t *testing.T) {
	const limit = 1000
	e := startUploads(t, ipc.FlagCreate, func(c *master.Config) { c.Settings.MaxUpload = limit })
	old := []byte("old")
	writeFile(t, e.root, "f", old, 0o666)

	// tsize above the limit: ERROR 3 instead of the OACK, before any data.
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SendRequest(proto.OpWRQ, "f", "octet", []proto.Option{{Name: "tsize", Value: fmt.Sprint(limit + 1)}})
	p, err := s.RecvPacket(10 * time.Second)
	if err != nil || p.Op != proto.OpERROR || p.Error.Code != proto.ErrDiskFull {
		t.Fatalf("WRQ with tsize above the limit: %+v %v", p, err)
	}
	checkFile(t, e.root, "f", old, 0o666)

	for _, c := range []struct {
		name string
		size int
		o    client.Options
		ok   bool
	}{
		{"exactly the limit", limit, client.Options{Tsize: true}, true},
		{"exactly the limit, small blocks", limit, client.Options{Blksize: 100, Windowsize: 4}, true},
		{"over, no tsize", limit + 1, client.Options{}, false},
		{"over, lying tsize", 5000, client.Options{RawOptions: []proto.Option{{Name: "tsize", Value: "10"}}}, false},
		{"over, windowed", 5000, client.Options{Blksize: 256, Windowsize: 8}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			writeFile(t, e.root, "f", old, 0o666)
			_, err := put(t, e.addr, "f", c.o, pattern(c.size))
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				checkFile(t, e.root, "f", pattern(c.size), 0o666)
				return
			}
			if code, msg, ok := serverErr(err); !ok || code != proto.ErrDiskFull || msg != "File too large" {
				t.Fatalf("got %v, want ERROR 3", err)
			}
			checkFile(t, e.root, "f", old, 0o666)
			noTemp(t, e.root)
		})
	}
}

// mountTmpfs mounts a tmpfs of size on dir for the test, or skips.
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
	e := startUploads(t, ipc.FlagCreate, nil)
	small := filepath.Join(e.root, "small")
	os.Mkdir(small, 0o777)
	mountTmpfs(t, small, "64k")
	old := []byte("old")
	writeFile(t, e.root, "small/f", old, 0o666)
	for _, c := range []struct{ name, file string }{{"overwrite", "small/f"}, {"create", "small/new"}} {
		t.Run(c.name, func(t *testing.T) {
			_, err := put(t, e.addr, c.file, client.Options{Blksize: 1468}, pattern(200_000))
			if code, msg, ok := serverErr(err); !ok || code != proto.ErrDiskFull || msg != "Disk full or allocation exceeded" {
				t.Fatalf("got %v, want ERROR 3", err)
			}
			checkFile(t, e.root, "small/f", old, 0o666)
			if _, err := os.Stat(filepath.Join(small, "new")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("new file exists: %v", err)
			}
			noTemp(t, e.root)
		})
	}
	// The space is back: an upload that fits works.
	if _, err := put(t, e.addr, "small/f", client.Options{}, pattern(20_000)); err != nil {
		t.Fatal(err)
	}
	checkFile(t, e.root, "small/f", pattern(20_000), 0o666)
}

// TestUploadRealClients uploads with curl, tftp-hpa, atftp and busybox to
// the master and the stock worker (the test binary). The command-line
// flags for uploads are exercised in test/e2e.
func TestUploadRealClients(t *testing.T) {
	e := startUploads(t, ipc.FlagCreate, func(c *master.Config) { c.Settings.Timeout = time.Second })
	files := map[string][]byte{"zero": nil, "one": pattern(1), "b512": pattern(512), "odd": pattern(100_003)}
	for _, c := range testenv.Clients() {
		t.Run(c.Name, func(t *testing.T) {
			for name, data := range files {
				for i, u := range []testenv.Upload{{}, {Blksize: 1468, Tsize: true}, {Blksize: 1024, Windowsize: 8}} {
					u.Host, u.File, u.Data = e.addr, fmt.Sprintf("%s-%s-%d", c.Name, name, i), data
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err := c.Upload(ctx, t, u)
					cancel()
					if errors.Is(err, testenv.ErrUnsupported) {
						continue
					}
					if err != nil {
						t.Fatalf("%+v: %v", u, err)
					}
					checkFile(t, e.root, u.File, data, 0o666)
				}
			}
			// netascii: converted by the client (LF -> CR LF), back by us.
			u := testenv.Upload{Host: e.addr, File: c.Name + "-text", Data: text(), Mode: "netascii"}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := c.Upload(ctx, t, u)
			cancel()
			switch {
			case errors.Is(err, testenv.ErrUnsupported):
			case err != nil:
				t.Fatalf("netascii: %v", err)
			case c.Name == "curl":
				// curl sends the file as it is: its CR LF become LF.
				want, _ := decodeNetascii(text())
				checkFile(t, e.root, u.File, want, 0o666)
			default:
				checkFile(t, e.root, u.File, text(), 0o666)
			}
		})
	}
	noTemp(t, e.root)
}

func decodeNetascii(b []byte) ([]byte, error) {
	var out bytes.Buffer
	d := proto.NewNetasciiDecoder(&out)
	if _, err := d.Write(b); err != nil {
		return nil, err
	}
	err := d.Flush()
	return out.Bytes(), err
}

// TestUploadHandlerWithoutWriteHandler: a worker whose Handler does not
// implement fbtftp.WriteHandler answers a WRQ with ERROR 2.
func TestUploadHandlerWithoutWriteHandler(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.AllowWrite = true
		c.Settings.Flags = ipc.FlagCreate | ipc.FlagSecure
	})
	_, err := put(t, e.addr, "new", client.Options{Retries: -1, Timeout: 2 * time.Second}, pattern(10))
	if code, msg, ok := serverErr(err); !ok || code != proto.ErrAccessViolation || msg != "Uploads are not supported" {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file created: %v", err)
	}
}

// TestSweepOrphanedUploadsAtStart: upload temporary files that a server
// killed as a whole left behind are removed when the master starts with
// uploads on, not only when the same name is uploaded again.
func TestSweepOrphanedUploadsAtStart(t *testing.T) {
	var orphans []string
	e := startUploads(t, 0, func(c *master.Config) {
		root := c.Settings.Roots[0]
		os.Mkdir(filepath.Join(root, "sub"), 0o755)
		for _, p := range []string{".one.fbtftp-upload", "sub/.two.fbtftp-upload"} {
			p = filepath.Join(root, p)
			if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
				t.Fatal(err)
			}
			orphans = append(orphans, p)
		}
	})
	waitFor(t, "orphans removed", func() bool {
		for _, p := range orphans {
			if _, err := os.Lstat(p); err == nil {
				return false
			}
		}
		return true
	})
	if _, err := os.Stat(filepath.Join(e.root, "big")); err != nil {
		t.Fatal(err)
	}
}
