package transfer

import (
	"container/heap"
	"net/netip"
	"os"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// The simulated network: a single-threaded discrete-event simulation with
// a virtual clock. The engine under test reads from simConn; everything it
// writes to the client is passed synchronously through a fault filter to a
// client model, which answers by scheduling packets (and timers) in the
// event queue. No real time passes and every run is deterministic.

var (
	clientAddr   = netip.MustParseAddrPort("127.0.0.1:50000")
	strangerAddr = netip.MustParseAddrPort("127.0.0.9:50001")
)

type action int

const (
	deliver action = iota
	drop
	duplicate
	delay // deliver after faultDelay
)

const (
	toClient = "to-client"
	toServer = "to-server"
	latency  = 50 * time.Microsecond
)

// fault decides what happens to the nth packet of a kind (opcode) in a
// direction. nth counts from 1 per (dir, opcode).
type fault func(dir string, op proto.Opcode, nth int, pkt []byte) (action, time.Duration)

type event struct {
	at   time.Time
	seq  int
	pkt  []byte         // a packet for the server, or
	from netip.AddrPort // its source
	fn   func()         // a timer
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type peerModel interface {
	// handle receives a packet the server sent to the client.
	handle(pkt []byte)
}

type simNet struct {
	now      time.Time
	q        eventQueue
	seq      int
	fault    fault
	counts   map[string]int
	client   peerModel
	sent     map[proto.Opcode]int // packets the server sent to the client, by opcode
	stranger [][]byte             // packets the server sent to strangers
	maxSteps int
	timeouts int            // ReadPacket calls that hit their deadline
	dropped  map[string]int // packets the faults dropped, by direction
	log      []simSend      // what the server sent to the client, in order
}

// simSend is one packet the server sent to the client.
type simSend struct {
	at    time.Time
	op    proto.Opcode
	block uint16 // DATA and ACK
}

func newSimNet() *simNet {
	return &simNet{
		now:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		counts:   map[string]int{},
		sent:     map[proto.Opcode]int{},
		dropped:  map[string]int{},
		maxSteps: 50_000_000,
	}
}

func (n *simNet) Now() time.Time { return n.now }

func (n *simNet) schedule(e *event) {
	n.seq++
	e.seq = n.seq
	heap.Push(&n.q, e)
}

// after runs fn at now+d.
func (n *simNet) after(d time.Duration, fn func()) *event {
	e := &event{at: n.now.Add(d), fn: fn}
	n.schedule(e)
	return e
}

// apply runs the fault filter on a packet going in dir and returns the
// delays at which copies of it arrive (none when dropped).
func (n *simNet) apply(dir string, pkt []byte) []time.Duration {
	op, _ := proto.PeekOpcode(pkt)
	key := dir + op.String()
	n.counts[key]++
	act, d := deliver, time.Duration(0)
	if n.fault != nil {
		act, d = n.fault(dir, op, n.counts[key], pkt)
	}
	switch act {
	case drop:
		n.dropped[dir]++
		return nil
	case duplicate:
		return []time.Duration{latency, latency}
	case delay:
		return []time.Duration{latency + d}
	}
	return []time.Duration{latency}
}

// clientSend sends pkt from the client to the server through the faults.
func (n *simNet) clientSend(pkt []byte) { n.sendFrom(clientAddr, pkt) }

func (n *simNet) sendFrom(from netip.AddrPort, pkt []byte) {
	for _, d := range n.apply(toServer, pkt) {
		n.schedule(&event{at: n.now.Add(d), pkt: append([]byte(nil), pkt...), from: from})
	}
}

// drain delivers what is still in flight after the server returned (its
// last ERROR or ACK) to the client.
func (n *simNet) drain() {
	for steps := 0; len(n.q) > 0 && steps < 1000; steps++ {
		e := heap.Pop(&n.q).(*event)
		if e.at.Sub(n.now) > 10*time.Millisecond {
			return
		}
		n.now = e.at
		if e.fn != nil {
			e.fn()
		}
	}
}

// conn returns the server's side.
func (n *simNet) conn() *simConn { return &simConn{n: n} }

type simConn struct{ n *simNet }

func (c *simConn) ReadPacket(b []byte, deadline time.Time) (int, netip.AddrPort, error) {
	n := c.n
	for steps := 0; steps < n.maxSteps; steps++ {
		if len(n.q) == 0 || n.q[0].at.After(deadline) {
			if deadline.After(n.now) {
				n.now = deadline
			}
			n.timeouts++
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
		e := heap.Pop(&n.q).(*event)
		if e.at.After(n.now) {
			n.now = e.at
		}
		if e.fn != nil {
			e.fn()
			continue
		}
		return copy(b, e.pkt), e.from, nil
	}
	panic("simulation did not converge")
}

func (c *simConn) WritePacket(b []byte, to netip.AddrPort) error {
	n := c.n
	if to != clientAddr {
		n.stranger = append(n.stranger, append([]byte(nil), b...))
		return nil
	}
	op, _ := proto.PeekOpcode(b)
	n.sent[op]++
	var block uint16
	if (op == proto.OpDATA || op == proto.OpACK) && len(b) >= 4 {
		block = uint16(b[2])<<8 | uint16(b[3])
	}
	n.log = append(n.log, simSend{at: n.now, op: op, block: block})
	for _, d := range n.apply(toClient, b) {
		pkt := append([]byte(nil), b...)
		n.schedule(&event{at: n.now.Add(d), fn: func() { n.client.handle(pkt) }})
	}
	return nil
}

// simBatchConn is simConn with WriteBatch: a batch goes through the faults
// as the datagrams it holds, in order, as the kernel would send them.
type simBatchConn struct {
	*simConn
	batches int // WriteBatch calls
}

func (c *simBatchConn) WriteBatch(buf []byte, seg int, to netip.AddrPort) error {
	c.batches++
	for len(buf) > 0 {
		k := min(seg, len(buf))
		if err := c.WritePacket(buf[:k], to); err != nil {
			return err
		}
		buf = buf[k:]
	}
	return nil
}
