package check

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real option parser judges the rendered command line: fbtftp-master
// parses every option up to -V (in.tftpd's rule: -V prints the version and
// exits once getopt reaches it), so `fbtftp-master ARGS... -V` exits 0
// exactly when every option and value before it is accepted. The binary is
// $FBTFTP_MASTER (make helm-check passes bin/fbtftp-master), else built
// from this repository.

var (
	masterOnce sync.Once
	masterPath string
	masterErr  error
)

func master(t *testing.T) string {
	t.Helper()
	masterOnce.Do(func() {
		masterPath = os.Getenv("FBTFTP_MASTER")
		if masterPath == "" {
			dir, err := os.MkdirTemp("", "helm-check")
			if err != nil {
				masterErr = err
				return
			}
			masterPath = filepath.Join(dir, "fbtftp-master")
			cmd := exec.Command("go", "build", "-o", masterPath, "./cmd/fbtftp-master")
			cmd.Dir = "../../.."
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				masterErr = err
				masterPath = string(out)
				return
			}
		}
	})
	if masterErr != nil {
		t.Fatalf("building fbtftp-master: %v\n%s", masterErr, masterPath)
	}
	return masterPath
}

func runMaster(args []string, stdin []byte) (string, error) {
	cmd := exec.Command(masterPath, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		return out.String(), os.ErrDeadlineExceeded
	}
}

// checkMasterArgs: the rendered arguments are ones fbtftp-master accepts.
func checkMasterArgs(t *testing.T, args []string) {
	t.Helper()
	master(t)
	a := slices.Clone(args)
	out, err := runMaster(append(a, "-V"), nil)
	if err != nil || !strings.Contains(out, "fbtftp-go") {
		t.Errorf("fbtftp-master %s -V: %v\n%s", strings.Join(a, " "), err, out)
	}
}

// checkMapFile: the ConfigMap's map file is one fbtftp-master accepts
// (--map-test parses it as the server does at start, then applies it to
// the names on standard input).
func checkMapFile(t *testing.T, rules string) {
	t.Helper()
	master(t)
	f := filepath.Join(t.TempDir(), "map")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runMaster([]string{"--map-test", f}, []byte("pxelinux.0\n")); err != nil {
		t.Errorf("fbtftp-master --map-test: %v\n%s", err, out)
	}
}

// TestMasterArgsChecked makes sure the check above can fail: a misspelt
// flag and a bad value are refused.
func TestMasterArgsChecked(t *testing.T) {
	master(t)
	for _, args := range [][]string{
		{"-L", "--http-cahce", "/var/cache/fbtftp", "-V"},
		{"-L", "--metrics-addr", "9169", "-V"},
		{"-L", "--drain-timeout", "30", "-V"},
	} {
		if out, err := runMaster(args, nil); err == nil {
			t.Errorf("fbtftp-master %q accepted:\n%s", args, out)
		}
	}
}
