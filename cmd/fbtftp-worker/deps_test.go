package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// deps returns the packages pkg links, and for each the packages it
// imports (go list -deps).
func deps(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	m := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func matches(dep, f string) bool {
	if strings.HasSuffix(f, "/") {
		return strings.HasPrefix(dep, f)
	}
	return dep == f || strings.HasPrefix(dep, f+"/")
}

// TestWorkersStayLean: a worker starts once per session, so what it links
// costs every session (package initialisation, page faults). Neither stock
// worker links Prometheus or zap (the master's); only fbtftp-worker-http
// links net/http and crypto/tls (about 3 ms per start, see
// scripts/worker-start.sh). A custom worker that does not use the stock
// file server (package fileserver) links neither text/template nor the
// template data's JSON decoding: encoding/json only comes with log/slog
// (Request.Logger), whose JSON handler needs it.
func TestWorkersStayLean(t *testing.T) {
	for _, c := range []struct {
		pkg       string
		forbidden []string
	}{
		{".", []string{"github.com/prometheus/", "go.uber.org/zap", "net/http", "crypto/tls"}},
		{"../fbtftp-worker-http", []string{"github.com/prometheus/", "go.uber.org/zap"}},
		{"../../examples/codegen/minimal", []string{"github.com/prometheus/", "go.uber.org/zap", "net/http", "crypto/tls",
			"text/template", "github.com/fbtftp-go/fbtftp/fileserver", "github.com/fbtftp-go/fbtftp/internal/tmpl"}},
	} {
		d := deps(t, c.pkg)
		for dep := range d {
			for _, f := range c.forbidden {
				if matches(dep, f) {
					t.Errorf("%s links %s", c.pkg, dep)
				}
			}
		}
		if c.pkg != "../../examples/codegen/minimal" {
			continue
		}
		for pkg, imports := range d {
			if slices.Contains(imports, "encoding/json") && pkg != "log/slog" && !strings.HasPrefix(pkg, "encoding/") {
				t.Errorf("%s: %s imports encoding/json (only log/slog may)", c.pkg, pkg)
			}
		}
	}
}
