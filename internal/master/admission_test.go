package master

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/proto"
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

// admitMaster is a Master with only what the admission rules use: the
// sessions a queued request would start are recorded instead.
type admitMaster struct {
	*Master
	mu     sync.Mutex
	served []sessionKey
}

func newAdmitMaster(maxWorkers, perClient, queueSize int, busyError bool) *admitMaster {
	m := &Master{active: map[sessionKey]struct{}{}, clients: map[netip.Addr]int{}, log: zap.NewNop(),
		obs: Observers{nopObserver{}}, qobs: nopQueueObserver{}}
	m.cfg.MaxWorkers, m.cfg.MaxSessionsPerClient, m.cfg.QueueSize, m.cfg.BusyError = maxWorkers, perClient, queueSize, busyError
	m.queue = newAdmissionQueue(queueSize, perClient, time.Minute)
	m.expiry = time.AfterFunc(time.Hour, m.expireQueue)
	m.expiry.Stop()
	a := &admitMaster{Master: m}
	m.dispatchQueued = func(e *queued, _ time.Duration) {
		a.mu.Lock()
		a.served = append(a.served, e.key)
		a.mu.Unlock()
	}
	return a
}

// takeServed waits for the queued requests given a slot, and returns them.
func (a *admitMaster) takeServed() []sessionKey {
	a.workWG.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.served
	a.served = nil
	return out
}

func akey(peer string, file string) sessionKey {
	return sessionKey{peer: netip.MustParseAddrPort(peer), op: proto.OpRRQ, file: cleanName(file)}
}

func areq(k sessionKey) request {
	return request{key: k, req: &proto.Request{Op: k.op, Filename: k.file}, received: time.Now()}
}

// TestAdmit: duplicates first, then the client's share, then the global
// limit; requests beyond either wait in the queue and are served, round
// robin, as slots free; freeSlot gives places back.
func TestAdmit(t *testing.T) {
	a1, a1b, a2, a3 := akey("192.0.2.1:1000", "a"), akey("192.0.2.1:1001", "a"), akey("192.0.2.1:1002", "a"), akey("192.0.2.1:1003", "a")
	b1, c1, d1 := akey("[2001:db8::1]:1000", "a"), akey("[2001:db8::2]:1000", "b"), akey("198.51.100.1:1000", "c")
	type step struct {
		admit  sessionKey
		want   Decision
		drop   QueueDrop
		free   sessionKey   // freeSlot (after sessionEnded)
		served []sessionKey // the queued requests that freeSlot serves
	}
	cases := []struct {
		name                         string
		maxWorkers, perClient, queue int
		busyError                    bool
		steps                        []step
	}{
		{"queue", 3, 2, 10, false, []step{
			{admit: a1, want: DecisionAccepted},
			{admit: akey("192.0.2.1:1000", "//a"), want: DecisionDuplicate},
			{admit: a1b, want: DecisionAccepted},
			{admit: a2, want: decisionQueued},    // over its share: waits
			{admit: a2, want: DecisionDuplicate}, // its retransmission: same place
			{admit: b1, want: DecisionAccepted},
			{admit: c1, want: decisionQueued}, // its /64 holds 1 of 2: the global limit; waits
			{admit: a3, want: decisionQueued}, // 2 waiting for 192.0.2.1: its share of the queue
			{admit: akey("192.0.2.1:1004", "a"), want: DecisionClientLimit, drop: QueueDropClient},
			// 192.0.2.1 got in line first, but it is at its share: c1 is served.
			{free: b1, served: []sessionKey{c1}},
			{free: a1, served: []sessionKey{a2}},
			{free: c1}, // 192.0.2.1 holds its share (a1b, a2): a3 waits
			{free: a1b, served: []sessionKey{a3}},
		}},
		{"full queue", 1, 8, 2, false, []step{
			{admit: a1, want: DecisionAccepted},
			{admit: b1, want: decisionQueued},
			{admit: d1, want: decisionQueued},
			{admit: c1, want: DecisionDropped, drop: QueueDropFull},
			{admit: d1, want: DecisionDuplicate}, // a repeat is never refused
			{free: a1, served: []sessionKey{b1}},
		}},
		{"busy error", 1, 2, 10, true, []step{
			{admit: a1, want: DecisionAccepted},
			{admit: b1, want: DecisionBusy},
			{admit: a1b, want: DecisionBusy},
			{free: a1},
			{admit: b1, want: DecisionAccepted},
		}},
		{"busy error: over the client's share still waits", 10, 1, 10, true, []step{
			{admit: a1, want: DecisionAccepted},
			{admit: a1b, want: decisionQueued},
			{free: a1, served: []sessionKey{a1b}},
		}},
		{"no queue", 1, 1, 0, false, []step{
			{admit: a1, want: DecisionAccepted},
			{admit: a1b, want: DecisionClientLimit},
			{admit: b1, want: DecisionDropped, drop: QueueDropFull},
		}},
		{"no per-client limit", 10, -1, 10, false, []step{
			{admit: a1, want: DecisionAccepted},
			{admit: a1b, want: DecisionAccepted},
			{admit: a2, want: DecisionAccepted},
			{admit: a3, want: DecisionAccepted},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newAdmitMaster(c.maxWorkers, c.perClient, c.queue, c.busyError)
			for i, s := range c.steps {
				if s.free != (sessionKey{}) {
					m.sessionEnded(s.free)
					m.freeSlot(s.free)
					if got := m.takeServed(); !slices.Equal(got, s.served) {
						t.Fatalf("step %d: freeSlot(%v) served %v, want %v", i, s.free.peer, got, s.served)
					}
					continue
				}
				d, drop := m.admit(areq(s.admit))
				if d != s.want || drop != s.drop {
					t.Fatalf("step %d %v: %q %q, want %q %q", i, s.admit.peer, d, drop, s.want, s.drop)
				}
				if err := m.queue.check(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
		})
	}
}

// TestAdmitExpiry: a request whose client stopped asking is dropped from
// the queue; asking again enters it again.
func TestAdmitExpiry(t *testing.T) {
	m := newAdmitMaster(1, 8, 10, false)
	m.queue.timeout = 50 * time.Millisecond
	a, b := akey("192.0.2.1:1000", "a"), akey("192.0.2.2:1000", "a")
	if d, _ := m.admit(areq(a)); d != DecisionAccepted {
		t.Fatal(d)
	}
	if d, _ := m.admit(areq(b)); d != decisionQueued {
		t.Fatal(d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.queueLen() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the entry did not expire")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d, _ := m.admit(areq(b)); d != decisionQueued {
		t.Fatalf("asking again: %s", d)
	}
	m.sessionEnded(a)
	m.freeSlot(a)
	if got := m.takeServed(); !slices.Equal(got, []sessionKey{b}) {
		t.Fatalf("served %v", got)
	}
}
