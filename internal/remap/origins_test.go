package remap

import (
	"slices"
	"strings"
	"testing"
)

func TestURLOrigins(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"none", "r ^foo bar\n", nil},
		{"literal", "r ^/?boot/(.*) http://repo.example:8080/boot/\\1\n", []string{"http://repo.example:8080"}},
		{"https upper case", "r ^(.*)$ HTTPS://Repo.Example/\\1\n", []string{"https://repo.example"}},
		{"no path", "r ^x$ http://127.0.0.1:9\n", []string{"http://127.0.0.1:9"}},
		{"dynamic host", "r ^(.*)/(.*)$ http://\\1/\\2\n", nil},
		{"escape in host", "r ^(.*)$ http://repo\\1.example/x\n", nil},
		{"user info", "r ^(.*)$ http://u:p@Repo/\\1\n", []string{"http://repo"}},
		{"dynamic user info", "r ^(.*)$ http://\\1@repo/x\n", nil},
		{"escape before scheme", "r ^(.*)$ \\Uhttp://h/\\1\n", nil},
		{"abort message", "a ^x http://h/\n", nil},
		{"dedup", "r ^a http://h/a\nr ^b http://h/b\nr ^c https://h/c\n", []string{"http://h", "https://h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.URLOrigins(); !slices.Equal(got, tt.want) {
				t.Fatalf("URLOrigins = %q, want %q", got, tt.want)
			}
		})
	}
	var nilRules *Rules
	if got := nilRules.URLOrigins(); got != nil {
		t.Fatalf("nil Rules: %q", got)
	}
}

func TestURLPrefixes(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"none", "r ^foo bar\n", nil},
		{"path", "r ^/?boot/(.*) http://repo.example:8080/boot/\\1\n", []string{"http://repo.example:8080/boot/"}},
		{"case kept", "r ^(.*)$ HTTPS://Repo.Example/Img/\\1\n", []string{"HTTPS://Repo.Example/Img/"}},
		{"no escape", "r ^x$ http://127.0.0.1:9/x\n", []string{"http://127.0.0.1:9/x"}},
		{"query", "r ^(.*)$ http://h/get?file=\\1\n", []string{"http://h/get?file="}},
		{"partial segment", "r ^(.*)$ http://h/boot/vmlinuz-\\1\n", []string{"http://h/boot/vmlinuz-"}},
		{"dynamic host", "r ^(.*)/(.*)$ http://\\1/\\2\n", nil},
		{"user info", "r ^(.*)$ http://u:p@Repo/\\1\n", []string{"http://u:p@Repo/"}},
		{"dedup", "r ^a http://h/a/\\1\nr ^b http://h/a/\\1\n", []string{"http://h/a/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.URLPrefixes(); !slices.Equal(got, tt.want) {
				t.Fatalf("URLPrefixes = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzLiteralOrigin: an origin is only reported for a replacement that
// starts with it, and it never contains an escape or a path.
func FuzzLiteralOrigin(f *testing.F) {
	f.Add("http://h/\\1")
	f.Add("https://u@H:8443")
	f.Add("http://\\1@h/")
	f.Fuzz(func(t *testing.T, p string) {
		o, ok := literalOrigin(p)
		if !ok {
			return
		}
		rest, found := strings.CutPrefix(o, "http://")
		if !found {
			rest, found = strings.CutPrefix(o, "https://")
		}
		if !found || rest == "" || strings.ContainsAny(rest, "\\/?#@ ") {
			t.Fatalf("%q -> %q", p, o)
		}
		if !strings.HasPrefix(strings.ToLower(p), o[:strings.Index(o, "://")+3]) {
			t.Fatalf("%q does not start with the scheme of %q", p, o)
		}
	})
}
