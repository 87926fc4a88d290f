package server

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/live"
)

func TestStateRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	two := []live.Session{
		{ID: "e1-1", File: "big", Op: "rrq", Bytes: 512, BytesTotal: 1 << 20, Started: t0, WorkerPID: 7},
		{ID: "e1-2", File: "up", Op: "wrq", BytesTotal: -1, Started: t0.Add(time.Second)},
	}
	for _, c := range []struct {
		name     string
		metrics  []byte
		sessions []live.Session
		limit    int
		want     []live.Session // after the round trip
	}{
		{"metrics and sessions", []byte("# metrics\n"), two, 1 << 20, two},
		{"no session", []byte("m"), nil, 1 << 20, nil},
		{"no metrics", nil, two, 1 << 20, two},
		{"sessions over the limit are left out", []byte("m"), two, 64, []live.Session{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := encodeState(c.metrics, c.sessions, c.limit)
			m, s, err := decodeState(p)
			if err != nil || !bytes.Equal(m, c.metrics) || !reflect.DeepEqual(s, c.want) {
				t.Fatalf("decodeState(encodeState) = %q, %+v, %v; want %q, %+v", m, s, err, c.metrics, c.want)
			}
		})
	}
}

func TestDecodeState(t *testing.T) {
	for _, c := range []struct {
		name    string
		p       []byte
		metrics []byte
		ok      bool
	}{
		{"metrics alone (a server built before)", []byte("# HELP x\n"), []byte("# HELP x\n"), true},
		{"empty", nil, nil, true},
		{"short length", []byte(stateMagic + "\x00\x00"), nil, false},
		{"metrics past the end", []byte(stateMagic + "\x00\x00\x00\x09abc[]"), nil, false},
		{"sessions not JSON", []byte(stateMagic + "\x00\x00\x00\x01m{"), []byte("m"), false},
		{"sessions not a list", []byte(stateMagic + "\x00\x00\x00\x01m{}"), []byte("m"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, s, err := decodeState(c.p)
			if (err == nil) != c.ok || !bytes.Equal(m, c.metrics) || (!c.ok && s != nil) {
				t.Fatalf("decodeState(%q) = %q, %+v, %v; want metrics %q, ok %v", c.p, m, s, err, c.metrics, c.ok)
			}
		})
	}
}

// FuzzDecodeState: any payload from the old process decodes or fails
// without a panic, and what decodes encodes back to the same metrics and
// sessions.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte("# HELP x\n"))
	f.Add(encodeState([]byte("m"), []live.Session{{ID: "a-1", File: "f", Started: time.Unix(1, 0).UTC()}}, 1<<20))
	f.Add([]byte(stateMagic + "\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, p []byte) {
		m, s, err := decodeState(p)
		if err != nil || !bytes.HasPrefix(p, []byte(stateMagic)) {
			return
		}
		m2, s2, err := decodeState(encodeState(m, s, 1<<30))
		if err != nil || !bytes.Equal(m, m2) || len(s) != len(s2) {
			t.Fatalf("re-encoded: %q %d sessions %v; first %q %d", m2, len(s2), err, m, len(s))
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
