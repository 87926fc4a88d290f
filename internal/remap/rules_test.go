package remap

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		rules int
		file  string // filename to remap
		want  string // its result
	}{
		{"empty", "", 0, "a", "a"},
		{"comments and blank lines", "# comment\n\n   \t\n  # indented comment\n", 0, "a", "a"},
		{"no final newline", "r a b", 1, "a", "b"},
		{"crlf", "r a b\r\nr c d\r\n", 2, "ac", "bd"},
		{"leading whitespace", " \t r a b", 1, "a", "b"},
		{"tabs and \\v \\f", "r\ta\v\fb", 1, "a", "b"},
		{"trailing comment", "r a b # comment", 1, "a", "b"},
		{"comment right after ops", "r#a b\nr x y", 0, "", ""}, // "No regex" error: see TestParseErrors
		{"comment in replacement", "r a b#c", 1, "a", "b"},
		{"extra fields ignored", "r a b c d", 1, "a", "b"},
		{"escaped space in regex", `r a\ b c`, 1, "a b", "c"},
		{"double backslash ends escape", `r a\\ b`, 1, `a\`, "b"},
		{"NUL ends the line", "r a b\x00c d", 1, "a", "b"},
		{"NUL before the regex", "r\x00 a b", 0, "", ""}, // "No regex"
		{"all operations", "rgies ^x y\nGa ^z\nP4e ^w\n6~a ^v", 4, "xx", "yx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.text))
			if tc.file == "" {
				if err == nil {
					t.Fatalf("Parse(%q) succeeded", tc.text)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Len() != tc.rules {
				t.Errorf("Len() = %d, want %d", r.Len(), tc.rules)
			}
			if got := r.Apply(Request{Filename: tc.file, Client: v4}).Filename; got != tc.want {
				t.Errorf("Apply(%q) = %q, want %q", tc.file, got, tc.want)
			}
		})
	}
}

func TestParseRuleFields(t *testing.T) {
	r := mustParse(t, "# header\n\nrgi ^a\\ b c\\#d # tail\n  ~aG6 x\nPa y\nGPg z\n")
	want := []rule{
		{line: 3, num: 0, flags: flagRewrite | flagGlobal, pattern: `c\#d`},
		{line: 4, num: 1, flags: flagInverse | flagAbort | flagIPv6, mode: 'G'},
		{line: 5, num: 2, flags: flagAbort, mode: 'P'},
		{line: 6, num: 3, flags: 0, mode: 'P'}, // g dropped without r; the last of G/P wins
	}
	if r.Len() != len(want) {
		t.Fatalf("Len() = %d", r.Len())
	}
	for i, w := range want {
		g := r.rules[i]
		if g.line != w.line || g.num != w.num || g.flags != w.flags || g.mode != w.mode || g.pattern != w.pattern {
			t.Errorf("rule %d = {line %d num %d flags %#x mode %q pattern %q}, want {line %d num %d flags %#x mode %q pattern %q}",
				i, g.line, g.num, g.flags, g.mode, g.pattern, w.line, w.num, w.flags, w.mode, w.pattern)
		}
	}
	if !r.rules[0].re.icase || r.rules[1].re.icase {
		t.Error("i flag not recorded")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // one entry per expected ParseError: "line N: text"
	}{
		{"unknown operation", "rx foo bar", []string{`line 1: remap command "rx" contains invalid char 'x'`}},
		{"lower-case p", "p foo", []string{`line 1: remap command "p" contains invalid char 'p'`}},
		{"r~", "r~ a b", []string{"line 1: r rules cannot be inverted"}},
		{"missing regex", "r", []string{"line 1: no regex"}},
		{"missing regex before comment", "r #x y", []string{"line 1: no regex"}},
		{"bad regex", "r a(", []string{`line 1: bad regex: Unmatched ( or \(`}},
		{"unterminated escape", `r a\`, []string{"line 1: bad regex: Trailing backslash"}},
		{"unterminated bracket", "r [a", []string{"line 1: bad regex: Unmatched [, [^, [:, [., or [="}},
		{"bad range", "r [z-a]", []string{"line 1: bad regex: Invalid range end"}},
		{"bad class", "r [[:nope:]]", []string{"line 1: bad regex: Invalid character class name"}},
		{"bad repeat", "r *a", []string{"line 1: bad regex: Invalid preceding regular expression"}},
		{"back-reference", `r (a)\1`, []string{"line 1: bad regex: back-references"}},
		{"bad back-reference", `r (a)\2`, []string{"line 1: bad regex: Invalid back reference"}},
		{"word edge", `r \<a`, []string{"line 1: bad regex: word-edge anchors"}},
		{"count above Go's limit", "r a{1001}", []string{"line 1: bad regex: repetition count above 1000"}},
		{"count above glibc's limit", "r a{40000}", []string{"line 1: bad regex: Regular expression too big"}},
		{"program too large", "r " + strings.Repeat(".{0,1000}", 6), []string{"line 1: bad regex: regular expression too large: 1"}},
		{"nested counts too large for Go", "r (.{0,100}){50}", []string{"line 1: bad regex: regular expression not supported by Go's regexp: "}},
		{"nesting too deep", "r " + strings.Repeat("(", 1001) + strings.Repeat(")", 1001), []string{"line 1: bad regex: parentheses nested too deeply"}},
		{"every error reported", "r a\nrx b\n# ok\nr (\nr c d\nr~ e", []string{
			`line 2: remap command "rx" contains invalid char 'x'`,
			`line 4: bad regex: Unmatched ( or \(`,
			"line 6: r rules cannot be inverted",
		}},
		{"line too long", "r a b\nr " + strings.Repeat("x", MaxLineLen) + "\nr (", []string{
			"line 2: line longer than 16383 bytes",
			`line 3: bad regex: Unmatched ( or \(`,
		}},
		{"too many rules", strings.Repeat("r a b\n", MaxRules+1), []string{"line 10001: more than 10000 rules"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.text))
			if err == nil {
				t.Fatalf("Parse succeeded with %d rules", r.Len())
			}
			if r != nil {
				t.Error("Parse returned rules with an error")
			}
			var perrs []*ParseError
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					var pe *ParseError
					if !errors.As(e, &pe) {
						t.Fatalf("error %v is not a *ParseError", e)
					}
					perrs = append(perrs, pe)
				}
			}
			if len(perrs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d: %v", len(perrs), len(tc.want), err)
			}
			for i, pe := range perrs {
				if got := strings.TrimPrefix(pe.Error(), "map file "); !strings.HasPrefix(got, tc.want[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestParseLineLength(t *testing.T) {
	ok := "r ^ " + strings.Repeat("x", MaxLineLen-4)
	for _, text := range []string{ok, ok + "\n", ok + "\nr a b\n"} {
		if _, err := Parse(strings.NewReader(text)); err != nil {
			t.Errorf("line of %d bytes: %v", MaxLineLen, err)
		}
	}
	for _, text := range []string{ok + "y", ok + "y\n", ok + "yy\nr a b"} {
		if _, err := Parse(strings.NewReader(text)); err == nil {
			t.Errorf("line of %d bytes accepted", len(strings.SplitN(text, "\n", 2)[0]))
		}
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	f.n--
	return copy(p, "r a b\n"), nil
}

func TestParseReadError(t *testing.T) {
	if _, err := Parse(&failingReader{n: 2}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Parse = %v, want the read error", err)
	}
	if _, err := Parse(io.MultiReader(strings.NewReader("r "+strings.Repeat("x", 2*MaxLineLen)), &failingReader{})); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Parse of a long line = %v, want the read error", err)
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.map")
	if err := os.WriteFile(good, []byte(sampleRules), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ParseFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 7 {
		t.Errorf("Len() = %d, want 7", r.Len())
	}

	bad := filepath.Join(dir, "bad.map")
	if err := os.WriteFile(bad, []byte("r ok\nz x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(bad)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(err.Error(), bad) {
		t.Errorf("ParseFile(bad) = %v, want a ParseError for line 2 naming the file", err)
	}

	if _, err := ParseFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ParseFile(missing) = %v, want fs.ErrNotExist", err)
	}
}
