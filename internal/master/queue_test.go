package master

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// qkey is the sessionKey of client 192.0.2.C, port P, file "f".
func qkey(c, p int) sessionKey {
	return sessionKey{peer: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(c)}), uint16(1000+p)), op: proto.OpRRQ, file: "/f"}
}

func qentry(k sessionKey, at time.Time) *queued {
	return &queued{key: k, received: at, req: &proto.Request{Op: k.op, Filename: k.file}}
}

// TestQueue runs scripted steps against the queue: pushes with their
// results, pops with the key served (or none), unparks, expiry.
func TestQueue(t *testing.T) {
	all := func(netip.Addr) bool { return true }
	none := func(netip.Addr) bool { return false }
	// but(c) refuses client c only.
	but := func(c int) func(netip.Addr) bool {
		return func(a netip.Addr) bool { return a != qkey(c, 0).peer.Addr() }
	}
	type step struct {
		push     sessionKey // with push
		at       time.Duration
		ready    bool
		want     pushResult
		pop      func(netip.Addr) bool // with pop
		popWant  *sessionKey           // nil: none
		unpark   int                   // > 0: unpark client 192.0.2.N
		expireAt time.Duration         // > 0: expire at t0+expireAt
		expired  []sessionKey
		len      int  // checked when not 0, or with empty
		empty    bool // len must be 0
	}
	k := func(c, p int) *sessionKey { x := qkey(c, p); return &x }
	cases := []struct {
		name        string
		size, share int
		steps       []step
	}{
		{"fifo within one client", 10, 8, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued, len: 1},
			{push: qkey(1, 1), ready: true, want: pushQueued, len: 2},
			{pop: all, popWant: k(1, 0), len: 1},
			{pop: all, popWant: k(1, 1), empty: true},
			{pop: all, popWant: nil, empty: true},
		}},
		{"round robin across clients", 10, 8, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued},
			{push: qkey(1, 1), ready: true, want: pushQueued},
			{push: qkey(1, 2), ready: true, want: pushQueued},
			{push: qkey(2, 0), ready: true, want: pushQueued},
			{push: qkey(3, 0), ready: true, want: pushQueued},
			{pop: all, popWant: k(1, 0)},
			{pop: all, popWant: k(2, 0)},
			{pop: all, popWant: k(3, 0)},
			{pop: all, popWant: k(1, 1)},
			{pop: all, popWant: k(1, 2), empty: true},
		}},
		{"a repeat refreshes and keeps its place", 10, 8, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued},
			{push: qkey(2, 0), ready: true, want: pushQueued},
			{push: qkey(1, 0), at: time.Second, ready: true, want: pushRefreshed, len: 2},
			{pop: all, popWant: k(1, 0)},
		}},
		{"size bound", 2, 8, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued},
			{push: qkey(2, 0), ready: true, want: pushQueued},
			{push: qkey(3, 0), ready: true, want: pushFull, len: 2},
			{push: qkey(1, 0), ready: true, want: pushRefreshed, len: 2}, // a repeat is never refused
		}},
		{"share bound", 10, 2, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued},
			{push: qkey(1, 1), ready: true, want: pushQueued},
			{push: qkey(1, 2), ready: true, want: pushClientFull},
			{push: qkey(2, 0), ready: true, want: pushQueued, len: 3},
		}},
		{"no share bound", 4, -1, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued},
			{push: qkey(1, 1), ready: true, want: pushQueued},
			{push: qkey(1, 2), ready: true, want: pushQueued},
			{push: qkey(1, 3), ready: true, want: pushQueued},
			{push: qkey(1, 4), ready: true, want: pushFull, len: 4},
		}},
		{"size 0 queues nothing", 0, 8, []step{
			{push: qkey(1, 0), ready: true, want: pushFull, empty: true},
		}},
		{"parked clients wait for unpark, at the end of the ring", 10, 8, []step{
			{push: qkey(1, 0), ready: false, want: pushQueued},
			{push: qkey(2, 0), ready: true, want: pushQueued},
			{push: qkey(3, 0), ready: true, want: pushQueued},
			{pop: all, popWant: k(2, 0)},
			{unpark: 1},
			{pop: all, popWant: k(3, 0)},
			{pop: all, popWant: k(1, 0), empty: true},
		}},
		{"pop parks the clients it cannot serve", 10, 8, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued},
			{push: qkey(2, 0), ready: true, want: pushQueued},
			{pop: but(1), popWant: k(2, 0)},
			{pop: all, popWant: nil, len: 1}, // 1 is parked now
			{unpark: 1},
			{pop: all, popWant: k(1, 0)},
		}},
		{"nobody eligible", 10, 8, []step{
			{push: qkey(1, 0), ready: true, want: pushQueued},
			{pop: none, popWant: nil, len: 1},
			{unpark: 1},
			{pop: all, popWant: k(1, 0)},
		}},
		{"expiry counts from the last datagram", 10, 8, []step{
			{push: qkey(1, 0), at: 0, ready: true, want: pushQueued},
			{push: qkey(2, 0), at: time.Second, ready: true, want: pushQueued},
			{push: qkey(1, 0), at: 2 * time.Second, ready: true, want: pushRefreshed},
			{expireAt: 6 * time.Second, expired: nil, len: 2},
			{expireAt: 7 * time.Second, expired: []sessionKey{qkey(2, 0)}, len: 1},
			{expireAt: 8 * time.Second, expired: []sessionKey{qkey(1, 0)}, empty: true},
			{push: qkey(1, 0), at: 9 * time.Second, ready: true, want: pushQueued, len: 1}, // re-enters
		}},
		{"expiry of a parked client forgets it", 10, 8, []step{
			{push: qkey(1, 0), ready: false, want: pushQueued},
			{expireAt: 10 * time.Second, expired: []sessionKey{qkey(1, 0)}, empty: true},
			{unpark: 1},
			{pop: all, popWant: nil, empty: true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newAdmissionQueue(c.size, c.share, 6*time.Second)
			for i, s := range c.steps {
				switch {
				case s.push != (sessionKey{}):
					if got := q.push(clientOf(s.push.peer.Addr()), qentry(s.push, t0.Add(s.at)), s.ready); got != s.want {
						t.Fatalf("step %d: push %v = %d, want %d", i, s.push.peer, got, s.want)
					}
				case s.pop != nil:
					e := q.pop(s.pop)
					switch {
					case e == nil && s.popWant != nil:
						t.Fatalf("step %d: pop = none, want %v", i, s.popWant.peer)
					case e != nil && (s.popWant == nil || e.key != *s.popWant):
						t.Fatalf("step %d: pop = %v, want %v", i, e.key.peer, s.popWant)
					}
				case s.unpark > 0:
					q.unpark(qkey(s.unpark, 0).peer.Addr())
				case s.expireAt > 0:
					var got []sessionKey
					for _, e := range q.expire(t0.Add(s.expireAt)) {
						got = append(got, e.key)
					}
					if !slices.Equal(got, s.expired) {
						t.Fatalf("step %d: expired %v, want %v", i, got, s.expired)
					}
				}
				if s.len != 0 || s.empty {
					if q.len() != s.len {
						t.Fatalf("step %d: len %d, want %d", i, q.len(), s.len)
					}
				}
				if err := q.check(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			q.drain()
			if q.len() != 0 || len(q.clients) != 0 || q.ring.head != nil || q.oldest.head != nil {
				t.Fatalf("not empty after drain: %+v", q)
			}
		})
	}
}

// check verifies the queue's invariants: the counts agree, the bounds
// hold, every list is consistent and ordered, the ring holds exactly the
// clients with entries that are not parked.
func (q *admissionQueue) check() error {
	if q.n > q.size {
		return fmt.Errorf("%d entries, size %d", q.n, q.size)
	}
	if len(q.byKey) != q.n {
		return fmt.Errorf("%d keys, %d entries", len(q.byKey), q.n)
	}
	total := 0
	for a, cq := range q.clients {
		if cq.addr != a || cq.n <= 0 {
			return fmt.Errorf("client %v: addr %v, %d entries", a, cq.addr, cq.n)
		}
		if q.share > 0 && cq.n > q.share {
			return fmt.Errorf("client %v holds %d, share %d", a, cq.n, q.share)
		}
		n := 0
		var prev *queued
		for e := cq.entries.head; e != nil; e = e.byArr.next {
			if e.cq != cq || e.byArr.prev != prev || q.byKey[e.key] != e || clientOf(e.key.peer.Addr()) != a {
				return fmt.Errorf("client %v: bad entry %v", a, e.key)
			}
			if prev != nil && e.received.Before(prev.received) {
				return fmt.Errorf("client %v: FIFO out of order", a)
			}
			prev = e
			n++
		}
		if n != cq.n || cq.entries.tail != prev {
			return fmt.Errorf("client %v: FIFO of %d, counted %d", a, n, cq.n)
		}
		total += n
	}
	if total != q.n {
		return fmt.Errorf("clients hold %d, %d entries", total, q.n)
	}
	inRing := map[*clientQueue]bool{}
	var rprev *clientQueue
	for cq := q.ring.head; cq != nil; cq = cq.inRing.next {
		if inRing[cq] || cq.parked || q.clients[cq.addr] != cq || cq.inRing.prev != rprev {
			return fmt.Errorf("ring: bad client %v", cq.addr)
		}
		inRing[cq] = true
		rprev = cq
	}
	if q.ring.tail != rprev {
		return fmt.Errorf("ring tail")
	}
	for _, cq := range q.clients {
		if !cq.parked && !inRing[cq] {
			return fmt.Errorf("client %v neither parked nor in the ring", cq.addr)
		}
	}
	n := 0
	var hprev *queued
	for e := q.oldest.head; e != nil; e = e.byHrd.next {
		if e.byHrd.prev != hprev || (hprev != nil && e.heard.Before(hprev.heard)) {
			return fmt.Errorf("heard list out of order at %v", e.key)
		}
		hprev = e
		n++
	}
	if n != q.n || q.oldest.tail != hprev {
		return fmt.Errorf("heard list of %d, %d entries", n, q.n)
	}
	return nil
}

// queueModel is the queue's specification, written the slow and obvious
// way: slices, scanned.
type queueModel struct {
	size, share int
	timeout     time.Duration
	ring        []netip.Addr // ready clients, in order
	parked      map[netip.Addr]bool
	fifo        map[netip.Addr][]sessionKey
	heard       []sessionKey // by last heard, oldest first
	at          map[sessionKey]time.Time
}

func (m *queueModel) count() int { return len(m.at) }

func (m *queueModel) push(c netip.Addr, k sessionKey, now time.Time, ready bool) pushResult {
	if _, ok := m.at[k]; ok {
		m.at[k] = now
		m.heard = append(slices.DeleteFunc(m.heard, func(x sessionKey) bool { return x == k }), k)
		return pushRefreshed
	}
	if m.count() >= m.size {
		return pushFull
	}
	if m.share > 0 && len(m.fifo[c]) >= m.share {
		return pushClientFull
	}
	if len(m.fifo[c]) == 0 {
		if ready {
			m.ring = append(m.ring, c)
		} else {
			m.parked[c] = true
		}
	}
	m.fifo[c] = append(m.fifo[c], k)
	m.heard = append(m.heard, k)
	m.at[k] = now
	return pushQueued
}

func (m *queueModel) remove(k sessionKey) {
	c := clientOf(k.peer.Addr())
	m.fifo[c] = slices.DeleteFunc(m.fifo[c], func(x sessionKey) bool { return x == k })
	m.heard = slices.DeleteFunc(m.heard, func(x sessionKey) bool { return x == k })
	delete(m.at, k)
	if len(m.fifo[c]) == 0 {
		delete(m.fifo, c)
		delete(m.parked, c)
		m.ring = slices.DeleteFunc(m.ring, func(x netip.Addr) bool { return x == c })
	}
}

func (m *queueModel) pop(eligible func(netip.Addr) bool) (sessionKey, bool) {
	for len(m.ring) > 0 {
		c := m.ring[0]
		m.ring = m.ring[1:]
		if !eligible(c) {
			m.parked[c] = true
			continue
		}
		k := m.fifo[c][0]
		m.remove(k)
		if len(m.fifo[c]) > 0 {
			m.ring = append(m.ring, c)
		}
		return k, true
	}
	return sessionKey{}, false
}

func (m *queueModel) unpark(c netip.Addr) {
	if m.parked[c] {
		delete(m.parked, c)
		m.ring = append(m.ring, c)
	}
}

func (m *queueModel) expire(now time.Time) []sessionKey {
	var out []sessionKey
	for len(m.heard) > 0 && !now.Before(m.at[m.heard[0]].Add(m.timeout)) {
		k := m.heard[0]
		m.remove(k)
		out = append(out, k)
	}
	return out
}

// FuzzAdmissionQueue drives the queue and its model with the same
// operations, decoded from the input, and checks that they agree and that
// the queue's invariants hold after every step.
func FuzzAdmissionQueue(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 0, 2, 1, 1, 0, 1, 2, 1, 1, 0xff, 1, 0xff})
	f.Add([]byte{0, 1, 1, 0, 0, 2, 1, 1, 1, 0xfe, 2, 1, 1, 0xff, 3, 200, 0, 1, 1, 1})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 2, 1, 0, 0, 3, 1, 0, 4, 0, 1, 1, 3, 0, 1, 4, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4096 {
			return
		}
		const size, share = 6, 3
		timeout := 6 * time.Second
		q := newAdmissionQueue(size, share, timeout)
		m := &queueModel{size: size, share: share, timeout: timeout, parked: map[netip.Addr]bool{},
			fifo: map[netip.Addr][]sessionKey{}, at: map[sessionKey]time.Time{}}
		now := t0
		next := func() int {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return int(b)
		}
		for step := 0; len(ops) > 0; step++ {
			switch next() % 5 {
			case 0: // push: client, port, ready
				k := qkey(next()%4, next()%3)
				ready := next()%2 == 1
				c := clientOf(k.peer.Addr())
				got, want := q.push(c, qentry(k, now), ready), m.push(c, k, now, ready)
				if got != want {
					t.Fatalf("step %d: push %v = %d, model %d", step, k.peer, got, want)
				}
			case 1: // pop: a mask of the clients that may be served
				mask := next()
				eligible := func(a netip.Addr) bool { return mask&(1<<(a.As4()[3]%8)) != 0 }
				e := q.pop(eligible)
				k, ok := m.pop(eligible)
				if (e != nil) != ok || (ok && e.key != k) {
					t.Fatalf("step %d: pop %v, model %v %v", step, e, k.peer, ok)
				}
			case 2:
				c := qkey(next()%4, 0).peer.Addr()
				q.unpark(c)
				m.unpark(c)
			case 3: // time passes, entries expire
				now = now.Add(time.Duration(next()) * 100 * time.Millisecond)
				var got []sessionKey
				for _, e := range q.expire(now) {
					got = append(got, e.key)
				}
				if want := m.expire(now); !slices.Equal(got, want) {
					t.Fatalf("step %d: expired %v, model %v", step, got, want)
				}
			case 4: // time passes, nothing else
				now = now.Add(time.Duration(next()) * 10 * time.Millisecond)
			}
			if q.len() != m.count() {
				t.Fatalf("step %d: len %d, model %d", step, q.len(), m.count())
			}
			if err := q.check(); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			if at, ok := q.nextExpiry(); ok != (len(m.heard) > 0) || (ok && !at.Equal(m.at[m.heard[0]].Add(timeout))) {
				t.Fatalf("step %d: next expiry %v %v", step, at, ok)
			}
		}
	})
}

// TestQueueGreedyClient: one client with its whole share waiting gets one
// slot in turn with each other client; the others are not starved.
func TestQueueGreedyClient(t *testing.T) {
	q := newAdmissionQueue(100, 8, time.Minute)
	for p := range 8 {
		q.push(clientOf(qkey(1, p).peer.Addr()), qentry(qkey(1, p), t0), true)
	}
	for c := 2; c <= 9; c++ {
		q.push(clientOf(qkey(c, 0).peer.Addr()), qentry(qkey(c, 0), t0), true)
	}
	// 16 waiting; the first 9 served must be 9 different clients.
	seen := map[netip.Addr]bool{}
	for range 9 {
		e := q.pop(func(netip.Addr) bool { return true })
		if seen[e.key.peer.Addr()] {
			t.Fatalf("client %v served twice before every client was served once", e.key.peer.Addr())
		}
		seen[e.key.peer.Addr()] = true
	}
}
