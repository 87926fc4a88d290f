package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp"
)

// docFile is the walk-through whose Go blocks come from compiled code.
const docFile = "../../docs/custom-worker.md"

// docSources are the files its Go blocks may quote: all built, and run
// under the real master by test/e2e.
var docSources = []string{
	"*.go",
	"minimal/*.go",
	"../stats/main.go",
	"../../test/e2e/codegen_test.go",
}

// TestDocBlocks checks that every Go block of docs/custom-worker.md is a
// verbatim excerpt (indentation aside) of one of docSources, so that the
// walk-through only shows code that compiles and is tested.
func TestDocBlocks(t *testing.T) {
	doc, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, pattern := range docSources {
		names, err := filepath.Glob(pattern)
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: no files (%v)", pattern, err)
		}
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, dedent(string(b)))
		}
	}
	blocks := goBlocks(string(doc))
	if len(blocks) < 5 {
		t.Fatalf("%d Go blocks in %s; the walk-through has more", len(blocks), docFile)
	}
	for _, b := range blocks {
		found := false
		for _, src := range sources {
			if strings.Contains(src, dedent(b)) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("this block of %s is not in any of %v:\n%s", docFile, docSources, b)
		}
	}
}

// goBlocks returns the contents of the ```go fences of a Markdown text.
func goBlocks(md string) []string {
	var blocks []string
	for {
		_, rest, ok := strings.Cut(md, "\n```go\n")
		if !ok {
			return blocks
		}
		block, after, ok := strings.Cut(rest, "\n```\n")
		if !ok {
			return append(blocks, rest)
		}
		blocks = append(blocks, block+"\n")
		md = after
	}
}

// dedent removes the leading tabs of every line.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// TestDocRequestFields checks that the Request table of
// docs/custom-worker.md lists every field of fbtftp.Request, and nothing
// else.
func TestDocRequestFields(t *testing.T) {
	doc, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "## The Request")
	if !ok {
		t.Fatal("no Request section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	listed := map[string]bool{}
	for line := range strings.Lines(table) {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ = strings.Cut(name, "`")
			listed[name] = true
		}
	}
	typ := reflect.TypeFor[fbtftp.Request]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() && !listed[f.Name] {
			t.Errorf("Request.%s is not in the table", f.Name)
		}
		delete(listed, typ.Field(i).Name)
	}
	for name := range listed {
		t.Errorf("the table lists %s, which Request does not have", name)
	}
}
