package ipc

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// ts returns a time as decoders return it (time.Unix, no monotonic reading).
func ts(sec, nsec int64) time.Time { return time.Unix(sec, nsec) }

// fullHandoff returns a Handoff with every field set to a non-zero value.
func fullHandoff() *Handoff {
	return &Handoff{
		SessionID: "s-0001",
		Op:        proto.OpWRQ,
		Filename:  "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff",
		RawMode:   "NetASCII",
		Mode:      proto.ModeNetascii,
		Options:   []proto.Option{{Name: "tsize", Value: "0"}, {Name: "BLKSIZE", Value: "1468"}, {Name: "windowsize", Value: ""}},
		Peer:      netip.MustParseAddrPort("[fe80::1%eth0]:49152"),
		Local:     netip.MustParseAddrPort("[2001:db8::69]:33000"),
		Received:  ts(1_700_000_000, 123_456_789),
		Settings: Settings{
			Timeout:         1500 * time.Millisecond,
			Retries:         6,
			MaxBlksize:      65464,
			MaxWindowsize:   65535,
			Refuse:          []string{"tsize", "utimeout"},
			SessionDeadline: 10 * time.Minute,
			Flags:           FlagPermissive | FlagCreate | FlagReadOnly | FlagSecure | FlagFixedRetransmit,
			Umask:           0o022,
			MaxUpload:       1 << 40,
			Roots:           []string{"/", "/srv/tftp"},
			Verbosity:       3,
			LogFormat:       LogFormatJSON,
			Extra:           map[string]string{"origin": "http://repo.example/boot", "a": "", "z": "1"},
		},
		Reuse: true,
	}
}

// fullStats returns SessionStats with every field set to a non-zero value.
func fullStats() *stats.SessionStats {
	return &stats.SessionStats{
		SessionID:        "s-0001",
		Peer:             netip.MustParseAddrPort("192.0.2.7:2070"),
		Local:            netip.MustParseAddrPort("192.0.2.1:40000"),
		Filename:         "grubx64.efi",
		Op:               proto.OpRRQ,
		Mode:             proto.ModeNetascii,
		WorkerPID:        4242,
		OptionsRequested: []proto.Option{{Name: "blksize", Value: "1468"}, {Name: "tsize", Value: "0"}},
		OptionsAcked:     []proto.Option{{Name: "blksize", Value: "1468"}, {Name: "tsize", Value: "1048576"}},
		Blksize:          1468,
		Windowsize:       16,
		Tsize:            1048576,
		PacketsSent:      715,
		PacketsReceived:  716,
		Bytes:            1048576,
		Retransmits:      3,
		Outcome:          stats.OutcomeClientError,
		Source:           stats.SourceCache,
		ErrorCode:        proto.ErrOptionRefused,
		ErrorMessage:     "bye",
		Start:            ts(1_700_000_001, 1),
		Duration:         1234567 * time.Microsecond,
		Origin:           fullOrigin(),
		RTT:              412 * time.Microsecond,
	}
}

// fullOrigin returns OriginStats with every field set to a non-zero value.
func fullOrigin() stats.OriginStats {
	return stats.OriginStats{
		Requests:     3,
		Latencies:    []time.Duration{12 * time.Millisecond, 340 * time.Millisecond},
		Errors:       [stats.NumOriginErrors]uint64{1, 2, 3, 4, 5, 6, 7},
		Fills:        1,
		AbortedFills: 1,
		Evictions:    2,
		EvictedBytes: 1 << 30,
	}
}

// requireAllSet fails if any field of the struct v points to is zero, so a
// field added to Handoff, Settings or SessionStats without a codec change
// (and a fixture change) is caught by the round-trip tests.
func requireAllSet(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.IsZero() {
			t.Errorf("%s.%s is zero in the fixture: add it to the codec and the fixture", rv.Type().Name(), rv.Type().Field(i).Name)
		}
		if f.Kind() == reflect.Struct && f.Type().PkgPath() == rv.Type().PkgPath() {
			requireAllSet(t, f.Addr().Interface())
		}
	}
}

func TestFixturesComplete(t *testing.T) {
	requireAllSet(t, fullHandoff())
	requireAllSet(t, fullStats())
	o := fullOrigin()
	for _, n := range o.Errors {
		if n == 0 {
			t.Errorf("an origin error class is zero in the fixture")
		}
	}
}

// TestOriginStatsRoundTrip: the OriginStats message, and the origin block
// of Stats, decode to what was encoded; the invalid ones are refused on
// both sides.
func TestOriginStatsRoundTrip(t *testing.T) {
	for _, in := range []stats.OriginStats{fullOrigin(), {}, {Requests: math.MaxUint64, Latencies: []time.Duration{math.MaxInt64}}} {
		b, err := AppendOriginStats(nil, &in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeOriginStats(b)
		if err != nil || !reflect.DeepEqual(*got, in) {
			t.Fatalf("%+v -> %+v, %v", in, got, err)
		}
		for i := range len(b) {
			if _, err := DecodeOriginStats(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("prefix %d: %v", i, err)
			}
		}
		if _, err := DecodeStats(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("an OriginStats message decoded as Stats: %v", err)
		}
	}
	for name, o := range map[string]stats.OriginStats{
		"more latencies than requests": {Requests: 1, Latencies: make([]time.Duration, 2)},
		"too many latencies":           {Requests: 100, Latencies: make([]time.Duration, stats.MaxOriginLatencies+1)},
		"negative latency":             {Requests: 1, Latencies: []time.Duration{-1}},
	} {
		if _, err := AppendOriginStats(nil, &o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: encode %v, want ErrInvalid", name, err)
		}
		st := fullStats()
		st.Origin = o
		if _, err := AppendStats(nil, st); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s in Stats: encode %v, want ErrInvalid", name, err)
		}
	}
	// Hand-made: 1 request, 2 latencies.
	bad := []byte{msgOrigin, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := DecodeOriginStats(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("latencies over requests: %v", err)
	}
}

func TestHelloRoundTrip(t *testing.T) {
	for _, pid := range []int32{1, 4242, math.MaxInt32} {
		b, err := AppendHello([]byte("prefix"), Hello{Version: Version, PID: pid})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) || len(b) != len("prefix")+helloLen {
			t.Fatalf("AppendHello = %x", b)
		}
		h, err := DecodeHello(b[len("prefix"):])
		if err != nil || h != (Hello{Version, pid}) {
			t.Fatalf("DecodeHello = %+v, %v", h, err)
		}
	}
}

func TestHelloErrors(t *testing.T) {
	if _, err := AppendHello(nil, Hello{Version: Version}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendHello with pid 0: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"wrong type", []byte{msgStats, 0, 1, 0, 0, 0, 1}, ErrMalformed},
		{"no version", []byte{msgHello, 0}, ErrMalformed},
		{"no pid", []byte{msgHello, 0, Version, 0, 0, 1}, ErrMalformed},
		{"trailing", []byte{msgHello, 0, Version, 0, 0, 0, 1, 0}, ErrMalformed},
		{"pid zero", []byte{msgHello, 0, Version, 0, 0, 0, 0}, ErrMalformed},
		{"pid negative", []byte{msgHello, 0, Version, 0xff, 0xff, 0xff, 0xff}, ErrMalformed},
		{"old version", []byte{msgHello, 0, Version - 1, 0, 0, 0, 1}, ErrVersionMismatch},
		{"future version, longer", []byte{msgHello, 0, Version + 1, 0, 0, 0, 1, 9, 9}, ErrVersionMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeHello(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("DecodeHello(%x) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestHandoffRoundTrip(t *testing.T) {
	zone := strings.Repeat("z", maxZoneLen)
	long := strings.Repeat("x", MaxStringLen)
	many := make([]proto.Option, MaxOptions)
	for i := range many {
		many[i] = proto.Option{Name: "n", Value: long[:100]}
	}
	extra := make(map[string]string, MaxExtra)
	for i := range MaxExtra {
		extra[string(rune('A'+i))] = "v"
	}
	for _, tc := range []struct {
		name string
		edit func(h *Handoff)
		want func(h *Handoff) // the decoded value, if not the input
	}{
		{name: "full"},
		{name: "ipv4", edit: func(h *Handoff) {
			h.Peer = netip.MustParseAddrPort("10.0.0.9:1")
			h.Local = netip.MustParseAddrPort("0.0.0.0:65535")
		}},
		{name: "ipv6 long zone", edit: func(h *Handoff) {
			h.Peer = netip.AddrPortFrom(netip.MustParseAddr("fe80::2").WithZone(zone), 69)
		}},
		{name: "ipv4-mapped is unmapped", edit: func(h *Handoff) {
			h.Peer = netip.MustParseAddrPort("[::ffff:192.0.2.9]:1234")
		}, want: func(h *Handoff) {
			h.Peer = netip.MustParseAddrPort("192.0.2.9:1234")
		}},
		{name: "zero and empty", edit: func(h *Handoff) {
			*h = Handoff{Op: proto.OpRRQ, Peer: h.Peer, Local: h.Local,
				Options: []proto.Option{}, Settings: Settings{Extra: map[string]string{}, Roots: []string{}}}
		}, want: func(h *Handoff) {
			h.Options, h.Settings.Extra, h.Settings.Roots = nil, nil, nil
		}},
		{name: "edge values", edit: func(h *Handoff) {
			h.SessionID, h.Filename, h.RawMode = long, long, long
			h.Options = many
			h.Received = ts(maxUnix, 999_999_999)
			h.Settings.Timeout = math.MaxInt64
			h.Settings.Retries = math.MaxInt32
			h.Settings.MaxUpload = math.MinInt64
			h.Settings.Verbosity = math.MinInt32
			h.Settings.Umask = 0o777
			h.Settings.LogFormat = LogFormatConsole
			h.Settings.Extra = extra
		}},
		{name: "negative one and epoch", edit: func(h *Handoff) {
			h.Received = ts(0, 0)
			h.Settings.MaxUpload = -1
			h.Settings.Verbosity = -1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, want := fullHandoff(), fullHandoff()
			if tc.edit != nil {
				tc.edit(in)
				tc.edit(want)
			}
			if tc.want != nil {
				tc.want(want)
			}
			b, err := AppendHandoff(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeHandoff(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
			b2, err := AppendHandoff(nil, got)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs (%v)", err)
			}
		})
	}
}

func TestStatsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(s *stats.SessionStats)
		want func(s *stats.SessionStats)
	}{
		{name: "full"},
		{name: "ipv6 zone", edit: func(s *stats.SessionStats) {
			s.Peer = netip.MustParseAddrPort("[fe80::a%2]:7")
			s.Local = netip.MustParseAddrPort("[::1]:9")
		}},
		{name: "mapped local", edit: func(s *stats.SessionStats) {
			s.Local = netip.MustParseAddrPort("[::ffff:127.0.0.1]:9")
		}, want: func(s *stats.SessionStats) {
			s.Local = netip.MustParseAddrPort("127.0.0.1:9")
		}},
		{name: "minimal", edit: func(s *stats.SessionStats) {
			*s = stats.SessionStats{Op: proto.OpWRQ, Outcome: stats.OutcomeSuccess,
				OptionsRequested: []proto.Option{}, Tsize: -1}
		}, want: func(s *stats.SessionStats) { s.OptionsRequested = nil }},
		{name: "max counters", edit: func(s *stats.SessionStats) {
			s.PacketsSent, s.PacketsReceived, s.Bytes, s.Retransmits = math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64
			s.Tsize = math.MaxInt64
			s.ErrorCode = math.MaxUint16
			s.Duration = math.MaxInt64
			s.Start = ts(minUnix, 1)
			s.WorkerPID = math.MaxInt32
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, want := fullStats(), fullStats()
			if tc.edit != nil {
				tc.edit(in)
				tc.edit(want)
			}
			if tc.want != nil {
				tc.want(want)
			}
			b, err := AppendStats(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeStats(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEveryOutcome(t *testing.T) {
	for _, o := range stats.Outcomes {
		s := fullStats()
		s.Outcome = o
		b, err := AppendStats(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeStats(b); err != nil || got.Outcome != o {
			t.Fatalf("%s: %v", o, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("x", MaxStringLen+1)
	h := func(edit func(*Handoff)) func() error {
		return func() error {
			in := fullHandoff()
			edit(in)
			b, err := AppendHandoff([]byte("keep"), in)
			if string(b) != "keep" {
				t.Errorf("buffer not restored: %q", b)
			}
			return err
		}
	}
	s := func(edit func(*stats.SessionStats)) func() error {
		return func() error {
			in := fullStats()
			edit(in)
			_, err := AppendStats(nil, in)
			return err
		}
	}
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"long filename", h(func(h *Handoff) { h.Filename = long })},
		{"op DATA", h(func(h *Handoff) { h.Op = proto.OpDATA })},
		{"mode 7", h(func(h *Handoff) { h.Mode = 7 })},
		{"too many options", h(func(h *Handoff) { h.Options = make([]proto.Option, MaxOptions+1) })},
		{"empty option name", h(func(h *Handoff) { h.Options = []proto.Option{{Name: "", Value: "x"}} })},
		{"long option value", h(func(h *Handoff) { h.Options = []proto.Option{{Name: "x", Value: long}} })},
		{"no peer", h(func(h *Handoff) { h.Peer = netip.AddrPort{} })},
		{"no local", h(func(h *Handoff) { h.Local = netip.AddrPort{} })},
		{"long zone", h(func(h *Handoff) {
			h.Peer = netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(strings.Repeat("z", maxZoneLen+1)), 1)
		})},
		{"time before year 1", h(func(h *Handoff) { h.Received = time.Time{}.Add(-time.Second) })},
		{"time after 9999", h(func(h *Handoff) { h.Received = ts(maxUnix+1, 0) })},
		{"negative timeout", h(func(h *Handoff) { h.Settings.Timeout = -1 })},
		{"negative retries", h(func(h *Handoff) { h.Settings.Retries = -1 })},
		{"huge blksize", h(func(h *Handoff) { h.Settings.MaxBlksize = math.MaxInt32 + 1 })},
		{"too many refuse", h(func(h *Handoff) { h.Settings.Refuse = make([]string, MaxRefuse+1) })},
		{"long refuse", h(func(h *Handoff) { h.Settings.Refuse = []string{long} })},
		{"too many roots", h(func(h *Handoff) { h.Settings.Roots = make([]string, MaxRoots+1) })},
		{"unknown flag", h(func(h *Handoff) { h.Settings.Flags = 1 << 31 })},
		{"umask", h(func(h *Handoff) { h.Settings.Umask = 0o1000 })},
		{"verbosity", h(func(h *Handoff) { h.Settings.Verbosity = math.MaxInt32 + 1 })},
		{"log format", h(func(h *Handoff) { h.Settings.LogFormat = "xml" })},
		{"too many extra", h(func(h *Handoff) {
			h.Settings.Extra = map[string]string{}
			for i := range MaxExtra + 1 {
				h.Settings.Extra[string(rune('A'+i))] = ""
			}
		})},
		{"empty extra key", h(func(h *Handoff) { h.Settings.Extra = map[string]string{"": "x"} })},
		{"long extra value", h(func(h *Handoff) { h.Settings.Extra = map[string]string{"k": long} })},
		{"message too large", h(func(h *Handoff) {
			h.Settings.Roots = make([]string, MaxRoots)
			for i := range h.Settings.Roots {
				h.Settings.Roots[i] = long[:MaxStringLen]
			}
		})},
		{"stats port without address", s(func(s *stats.SessionStats) { s.Peer = netip.AddrPortFrom(netip.Addr{}, 1) })},
		{"stats outcome", s(func(s *stats.SessionStats) { s.Outcome = "meh" })},
		{"stats empty outcome", s(func(s *stats.SessionStats) { s.Outcome = "" })},
		{"stats source", s(func(s *stats.SessionStats) { s.Source = "disk" })},
		{"stats op", s(func(s *stats.SessionStats) { s.Op = 0 })},
		{"stats negative pid", s(func(s *stats.SessionStats) { s.WorkerPID = -1 })},
		{"stats negative blksize", s(func(s *stats.SessionStats) { s.Blksize = -1 })},
		{"stats negative duration", s(func(s *stats.SessionStats) { s.Duration = -1 })},
		{"stats long message", s(func(s *stats.SessionStats) { s.ErrorMessage = long })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

// TestDecodeTruncated feeds every proper prefix of valid messages to the
// decoders: each must fail cleanly.
func TestDecodeTruncated(t *testing.T) {
	hb, _ := AppendHandoff(nil, fullHandoff())
	sb, _ := AppendStats(nil, fullStats())
	vb, _ := AppendHello(nil, Hello{Version, 1})
	for _, tc := range []struct {
		msg    []byte
		decode func([]byte) error
	}{
		{AppendReady(nil), DecodeReady},
		{hb, func(b []byte) error { _, err := DecodeHandoff(b); return err }},
		{sb, func(b []byte) error { _, err := DecodeStats(b); return err }},
		{vb, func(b []byte) error { _, err := DecodeHello(b); return err }},
	} {
		if err := tc.decode(tc.msg); err != nil {
			t.Fatalf("full message: %v", err)
		}
		for i := range len(tc.msg) {
			if err := tc.decode(tc.msg[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("prefix %d of %x: %v", i, tc.msg, err)
			}
		}
		if err := tc.decode(append(tc.msg[:len(tc.msg):len(tc.msg)], 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("trailing byte: %v", err)
		}
	}
}

// TestDecodeInvalid corrupts single fields of valid messages.
func TestDecodeInvalid(t *testing.T) {
	// A minimal Handoff built field by field, so single fields can be varied.
	handoff := func(edit map[string][]byte) []byte {
		field := func(name string, def ...byte) []byte {
			if v, ok := edit[name]; ok {
				return v
			}
			return def
		}
		var b []byte
		for _, part := range [][]byte{
			{msgHandoff},
			field("session_id", 0),
			field("op", 1),
			field("filename", 1, 'f'),
			field("raw_mode", 0),
			field("mode", 0),
			field("options", 0),
			field("peer", addr4, 127, 0, 0, 1, 0, 69),
			field("local", addr4, 127, 0, 0, 1, 0, 70),
			field("received", 0, 0),
			field("timeout", 0),
			field("retries", 0),
			field("max_blksize", 0),
			field("max_windowsize", 0),
			field("refuse", 0),
			field("session_deadline", 0),
			field("flags", 0),
			field("umask", 0),
			field("max_upload", 0),
			field("roots", 0),
			field("verbosity", 0),
			field("log_format", 0),
			field("extra", 0),
			field("reuse", 0),
		} {
			b = append(b, part...)
		}
		return b
	}
	if _, err := DecodeHandoff(handoff(nil)); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	v6 := append([]byte{addr6}, netip.MustParseAddr("::ffff:1.2.3.4").AsSlice()...)
	for _, tc := range []struct {
		name string
		edit map[string][]byte
	}{
		{"type", map[string][]byte{"": nil}}, // replaced below
		{"non-minimal varint", map[string][]byte{"session_id": {0x80, 0x00}}},
		{"varint overflow", map[string][]byte{"retries": bytes.Repeat([]byte{0xff}, 11)}},
		{"string too long", map[string][]byte{"filename": {0x81, 0x20}}},
		{"string past end", map[string][]byte{"filename": {5, 'a'}}},
		{"op 3", map[string][]byte{"op": {3}}},
		{"reuse 2", map[string][]byte{"reuse": {2}}},
		{"op 0", map[string][]byte{"op": {0}}},
		{"mode 2", map[string][]byte{"mode": {2}}},
		{"too many options", map[string][]byte{"options": {MaxOptions + 1}}},
		{"empty option name", map[string][]byte{"options": {1, 0, 0}}},
		{"peer missing", map[string][]byte{"peer": {addrNone}}},
		{"peer tag 5", map[string][]byte{"peer": {5, 1, 2, 3, 4, 0, 1}}},
		{"peer mapped", map[string][]byte{"peer": append(append(v6, 0), 0, 1)}},
		{"peer zone too long", map[string][]byte{"peer": append(append(v6[:1:1], make([]byte, 16)...), maxZoneLen+1)}},
		{"peer short", map[string][]byte{"peer": {addr4, 1, 2}}},
		{"time nanos", map[string][]byte{"received": {0, 0x80, 0x94, 0xeb, 0xdc, 0x03}}},
		{"time too late", map[string][]byte{"received": append(appendVarintT(maxUnix+1), 0)}},
		{"time too early", map[string][]byte{"received": append(appendVarintT(minUnix-1), 0)}},
		{"negative duration", map[string][]byte{"timeout": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}},
		{"retries > int32", map[string][]byte{"retries": {0x80, 0x80, 0x80, 0x80, 0x08}}},
		{"too many refuse", map[string][]byte{"refuse": {MaxRefuse + 1}}},
		{"refuse truncated", map[string][]byte{"refuse": {2, 0}}},
		{"unknown flag", map[string][]byte{"flags": {0x20}}},
		{"flags > 32 bits", map[string][]byte{"flags": {0x80, 0x80, 0x80, 0x80, 0x10}}},
		{"umask", map[string][]byte{"umask": {0x80, 0x04}}},
		{"verbosity", map[string][]byte{"verbosity": {0x80, 0x80, 0x80, 0x80, 0x10}}},
		{"log format", map[string][]byte{"log_format": {3, 'x', 'm', 'l'}}},
		{"too many extra", map[string][]byte{"extra": {MaxExtra + 1}}},
		{"extra empty key", map[string][]byte{"extra": {1, 0, 0}}},
		{"extra duplicate", map[string][]byte{"extra": {2, 1, 'k', 0, 1, 'k', 0}}},
		{"extra unsorted", map[string][]byte{"extra": {2, 1, 'k', 0, 1, 'a', 0}}},
		{"extra truncated", map[string][]byte{"extra": {2, 1, 'k', 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := handoff(tc.edit)
			if tc.name == "type" {
				b[0] = 9
			}
			if _, err := DecodeHandoff(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeHandoff(%x) = %v, want ErrMalformed", b, err)
			}
		})
	}
	t.Run("oversized", func(t *testing.T) {
		b := append(handoff(nil), make([]byte, MaxMessageSize)...)
		if _, err := DecodeHandoff(b); !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		if _, err := DecodeStats(append([]byte{msgStats}, make([]byte, MaxMessageSize)...)); !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
	})
	t.Run("stats outcome", func(t *testing.T) {
		s := fullStats()
		s.Outcome = stats.OutcomeProbe // same length as "bogus"
		b, _ := AppendStats(nil, s)
		b = bytes.Replace(b, []byte("probe"), []byte("bogus"), 1)
		if _, err := DecodeStats(b); !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, b := range [][]byte{{0}, {0xff, 0xff}, []byte("GET / HTTP/1.1\r\n"), bytes.Repeat([]byte{0x80}, 100)} {
			if _, err := DecodeHandoff(b); !errors.Is(err, ErrMalformed) {
				t.Errorf("handoff %x: %v", b, err)
			}
			if _, err := DecodeStats(b); !errors.Is(err, ErrMalformed) {
				t.Errorf("stats %x: %v", b, err)
			}
			if _, err := DecodeHello(b); !errors.Is(err, ErrMalformed) {
				t.Errorf("hello %x: %v", b, err)
			}
		}
	})
}

func appendVarintT(v int64) []byte {
	w := writer{}
	w.varint(v)
	return w.b
}

// BenchmarkAppendHandoff checks that encoding into a reused buffer does not
// allocate (except for sorting Extra keys).
func BenchmarkAppendHandoff(b *testing.B) {
	h := fullHandoff()
	h.Settings.Extra = nil
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendHandoff(buf[:0], h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStats(b *testing.B) {
	msg, _ := AppendStats(nil, fullStats())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeStats(msg); err != nil {
			b.Fatal(err)
		}
	}
}
