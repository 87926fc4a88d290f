package tmpl

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// wire returns what the TFTP engine would send for err.
func wire(t *testing.T, err error) (proto.ErrorCode, string) {
	t.Helper()
	var e *tftp.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q carries no TFTP code", err)
	}
	return tftp.WireError(err)
}

const pxeTemplate = `# {{.Filename}} for {{.ClientIP}} ({{.ClientIPHex}}) via {{.LocalIP}}
DEFAULT linux
LABEL linux
  KERNEL vmlinuz
  APPEND role={{.Values.role}} console={{.Values.console}} disks={{get .Values "disks" | join ","}}{{if has .Values "vlan"}} vlan={{.Values.vlan}}{{end}}
`

const dataFile = `{
  "default": {"role": "generic", "console": "ttyS0,115200"},
  "hosts": {
    "127.0.0.2": {"role": "db", "disks": ["sda", "sdb"]},
    "AA-BB-CC-DD-EE-FF": {"role": "web", "vlan": 1000000}
  }
}`

// TestTwoClients renders one template for two clients of one data file.
func TestTwoClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.json")
	if err := os.WriteFile(path, []byte(dataFile), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := LoadValues(path)
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		client, mac, want string
	}{
		{"127.0.0.2", "", "# pxelinux.cfg/default for 127.0.0.2 (7F000002) via 127.0.0.1\n" +
			"DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n" +
			"  APPEND role=db console=ttyS0,115200 disks=sda,sdb\n"},
		{"127.0.0.3", "aa:bb:cc:dd:ee:ff", "# pxelinux.cfg/default for 127.0.0.3 (7F000003) via 127.0.0.1\n" +
			"DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n" +
			"  APPEND role=web console=ttyS0,115200 disks= vlan=1000000\n"},
		{"::ffff:127.0.0.4", "", "# pxelinux.cfg/default for 127.0.0.4 (7F000004) via 127.0.0.1\n" +
			"DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n" +
			"  APPEND role=generic console=ttyS0,115200 disks=\n"},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			client := netip.MustParseAddr(tt.client)
			d := NewData(client, local, tt.mac, "pxelinux.cfg/default", "boot1", store.Lookup(tt.mac, client.String()))
			out, err := Render(t.Context(), "default.tmpl", []byte(pxeTemplate), d, 0)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", out, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	d := NewData(netip.MustParseAddr("10.0.0.1"), netip.Addr{}, "", "f", "h", map[string]any{"a": "x"})
	tests := []struct {
		name, src string
		is        error
		log       []string // in the error text
	}{
		{"missing key", "line one\nline two\n{{.Values.nokey}}\n", nil,
			[]string{"t.tmpl:3:", `map has no entry for key "nokey"`}},
		{"missing field", "\n{{.Nope}}", nil, []string{"t.tmpl:2:", "Nope"}},
		{"nil values", "{{.Values.a.b}}", nil, []string{"t.tmpl:1:"}},
		{"parse error", "ok\n{{if}}\n", nil, []string{"t.tmpl:2:", "missing value for if"}},
		{"unknown function", "\n\n{{frobnicate 1}}", nil, []string{"t.tmpl:3:", "frobnicate"}},
		{"helper error", "{{hex 1.5}}", nil, []string{"t.tmpl:1:", "hex"}},
		{"bad seq", "{{range seq 1 2 3}}{{end}}", nil, []string{"seq"}},
		{"huge seq", "{{range seq 100000000}}{{end}}", nil, []string{"seq: more than"}},
		{"huge printf width", `{{printf "%0999999999d" 1}}`, nil, []string{"printf: 999999999 is over"}},
		{"printf star", `{{printf "%*d" 5 1}}`, nil, []string{"'*' is not allowed"}},
		{"output limit", `{{range seq 2000}}0123456789{{end}}`, ErrTooLarge, []string{"larger than the limit"}},
		{"replace blowup", `{{replace "a" "aaaaaaaaaa" (replace "a" "aaaaaaaaaa" (replace "a" "aaaaaaaaaa" (replace "a" "aaaaaaaaaa" "aaaaaaaaaa")))}}`, ErrTooLarge, nil},
		{"printf blowup", `{{$s := "0123456789"}}{{$s = printf "%s%s%s%s%s%s%s%s%s%s" $s $s $s $s $s $s $s $s $s $s}}{{$s = printf "%s%s%s%s%s%s%s%s%s%s" $s $s $s $s $s $s $s $s $s $s}}{{$s = printf "%s%s%s%s%s%s%s%s%s%s" $s $s $s $s $s $s $s $s $s $s}}{{$s = printf "%s%s%s%s%s%s%s%s%s%s" $s $s $s $s $s $s $s $s $s $s}}`, ErrTooLarge, nil},
		{"html blowup", `{{$s := "<<<<<<<<<<"}}{{range seq 8}}{{$s = print $s $s}}{{end}}{{html $s}}`, ErrTooLarge, nil},
		{"join blowup", `{{$l := seq 5000}}{{join "0123456789" $l}}`, ErrTooLarge, nil},
		{"recursion", `{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}`, nil, []string{"t.tmpl:1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := Render(ctx, "t.tmpl", []byte(tt.src), d, 10_000)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			for _, s := range tt.log {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if code, msg := wire(t, err); code != proto.ErrUndefined || msg != "template error" {
				t.Errorf("wire = %d %q", code, msg)
			}
		})
	}
}

// TestRenderStopsLoops checks that templates that would run for ages stop
// at their deadline (or their step budget, whichever comes first). The
// bound checked is loose (the deadline plus 5 s for a loaded machine): it
// catches a template that does not stop, not a slow stop.
func TestRenderStopsLoops(t *testing.T) {
	d := NewData(netip.MustParseAddr("10.0.0.1"), netip.Addr{}, "", "f", "h", nil)
	tests := []struct {
		name, src string
	}{
		{"range int", "{{range 1000000000000}}{{end}}"},
		{"range int with break", "{{range $i := 1000000000000}}{{if eq $i -1}}{{break}}{{end}}{{end}}"},
		{"nested seq", "{{range seq 60000}}{{range seq 60000}}{{end}}{{end}}"},
		{"range in define", `{{define "x"}}{{range 1000000000000}}{{continue}}{{end}}{{end}}{{template "x"}}`},
		{"range in else", `{{if false}}{{else}}{{with 1}}{{range 1000000000000}}{{end}}{{end}}{{end}}`},
		{"range else list", `{{range seq 0}}{{else}}{{range 1000000000000}}{{end}}{{end}}`},
		{"fan-out recursion", `{{define "r"}}{{range 2}}{{template "r"}}{{end}}{{end}}{{template "r"}}`},
		{"slow output", `{{range seq 60000}}{{range seq 60000}}.{{end}}{{end}}`},
		{"exponential recursion", `{{define "r"}}{{if .}}{{template "r" (slice . 1)}}{{template "r" (slice . 1)}}{{end}}{{end}}{{template "r" "0123456789012345678901234567890123456789"}}`},
	}
	const deadline = 100 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			_, err := Render(ctx, "loop.tmpl", []byte(tt.src), d, 1<<40)
			took := time.Since(start)
			if !errors.Is(err, ErrDeadline) && !errors.Is(err, ErrSteps) && !errors.Is(err, ErrDepth) {
				t.Fatalf("err = %v, want ErrDeadline, ErrSteps or ErrDepth", err)
			}
			if !strings.Contains(err.Error(), "loop.tmpl:1:") {
				t.Errorf("error %q has no location", err)
			}
			if took > deadline+5*time.Second {
				t.Errorf("stopped after %v", took)
			}
			t.Logf("stopped after %v: %v", took, err)
		})
	}
}

// TestRenderDeadline checks the deadline itself, with a step budget that
// cannot be reached first.
func TestRenderDeadline(t *testing.T) {
	d := NewData(netip.MustParseAddr("10.0.0.1"), netip.Addr{}, "", "f", "h", nil)
	for _, src := range []string{
		"{{range 1000000000000}}{{end}}",
		"{{range seq 60000}}x{{end}}",
	} {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Millisecond)) // passed already
		_, err := Render(ctx, "slow.tmpl", []byte(src), d, 1<<30)
		cancel()
		if !errors.Is(err, ErrDeadline) {
			t.Errorf("%s: err = %v, want ErrDeadline", src, err)
		}
	}
	// A cancelled context reports its cause.
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("session over")
	cancel(cause)
	_, err := Render(ctx, "c.tmpl", []byte("{{range 3}}{{end}}"), d, 0)
	if !errors.Is(err, ErrDeadline) || !errors.Is(err, cause) {
		t.Errorf("err = %v, want ErrDeadline and the cause", err)
	}
}

func TestRenderDefaultTimeout(t *testing.T) {
	// No deadline in ctx: DefaultTimeout applies; the template ends
	// before it, within the step budget.
	out, err := Render(context.Background(), "ok", []byte("{{range seq 3}}{{.}}{{end}}"), Data{}, 0)
	if err != nil || string(out) != "123" {
		t.Fatalf("got %q, %v", out, err)
	}
}
