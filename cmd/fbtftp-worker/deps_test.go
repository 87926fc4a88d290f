package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWorkersStayLean: a worker starts once per session, so what it links
// costs every session (package initialisation, page faults). Neither stock
// worker links Prometheus or zap (the master's); only fbtftp-worker-http
// links net/http and crypto/tls (about 3 ms per start, see
// scripts/worker-start.sh).
func TestWorkersStayLean(t *testing.T) {
	for _, c := range []struct {
		pkg       string
		forbidden []string
	}{
		{".", []string{"github.com/prometheus/", "go.uber.org/zap", "net/http", "crypto/tls"}},
		{"../fbtftp-worker-http", []string{"github.com/prometheus/", "go.uber.org/zap"}},
	} {
		out, err := exec.Command("go", "list", "-deps", c.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", c.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range c.forbidden {
				if dep == f || strings.HasPrefix(dep, f) && (strings.HasSuffix(f, "/") || strings.HasPrefix(dep, f+"/")) {
					t.Errorf("%s links %s", c.pkg, dep)
				}
			}
		}
	}
}
