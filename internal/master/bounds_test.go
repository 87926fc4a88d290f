package master

import (
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

func TestBoundStats(t *testing.T) {
	sent := time.Now()
	now := sent.Add(2 * time.Second)
	ho := &ipc.Handoff{
		SessionID: "s-1", Op: proto.OpRRQ, Filename: "f", Mode: proto.ModeOctet,
		Options: []proto.Option{{Name: "blksize", Value: "1468"}, {Name: "tsize", Value: "0"}},
		Peer:    netip.MustParseAddrPort("192.0.2.1:1000"), Local: netip.MustParseAddrPort("192.0.2.2:2000"),
		Settings: ipc.Settings{MaxUpload: 1 << 20},
	}
	honest := func() *stats.SessionStats {
		return &stats.SessionStats{
			SessionID: "s-1", Peer: ho.Peer, Local: ho.Local, Filename: "f", Op: proto.OpRRQ, WorkerPID: 7,
			OptionsRequested: ho.Options, OptionsAcked: []proto.Option{{Name: "blksize", Value: "1468"}},
			Blksize: 1468, Windowsize: 1, Tsize: 300_000,
			PacketsSent: 206, PacketsReceived: 205, Bytes: 300_000, Retransmits: 1, RTT: 150 * time.Microsecond,
			Outcome: stats.OutcomeSuccess, Start: sent.Add(time.Millisecond).Round(0), Duration: time.Second,
		}
	}
	cases := []struct {
		name  string
		op    proto.Opcode
		lie   func(*stats.SessionStats)
		fixed []string
		check func(*stats.SessionStats) bool
	}{
		{"honest", proto.OpRRQ, func(*stats.SessionStats) {}, nil, nil},
		{"identity", proto.OpRRQ, func(s *stats.SessionStats) {
			s.SessionID, s.Filename, s.Peer, s.WorkerPID, s.Mode = "other", "/etc/shadow", netip.MustParseAddrPort("10.0.0.1:1"), 1, proto.ModeNetascii
		}, nil, func(s *stats.SessionStats) bool {
			return s.SessionID == "s-1" && s.Filename == "f" && s.Peer == ho.Peer && s.WorkerPID == 42 && s.Mode == proto.ModeOctet
		}},
		{"bytes 1.8e19", proto.OpRRQ, func(s *stats.SessionStats) { s.Bytes = 18_000_000_000_000_000_000 }, []string{"bytes"},
			func(s *stats.SessionStats) bool { return s.Bytes == 206*1468 }},
		{"packets", proto.OpRRQ, func(s *stats.SessionStats) { s.PacketsSent, s.PacketsReceived = math.MaxUint64, 1<<40 },
			[]string{"packets_sent", "packets_received"}, nil},
		{"retransmits", proto.OpRRQ, func(s *stats.SessionStats) { s.Retransmits = 1000 }, []string{"retransmits"},
			func(s *stats.SessionStats) bool { return s.Retransmits == 206 }},
		{"rtt", proto.OpRRQ, func(s *stats.SessionStats) { s.RTT = 1000 * time.Hour }, []string{"rtt"},
			func(s *stats.SessionStats) bool { return s.RTT == 2*time.Second }},
		{"duration", proto.OpRRQ, func(s *stats.SessionStats) { s.Duration = 1000 * time.Hour }, []string{"duration"},
			func(s *stats.SessionStats) bool { return s.Duration == 2*time.Second }},
		{"start", proto.OpRRQ, func(s *stats.SessionStats) { s.Start = time.Unix(0, 0) }, []string{"start"},
			func(s *stats.SessionStats) bool { return s.Start.Equal(sent) }},
		{"blksize", proto.OpRRQ, func(s *stats.SessionStats) { s.Blksize = 1 << 30 }, []string{"blksize"},
			func(s *stats.SessionStats) bool { return s.Blksize == 1468 }},
		{"blksize above the request", proto.OpRRQ, func(s *stats.SessionStats) { s.Blksize = 8192 }, []string{"blksize"},
			func(s *stats.SessionStats) bool { return s.Blksize == 1468 }},
		{"windowsize not requested", proto.OpRRQ, func(s *stats.SessionStats) { s.Windowsize = 16 }, []string{"windowsize"},
			func(s *stats.SessionStats) bool { return s.Windowsize == 1 }},
		{"tsize", proto.OpRRQ, func(s *stats.SessionStats) { s.Tsize = -5 }, []string{"tsize"}, nil},
		{"acked not requested", proto.OpRRQ, func(s *stats.SessionStats) {
			s.OptionsAcked = []proto.Option{{Name: "BLKSIZE", Value: "1468"}, {Name: "windowsize", Value: "64"}, {Name: "blksize", Value: "8"}}
		}, []string{"options_acked"}, func(s *stats.SessionStats) bool {
			return len(s.OptionsAcked) == 1 && s.OptionsAcked[0].Name == "BLKSIZE"
		}},
		{"upload over max", proto.OpWRQ, func(s *stats.SessionStats) { s.Bytes = 2 << 20; s.PacketsReceived = 10_000 }, []string{"bytes"},
			func(s *stats.SessionStats) bool { return s.Bytes == 1<<20 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := *ho
			h.Op = c.op
			st := honest()
			st.Op = c.op
			c.lie(st)
			fixed := boundStats(st, &h, 42, sent, now)
			if !slices.Equal(fixed, c.fixed) {
				t.Errorf("fixed %v, want %v", fixed, c.fixed)
			}
			if c.check != nil && !c.check(st) {
				t.Errorf("after bounds: %+v", st)
			}
			if again := boundStats(st, &h, 42, sent, now); len(again) > 0 {
				t.Errorf("bounded stats still out of bounds: %v", again)
			}
		})
	}
}

func TestNegotiable(t *testing.T) {
	opt := func(kv ...string) []proto.Option {
		var o []proto.Option
		for i := 0; i+1 < len(kv); i += 2 {
			o = append(o, proto.Option{Name: kv[i], Value: kv[i+1]})
		}
		return o
	}
	for _, c := range []struct {
		opts     []proto.Option
		set      ipc.Settings
		blk, win int
	}{
		{nil, ipc.Settings{}, 512, 1},
		{opt("blksize", "1468"), ipc.Settings{}, 1468, 1},
		{opt("BLKSIZE", "100000"), ipc.Settings{}, proto.MaxBlksize, 1},
		{opt("blksize2", "4000", "blksize", "300"), ipc.Settings{}, 4000, 1},
		{opt("blksize", "8192"), ipc.Settings{MaxBlksize: 1468}, 1468, 1},
		{opt("blksize", "x", "windowsize", "-3"), ipc.Settings{}, 512, 1},
		{opt("windowsize", "1000"), ipc.Settings{}, 512, proto.DefaultMaxWindow},
		{opt("windowsize", "1000"), ipc.Settings{MaxWindowsize: 256}, 512, 256},
		{opt("windowsize", "16"), ipc.Settings{MaxWindowsize: 256}, 512, 16},
	} {
		blk, win := negotiable(&ipc.Handoff{Options: c.opts, Settings: c.set})
		if blk != c.blk || win != c.win {
			t.Errorf("%v %+v: %d %d, want %d %d", c.opts, c.set, blk, win, c.blk, c.win)
		}
	}
}

func TestBoundOrigin(t *testing.T) {
	elapsed := 2 * time.Second
	honest := stats.OriginStats{Requests: 3, Latencies: []time.Duration{time.Millisecond, time.Second}, Fills: 1, AbortedFills: 1,
		Evictions: 2, EvictedBytes: 1 << 30}
	honest.Errors[0] = 1
	o := honest
	if fixed := boundOrigin(&o, elapsed, 0); len(fixed) > 0 {
		t.Fatalf("honest report corrected: %v", fixed)
	}
	lie := stats.OriginStats{Requests: 1 << 60, Latencies: []time.Duration{time.Hour, time.Hour}, Fills: 1 << 61,
		Evictions: 1 << 62, EvictedBytes: 18_000_000_000_000_000_000}
	lie.Errors[1] = 1 << 62
	fixed := boundOrigin(&lie, elapsed, 0)
	want := []string{"origin_requests", "origin_latencies", "origin_errors", "origin_fills", "origin_evictions", "origin_evicted_bytes"}
	if !slices.Equal(fixed, want) {
		t.Errorf("fixed %v, want %v", fixed, want)
	}
	if lie.Requests != 30_000 || lie.Latencies[1] != elapsed || lie.Errors[1] != lie.Requests || lie.Fills != lie.Requests ||
		lie.EvictedBytes != maxEvictedSize {
		t.Errorf("after bounds: %+v", lie)
	}
	if again := boundOrigin(&lie, elapsed, 0); len(again) > 0 {
		t.Errorf("bounded report still out of bounds: %v", again)
	}
	// The late report of a fill the session's request started.
	late := stats.OriginStats{Fills: 1}
	if fixed := boundOrigin(&late, elapsed, 1); len(fixed) > 0 || late.Fills != 1 {
		t.Errorf("a late fill of an earlier request corrected: %v", fixed)
	}
	if fixed := boundOrigin(&late, elapsed, 0); !slices.Equal(fixed, []string{"origin_fills"}) {
		t.Errorf("a fill without any request: %v", fixed)
	}
	noEvict := stats.OriginStats{EvictedBytes: 1}
	if fixed := boundOrigin(&noEvict, elapsed, 0); !slices.Equal(fixed, []string{"origin_evicted_bytes"}) || noEvict.EvictedBytes != 0 {
		t.Errorf("evicted bytes without evictions: %v %+v", fixed, noEvict)
	}
}
