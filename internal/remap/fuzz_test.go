package remap

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzApply parses a fuzzed map file and applies it to a fuzzed filename:
// nothing may panic, the results must respect the limits, and no request
// may take long.
func FuzzApply(f *testing.F) {
	f.Add("rg \\\\ /", `a\b\c`, byte(0))
	f.Add("r ^([^/]) /\\1", "pxelinux.0", byte(1))
	f.Add("ri ^(.*)$ \\U\\1\\E-\\L\\1-\\x-\\i", "Ab.C", byte(2))
	f.Add("rs ^a b\nr ^b a", "a", byte(3))
	f.Add("a~ ^ok/ denied\\ \\0", "x", byte(4))
	f.Add("rg x xx", "x", byte(5))
	f.Add("rg a* b", "aaa", byte(6))
	f.Add("r [[:alpha:]]{2,3}|[^]a-]+ <\\0>", "\xe9ab]c", byte(7))
	f.Add("rgi (a|ab)(c|bcd)(d*) \\3\\2\\1", "ABCD", byte(8))
	f.Add("e~ ^(x|y)\nrG4 ^ 4\nrP6 . 6\n", "yes", byte(9))
	f.Add(sampleRules, "C:\\boot\\x#1", byte(10))
	clients := []netip.Addr{
		netip.MustParseAddr("192.0.2.169"),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("::ffff:10.1.2.3"),
		netip.MustParseAddr("fe80::1%eth0"),
		{},
	}
	f.Fuzz(func(t *testing.T, rules, name string, sel byte) {
		r, err := Parse(strings.NewReader(rules))
		if err != nil {
			if r != nil {
				t.Fatal("rules returned with an error")
			}
			return
		}
		req := Request{Filename: name, Write: sel&1 != 0, Client: clients[int(sel>>1)%len(clients)]}
		start := time.Now()
		res := r.Apply(req)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Apply took %v", d)
		}
		if len(res.Filename) > MaxFilenameLen || len(res.Message) > MaxFilenameLen {
			t.Fatalf("result over the limit: %d, %d bytes", len(res.Filename), len(res.Message))
		}
		if len(res.Trace) > maxTrace+2 {
			t.Fatalf("trace of %d lines", len(res.Trace))
		}
		if res.Abort && res.Filename != "" || !res.Abort && res.Message != "" {
			t.Fatalf("inconsistent result %+v", res)
		}
		if strings.IndexByte(res.Filename, 0) >= 0 {
			t.Fatal("NUL in the result")
		}
		if again := r.Apply(req); again.Filename != res.Filename || again.Abort != res.Abort || again.Message != res.Message {
			t.Fatalf("Apply is not deterministic: %+v, then %+v", res, again)
		}
	})
}
