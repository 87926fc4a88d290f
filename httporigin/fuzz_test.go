package httporigin

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzEtcFiles: any hosts or resolv.conf content parses without panicking;
// every name maps to valid addresses, every name server is "ip:53".
func FuzzEtcFiles(f *testing.F) {
	f.Add("127.0.0.1 localhost\n::1 ip6-localhost # x\n")
	f.Add("nameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch a b\n")
	f.Add("\x00\n;\n#\n1.2.3.4\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		for name, ips := range readHosts(p) {
			if name == "" || strings.ContainsAny(name, " \t#;") || len(ips) == 0 {
				t.Fatalf("entry %q -> %v", name, ips)
			}
		}
		ns := readNameservers(p)
		if len(ns) > 3 {
			t.Fatalf("%d name servers", len(ns))
		}
		for _, a := range ns {
			if ap, err := netip.ParseAddrPort(a); err != nil || ap.Port() != 53 {
				t.Fatalf("name server %q", a)
			}
		}
	})
}

// FuzzConfigFromEnv: any environment decodes or fails cleanly, and what
// decodes encodes back to the same configuration.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("http://h/", "10.0.0.0/8,::1/128", "1024", "5s", "1m")
	f.Add("", "bad", "-1", "x", "")
	f.Fuzz(func(t *testing.T, origin, nets, size, connect, age string) {
		env := map[string]string{EnvOrigin: origin, EnvNetworks: nets, EnvCacheMaxBytes: size,
			EnvConnectTimeout: connect, EnvCacheMaxAge: age}
		c, err := ConfigFromEnv(func(k string) string { return env[k] })
		if err != nil {
			return
		}
		again := map[string]string{}
		for _, kv := range c.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			again[k] = v
		}
		c2, err := ConfigFromEnv(func(k string) string { return again[k] })
		if err != nil || !equalConfig(c, c2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", c, c2, err)
		}
	})
}
