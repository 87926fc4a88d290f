package origin

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkScanDir is the directory scan every reservation makes, over a
// cache of 10000 entries (20000 files).
func BenchmarkScanDir(b *testing.B) {
	dir := b.TempDir()
	for i := range 10000 {
		k := keyOf(fmt.Sprint(i))
		os.WriteFile(dir+"/"+k+".data", []byte("x"), 0o600)
		os.WriteFile(dir+"/"+k+".meta", []byte("{}"), 0o600)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	for b.Loop() {
		u, err := scanDir(root)
		if err != nil || u.entries != 10000 {
			b.Fatal(err, u.entries)
		}
	}
}
