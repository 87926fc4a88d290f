package content

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSweepStaleUploads: orphaned temporary files are removed anywhere
// under the root; a locked one (a live upload), look-alikes that are not
// regular files, and files outside the root behind a link are left.
func TestSweepStaleUploads(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write := func(p string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	orphans := []string{TempName("pxelinux.0"), "boot/" + TempName("vmlinuz"), "a/b/c/" + TempName(string(make([]byte, 300)))}
	for _, o := range orphans {
		write(filepath.Join(root, o))
	}
	write(filepath.Join(root, "boot/vmlinuz"))         // a real file
	write(filepath.Join(root, "notes.fbtftp-upload"))  // no leading dot: not reserved
	write(filepath.Join(outside, TempName("secret")))  // outside, behind a link
	os.Symlink(outside, filepath.Join(root, "linked")) // not followed
	os.Mkdir(filepath.Join(root, TempName("dir")), 0o755)
	live := filepath.Join(root, TempName("live"))
	write(live)
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	removed, err := SweepStaleUploads(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := slices.Clone(orphans)
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q", removed, want)
	}
	for _, o := range orphans {
		if _, err := os.Lstat(filepath.Join(root, o)); err == nil {
			t.Errorf("%s still there", o)
		}
	}
	for _, p := range []string{filepath.Join(root, "boot/vmlinuz"), filepath.Join(root, "notes.fbtftp-upload"),
		filepath.Join(outside, TempName("secret")), live, filepath.Join(root, TempName("dir"))} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v (must be left alone)", p, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SweepStaleUploads(ctx, root); err == nil {
		t.Error("a cancelled sweep reported no error")
	}
}
