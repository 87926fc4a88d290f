package e2e

import (
	"bufio"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// metricsAddr returns the address the master logged for /metrics.
func (s *server) metricsAddr(t *testing.T) string {
	t.Helper()
	return s.logValue("metrics listening", "address")
}

// scrape returns every sample of the exposition as "name{labels}" -> value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestMetricsLiveMaster scrapes a real master after real sessions: a
// success, a not-found, a UEFI probe and a killed worker.
func TestMetricsLiveMaster(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 20_000, "big": 4 << 20})
	s := startServer(t, root, "127.0.0.1:0", idleExit("--metrics-addr", "127.0.0.1:0")...)
	maddr := s.metricsAddr(t)

	// The listening line comes before the master has finished starting
	// (its spawner thread, the reaper): /healthz says 503 until then.
	eventually(t, 10*time.Second, "/healthz 200", func() bool {
		resp, err := http.Get("http://" + maddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	before := scrape(t, maddr)
	if before[`fbtftp_sessions_total{op="rrq",outcome="success"}`] != 0 {
		t.Fatalf("not zero at start")
	}

	// 1. success with options.
	if got, _, err := get(t, s.addr, "f", client.Options{Blksize: 1468, Tsize: true, Windowsize: 4}); err != nil || len(got) != 20_000 {
		t.Fatalf("download: %v", err)
	}
	// 2. not found.
	if _, _, err := get(t, s.addr, "missing", client.Options{}); err == nil {
		t.Fatal("missing file served")
	}
	// 3. the UEFI probe: RRQ tsize -> OACK -> ERROR 8.
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "f", "octet", []proto.Option{{Name: "tsize", Value: "0"}, {Name: "blksize", Value: "1468"}})
	p, err := sess.RecvPacket(5 * time.Second)
	if err != nil || p.Op != proto.OpOACK {
		t.Fatalf("%+v %v", p, err)
	}
	sess.SendError(p.From, proto.ErrOptionRefused, "User aborted the transfer")
	s.waitSessions(3)
	// The download that follows the probe names it in its log line.
	if got, _, err := get(t, s.addr, "f", client.Options{Blksize: 1468, Tsize: true}); err != nil || len(got) != 20_000 {
		t.Fatalf("after probe: %v", err)
	}
	ss := s.waitSessions(4)
	if ss[3]["follows_probe"] == nil || ss[3]["follows_probe"] != ss[2]["session_id"] {
		t.Errorf("download after the probe does not name it: %v / %v", ss[2]["session_id"], ss[3]["follows_probe"])
	}
	// 4. a worker killed mid-transfer (in the reuse pass, once the idle
	// workers are gone: the one left is the session's).
	eventually(t, 10*time.Second, "no idle worker", func() bool { return !testenv.Reuse() || len(children(s.pid())) == 0 })
	sess2, _ := client.NewSession(s.addr, netip.AddrPort{})
	defer sess2.Close()
	sess2.SendRequest(proto.OpRRQ, "big", "octet", nil)
	if p, err := sess2.RecvPacket(5 * time.Second); err != nil || p.Op != proto.OpDATA {
		t.Fatalf("%+v %v", p, err)
	}
	kids := children(s.pid())
	if len(kids) != 1 {
		t.Fatalf("children %v", kids)
	}
	killPID(kids[0])
	s.waitSessions(5)
	// 5. junk on the listening port.
	sess.Send([]byte{0, 4, 0, 1})

	eventually(t, 10*time.Second, "metrics updated", func() bool {
		m := scrape(t, maddr)
		return m[`fbtftp_requests_total{decision="malformed",op="ack"}`] == 1 &&
			m[`fbtftp_worker_crashes_total{reason="crash"}`] == 1
	})
	m := scrape(t, maddr)
	want := map[string]float64{
		`fbtftp_sessions_total{op="rrq",outcome="success"}`:      2,
		`fbtftp_sessions_total{op="rrq",outcome="not_found"}`:    1,
		`fbtftp_sessions_total{op="rrq",outcome="probe"}`:        1,
		`fbtftp_sessions_total{op="rrq",outcome="worker_crash"}`: 1,
		`fbtftp_requests_total{decision="accepted",op="rrq"}`:    5,
		`fbtftp_requests_total{decision="malformed",op="ack"}`:   1,
		`fbtftp_worker_crashes_total{reason="crash"}`:            1,
		`fbtftp_errors_sent_total{code="1"}`:                     1,
		`fbtftp_errors_received_total{code="8"}`:                 1,
		`fbtftp_options_requested_total{option="windowsize"}`:    1,
		`fbtftp_options_acknowledged_total{option="tsize"}`:      3,
		`fbtftp_bytes_total{direction="sent"}`:                   40_000,
		`fbtftp_probe_followups_total{outcome="success"}`:        1,
		`fbtftp_sessions_active`:                                 0,
	}
	// The default limit is sized from the machine: the master logs it.
	sized := s.waitLog("max_workers sized from the machine", 1)[0]
	if mw, _ := sized["max_workers"].(float64); mw < 16 || m[`fbtftp_workers_max`] != mw {
		t.Errorf("fbtftp_workers_max = %v, the master sized it %v (%v)", m[`fbtftp_workers_max`], sized["max_workers"], sized["rule"])
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	minSpawns := 5.0 // a worker per session
	if testenv.Reuse() {
		minSpawns = 1
	}
	if m[`fbtftp_worker_spawns_total`] < minSpawns || m[`fbtftp_session_duration_seconds_count`] != 5 {
		t.Errorf("spawns %v, durations %v", m[`fbtftp_worker_spawns_total`], m[`fbtftp_session_duration_seconds_count`])
	}
	found := false
	for k := range m {
		if strings.HasPrefix(k, "fbtftp_build_info{") {
			found = true
		}
	}
	if !found {
		t.Error("no build info")
	}
	// Nothing per peer or per file ever appears in a label.
	resp, _ := http.Get("http://" + maddr + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), `"f"`) || strings.Contains(string(body), "missing") {
		t.Error("a peer or file name leaked into the metrics")
	}
}

// TestMetricsThroughDrain: after SIGTERM the metrics listener keeps
// serving while sessions drain (/healthz says 503, /metrics answers), and
// closes only once the master is done.
func TestMetricsThroughDrain(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"big": 1 << 20})
	s := startServer(t, root, "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--drain-timeout", "3s")
	maddr := s.metricsAddr(t)

	// A session that stays in flight: DATA 1 is never acknowledged.
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "big", "octet", nil)
	if p, err := sess.RecvPacket(5 * time.Second); err != nil || p.Op != proto.OpDATA {
		t.Fatalf("%+v %v", p, err)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.logValue("shutting down", "sessions_in_flight")

	resp, err := http.Get("http://" + maddr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz during the drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz during the drain: %d, want 503", resp.StatusCode)
	}
	if m := scrape(t, maddr); m["fbtftp_sessions_active"] != 1 {
		t.Errorf("fbtftp_sessions_active %v during the drain, want 1", m["fbtftp_sessions_active"])
	}
	select { // --drain-timeout 3s, then the worker is stopped
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the master did not exit after the drain")
	}
	if _, err := http.Get("http://" + maddr + "/healthz"); err == nil {
		t.Error("the metrics listener outlived the master")
	}
}

// TestOriginMetrics: the workers' origin and cache work reaches the
// master's metrics: a UEFI size probe of an uncached object (the fill it
// starts finishes after the session: the worker's late report), a
// download from the cache, an origin error, and the cache gauges.
func TestOriginMetrics(t *testing.T) {
	o := newHTTPOrigin(t)
	root := worldReadableDir(t)
	cache := filepath.Join(t.TempDir(), "cache")
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", o.URL+"/", "--http-cache", cache,
		"--metrics-addr", "127.0.0.1:0")
	maddr := s.metricsAddr(t)

	// The probe: RRQ with tsize, OACK, ERROR 8. The session ends at once;
	// the worker goes on filling the cache.
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "img/a", "octet", []proto.Option{{Name: "tsize", Value: "0"}})
	p, err := sess.RecvPacket(10 * time.Second)
	if err != nil || p.Op != proto.OpOACK {
		t.Fatalf("%+v %v", p, err)
	}
	sess.SendError(p.From, proto.ErrOptionRefused, "tsize only")
	eventually(t, 30*time.Second, "the probe's fill counted", func() bool {
		return scrape(t, maddr)[`fbtftp_cache_fills_total{result="published"}`] == 1
	})
	// From the cache now (a revalidation: 304).
	if got, _, err := get(t, s.addr, "img/a", client.Options{Blksize: 8192, Windowsize: 8}); err != nil || len(got) != imgSize {
		t.Fatalf("download: %v (%d bytes)", err, len(got))
	}
	if _, _, err := get(t, s.addr, "broken", client.Options{}); err == nil {
		t.Fatal("served /broken")
	}
	eventually(t, 10*time.Second, "the error counted", func() bool {
		return scrape(t, maddr)[`fbtftp_origin_errors_total{class="status_5xx"}`] == 1
	})
	m := scrape(t, maddr)
	want := map[string]float64{
		`fbtftp_origin_requests_total`:                    3,
		`fbtftp_origin_request_duration_seconds_count`:    3,
		`fbtftp_cache_fills_total{result="published"}`:    1,
		`fbtftp_cache_fills_total{result="aborted"}`:      0,
		`fbtftp_cache_objects`:                            1,
		`fbtftp_cache_bytes`:                              imgSize,
		`fbtftp_origin_errors_total{class="connect"}`:     0,
		`fbtftp_content_sessions_total{source="cache"}`:   1,
		`fbtftp_sessions_total{op="rrq",outcome="probe"}`: 1,
		`fbtftp_origin_errors_total{class="status_5xx"}`:  1,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if o.requests.Load() != 3 {
		t.Errorf("the origin saw %d requests, the metrics say 3", o.requests.Load())
	}
}
