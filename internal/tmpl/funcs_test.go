package tmpl

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFuncs(t *testing.T) {
	d := NewData(netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.1.2.1"), "aa:bb:cc:dd:ee:ff", "grub.cfg", "Boot1", map[string]any{
		"disks": []any{"sda", "sdb"},
		"empty": "",
		"zero":  json.Number("0"),
		"n":     json.Number("255"),
		"big":   json.Number("1e3"),
		"names": []string{"x", "y"},
		"one":   "solo",
		"nested": map[string]any{
			"k": "v",
		},
	})
	tests := []struct{ src, want string }{
		{`{{.Hostname | lower}} {{.Hostname | upper}} [{{trim "  x  "}}]`, "boot1 BOOT1 [x]"},
		{`{{replace "-" ":" .MACPxe}}`, "01:aa:bb:cc:dd:ee:ff"},
		{`{{split "." .ClientIP | join "/"}}`, "10/1/2/3"},
		{`{{get .Values "disks" | join ","}}`, "sda,sdb"},
		{`{{.Values.names | join "+"}}`, "x+y"},
		{`[{{get .Values "missing" | join ","}}] [{{join "," .Values.one}}]`, "[] [solo]"},
		{`{{join "," (seq 3)}}`, "1,2,3"},
		{`{{contains "grub" .Filename}} {{hasPrefix "grub" .Filename}} {{hasSuffix ".cfg" .Filename}} {{hasSuffix ".x" .Filename}}`, "true true true false"},
		{`{{default "ttyS0" .Values.empty}} {{default "d" .Values.zero}} {{default "d" .Values.n}} {{default "d" (index .Values "nope")}} {{default "d" .Values.disks}}`, "ttyS0 d 255 d [sda sdb]"},
		{`{{has .Values "disks"}} {{has .Values "nope"}} {{get .Values "nope" "fallback"}} [{{get .Values "nope"}}] {{get .Values.nested "k"}}`, "true false fallback [] v"},
		{`{{hex 255}} {{hex .Values.n}} {{hex "AB"}} {{hex (len "abcdefghijklmnop")}}`, "ff ff 4142 10"},
		{`{{iphex .ClientIP}} {{iphex "2001:db8::1"}} {{.ClientIPHex}}`, "0A010203 20010DB8000000000000000000000001 0A010203"},
		{`{{macsep "" .MAC}} {{macsep "-" .MAC | upper}} {{.MACPxe}}`, "aabbccddeeff AA-BB-CC-DD-EE-FF 01-aa-bb-cc-dd-ee-ff"},
		{`{{range seq 2 4}}{{.}}{{end}} {{range seq 3 1}}{{.}}{{end}} [{{range seq 0}}x{{end}}] {{range seq "2"}}{{.}}{{end}} {{range seq .Values.zero 1}}{{.}}{{end}}`, "234 321 [] 12 01"},
		{`{{printf "%-6s|%03d|%x" "ab" 7 255}} {{print "a" 1}} {{println "z"}}`, "ab    |007|ff a1 z\n"},
		{`{{html "<a>"}} {{js "it's"}} {{urlquery "a b&c"}}`, `&lt;a&gt; it\'s a+b%26c`},
		{`{{range $i, $d := .Values.disks}}{{if $i}} {{end}}disk{{$i}}={{$d}}{{end}}`, "disk0=sda disk1=sdb"},
		{`{{define "entry"}}menuentry {{.}}{{end}}{{template "entry" "a"}};{{template "entry" "b"}}`, "menuentry a;menuentry b"},
		{`{{block "b" .}}{{.Filename}}{{end}}`, "grub.cfg"},
		{`{{range 3}}{{.}}{{end}}`, "012"},
		{`{{_guard 1 false}}{{_exit}}ok`, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			out, err := Render(t.Context(), "f", []byte(tt.src), d, 0)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
}

func TestFuncErrors(t *testing.T) {
	d := NewData(netip.MustParseAddr("10.1.2.3"), netip.Addr{}, "", "", "", map[string]any{
		"big": json.Number("1e3"),
		"f":   json.Number("1.5"),
		"obj": map[string]any{},
	})
	tests := []struct{ src, want string }{
		{`{{hex .Values.big}}`, "not an integer"},
		{`{{hex .Values.obj}}`, "neither an integer nor a string"},
		{`{{hex -1.5}}`, "neither"},
		{`{{iphex "x"}}`, "ParseAddr"},
		{`{{macsep ":" "x"}}`, "not a 6-byte MAC"},
		{`{{join "," 5}}`, "not a list"},
		{`{{seq}}`, "want [FIRST] LAST"},
		{`{{seq .Values.f}}`, "not an integer"},
		{`{{seq "x"}}`, "not an integer"},
		{`{{seq 1.5}}`, "not an integer"},
		{`{{seq -9223372036854775808 9223372036854775807}}`, "more than"},
		{`{{get .Values "a" "b" "c"}}`, "at most one default"},
		{`{{printf "%[99999]d" 1}}`, "over"},
		{`{{printf "%.9999s" "x"}}`, "over"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := Render(t.Context(), "f", []byte(tt.src), d, 0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFuncLimits(t *testing.T) {
	f := Funcs(10)
	big := strings.Repeat("x", 11)
	calls := []struct {
		name string
		call func() (string, error)
	}{
		{"print", func() (string, error) { return f["print"].(func(...any) (string, error))(big) }},
		{"println", func() (string, error) { return f["println"].(func(...any) (string, error))(big) }},
		{"printf", func() (string, error) { return f["printf"].(func(string, ...any) (string, error))("%s", big) }},
		{"printf result", func() (string, error) { return f["printf"].(func(string, ...any) (string, error))("%20d", 1) }},
		{"html", func() (string, error) { return f["html"].(func(...any) (string, error))(big) }},
		{"html result", func() (string, error) { return f["html"].(func(...any) (string, error))("<<<") }},
		{"replace", func() (string, error) {
			return f["replace"].(func(string, string, string) (string, error))("x", "yy", "xxxxxx")
		}},
		{"join", func() (string, error) { return f["join"].(func(string, any) (string, error))(",", []string{big}) }},
	}
	for _, c := range calls {
		if _, err := c.call(); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

// FuzzRender renders arbitrary templates under small limits: it must
// never panic, never exceed the output limit and always return.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		pxeTemplate,
		"{{range 100000000}}{{end}}",
		`{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}`,
		`{{range $i, $v := seq 3}}{{if $i}}{{break}}{{else}}{{continue}}{{end}}{{end}}`,
		`{{with .Values}}{{range .}}{{.}}{{end}}{{else}}none{{end}}`,
		`{{printf "%08.3f|%[1]v" 3.14159}}{{html .MAC}}`,
		`{{block "b" .}}{{range seq 5}}{{template "b" 1}}{{end}}{{end}}`,
	} {
		f.Add(s)
	}
	d := NewData(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "aa:bb:cc:dd:ee:ff", "f", "h",
		map[string]any{"role": "x", "list": []any{"a", json.Number("1")}})
	f.Fuzz(func(t *testing.T, src string) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		out, err := Render(ctx, "fuzz", []byte(src), d, 4096)
		if err == nil && len(out) > 4096 {
			t.Fatalf("%d bytes past the limit", len(out))
		}
	})
}
