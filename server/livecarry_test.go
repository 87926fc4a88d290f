package server

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fbtftp-go/fbtftp/internal/live"
	"github.com/fbtftp-go/fbtftp/internal/metrics"
)

// metricsState is an Encode'd state with one carried counter.
func metricsState(t testing.TB) []byte {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "fbtftp_sessions_total", Help: "h"})
	reg.MustRegister(c)
	c.Add(3)
	b, err := metrics.Encode(reg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStateSessions(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	two := []live.Session{
		{ID: "e1-1", File: "big", Op: "rrq", Bytes: 512, BytesTotal: 1 << 20, Started: t0, WorkerPID: 7},
		{ID: "e1-2", File: "up", Op: "wrq", BytesTotal: -1, Started: t0.Add(time.Second)},
	}
	many := make([]live.Session, 6000) // more than a note holds: the oldest that fit
	for i := range many {
		many[i] = live.Session{ID: fmt.Sprint("e1-", i), File: strings.Repeat("f", 200), Started: t0.Add(time.Duration(i))}
	}
	for _, c := range []struct {
		name     string
		sessions []live.Session
		want     int // sessions read back; -1: nil (no note)
	}{
		{"two", two, 2},
		{"none", nil, -1},
		{"more than fit", many, 1700},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := metricsState(t)
			p := withSessions(m, c.sessions)
			got, err := sessionsOf(p)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.want == -1 && got != nil:
				t.Fatalf("sessions %+v, want none", got)
			case c.want == 2 && !reflect.DeepEqual(got, two):
				t.Fatalf("sessions %+v, want %+v", got, two)
			case c.want > 2 && (len(got) < c.want || len(got) >= len(many) || got[0].ID != "e1-0"):
				t.Fatalf("%d sessions (first %v), want the oldest %d or more, not all", len(got), got[0].ID, c.want)
			}
			// Every version's Carry.Set reads the metrics and ignores the note.
			reg := prometheus.NewRegistry()
			carry := metrics.NewCarry(reg)
			if err := carry.Set(p); err != nil {
				t.Fatal(err)
			}
			mfs, _ := carry.Gather()
			if len(mfs) != 1 || mfs[0].GetName() != "fbtftp_sessions_total" || mfs[0].GetMetric()[0].GetCounter().GetValue() != 3 {
				t.Fatalf("carried %v", mfs)
			}
		})
	}
}

func TestSessionsOfBad(t *testing.T) {
	m := metricsState(t)
	note := func(js string) []byte {
		b, err := metrics.AppendNote(m, sessionsNote, []byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		p    []byte
		n    int
		ok   bool
	}{
		{"metrics alone (a server built before)", m, 0, true},
		{"not a state", []byte("garbage"), 0, true},
		{"not JSON", note("{"), 0, false},
		{"not a list", note("{}"), 0, false},
		{"a bad element", note(`[{"bytes":"x"}]`), 0, false},
		{"a flood of empty sessions is cut", note("[" + strings.Repeat("{},", 100_000) + "{}]"), maxCarriedSessions, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := sessionsOf(c.p)
			if (err == nil) != c.ok || len(got) != c.n {
				t.Fatalf("sessionsOf = %d sessions, %v; want %d, ok %v", len(got), err, c.n, c.ok)
			}
		})
	}
}

// FuzzSessionsOf: any state from the old process decodes or fails without
// a panic, and never yields more than maxCarriedSessions.
func FuzzSessionsOf(f *testing.F) {
	m := metricsState(f)
	f.Add(m)
	f.Add(withSessions(m, []live.Session{{ID: "a-1", File: "f", Started: time.Unix(1, 0).UTC()}}))
	f.Add([]byte("\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, p []byte) {
		if s, _ := sessionsOf(p); len(s) > maxCarriedSessions {
			t.Fatalf("%d sessions", len(s))
		}
	})
}

func TestCarriedLiveMerge(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	var c carriedLive
	own := live.Snapshot{Time: t0.Add(10 * time.Second), Sessions: []live.Session{{ID: "new-1", Started: t0.Add(5 * time.Second), Age: 5}}}
	if got := c.merge(own); !reflect.DeepEqual(got, own) {
		t.Fatalf("nothing carried: %+v", got)
	}
	c.set([]live.Session{{ID: "old-2", Started: t0.Add(7 * time.Second), Age: 1}, {ID: "old-1", Started: t0, Age: 1}})
	got := c.merge(own)
	var ids []string
	var ages []float64
	for _, s := range got.Sessions {
		ids = append(ids, s.ID)
		ages = append(ages, s.Age)
	}
	if !reflect.DeepEqual(ids, []string{"old-1", "new-1", "old-2"}) || !reflect.DeepEqual(ages, []float64{10, 5, 3}) {
		t.Fatalf("merged %v, ages %v; want oldest first, ages as of the snapshot", ids, ages)
	}
	if len(own.Sessions) != 1 {
		t.Fatal("merge changed the master's own snapshot")
	}
	c.set(nil) // the old server is gone
	if got := c.merge(own); len(got.Sessions) != 1 {
		t.Fatalf("after set(nil): %+v", got.Sessions)
	}
}
