package metrics

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fbtftp-go/fbtftp/internal/live"
)

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestHandler(t *testing.T) {
	m, reg, clk := newTest(t)
	feedSequence(m, clk)
	health := &fakeHealth{}
	health.accepting.Store(true)
	h := Handler(reg, health, nil)

	code, body, hdr := get(t, h, http.MethodGet, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q", ct)
	}
	for _, want := range []string{
		`fbtftp_sessions_total{op="rrq",outcome="success"} 1`,
		`fbtftp_requests_total{decision="busy",op="rrq"} 1`,
		`fbtftp_workers{state="busy"} 3`,
		"fbtftp_handoff_seconds_bucket",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	if code, body, _ := get(t, h, http.MethodGet, "/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz healthy: %d %q", code, body)
	}
	// A saturated queue: still 200, and said.
	health.saturated.Store(true)
	if code, body, _ := get(t, h, http.MethodGet, "/healthz"); code != http.StatusOK || body != "ok\nadmission queue saturated\n" {
		t.Errorf("/healthz saturated: %d %q", code, body)
	}
	health.accepting.Store(false)
	if code, body, _ := get(t, h, http.MethodGet, "/healthz"); code != http.StatusServiceUnavailable || strings.TrimSpace(body) != "unhealthy" {
		t.Errorf("/healthz unhealthy: %d %q", code, body)
	}
	if code, _, _ := get(t, h, http.MethodHead, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("HEAD /healthz unhealthy: %d", code)
	}
	if code, _, _ := get(t, h, http.MethodPost, "/metrics"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", code)
	}
	if code, _, _ := get(t, h, http.MethodGet, "/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", code)
	}

	// nil healthy means healthy.
	if code, _, _ := get(t, Handler(reg, nil, nil), http.MethodGet, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with nil func: %d", code)
	}
}

type fakeHealth struct{ accepting, saturated atomic.Bool }

func (h *fakeHealth) Accepting() bool      { return h.accepting.Load() }
func (h *fakeHealth) QueueSaturated() bool { return h.saturated.Load() }

// A collector that fails must not take the others down.
type failingCollector struct{ d *prometheus.Desc }

func (c failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.d }
func (c failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(c.d, io.ErrUnexpectedEOF)
}

func TestHandlerContinuesOnError(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, nil, "x")
	reg.MustRegister(failingCollector{prometheus.NewDesc("broken", "broken", nil, nil)})
	code, body, _ := get(t, Handler(reg, nil, nil), http.MethodGet, "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "fbtftp_build_info") {
		t.Errorf("/metrics with a failing collector: %d, fbtftp_build_info present: %v", code, strings.Contains(body, "fbtftp_build_info"))
	}
}

func TestServe(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, nil, "x")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, "127.0.0.1:0", Handler(reg, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if addr.(*net.TCPAddr).Port == 0 {
		t.Fatalf("bound address %v has no port", addr)
	}
	base := "http://" + addr.String()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/metrics", "/healthz"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	client.CloseIdleConnections()

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err != nil {
			break // shut down
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 5s after ctx ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Serve(context.Background(), ln.Addr().String(), http.NotFoundHandler()); err == nil {
		t.Error("Serve on a port in use succeeded")
	}
}

// GET /sessions serves the live view as JSON; without a source it is 404.
func TestHandlerSessions(t *testing.T) {
	reg := prometheus.NewRegistry()
	started := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	snap := live.Snapshot{Time: started.Add(3 * time.Second), Sessions: []live.Session{{
		ID: "s-1", Peer: "192.0.2.1:1234", Local: "192.0.2.9:69", File: "initrd", Op: "rrq", Mode: "octet",
		Source: "file", Blksize: 1468, Windowsize: 4, Bytes: 1 << 20, BytesTotal: 8 << 20, Rate: 350000,
		Retransmits: 2, Started: started, Age: 3, WorkerPID: 42,
	}}, LastMinute: live.Recent{Seconds: 60, Requests: map[string]uint64{"accepted": 3}, Outcomes: map[string]uint64{"success": 2}}}
	h := Handler(reg, nil, func() live.Snapshot { return snap })
	code, body, hdr := get(t, h, http.MethodGet, "/sessions")
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("/sessions: %d %v", code, hdr)
	}
	for _, want := range []string{`"session_id":"s-1"`, `"peer":"192.0.2.1:1234"`, `"file":"initrd"`, `"bytes":1048576`,
		`"bytes_total":8388608`, `"rate_bytes_per_second":350000`, `"age_seconds":3`, `"worker_pid":42`, `"accepted":3`} {
		if !strings.Contains(body, want) {
			t.Errorf("/sessions lacks %s: %s", want, body)
		}
	}
	var back live.Snapshot
	if err := json.Unmarshal([]byte(body), &back); err != nil || len(back.Sessions) != 1 || back.Sessions[0] != snap.Sessions[0] {
		t.Errorf("round trip: %v %+v", err, back)
	}
	if code, _, _ := get(t, h, http.MethodPost, "/sessions"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /sessions: %d, want 405", code)
	}
	if code, _, _ := get(t, Handler(reg, nil, nil), http.MethodGet, "/sessions"); code != http.StatusNotFound {
		t.Errorf("/sessions without a source: %d, want 404", code)
	}
}

// Requests beyond maxLiveViews at once get 503, not a pile of snapshots.
func TestHandlerSessionsBounded(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, maxLiveViews)
	h := Handler(prometheus.NewRegistry(), nil, func() live.Snapshot {
		entered <- struct{}{}
		<-release
		return live.Snapshot{}
	})
	done := make(chan int, maxLiveViews)
	for range maxLiveViews {
		go func() { code, _, _ := get(t, h, http.MethodGet, "/sessions"); done <- code }()
	}
	for range maxLiveViews {
		<-entered
	}
	if code, _, _ := get(t, h, http.MethodGet, "/sessions"); code != http.StatusServiceUnavailable {
		t.Errorf("request %d: %d, want 503", maxLiveViews+1, code)
	}
	close(release)
	for range maxLiveViews {
		if code := <-done; code != http.StatusOK {
			t.Errorf("held request: %d", code)
		}
	}
}
