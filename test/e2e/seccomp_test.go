package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
)

// sandboxedWorkerStatus waits for a pool worker that has finished its
// sandbox (it has no_new_privs, set after the chroot and the user) and
// returns its /proc status fields.
func sandboxedWorkerStatus(t *testing.T, s *server, ready func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, k := range children(s.pid()) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", k))
			fields := map[string]string{}
			for line := range strings.Lines(string(b)) {
				key, v, _ := strings.Cut(line, ":")
				fields[key] = strings.TrimSpace(v)
			}
			if fields["NoNewPrivs"] == "1" && ready(fields) {
				return fields
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sandboxed worker; children %v\n%s", children(s.pid()), tail(s.log(), 3000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWorkersSeccomp: workers run under the seccomp filter (mode 2, one
// filter, seen in /proc) and serve; --no-seccomp leaves them without it.
// Every other end-to-end test runs with the filter on, as it is by
// default: downloads, uploads, templates, HTTP origins with the cache,
// https, IPv6, the examples' custom workers.
func TestWorkersSeccomp(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 5000})
	for _, c := range []struct {
		args          []string
		mode, filters string
	}{
		{nil, "2", "1"},
		{[]string{"--no-seccomp"}, "0", "0"},
	} {
		s := startServer(t, root, "127.0.0.1:0", append([]string{"--prefork", "1", "-v"}, c.args...)...)
		// no_new_privs comes before Landlock and the filter: with the
		// filter on, wait for it (a worker read in between is not done).
		st := sandboxedWorkerStatus(t, s, func(f map[string]string) bool { return c.mode == "0" || f["Seccomp"] == c.mode })
		// Filters are counted from Linux 5.9 on.
		if st["Seccomp"] != c.mode || st["Seccomp_filters"] != "" && st["Seccomp_filters"] != c.filters {
			t.Errorf("%v: Seccomp %q, Seccomp_filters %q; want %s, %s", c.args, st["Seccomp"], st["Seccomp_filters"], c.mode, c.filters)
		}
		if b, _, err := get(t, s.addr, "f", client.Options{Blksize: 1468, Windowsize: 4, Tsize: true}); err != nil || len(b) != 5000 {
			t.Fatalf("%v: download: %v", c.args, err)
		}
		if got := s.logValue("sandbox", "seccomp"); got != fmt.Sprint(c.mode == "2") {
			t.Errorf("%v: the worker says seccomp %s", c.args, got)
		}
		s.stop()
	}
}
