package master

import (
	"net/netip"
	"path"
	"strings"

	"github.com/fbtftp-go/fbtftp/internal/proto"
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
//     every slot.
//
// admit is the one place a request is let in; freeSlot the one place a
// slot is given back. An admission queue (waiting for a slot instead of
// "server busy") sits between the two: where admit answers DecisionBusy it
// would queue the request, and freeSlot would hand the slot to the next
// one in line.

// decisionIgnore is admit's answer while the master drains: the request
// is neither answered nor counted.
const decisionIgnore Decision = ""

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

// admit decides what to do with a parsed request. DecisionAccepted means a
// slot is taken: the caller must start the session, or call sessionEnded
// and freeSlot if it cannot.
func (m *Master) admit(key sessionKey) Decision {
	c := clientOf(key.peer.Addr())
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.draining:
		return decisionIgnore
	case m.hasActive(key):
		return DecisionDuplicate
	case m.cfg.MaxSessionsPerClient > 0 && m.clients[c] >= m.cfg.MaxSessionsPerClient:
		return DecisionClientLimit
	case m.held >= m.cfg.MaxWorkers:
		return DecisionBusy
	}
	m.active[key] = struct{}{}
	m.clients[c]++
	m.held++
	m.inflight.Add(1)
	return DecisionAccepted
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
// process the worker started are gone (or it never got one).
func (m *Master) freeSlot(key sessionKey) {
	c := clientOf(key.peer.Addr())
	m.mu.Lock()
	m.held--
	if n := m.clients[c] - 1; n > 0 {
		m.clients[c] = n
	} else {
		delete(m.clients, c)
	}
	m.mu.Unlock()
}
