package proto

import (
	"reflect"
	"testing"
	"time"
)

func TestNegotiate(t *testing.T) {
	o := func(kv ...string) []Option {
		var r []Option
		for i := 0; i+1 < len(kv); i += 2 {
			r = append(r, Option{Name: kv[i], Value: kv[i+1]})
		}
		return r
	}
	def := DefaultParams()
	cases := []struct {
		name string
		op   Opcode
		req  []Option
		lim  Limits
		size int64
		want Params
	}{
		{"nothing", OpRRQ, nil, Limits{}, 10, def},
		{"blksize", OpRRQ, o("blksize", "1468"), Limits{}, 10, Params{Blksize: 1468, Windowsize: 1, Tsize: -1, Acked: o("blksize", "1468")}},
		{"blksize clamped to -B", OpRRQ, o("BlkSize", "65464"), Limits{MaxBlksize: 1468}, 10, Params{Blksize: 1468, Windowsize: 1, Tsize: -1, Acked: o("BlkSize", "1468")}},
		{"blksize above RFC max clamped", OpRRQ, o("blksize", "99999"), Limits{}, 10, Params{Blksize: 65464, Windowsize: 1, Tsize: -1, Acked: o("blksize", "65464")}},
		{"blksize minimum", OpRRQ, o("blksize", "8"), Limits{}, 10, Params{Blksize: 8, Windowsize: 1, Tsize: -1, Acked: o("blksize", "8")}},
		{"blksize too small", OpRRQ, o("blksize", "7"), Limits{}, 10, def},
		{"blksize not a number", OpRRQ, o("blksize", "1k"), Limits{}, 10, def},
		{"blksize negative", OpRRQ, o("blksize", "-512"), Limits{}, 10, def},
		{"blksize with space", OpRRQ, o("blksize", " 512"), Limits{}, 10, def},
		{"blksize overflow", OpRRQ, o("blksize", "99999999999999999999"), Limits{}, 10, def},
		{"blksize empty", OpRRQ, o("blksize", ""), Limits{}, 10, def},
		{"blksize2 power of two", OpRRQ, o("blksize2", "1468"), Limits{}, 10, Params{Blksize: 1024, Windowsize: 1, Tsize: -1, Acked: o("blksize2", "1024")}},
		{"blksize2 capped then rounded", OpRRQ, o("blksize2", "65464"), Limits{MaxBlksize: 1468}, 10, Params{Blksize: 1024, Windowsize: 1, Tsize: -1, Acked: o("blksize2", "1024")}},
		{"tsize rrq real size", OpRRQ, o("tsize", "0"), Limits{}, 123456, Params{Blksize: 512, Windowsize: 1, Tsize: 123456, Acked: o("tsize", "123456")}},
		{"tsize rrq ignores client value", OpRRQ, o("tsize", "5"), Limits{}, 7, Params{Blksize: 512, Windowsize: 1, Tsize: 7, Acked: o("tsize", "7")}},
		{"tsize rrq unknown size", OpRRQ, o("tsize", "0"), Limits{}, -1, def},
		{"tsize rrq zero-length file not acked (curl)", OpRRQ, o("tsize", "0"), Limits{}, 0, def},
		{"tsize wrq echoed", OpWRQ, o("tsize", "4096"), Limits{}, -1, Params{Blksize: 512, Windowsize: 1, Tsize: 4096, Acked: o("tsize", "4096")}},
		{"tsize wrq bad", OpWRQ, o("tsize", "x"), Limits{}, -1, def},
		{"timeout", OpRRQ, o("timeout", "3"), Limits{}, 1, Params{Blksize: 512, Windowsize: 1, Tsize: -1, Timeout: 3 * time.Second, Acked: o("timeout", "3")}},
		{"timeout 0", OpRRQ, o("timeout", "0"), Limits{}, 1, def},
		{"timeout 256", OpRRQ, o("timeout", "256"), Limits{}, 1, def},
		{"utimeout", OpRRQ, o("utimeout", "50000"), Limits{}, 1, Params{Blksize: 512, Windowsize: 1, Tsize: -1, Timeout: 50 * time.Millisecond, Acked: o("utimeout", "50000")}},
		{"utimeout too small", OpRRQ, o("utimeout", "9999"), Limits{}, 1, def},
		{"windowsize", OpRRQ, o("windowsize", "16"), Limits{}, 1, Params{Blksize: 512, Windowsize: 16, Tsize: -1, Acked: o("windowsize", "16")}},
		{"windowsize capped by default", OpRRQ, o("windowsize", "65535"), Limits{}, 1, Params{Blksize: 512, Windowsize: 64, Tsize: -1, Acked: o("windowsize", "64")}},
		{"windowsize capped by limit", OpWRQ, o("windowsize", "300"), Limits{MaxWindowsize: 256}, 1, Params{Blksize: 512, Windowsize: 256, Tsize: -1, Acked: o("windowsize", "256")}},
		{"windowsize 0", OpRRQ, o("windowsize", "0"), Limits{}, 1, def},
		{"windowsize 65536", OpRRQ, o("windowsize", "65536"), Limits{}, 1, def},
		{"rollover 1", OpRRQ, o("rollover", "1"), Limits{}, 1, Params{Blksize: 512, Windowsize: 1, Tsize: -1, Rollover: 1, Acked: o("rollover", "1")}},
		{"rollover 0", OpRRQ, o("rollover", "0"), Limits{}, 1, Params{Blksize: 512, Windowsize: 1, Tsize: -1, Acked: o("rollover", "0")}},
		{"rollover 2", OpRRQ, o("rollover", "2"), Limits{}, 1, def},
		{"unknown ignored, order kept", OpRRQ, o("multicast", "", "tsize", "0", "x", "1", "blksize", "1024"), Limits{}, 9,
			Params{Blksize: 1024, Windowsize: 1, Tsize: 9, Acked: o("tsize", "9", "blksize", "1024")}},
		{"refused by name", OpRRQ, o("tsize", "0", "blksize", "1024"), Limits{Refuse: []string{"TSIZE"}}, 9,
			Params{Blksize: 1024, Windowsize: 1, Tsize: -1, Acked: o("blksize", "1024")}},
		{"repeat ignored", OpRRQ, o("blksize", "1024", "BLKSIZE", "2048"), Limits{}, 9,
			Params{Blksize: 1024, Windowsize: 1, Tsize: -1, Acked: o("blksize", "1024")}},
		{"bad first repeat still consumes", OpRRQ, o("blksize", "x", "blksize", "2048"), Limits{}, 9, def},
		{"timeout and utimeout: later wins", OpRRQ, o("timeout", "2", "utimeout", "20000"), Limits{}, 9,
			Params{Blksize: 512, Windowsize: 1, Tsize: -1, Timeout: 20 * time.Millisecond, Acked: o("timeout", "2", "utimeout", "20000")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Negotiate(tc.op, tc.req, tc.lim, tc.size)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	if (Limits{MaxBlksize: 3}).maxBlksize() != MinBlksize || (Limits{MaxBlksize: 70000}).maxBlksize() != MaxBlksize {
		t.Error("maxBlksize bounds")
	}
	if (Limits{MaxWindowsize: 1 << 20}).maxWindow() != MaxWindowsize {
		t.Error("maxWindow bound")
	}
	for _, k := range KnownOptions {
		if !IsKnownOption(k) {
			t.Error(k)
		}
	}
	if IsKnownOption("multicast") || !IsKnownOption("WindowSize") {
		t.Error("IsKnownOption")
	}
}
