package tmpl

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/remap"
)

// TestDocsHelpers renders every example of the helper table in
// docs/templates.md and checks the result the table gives, and that the
// table names every helper of Funcs.
func TestDocsHelpers(t *testing.T) {
	b, err := os.ReadFile("../../docs/templates.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| helper | example | gives |")
	if !ok {
		t.Fatal("docs/templates.md has no helper table")
	}
	d := NewData(netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.1"), "aa:bb:cc:dd:ee:ff", "menu", "boot",
		map[string]any{"role": "db", "disks": []any{"sda", "sdb"}})
	named := map[string]bool{}
	rows := 0
	for line := range strings.Lines(table) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "| `") {
			if rows > 0 {
				break
			}
			continue
		}
		// Cells are separated by " | "; a "\|" inside a cell is a pipe.
		cells := strings.Split(strings.ReplaceAll(strings.Trim(line, "|"), `\|`, "\x00"), " | ")
		if len(cells) != 3 {
			t.Fatalf("row %q: %d cells", line, len(cells))
		}
		for i := range cells {
			cells[i] = strings.ReplaceAll(strings.Trim(strings.TrimSpace(cells[i]), "`"), "\x00", "|")
		}
		for _, f := range strings.Split(cells[0], "`") {
			if name, _, _ := strings.Cut(strings.Trim(f, ", "), " "); name != "" {
				named[name] = true
			}
		}
		rows++
		got, err := Render(context.Background(), "doc", []byte(cells[1]), d, 0)
		if err != nil || string(got) != cells[2] {
			t.Errorf("%s: %q, %v; docs say %q", cells[1], got, err, cells[2])
		}
	}
	if rows == 0 {
		t.Fatal("no rows in the helper table")
	}
	for name := range Funcs(DefaultMaxSize) {
		if !named[name] && name != "html" && name != "js" && name != "urlquery" {
			t.Errorf("helper %s is not in the table", name)
		}
	}
}

// TestDocsBlocks: the data file and the map rule docs/templates.md shows
// are valid.
func TestDocsBlocks(t *testing.T) {
	b, err := os.ReadFile("../../docs/templates.md")
	if err != nil {
		t.Fatal(err)
	}
	jsons := 0
	for _, block := range strings.Split(string(b), "```json\n")[1:] {
		body, _, _ := strings.Cut(block, "```")
		if _, err := ParseValues([]byte(body)); err != nil {
			t.Errorf("data file in the docs: %v\n%s", err, body)
		}
		jsons++
	}
	if jsons == 0 {
		t.Error("no data file example")
	}
	for line := range strings.Lines(string(b)) {
		if rule, ok := strings.CutPrefix(strings.TrimSpace(line), "r ^"); ok {
			if _, err := remap.Parse(strings.NewReader("r ^" + rule + "\n")); err != nil {
				t.Errorf("rule %q: %v", line, err)
			}
		}
	}
}
