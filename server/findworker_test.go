package server

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFindWorker: the worker is found next to the master, in
// ../libexec/fbtftp (make install, the Debian package) and in the
// configured directories, in that order.
func TestFindWorker(t *testing.T) {
	root := t.TempDir()
	touch := func(p string) string {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sbin := filepath.Join(root, "usr", "sbin")
	os.MkdirAll(sbin, 0o755)
	dirs := []string{filepath.Join(root, "opt", "fbtftp")}
	if got, want := findWorker(sbin, "fbtftp-worker", dirs), filepath.Join(sbin, "fbtftp-worker"); got != want {
		t.Errorf("nothing installed: %q, want the first candidate %q", got, want)
	}
	configured := touch("opt/fbtftp/fbtftp-worker")
	if got := findWorker(sbin, "fbtftp-worker", dirs); got != configured {
		t.Errorf("configured directory: %q, want %q", got, configured)
	}
	libexec := touch("usr/libexec/fbtftp/fbtftp-worker")
	if got := findWorker(sbin, "fbtftp-worker", dirs); got != libexec {
		t.Errorf("libexec: %q, want %q", got, libexec)
	}
	beside := touch("usr/sbin/fbtftp-worker")
	if got := findWorker(sbin, "fbtftp-worker", dirs); got != beside {
		t.Errorf("beside the master: %q, want %q", got, beside)
	}
	// A directory of that name is no worker.
	os.MkdirAll(filepath.Join(sbin, "fbtftp-worker-http"), 0o755)
	if got, want := findWorker(sbin, "fbtftp-worker-http", dirs), filepath.Join(sbin, "fbtftp-worker-http"); got != want {
		t.Errorf("directory: %q", got)
	}
}
