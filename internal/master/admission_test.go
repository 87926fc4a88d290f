package master

import (
	"net/netip"
	"strconv"
	"testing"
)

func TestCleanName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"big.bin", "/big.bin"},
		{"/big.bin", "/big.bin"},
		{"//big.bin", "/big.bin"},
		{"///big.bin", "/big.bin"},
		{"/./big.bin", "/big.bin"},
		{"a//b/../c", "/a/c"},
		{"", "/"},
		{"/", "/"},
		{"../x", "/x"},
	} {
		if got := cleanName(c.in); got != c.want {
			t.Errorf("cleanName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { cleanName("/pxelinux.0") }); n != 0 {
		t.Errorf("cleanName of a clean name allocates %v times", n)
	}
}

func TestClientOf(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::%eth0"},
	} {
		if got := clientOf(netip.MustParseAddr(c.a)); got != netip.MustParseAddr(c.b) {
			t.Errorf("clientOf(%s) = %s, want %s", c.a, got, c.b)
		}
	}
	if clientOf(netip.MustParseAddr("2001:db8:1:2::1")) == clientOf(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Error("two /64s are one client")
	}
	if clientOf(netip.MustParseAddr("fe80::1%eth0")) == clientOf(netip.MustParseAddr("fe80::1%eth1")) {
		t.Error("two links are one client")
	}
}

// TestAdmit: duplicates first, then the client's share, then the global
// limit; freeSlot gives places back.
func TestAdmit(t *testing.T) {
	m := &Master{active: map[sessionKey]struct{}{}, clients: map[netip.Addr]int{}}
	m.cfg.MaxWorkers, m.cfg.MaxSessionsPerClient = 3, 2
	key := func(peer string, file string) sessionKey {
		return sessionKey{peer: netip.MustParseAddrPort(peer), op: 1, file: cleanName(file)}
	}
	steps := []struct {
		k    sessionKey
		want Decision
	}{
		{key("192.0.2.1:1000", "a"), DecisionAccepted},
		{key("192.0.2.1:1000", "//a"), DecisionDuplicate},
		{key("192.0.2.1:1001", "a"), DecisionAccepted},
		{key("192.0.2.1:1002", "a"), DecisionClientLimit},
		{key("[2001:db8::1]:1000", "a"), DecisionAccepted},
		{key("[2001:db8::2]:1000", "b"), DecisionBusy}, // its /64 holds 1 of 2: the global limit
	}
	for i, s := range steps {
		if got := m.admit(s.k); got != s.want {
			t.Fatalf("step %d %+v: %s, want %s", i, s.k, got, s.want)
		}
	}
	m.sessionEnded(steps[0].k)
	if got := m.admit(steps[3].k); got != DecisionClientLimit {
		t.Fatalf("a session ended but its slot is held: %s, want client_limit", got)
	}
	m.freeSlot(steps[0].k)
	if got := m.admit(steps[3].k); got != DecisionAccepted {
		t.Fatalf("after freeSlot: %s", got)
	}
	m.cfg.MaxSessionsPerClient = -1
	m.cfg.MaxWorkers = 10
	for i := range 5 {
		if got := m.admit(key("192.0.2.1:"+strconv.Itoa(2000+i), "b")); got != DecisionAccepted {
			t.Fatalf("no per-client limit: %s", got)
		}
	}
}
