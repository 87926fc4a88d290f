package master

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestProbeTracker(t *testing.T) {
	var p probeTracker
	now := time.Now()
	a := netip.MustParseAddr("10.0.0.1")
	p.probed(a, "bootx64.efi", "s-1", now)
	if _, ok := p.follows(a, "other", now); ok {
		t.Fatal("other file matched")
	}
	if id, ok := p.follows(a, "bootx64.efi", now.Add(time.Second)); !ok || id != "s-1" {
		t.Fatalf("%q %v", id, ok)
	}
	if _, ok := p.follows(a, "bootx64.efi", now); ok {
		t.Fatal("a probe is followed once")
	}
	p.probed(a, "f", "s-2", now)
	if _, ok := p.follows(a, "f", now.Add(probeTTL+time.Second)); ok {
		t.Fatal("expired probe matched")
	}
	// Bounded: a flood of probes never grows past the cap.
	for i := range maxProbeEntries + 100 {
		p.probed(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), fmt.Sprint(i), "x", now)
	}
	if len(p.entries) > maxProbeEntries {
		t.Fatalf("%d entries", len(p.entries))
	}
	// Expired entries make room again.
	p.probed(a, "late", "s-3", now.Add(2*probeTTL))
	if _, ok := p.follows(a, "late", now.Add(2*probeTTL)); !ok {
		t.Fatal("no room after expiry")
	}
}
