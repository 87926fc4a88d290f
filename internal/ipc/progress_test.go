package ipc

import (
	"time"

	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

func fullProgress() stats.Progress {
	return stats.Progress{
		SessionID: "abc-1", Bytes: 1 << 40, PacketsSent: 12345, PacketsReceived: 12000, Retransmits: 7,
		Size: 1 << 41, Blksize: 1468, Windowsize: 16, Source: stats.SourceFile, RTT: 1500 * time.Microsecond,
	}
}

func TestProgressRoundTrip(t *testing.T) {
	for _, p := range []stats.Progress{fullProgress(), {Size: -1}, {SessionID: "x", Size: 0, Source: stats.SourceOrigin}} {
		b, err := AppendProgress([]byte("prefix"), &p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeProgress(b[len("prefix"):])
		if err != nil || *got != p {
			t.Errorf("round trip of %+v: %+v, %v", p, got, err)
		}
	}
}

func TestProgressInvalid(t *testing.T) {
	for name, mod := range map[string]func(*stats.Progress){
		"size below -1":   func(p *stats.Progress) { p.Size = -2 },
		"size too big":    func(p *stats.Progress) { p.Size = MaxProgressSize + 1 },
		"blksize":         func(p *stats.Progress) { p.Blksize = -1 },
		"windowsize":      func(p *stats.Progress) { p.Windowsize = math.MaxInt32 + 1 },
		"source":          func(p *stats.Progress) { p.Source = "disk" },
		"negative rtt":    func(p *stats.Progress) { p.RTT = -1 },
		"long session id": func(p *stats.Progress) { p.SessionID = strings.Repeat("x", MaxStringLen+1) },
	} {
		p := fullProgress()
		mod(&p)
		b, err := AppendProgress([]byte{9}, &p)
		if !errors.Is(err, ErrInvalid) || len(b) != 1 {
			t.Errorf("%s: %v, %d bytes", name, err, len(b))
		}
	}
}

func TestDecodeProgressMalformed(t *testing.T) {
	good, _ := AppendProgress(nil, &stats.Progress{SessionID: "s", Size: 10, Source: stats.SourceFile})
	// Size -2 by hand: session id "s", four zero counters, varint -2 (3),
	// then blksize, windowsize, source and rtt empty.
	badSize := []byte{msgProgress, 1, 's', 0, 0, 0, 0, 3, 0, 0, 0, 0}
	for name, b := range map[string][]byte{
		"empty":      {},
		"wrong type": append([]byte{msgStats}, good[1:]...),
		"truncated":  good[:len(good)-1],
		"trailing":   append(append([]byte(nil), good...), 0),
		"size -2":    badSize,
		"source":     append(append([]byte(nil), good[:len(good)-6]...), 4, 'd', 'i', 's', 'k', 0),
	} {
		if _, err := DecodeProgress(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
