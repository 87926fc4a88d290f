package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
)

// TestConfigChangesOnlyOnReload (issue 15, item 5): the master reads the
// map file and the template data at start and on SIGHUP, and workers get
// its checked copy. An edit without SIGHUP changes nothing, even for
// workers started after it; a SIGHUP applies it, also to the warm pool; a
// broken file on SIGHUP keeps the last good configuration, is logged and
// counted, and the master goes on serving (in.tftpd exits).
func TestConfigChangesOnlyOnReload(t *testing.T) {
	root := worldReadableDir(t)
	for name, content := range map[string]string{"a": "A", "b": "B", "menu.tmpl": "role {{.Values.role}}\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := t.TempDir()
	mapFile, dataFile := filepath.Join(conf, "map"), filepath.Join(conf, "data.json")
	write := func(p, content string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(mapFile, "r ^x$ a\n")
	write(dataFile, `{"default": {"role": "one"}}`)
	s := startServer(t, root, "127.0.0.1:0", "-m", mapFile, "--template-data", dataFile, "--prefork", "2",
		"--metrics-addr", "127.0.0.1:0")
	expect := func(what, file, want string) {
		t.Helper()
		got, _, err := get(t, s.addr, file, client.Options{})
		if err != nil || string(got) != want {
			t.Fatalf("%s: %s: %q, %v; want %q\n%s", what, file, got, err, want, tail(s.log(), 3000))
		}
	}
	expect("at start", "x", "A")
	expect("at start", "menu", "role one\n")

	// Edited, no SIGHUP: more sessions than the pool holds, so some run in
	// workers started after the edit.
	write(mapFile, "r ^x$ b\n")
	write(dataFile, `{"default": {"role": "two"}}`)
	for range 4 {
		expect("edited without SIGHUP", "x", "A")
	}
	expect("edited without SIGHUP", "menu", "role one\n")

	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog("reloaded", 1)
	expect("after SIGHUP", "x", "B")
	expect("after SIGHUP", "menu", "role two\n")

	// Broken files: the last good configuration stays.
	for i, broken := range []struct{ file, content string }{
		{mapFile, "r [ x\n"},
		{dataFile, `{"hosts": {"not an address": {}}}`},
	} {
		good, _ := os.ReadFile(broken.file)
		write(broken.file, broken.content)
		s.cmd.Process.Signal(syscall.SIGHUP)
		s.waitLog("reload failed: keeping the configuration in force", i+1)
		for range 3 {
			expect("after a broken "+filepath.Base(broken.file), "x", "B")
		}
		expect("after a broken "+filepath.Base(broken.file), "menu", "role two\n")
		write(broken.file, string(good))
	}
	m := scrape(t, s.metricsAddr(t))
	if m[`fbtftp_config_reloads_total{result="success"}`] != 1 || m[`fbtftp_config_reloads_total{result="failure"}`] != 2 {
		t.Errorf("reloads: success %v failure %v, want 1 and 2", m[`fbtftp_config_reloads_total{result="success"}`],
			m[`fbtftp_config_reloads_total{result="failure"}`])
	}
	if s.cmd.ProcessState != nil {
		t.Fatal("the master exited")
	}
}

// TestHealthzWhileSpawnsFail (issue 15, item 5): /healthz says unhealthy
// while workers cannot start, and healthy once they do again.
func TestHealthzWhileSpawnsFail(t *testing.T) {
	root := worldReadableDir(t)
	dir := worldReadableDir(t)
	worker := filepath.Join(dir, "worker")
	// A worker that exits at once: never ready.
	if err := os.WriteFile(worker, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, root, "127.0.0.1:0", "--worker", worker, "--prefork", "1", "--metrics-addr", "127.0.0.1:0")
	addr := s.metricsAddr(t)
	health := func() int {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	s.waitLog("prefork", 1) // the refiller's "prefork" error: a spawn failed
	if code := health(); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz %d while no worker starts", code)
	}
	// Repaired: the next refill starts one.
	if err := os.Symlink(filepath.Join(bin, "fbtftp-worker"), worker+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(worker+".new", worker); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "healthy again", func() bool { return health() == http.StatusOK })
}
