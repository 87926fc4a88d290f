package e2e

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// TestTemplates: the stock worker renders *.tmpl files per client, with
// values from --template-data keyed by IP; two clients (127.0.0.2 and
// 127.0.0.3) get different content from one template; a missing key is a
// clean ERROR 0 with the line number in the log.
func TestTemplates(t *testing.T) {
	root := worldReadableDir(t)
	os.MkdirAll(filepath.Join(root, "grub"), 0o755)
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("grub/grub.cfg.tmpl", "set default=0\nmenuentry \"{{.Values.role}}\" {\n  linux /vmlinuz ip={{.ClientIP}} role={{.Values.role}}\n}\n")
	write("broken.tmpl", "line one\n{{.Values.nosuchkey}}\n")
	data := filepath.Join(t.TempDir(), "hosts.json")
	os.WriteFile(data, []byte(`{"hosts": {"127.0.0.2": {"role": "web"}, "127.0.0.3": {"role": "db"}}, "default": {"role": "spare"}}`), 0o644)
	s := startServer(t, root, ":0", "--template-data", data)

	got := map[string]string{}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.1"} {
		local := netip.AddrPortFrom(netip.MustParseAddr(ip), 0)
		to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.addr.Port())
		b, res, err := get(t, to, "grub/grub.cfg", client.Options{Tsize: true, LocalAddr: local})
		if err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		if res.Tsize != int64(len(b)) {
			t.Errorf("%s: tsize %d for %d rendered bytes", ip, res.Tsize, len(b))
		}
		got[ip] = string(b)
	}
	if !strings.Contains(got["127.0.0.2"], "ip=127.0.0.2 role=web") ||
		!strings.Contains(got["127.0.0.3"], "ip=127.0.0.3 role=db") ||
		!strings.Contains(got["127.0.0.1"], "role=spare") {
		t.Fatalf("rendered: %q", got)
	}
	// A *.tmpl name asked for directly is rendered too (never served raw).
	if b, _, err := get(t, s.addr, "grub/grub.cfg.tmpl", client.Options{}); err != nil || !strings.Contains(string(b), "role=spare") {
		t.Fatalf("direct .tmpl: %v %q", err, b)
	}
	_, _, err := get(t, s.addr, "broken", client.Options{})
	var se *tftp.Error
	if !errors.As(err, &se) || se.Code != proto.ErrUndefined || strings.Contains(se.Message, "nosuchkey") {
		t.Fatalf("broken template: %v", err)
	}
	s.waitSessions(5)
	if log := s.log(); !strings.Contains(log, "broken.tmpl:2") {
		t.Errorf("the log does not name the template line:\n%s", tail(log, 2000))
	}
	// Bad data file: the master refuses to start (exit 64).
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o644)
	_, stderr, code := runMaster(t, filepath.Join(bin, "fbtftp-master"), "-L", "-a", "127.0.0.1:0", "-s", root, "--template-data", bad)
	if code != 64 || !strings.Contains(stderr, "template-data") {
		t.Fatalf("bad data file: exit %d %q", code, stderr)
	}
}
