package fbtftp

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeLayout: the README's layout table names every directory that
// holds Go code, or one of its parents as "dir/" (examples/, tools/).
func TestReadmeLayout(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(b), "## Layout")
	if !ok {
		t.Fatal("README.md has no layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == "." {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
			return filepath.SkipDir
		}
		goFiles, _ := filepath.Glob(filepath.Join(p, "*.go"))
		if len(goFiles) == 0 || strings.Contains(layout, "`"+p+"`") {
			return nil
		}
		for q := p; q != "."; q = filepath.Dir(q) {
			if strings.Contains(layout, "`"+q+"/`") {
				return nil
			}
		}
		t.Errorf("README.md's layout does not name %s", p)
		return nil
	})
}
