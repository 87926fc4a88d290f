package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLandlock runs this test binary as a helper that confines itself to a
// read-only directory and a writable one, then tries what a compromised
// worker would: every access outside them fails, even through a directory
// descriptor opened before the restriction.
func TestLandlock(t *testing.T) {
	if os.Getenv("FBTFTP_LANDLOCK_HELPER") == "1" {
		landlockHelper()
		return
	}
	if landlockABI() == 0 {
		t.Skip("the kernel has no Landlock")
	}
	base := t.TempDir()
	ro, rw, outside := filepath.Join(base, "root"), filepath.Join(base, "cache"), filepath.Join(base, "outside")
	for _, d := range []string{ro, rw, outside} {
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "f"), []byte("data"), 0o644)
	}
	spec := Spec{Landlock: true, FSRead: []string{ro, filepath.Join(base, "missing")}, FSWrite: []string{rw}}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLandlock$")
	cmd.Env = append(os.Environ(), append(spec.Env(), "FBTFTP_LANDLOCK_HELPER=1", "FBTFTP_LANDLOCK_BASE="+base)...)
	// Stdout only: under -cover the confined helper cannot write its
	// coverage files (Landlock at work) and says so on stderr.
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil && !strings.Contains(stderr.String(), "coverage") {
		t.Fatalf("helper: %v\n%s%s", err, out.String(), stderr.String())
	}
	want := []string{
		"abi>0",
		"read root/f: ok",
		"write root/f: denied",
		"create root/new: denied",
		"read cache/f: ok",
		"create cache/new: ok",
		"rename cache/new: ok",
		"remove cache/f: ok",
		"read outside/f: denied",
		"read via pre-opened fd ../outside/f: denied",
		"read /etc/passwd: denied",
	}
	got := strings.TrimSpace(out.String())
	if got != strings.Join(want, "\n") {
		t.Fatalf("helper reported:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// landlockHelper applies the spec from the environment and reports what
// it can do, on the thread that applied it (test binaries may use cgo,
// where Landlock reaches only that thread and its descendants).
func landlockHelper() {
	runtime.LockOSThread()
	base := os.Getenv("FBTFTP_LANDLOCK_BASE")
	pre, err := os.Open(filepath.Join(base, "cache")) // kept from before, as the cache's os.Root is
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	s, err := FromEnv(os.Getenv)
	var applied Applied
	if err == nil {
		applied, err = Apply(s)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if applied.LandlockABI > 0 {
		fmt.Println("abi>0")
	} else {
		fmt.Println("abi=0")
	}
	report := func(what string, err error) {
		if err != nil {
			fmt.Printf("%s: denied\n", what)
		} else {
			fmt.Printf("%s: ok\n", what)
		}
	}
	p := func(rel string) string { return filepath.Join(base, rel) }
	_, err = os.ReadFile(p("root/f"))
	report("read root/f", err)
	report("write root/f", os.WriteFile(p("root/f"), []byte("x"), 0o644))
	report("create root/new", os.WriteFile(p("root/new"), []byte("x"), 0o644))
	_, err = os.ReadFile(p("cache/f"))
	report("read cache/f", err)
	report("create cache/new", os.WriteFile(p("cache/new"), []byte("x"), 0o600))
	report("rename cache/new", os.Rename(p("cache/new"), p("cache/new2")))
	report("remove cache/f", os.Remove(p("cache/f")))
	_, err = os.ReadFile(p("outside/f"))
	report("read outside/f", err)
	// A raw openat from the descriptor kept from before: what os.Root
	// forbids Go code, and Landlock forbids any code.
	fd, err := unix.Openat(int(pre.Fd()), "../outside/f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	report("read via pre-opened fd ../outside/f", err)
	_, err = os.ReadFile("/etc/passwd")
	report("read /etc/passwd", err)
	os.Exit(0)
}
