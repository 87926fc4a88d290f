package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/client"
)

// TestOneLogStream: with JSON logs, every line on the master's standard
// error is JSON, the workers' errors included (an origin that refuses
// connections makes fbtftp-worker-http fail its session), and durations
// are numbers of seconds.
func TestOneLogStream(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 2000})
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", "http://127.0.0.1:1/")
	if _, _, err := get(t, s.addr, "f", client.Options{}); err != nil {
		t.Fatalf("local file: %v", err)
	}
	if _, _, err := get(t, s.addr, "from-origin", client.Options{}); err == nil {
		t.Fatal("served from an origin that refuses connections")
	}
	ss := s.waitSessions(2)
	for _, l := range ss {
		if d, ok := l["duration"].(float64); !ok || d <= 0 || d > 60 {
			t.Errorf("duration %#v (%T), want a number of seconds", l["duration"], l["duration"])
		}
		if _, ok := l["handoff_latency"].(float64); !ok {
			t.Errorf("handoff_latency %#v, want a number of seconds", l["handoff_latency"])
		}
	}
	s.stop()
	var workerLines int
	for _, line := range strings.Split(strings.TrimSpace(s.log()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not JSON: %q", line)
			continue
		}
		if lg, _ := m["logger"].(string); strings.HasPrefix(lg, "fbtftp-worker") || lg == "worker" {
			workerLines++
		}
	}
	if workerLines == 0 {
		t.Errorf("no worker line in the log:\n%s", s.log())
	}
}

// TestVerbositySteps: -v adds request lines, -vv packet lines with block
// numbers; at 0 neither.
func TestVerbositySteps(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 1500}) // DATA 1, 2 (512 bytes) and 3 (476)
	count := func(args ...string) (requests, packets int, blocks map[string]bool) {
		t.Helper()
		s := startServer(t, root, "127.0.0.1:0", args...)
		if _, _, err := get(t, s.addr, "f", client.Options{}); err != nil {
			t.Fatal(err)
		}
		s.waitSessions(1)
		s.stop()
		blocks = map[string]bool{}
		for _, m := range s.find("") {
			switch m["msg"] {
			case "request":
				requests++
			case "packet":
				packets++
				if b, ok := m["block"].(float64); ok {
					blocks[fmt.Sprintf("%v#%d", m["op"], int(b))] = true
				}
			}
		}
		return requests, packets, blocks
	}
	if r, p, _ := count(); r != 0 || p != 0 {
		t.Errorf("verbosity 0: %d request and %d packet lines", r, p)
	}
	if r, p, _ := count("-v"); r != 1 || p != 0 {
		t.Errorf("-v: %d request and %d packet lines, want 1 and 0", r, p)
	}
	r, p, blocks := count("-vv")
	if r != 1 || p < 6 {
		t.Errorf("-vv: %d request and %d packet lines, want 1 and at least 6 (3 DATA, 3 ACK)", r, p)
	}
	for _, b := range []string{"DATA#1", "DATA#3", "ACK#1", "ACK#3"} {
		if !blocks[b] {
			t.Errorf("-vv: no packet line for %s (have %v)", b, blocks)
		}
	}
}
