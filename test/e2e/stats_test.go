package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// TestStatsExample runs examples/stats (a custom master on fbtftp.Server)
// and checks both callbacks' JSON lines after real downloads.
func TestStatsExample(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 3000})
	out := filepath.Join(t.TempDir(), "stats.jsonl")
	cmd := exec.Command(filepath.Join(bin, "stats"), "-a", "127.0.0.1:0", "-root", root,
		"-worker", filepath.Join(bin, "fbtftp-worker"), "-out", out, "-interval", "100ms")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var first struct{ Listening string }
	if err := json.NewDecoder(stdout).Decode(&first); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(first.Listening)
	if got, _, err := get(t, addr, "f", client.Options{}); err != nil || len(got) != 3000 {
		t.Fatalf("download: %v", err)
	}
	_, _, err := get(t, addr, "missing", client.Options{})
	var se *tftp.Error
	if !errors.As(err, &se) {
		t.Fatalf("missing: %v", err)
	}
	// At least one periodic server stats call (and the final one at exit).
	eventually(t, 10*time.Second, "a server stats line", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Contains(b, []byte(`"type":"server"`))
	})
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	outcomes := map[string]int{}
	var accepted, requests, bytesSent float64
	servers := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Type string
			Data map[string]any
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		switch line.Type {
		case "session":
			outcomes[line.Data["outcome"].(string)]++
		case "server":
			servers++
			accepted += line.Data["Accepted"].(float64)
			requests += line.Data["Requests"].(float64)
			bytesSent += line.Data["BytesSent"].(float64)
		}
	}
	if outcomes["success"] != 1 || outcomes["not_found"] != 1 {
		t.Errorf("session outcomes %v", outcomes)
	}
	// Counters are reset at every call: their sum over all calls is the
	// total, whatever the number of intervals.
	if servers < 2 || accepted != 2 || requests != 2 || bytesSent != 3000 {
		t.Errorf("%d server lines: accepted %v requests %v bytes %v", servers, accepted, requests, bytesSent)
	}
}
