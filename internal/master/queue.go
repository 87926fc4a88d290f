package master

import (
	"net/netip"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// The admission queue holds requests that arrived while no slot was free
// for them: beyond Config.MaxWorkers, or beyond their client's
// Config.MaxSessionsPerClient. It is a plain data structure; the master
// keeps it under m.mu (admission.go) and serves it as slots free.
//
//   - Fair: one FIFO per client (clientOf: an address, an IPv6 /64),
//     served round robin. A slot that frees goes to the oldest request of
//     the client at the front of the ready ring, and that client goes to
//     the back: a client with 8 requests waiting gets one slot in turn
//     with every other waiting client, not 8 before them.
//   - Bounded: at most size requests in all, at most share per client (its
//     share of the queue is its share of the workers); beyond, a request
//     is refused and the caller drops it.
//   - Deduplicated: a request already waiting (same sessionKey) never
//     takes a second place; its repeat refreshes the entry (the address to
//     answer from, the time it was last heard) and keeps its place.
//   - Expiring: a request its client has not sent again for timeout is
//     dropped (the client gave up, or its next retransmission enters
//     again).
//   - Parked clients: a client at its session limit cannot be served
//     whatever frees; pop moves it out of the ring, unpark puts it back at
//     the end once one of its slots frees.
//
// Every operation is O(1) but expire and drain (O(dropped)) and pop (O(1)
// amortised: a client is parked at most once per slot it holds).

// queued is one request waiting for a slot.
type queued struct {
	key      sessionKey
	req      *proto.Request
	l        *udp.Listener // the listener it came from, to answer from
	local    netip.Addr    // the address the client talked to
	received time.Time     // its first datagram: the session's latencies count from here
	heard    time.Time     // its latest datagram: expiry counts from here

	cq    *clientQueue
	byArr link[queued] // in the client's FIFO, by arrival
	byHrd link[queued] // in every entry's list, by heard (oldest first)
}

// clientQueue is one client's FIFO.
type clientQueue struct {
	addr    netip.Addr
	entries list[queued] // by arrival (queued.byArr)
	n       int
	parked  bool
	inRing  link[clientQueue] // in the ready ring, unless parked
}

// link is an element's place in one intrusive doubly linked list.
type link[T any] struct{ prev, next *T }

// list is an intrusive doubly linked list of *T: the links live in the
// elements, at the place at returns, so one element can be in several
// lists and a removal costs no search and no allocation.
type list[T any] struct {
	head, tail *T
	at         func(*T) *link[T]
}

// pushBack appends e, which must be in no list of this kind.
func (l *list[T]) pushBack(e *T) {
	a := l.at(e)
	a.prev, a.next = l.tail, nil
	if l.tail != nil {
		l.at(l.tail).next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// remove unlinks e; an e that is not in l is left alone.
func (l *list[T]) remove(e *T) {
	a := l.at(e)
	if a.prev != nil {
		l.at(a.prev).next = a.next
	} else if l.head == e {
		l.head = a.next
	}
	if a.next != nil {
		l.at(a.next).prev = a.prev
	} else if l.tail == e {
		l.tail = a.prev
	}
	a.prev, a.next = nil, nil
}

func byArrival(e *queued) *link[queued]         { return &e.byArr }
func byHeard(e *queued) *link[queued]           { return &e.byHrd }
func inRing(cq *clientQueue) *link[clientQueue] { return &cq.inRing }

// pushResult is what push did with a request.
type pushResult int

const (
	pushQueued     pushResult = iota // a new entry
	pushRefreshed                    // a repeat of a waiting request: refreshed, same place
	pushFull                         // the queue holds size entries: refused
	pushClientFull                   // the client holds share entries: refused
)

// admissionQueue is the queue; newAdmissionQueue makes one.
type admissionQueue struct {
	size    int           // entries at most; 0: nothing is ever queued
	share   int           // entries per client at most; <= 0: size
	timeout time.Duration // since an entry was last heard

	n       int
	byKey   map[sessionKey]*queued
	clients map[netip.Addr]*clientQueue
	ring    list[clientQueue] // ready clients, served front first
	oldest  list[queued]      // entries by heard, oldest first
}

func newAdmissionQueue(size, share int, timeout time.Duration) *admissionQueue {
	return &admissionQueue{
		size: max(size, 0), share: share, timeout: timeout,
		byKey: map[sessionKey]*queued{}, clients: map[netip.Addr]*clientQueue{},
		ring: list[clientQueue]{at: inRing}, oldest: list[queued]{at: byHeard},
	}
}

// len is the number of requests waiting.
func (q *admissionQueue) len() int { return q.n }

// full reports whether a new request would be refused for the queue's size.
func (q *admissionQueue) full() bool { return q.n >= q.size }

// has reports whether client c has requests waiting.
func (q *admissionQueue) has(c netip.Addr) bool { return q.clients[c] != nil }

// push queues e (its key, client, request, listener, local address and
// received time set; heard is set to received) for client c, or refreshes
// the entry of the same key: its listener, local address, request and
// heard time are taken from e, its place and received time kept. ready
// says whether c can be served now (under its session limit); a new
// client that cannot is parked.
func (q *admissionQueue) push(c netip.Addr, e *queued, ready bool) pushResult {
	if old := q.byKey[e.key]; old != nil {
		old.req, old.l, old.local = e.req, e.l, e.local
		old.heard = e.received
		q.oldest.remove(old)
		q.oldest.pushBack(old)
		return pushRefreshed
	}
	if q.n >= q.size {
		return pushFull
	}
	cq := q.clients[c]
	if cq != nil && q.share > 0 && cq.n >= q.share {
		return pushClientFull
	}
	if cq == nil {
		cq = &clientQueue{addr: c, parked: !ready, entries: list[queued]{at: byArrival}}
		q.clients[c] = cq
		if ready {
			q.ring.pushBack(cq)
		}
	}
	e.cq, e.heard = cq, e.received
	cq.entries.pushBack(e)
	cq.n++
	q.oldest.pushBack(e)
	q.byKey[e.key] = e
	q.n++
	return pushQueued
}

// pop removes and returns the request to serve next: the oldest of the
// first ready client that eligible accepts, which then goes to the back of
// the ring. Clients eligible refuses are parked on the way. nil when no
// client can be served.
func (q *admissionQueue) pop(eligible func(netip.Addr) bool) *queued {
	for cq := q.ring.head; cq != nil; cq = q.ring.head {
		q.ring.remove(cq)
		if !eligible(cq.addr) {
			cq.parked = true
			continue
		}
		e := cq.entries.head
		q.remove(e)
		if cq.n > 0 {
			q.ring.pushBack(cq)
		}
		return e
	}
	return nil
}

// unpark puts client c back at the end of the ring, if it is parked.
func (q *admissionQueue) unpark(c netip.Addr) {
	if cq := q.clients[c]; cq != nil && cq.parked {
		cq.parked = false
		q.ring.pushBack(cq)
	}
}

// expire removes and returns the entries last heard timeout or longer
// before now, oldest first.
func (q *admissionQueue) expire(now time.Time) []*queued {
	var out []*queued
	for e := q.oldest.head; e != nil && !now.Before(e.heard.Add(q.timeout)); e = q.oldest.head {
		q.remove(e)
		out = append(out, e)
	}
	return out
}

// nextExpiry is when the oldest entry expires; false when none waits.
func (q *admissionQueue) nextExpiry() (time.Time, bool) {
	if q.oldest.head == nil {
		return time.Time{}, false
	}
	return q.oldest.head.heard.Add(q.timeout), true
}

// drain removes and returns every entry.
func (q *admissionQueue) drain() []*queued {
	out := make([]*queued, 0, q.n)
	for e := q.oldest.head; e != nil; e = q.oldest.head {
		q.remove(e)
		out = append(out, e)
	}
	return out
}

// remove takes e out of every list; a client left without entries is
// forgotten.
func (q *admissionQueue) remove(e *queued) {
	cq := e.cq
	cq.entries.remove(e)
	e.cq = nil
	cq.n--
	q.oldest.remove(e)
	delete(q.byKey, e.key)
	q.n--
	if cq.n == 0 {
		if !cq.parked {
			q.ring.remove(cq)
		}
		delete(q.clients, cq.addr)
	}
}
