package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp/httporigin"
	"github.com/fbtftp-go/fbtftp/internal/getopt"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/wlog"
)

var update = flag.Bool("update", false, "rewrite docs/man/*.8 (make man)")

var manPages = map[string]func() string{
	"fbtftp-master.8": masterManPage,
	"fbtftp-worker.8": workerManPage,
}

// TestManPages: the committed pages are what manual.go generates (make man
// rewrites them), and fbtftp-master.8 names every spelling of every option
// the parser accepts.
func TestManPages(t *testing.T) {
	for name, gen := range manPages {
		path := filepath.Join("..", "..", "docs", "man", name)
		want := gen()
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is stale: run make man", path)
		}
	}
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "man", "fbtftp-master.8"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range parserTable(t) {
		if !bytes.Contains(page, []byte(`\fB\-\-`+roffEscape(o.Long)+`\fR`)) {
			t.Errorf("fbtftp-master.8 does not document --%s", o.Long)
		}
		if o.Short != 0 && !bytes.Contains(page, []byte(`\fB\-`+string(o.Short)+`\fR`)) {
			t.Errorf("fbtftp-master.8 does not document -%c", o.Short)
		}
	}
	worker := workerManPage()
	for _, env := range []string{
		sandbox.EnvChroot, sandbox.EnvUID, sandbox.EnvGID, sandbox.EnvGroups,
		sandbox.EnvLandlock, sandbox.EnvFSRead, sandbox.EnvFSWrite,
		wlog.EnvFormat,
		httporigin.EnvOrigin, httporigin.EnvOrigins, httporigin.EnvNetworks, httporigin.EnvCacheDir,
		httporigin.EnvCacheMaxBytes, httporigin.EnvCacheMaxAge, httporigin.EnvConnectTimeout,
		httporigin.EnvHeaderTimeout, httporigin.EnvIdleTimeout, httporigin.EnvMaxSize, httporigin.EnvClientHeaders,
	} {
		if !strings.Contains(worker, roffEscape(env)) {
			t.Errorf("fbtftp-worker.8 does not document %s", env)
		}
	}
	for _, code := range []string{"64", "66", "67", "71", "73", "74", "78"} {
		if !strings.Contains(masterManPage(), "\n.TP\n\\fB"+code+`\fR`) {
			t.Errorf("fbtftp-master.8 does not document exit status %s", code)
		}
	}
}

// parserTable is the table parseArgs uses.
func parserTable(t *testing.T) []getopt.Option {
	t.Helper()
	setters := map[string]func(string, string) error{}
	for _, d := range optionDocs {
		setters[d.long[0]] = func(string, string) error { return nil }
	}
	return getoptTable(setters)
}

// TestOptionDocs: every option documented has a setter and a --help line
// (parseArgs would panic otherwise), and --help names every spelling.
func TestOptionDocs(t *testing.T) {
	if _, err := parseArgs([]string{"-L", "/d"}); err != nil {
		t.Fatal(err)
	}
	help := usage("fbtftp-master")
	for _, o := range parserTable(t) {
		if !strings.Contains(help, "--"+o.Long) {
			t.Errorf("--help does not name --%s", o.Long)
		}
	}
	for _, d := range optionDocs {
		if d.help == "" || strings.Contains(d.help, "\n") || d.section == "" {
			t.Errorf("--%s: help %q section %q", d.long[0], d.help, d.section)
		}
	}
}

// TestManPagesRender: man(1) formats the pages without a warning.
func TestManPagesRender(t *testing.T) {
	man, err := exec.LookPath("man")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("man(1) is missing")
		}
		t.Skip("man(1) is missing (apt install man-db)")
	}
	for name := range manPages {
		cmd := exec.Command(man, "--warnings", "-l", filepath.Join("..", "..", "docs", "man", name))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("man --warnings -l %s: %v\n%s", name, err, stderr.String())
		}
		if stdout.Len() < 1000 {
			t.Errorf("%s renders as %d bytes", name, stdout.Len())
		}
	}
}
