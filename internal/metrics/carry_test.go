package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// carryRegistry is a small stand-in for a master's series.
func carryRegistry(version string, sessions, bytes float64, active float64, observe ...float64) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fbtftp_sessions_total", Help: "s"}, []string{"outcome"})
	c.WithLabelValues("success").Add(sessions)
	b := prometheus.NewCounter(prometheus.CounterOpts{Name: "fbtftp_bytes_total", Help: "b"})
	b.Add(bytes)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fbtftp_session_duration_seconds", Help: "d", Buckets: []float64{1, 10}})
	for _, v := range observe {
		h.Observe(v)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fbtftp_sessions_active", Help: "a"})
	g.Set(active)
	max := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fbtftp_workers_max", Help: "m"})
	max.Set(1024)
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fbtftp_build_info", Help: "i", ConstLabels: prometheus.Labels{"version": version}})
	info.Set(1)
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "go_other_total", Help: "o"})
	other.Add(7)
	reg.MustRegister(c, b, h, g, max, info, other)
	return reg
}

// TestCarry: counters and histograms add up; the old master's live
// gauges count until Orphan; its build_info, limits and non-fbtftp series
// never show; a newer state replaces the previous one.
func TestCarry(t *testing.T) {
	old := carryRegistry("1.0", 3, 300, 2, 0.5, 5)
	state, err := Encode(NewCarry(old))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCarry(carryRegistry("2.0", 1, 100, 1, 20))
	if err := c.Set(state); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP fbtftp_build_info i
# TYPE fbtftp_build_info gauge
fbtftp_build_info{version="2.0"} 1
# HELP fbtftp_bytes_total b
# TYPE fbtftp_bytes_total counter
fbtftp_bytes_total 400
# HELP fbtftp_session_duration_seconds d
# TYPE fbtftp_session_duration_seconds histogram
fbtftp_session_duration_seconds_bucket{le="1"} 1
fbtftp_session_duration_seconds_bucket{le="10"} 2
fbtftp_session_duration_seconds_bucket{le="+Inf"} 3
fbtftp_session_duration_seconds_sum 25.5
fbtftp_session_duration_seconds_count 3
# HELP fbtftp_sessions_active a
# TYPE fbtftp_sessions_active gauge
fbtftp_sessions_active 3
# HELP fbtftp_sessions_total s
# TYPE fbtftp_sessions_total counter
fbtftp_sessions_total{outcome="success"} 4
# HELP fbtftp_workers_max m
# TYPE fbtftp_workers_max gauge
fbtftp_workers_max 1024
# HELP go_other_total o
# TYPE go_other_total counter
go_other_total 7
`
	if err := testutil.GatherAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// The old master finishes its sessions, then exits.
	state, _ = Encode(NewCarry(carryRegistry("1.0", 5, 500, 0, 0.5, 5)))
	if err := c.Set(state); err != nil {
		t.Fatal(err)
	}
	c.Orphan()
	if err := testutil.GatherAndCompare(c, strings.NewReader(`
# HELP fbtftp_sessions_active a
# TYPE fbtftp_sessions_active gauge
fbtftp_sessions_active 1
# HELP fbtftp_sessions_total s
# TYPE fbtftp_sessions_total counter
fbtftp_sessions_total{outcome="success"} 6
`), "fbtftp_sessions_total", "fbtftp_sessions_active"); err != nil {
		t.Fatal(err)
	}
	// What this master hands on at the next upgrade includes it all.
	again := NewCarry(prometheus.NewRegistry())
	state, _ = Encode(c)
	if err := again.Set(state); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(gatherOne(t, again, "fbtftp_bytes_total")); got != 600 {
		t.Errorf("chained carry: %v bytes, want 600", got)
	}
	if err := c.Set([]byte("junk")); err == nil {
		t.Error("junk state accepted")
	}
}

// gatherOne turns one gathered counter into a Collector for ToFloat64.
func gatherOne(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "x"})
			c.Add(mf.Metric[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func FuzzCarrySet(f *testing.F) {
	state, _ := Encode(NewCarry(carryRegistry("1.0", 3, 300, 2, 0.5)))
	f.Add(state)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewCarry(carryRegistry("2.0", 1, 1, 1))
		if c.Set(b) == nil {
			if _, err := c.Gather(); err != nil {
				t.Fatalf("gather after a state that decoded: %v", err)
			}
		}
	})
}
