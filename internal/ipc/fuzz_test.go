package ipc

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// The fuzzers check, for any input, that a decoder never panics, fails only
// with ErrMalformed (or ErrVersionMismatch), and that what it accepts
// re-encodes to exactly the input (the encoding is canonical) and decodes
// again to the same value.

func FuzzDecodeHello(f *testing.F) {
	for _, pid := range []int32{1, 99999} {
		b, _ := AppendHello(nil, Hello{Version, pid})
		f.Add(b)
	}
	f.Add([]byte{msgHello, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHello(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersionMismatch) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b2, err := AppendHello(nil, h)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("not canonical: %x -> %x", b, b2)
		}
		if h2, err := DecodeHello(b2); err != nil || h2 != h {
			t.Fatalf("second decode: %+v, %v", h2, err)
		}
	})
}

func FuzzDecodeHandoff(f *testing.F) {
	seeds := []*Handoff{fullHandoff(), {
		Op:    proto.OpRRQ,
		Peer:  netip.MustParseAddrPort("127.0.0.1:1"),
		Local: netip.MustParseAddrPort("[::1]:2"),
	}}
	for _, h := range seeds {
		b, err := AppendHandoff(nil, h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHandoff(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b2, err := AppendHandoff(nil, h)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("not canonical: %x -> %x", b, b2)
		}
		h2, err := DecodeHandoff(b2)
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("second decode: %+v, %v", h2, err)
		}
	})
}

func FuzzDecodeStats(f *testing.F) {
	seeds := []*stats.SessionStats{fullStats(), {Op: proto.OpWRQ, Outcome: stats.OutcomeTimeout, Tsize: -1}}
	for _, s := range seeds {
		b, err := AppendStats(nil, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeStats(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b2, err := AppendStats(nil, s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("not canonical: %x -> %x", b, b2)
		}
		s2, err := DecodeStats(b2)
		if err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("second decode: %+v, %v", s2, err)
		}
	})
}

func FuzzDecodeOriginStats(f *testing.F) {
	for _, o := range []stats.OriginStats{fullOrigin(), {}} {
		b, err := AppendOriginStats(nil, &o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOriginStats(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b2, err := AppendOriginStats(nil, o)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("not canonical: %x -> %x", b, b2)
		}
		o2, err := DecodeOriginStats(b2)
		if err != nil || !reflect.DeepEqual(o, o2) {
			t.Fatalf("second decode: %+v, %v", o2, err)
		}
	})
}

// FuzzDecodeWorkerConfig: the worker's decoder of its configuration never
// panics, and what it accepts re-encodes to the same bytes.
func FuzzDecodeWorkerConfig(f *testing.F) {
	good, _ := AppendWorkerConfig(nil, &WorkerConfig{MapRules: []byte("r ^a b\n"), TemplateData: []byte(`{"default":{}}`)})
	empty, _ := AppendWorkerConfig(nil, &WorkerConfig{})
	for _, b := range [][]byte{good, empty, nil, []byte(workerConfigMagic), append([]byte(workerConfigMagic), 0x80, 0)} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeWorkerConfig(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := AppendWorkerConfig(nil, c)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %q -> %q (%v)", b, again, err)
		}
	})
}

// FuzzDecodeProgress: the master's decoder of a worker's Progress.
func FuzzDecodeProgress(f *testing.F) {
	for _, p := range []stats.Progress{fullProgress(), {Size: -1}} {
		b, err := AppendProgress(nil, &p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{msgProgress})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProgress(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		b2, err := AppendProgress(nil, p)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("not canonical: %x -> %x", b, b2)
		}
		p2, err := DecodeProgress(b2)
		if err != nil || *p2 != *p {
			t.Fatalf("second decode: %+v, %v", p2, err)
		}
	})
}

// FuzzDecodeReady: the one valid Ready is the one byte; nothing else
// decodes, and nothing panics.
func FuzzDecodeReady(f *testing.F) {
	f.Add(AppendReady(nil))
	f.Add([]byte{msgReady, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := DecodeReady(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !bytes.Equal(b, AppendReady(nil)) {
			t.Fatalf("decoded %x", b)
		}
	})
}
