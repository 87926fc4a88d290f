package client

import (
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

func TestWire(t *testing.T) {
	for _, tc := range []struct {
		i    uint64
		roll uint16
		want uint16
	}{
		{0, 0, 0}, {1, 0, 1}, {65535, 0, 65535}, {65536, 0, 0}, {65537, 0, 1},
		{0, 1, 0}, {1, 1, 1}, {65535, 1, 65535}, {65536, 1, 1}, {131070, 1, 65535}, {131071, 1, 1},
	} {
		if got := wire(tc.i, tc.roll); got != tc.want {
			t.Errorf("wire(%d, %d) = %d, want %d", tc.i, tc.roll, got, tc.want)
		}
	}
}

func TestIndex(t *testing.T) {
	for _, roll := range []uint16{0, 1} {
		for _, lo := range []uint64{0, 1, 5, 65530, 65535, 65536, 131069, 200000} {
			for d := uint64(0); d < 20; d++ {
				i := lo + d
				j, ok := index(wire(i, roll), lo, lo+19, roll)
				if !ok || j != i {
					t.Fatalf("roll %d: index(wire(%d)) in [%d,%d] = %d, %v", roll, i, lo, lo+19, j, ok)
				}
			}
			if lo >= 30 {
				if _, ok := index(wire(lo-10, roll), lo, lo+19, roll); ok {
					t.Errorf("roll %d: block before range %d found", roll, lo)
				}
			}
		}
	}
	if _, ok := index(0, 1, 10, 1); ok {
		t.Error("block 0 found with rollover 1")
	}
	if _, ok := index(3, 10, 5, 0); ok {
		t.Error("empty range matched")
	}
}

func TestApplyOACK(t *testing.T) {
	req := []proto.Option{opt("blksize", 1468), opt("windowsize", 8), {Name: "tsize", Value: "0"},
		opt("rollover", 1), {Name: "x-vendor", Value: "on"}, opt("BLKSIZE2", 4096)}
	for _, tc := range []struct {
		name   string
		acked  []proto.Option
		want   params
		reason bool
	}{
		{"none", nil, defaultParams(), false},
		{"all", []proto.Option{opt("BlkSize", 1024), opt("windowsize", 8), opt("tsize", 77), opt("rollover", 1), {Name: "X-VENDOR", Value: "yes"}},
			params{blksize: 1024, windowsize: 8, rollover: 1, tsize: 77}, false},
		{"blksize2", []proto.Option{opt("blksize2", 2048)}, params{blksize: 2048, windowsize: 1, tsize: -1}, false},
		{"unrequested", []proto.Option{opt("timeout", 1)}, params{}, true},
		{"blksize-bigger", []proto.Option{opt("blksize", 1469)}, params{}, true},
		{"blksize-small", []proto.Option{opt("blksize", 7)}, params{}, true},
		{"window-bigger", []proto.Option{opt("windowsize", 9)}, params{}, true},
		{"window-zero", []proto.Option{opt("windowsize", 0)}, params{}, true},
		{"rollover-2", []proto.Option{opt("rollover", 2)}, params{}, true},
		{"tsize-huge", []proto.Option{{Name: "tsize", Value: "99999999999999999999"}}, params{}, true},
		{"tsize-text", []proto.Option{{Name: "tsize", Value: "abc"}}, params{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, reason := applyOACK(req, tc.acked)
			if (reason != "") != tc.reason {
				t.Fatalf("reason %q", reason)
			}
			if !tc.reason && p != tc.want {
				t.Fatalf("params %+v, want %+v", p, tc.want)
			}
		})
	}
}

func TestRequestOptions(t *testing.T) {
	o := Options{Blksize: 1468, Windowsize: 16, Tsize: true, Rollover: RolloverZero,
		RawOptions: []proto.Option{{Name: "odd", Value: "1"}}}
	got := o.requestOptions(proto.OpRRQ, 123)
	want := []proto.Option{opt("blksize", 1468), {Name: "tsize", Value: "0"}, opt("windowsize", 16), opt("rollover", 0), {Name: "odd", Value: "1"}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	o = Options{Tsize: true, Rollover: RolloverOne}
	if got := o.requestOptions(proto.OpWRQ, 123); len(got) != 2 || got[0].Value != "123" || got[1].Value != "1" {
		t.Fatalf("WRQ options %v", got)
	}
	if got := o.requestOptions(proto.OpWRQ, -1); len(got) != 1 {
		t.Fatalf("WRQ unknown size options %v", got)
	}
	if n := maxRequestedBlksize(append(want, opt("BLKSIZE2", 70000), proto.Option{Name: "blksize", Value: "x"})); n != proto.MaxBlksize {
		t.Fatalf("max blksize %d", n)
	}
	if (&Options{Retries: -1}).retries() != 0 || (&Options{}).retries() != DefaultRetries || (&Options{Retries: 3}).retries() != 3 {
		t.Fatal("retries")
	}
}
