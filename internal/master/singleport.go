package master

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// Single-port mode (Config.SinglePort): the session socket is bound to the
// listening port and connected to the client (udp.NewSinglePortSocket), so
// the kernel hands the client's packets to the worker and everyone else's
// to the listener. The master keeps its own copy of each session socket
// until the worker is buried:
//
//   - before the handoff it reads what strangers sent in the instant
//     between bind and connect, and handles it as listener traffic;
//   - when the session ends (Stats, or the worker's death) it retires the
//     socket (connects it to itself: the client's packets go to the
//     listener again) and handles what the client had sent meanwhile as a
//     request: UEFI firmware sends a new RRQ from the same port right after
//     its size probe's ERROR 8, and that RRQ reaches the session's socket,
//     not the listener;
//   - every auditInterval it checks that the socket is still connected
//     where it should be: a worker that connected it elsewhere (or
//     disconnected it, which would black-hole the address's requests) is
//     killed.

// auditInterval is how often the master checks the single-port session
// sockets' peers; it bounds how long a hostile worker can keep a socket
// moved.
const auditInterval = time.Second

// spSocket is the master's copy of a single-port session socket.
type spSocket struct {
	l     *udp.Listener
	local netip.Addr     // the address the client used, for replies
	bound netip.AddrPort // the socket's address
	peer  netip.AddrPort

	mu      sync.Mutex
	f       *os.File // nil once closed
	retired bool     // connected to itself
}

// newSinglePortSocket creates the session socket for a request that
// arrived on l from peer to local, and handles as listener traffic what
// other clients sent to it before it was connected.
func (m *Master) newSinglePortSocket(l *udp.Listener, local netip.Addr, peer netip.AddrPort) (*spSocket, error) {
	bound := netip.AddrPortFrom(local, l.LocalAddr().Port())
	f, err := udp.NewSinglePortSocket(bound, peer)
	if err != nil {
		return nil, err
	}
	s := &spSocket{l: l, local: local, bound: bound, peer: peer, f: f}
	pkts := s.drain(false)
	for _, p := range pkts {
		if p.from != peer {
			m.handle(l, p.data, p.from, local, time.Now())
		}
	}
	return s, nil
}

type drained struct {
	data []byte
	from netip.AddrPort
}

// drain reads what is queued on the socket (retiring it first when asked);
// s.mu must not be held.
func (s *spSocket) drain(retire bool) []drained {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil || (retire && s.retired) {
		return nil
	}
	var out []drained
	_ = udp.DrainSinglePort(s.f, retire, func(pkt []byte, from netip.AddrPort) {
		out = append(out, drained{data: append([]byte(nil), pkt...), from: from})
	})
	if retire {
		s.retired = true
	}
	return out
}

// retire ends the session's hold on the client's address and port, and
// handles the requests the client sent to the session's socket after the
// session: the caller has ended the session (sessionEnded), so a request
// for the same file is a new session, not a duplicate.
func (m *Master) retireSocket(s *spSocket) {
	if s == nil {
		return
	}
	for _, p := range s.drain(true) {
		if p.from.Addr().WithZone("") == s.peer.Addr().WithZone("") && p.from.Port() == s.peer.Port() {
			m.handle(s.l, p.data, s.peer, s.local, time.Now())
		}
	}
}

func (s *spSocket) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// intact reports whether the socket is connected where it should be: to
// the client, or to itself once retired. A closed socket is intact.
func (s *spSocket) intact() (bool, netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return true, netip.AddrPort{}, nil
	}
	got, err := udp.SinglePortPeer(s.f)
	if err != nil {
		return !errors.Is(err, os.ErrClosed), got, err
	}
	want := s.peer
	if s.retired {
		want = s.bound
	}
	return got.Addr().WithZone("") == want.Addr().WithZone("") && got.Port() == want.Port(), got, nil
}

// auditSockets checks every single-port session socket once per
// auditInterval until ctx ends (after which the listeners are closed and a
// moved socket can take nothing from them).
func (m *Master) auditSockets(ctx context.Context) {
	t := time.NewTicker(auditInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		ws := make([]*worker, 0, len(m.workers))
		for w := range m.workers {
			ws = append(ws, w)
		}
		m.mu.Unlock()
		for _, w := range ws {
			w.mu.Lock()
			s := w.sp
			w.mu.Unlock()
			if s == nil {
				continue
			}
			if ok, got, err := s.intact(); !ok {
				m.violation(ViolationSessionSocket, w, zap.Stringer("connected_to", got), zap.Stringer("peer", s.peer), zap.Error(err))
				w.kill()
				s.close() // the worker's copy goes with it: the socket leaves the port

			}
		}
	}
}
