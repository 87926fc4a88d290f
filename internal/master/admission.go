package master

import (
	"net/netip"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// Admission decides which requests start a session, and accounts for the
// slots sessions hold. Under m.mu the master keeps:
//
//   - active: the sessions in flight, by sessionKey (client address and
//     port, opcode, cleaned file name): a repeat of one is a duplicate and
//     is dropped. It is left when the session ends (its Stats arrive, or
//     its worker dies without them);
//   - held: the slots held. A slot is taken when a request is admitted and
//     given back only once the session's worker and every process it
//     started are gone: a worker that lingers after its session (a
//     fbtftp.Drainer finishing a cache fill), or whose descendants live on,
//     still holds it. Config.MaxWorkers bounds held;
//   - clients: the slots each client holds (clientOf). Config.
//     MaxSessionsPerClient bounds each, so that one address cannot take
//     every slot;
//   - queue: the requests waiting for a slot (queue.go), beyond either
//     bound. A request that finds no slot waits there instead of being
//     refused: a booting machine that gets ERROR moves on to its next boot
//     device or halts, one that waits boots a little later. The queue is
//     bounded, fair across clients, and forgets a request its client
//     stopped asking for (Config.QueueTimeout). With Config.BusyError a
//     request beyond MaxWorkers gets ERROR 0 "server busy" instead.
//
// admit is the one place a request is let in or queued; freeSlot the one
// place a slot is given back, and the place where the queue is served: the
// slot goes at once to the next request in line (pull). The session socket
// of a queued request is created when it is served, not while it waits.

// decisionIgnore is admit's answer while the master drains: the request
// is neither answered nor counted. decisionQueued: it waits in the queue,
// and is counted when it leaves it (accepted, or dropped).
const (
	decisionIgnore Decision = ""
	decisionQueued Decision = "queued"
)

// saturationWindow is how long /healthz keeps saying the queue is
// saturated after it last refused a request for being full.
const saturationWindow = 10 * time.Second

// sessionKey identifies a request: a client re-sending its RRQ (or racing
// duplicates, as Raspberry Pi firmware sends) must not start two sessions.
type sessionKey struct {
	peer netip.AddrPort
	op   proto.Opcode
	file string // cleanName of the requested name
}

// cleanName is the file name as the duplicate check sees it: "/big.bin",
// "//big.bin", "big.bin" and "/./big.bin" name one file, and a client must
// not start one session per spelling.
func cleanName(name string) string {
	if strings.HasPrefix(name, "/") {
		return path.Clean(name) // no allocation when it is clean
	}
	return path.Clean("/" + name)
}

// clientOf returns the key a client's slots are counted under: its address,
// or for IPv6 the /64 it is in (a host may use any address of its subnet,
// RFC 8981 temporary addresses). The zone is kept: fe80::/64 on two links
// are two clients.
func clientOf(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if !a.Is6() {
		return a
	}
	zone := a.Zone()
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr().WithZone(zone)
}

// request is a parsed request on its way in: what a session or a queue
// entry needs.
type request struct {
	key      sessionKey
	req      *proto.Request
	l        *udp.Listener
	local    netip.Addr
	received time.Time
}

// admit decides what to do with a parsed request. DecisionAccepted means a
// slot is taken: the caller must start the session, or call sessionEnded
// and freeSlot if it cannot. decisionQueued means the request waits in the
// queue; when it leaves it, it is dispatched or counted as dropped here.
// For a request the queue refused, drop says why.
func (m *Master) admit(r request) (d Decision, drop QueueDrop) {
	c := clientOf(r.key.peer.Addr())
	var served []*queued
	m.mu.Lock()
	defer func() {
		m.mu.Unlock()
		m.serveQueued(served, nil)
	}()
	if m.draining {
		return decisionIgnore, ""
	}
	if m.hasActive(r.key) {
		return DecisionDuplicate, ""
	}
	e := &queued{key: r.key, req: r.req, l: r.l, local: r.local, received: r.received}
	if m.queue.byKey[r.key] != nil {
		m.queue.push(c, e, false) // refreshes it: same place, new reply address and expiry
		return DecisionDuplicate, ""
	}
	ready := m.underClientLimit(c)
	full := m.held >= m.cfg.MaxWorkers
	switch {
	case ready && !full && !m.queue.has(c):
		m.take(r.key, c)
		return DecisionAccepted, ""
	case ready && full && m.cfg.BusyError:
		return DecisionBusy, ""
	}
	switch m.queue.push(c, e, ready) {
	case pushQueued:
		m.armExpiry()
		if !full {
			served = m.pull() // its client's own earlier requests may be servable
		}
		return decisionQueued, ""
	case pushClientFull:
		return DecisionClientLimit, QueueDropClient
	}
	// pushFull.
	if m.queue.size == 0 && !ready {
		return DecisionClientLimit, "" // no queue: the client's share is all it gets
	}
	m.lastFull.Store(r.received.UnixNano())
	return DecisionDropped, QueueDropFull
}

// underClientLimit reports whether client c may take one more slot.
// Called with m.mu held.
func (m *Master) underClientLimit(c netip.Addr) bool {
	return m.cfg.MaxSessionsPerClient <= 0 || m.clients[c] < m.cfg.MaxSessionsPerClient
}

// take gives a slot to the request key of client c. Called with m.mu held.
func (m *Master) take(key sessionKey, c netip.Addr) {
	m.active[key] = struct{}{}
	m.clients[c]++
	m.held++
	m.inflight.Add(1)
}

func (m *Master) hasActive(key sessionKey) bool {
	_, ok := m.active[key]
	return ok
}

// sessionEnded forgets an admitted session that is over (accounted, or
// never started): a repeat of its request is a new session again.
func (m *Master) sessionEnded(key sessionKey) {
	m.mu.Lock()
	delete(m.active, key)
	m.mu.Unlock()
	m.inflight.Add(-1)
}

// freeSlot gives back an admitted session's slot: its worker and every
// process the worker started are gone (or it never got one). The slot
// goes to the next request waiting in the queue, if any.
func (m *Master) freeSlot(key sessionKey) {
	c := clientOf(key.peer.Addr())
	var served, expired []*queued
	m.mu.Lock()
	m.held--
	if n := m.clients[c] - 1; n > 0 {
		m.clients[c] = n
	} else {
		delete(m.clients, c)
	}
	if !m.draining && m.queue.len() > 0 {
		m.queue.unpark(c)
		// What is due now is dropped rather than served: its client
		// stopped asking (the expiry timer may not have fired yet).
		expired = m.queue.expire(time.Now())
		served = m.pull()
	}
	m.mu.Unlock()
	m.serveQueued(served, expired)
}

// pull takes the requests the queue can serve now, a slot each, while
// slots are free. Called with m.mu held; the caller dispatches them
// (serveQueued) once it is released.
func (m *Master) pull() []*queued {
	var out []*queued
	for m.held < m.cfg.MaxWorkers {
		e := m.queue.pop(m.underClientLimit)
		if e == nil {
			break
		}
		m.take(e.key, clientOf(e.key.peer.Addr()))
		out = append(out, e)
	}
	return out
}

// serveQueued starts the sessions of queued requests that got a slot, and
// accounts for the ones that expired. Called without m.mu.
func (m *Master) serveQueued(served, expired []*queued) {
	for _, e := range expired {
		m.queueDropped(e, QueueDropTimeout)
	}
	if len(served) == 0 {
		return
	}
	now := time.Now()
	for _, e := range served {
		wait := now.Sub(e.received)
		m.qobs.QueueAdmitted(wait)
		m.workWG.Go(func() { m.dispatchQueued(e, wait) })
	}
}

// queueDropped accounts for a queued request dropped unanswered.
func (m *Master) queueDropped(e *queued, why QueueDrop) {
	m.decideOp(e.req.Op, DecisionDropped)
	m.qobs.QueueDropped(why)
	if why != QueueDropShutdown {
		m.logQueueDrop(why, e.key.peer, e.local, e.req, time.Since(e.received))
	}
}

// armExpiry makes the expiry timer fire when the oldest entry expires, if
// it is not set to fire before. Called with m.mu held.
func (m *Master) armExpiry() {
	at, ok := m.queue.nextExpiry()
	if !ok || (!m.expiryAt.IsZero() && !at.Before(m.expiryAt)) {
		return
	}
	m.expiryAt = at
	m.expiry.Reset(time.Until(at))
}

// expireQueue runs on the expiry timer: it drops the entries due, and
// sets the timer for the next.
func (m *Master) expireQueue() {
	m.mu.Lock()
	m.expiryAt = time.Time{}
	var expired []*queued
	if !m.draining {
		expired = m.queue.expire(time.Now())
		m.armExpiry()
	}
	m.mu.Unlock()
	m.serveQueued(nil, expired)
}

// drainQueue drops every request still waiting: the master is draining.
// Called with m.mu held; the caller accounts for what it returns.
func (m *Master) drainQueue() []*queued {
	m.expiry.Stop()
	m.expiryAt = time.Time{}
	return m.queue.drain()
}

// QueueSaturated reports whether the admission queue is full, or was in
// the last 10 s (it refused a request for being full): requests are being
// dropped, and /healthz says so.
func (m *Master) QueueSaturated() bool {
	m.mu.Lock()
	full := m.queue.size > 0 && m.queue.full()
	m.mu.Unlock()
	if full {
		return true
	}
	last := m.lastFull.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < saturationWindow
}

// queueLen is Snapshot.QueueLength.
func (m *Master) queueLen() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(m.queue.len())
}

// logQueueDrop logs a request the queue dropped, within the refusal log
// limits.
func (m *Master) logQueueDrop(why QueueDrop, peer netip.AddrPort, local netip.Addr, req *proto.Request, waited time.Duration) {
	reason := refusedQueueFull
	if why == QueueDropTimeout {
		reason = refusedQueueTimeout
	}
	ok, suppressed := m.refusals.allow(reason)
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("reason", reason), zap.Stringer("peer", peer), zap.Stringer("local", local),
		zap.Stringer("op", req.Op), zap.String("file", req.Filename), zap.Duration("queue_wait", waited)}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	m.log.Warn("request dropped", fields...)
}
