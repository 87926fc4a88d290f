package transfer

import (
	"bytes"
	"cmp"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// rrqClient models an RFC 1350/7440 client downloading a file: it ACKs every
// window, the final block and a gap (the last in-order block, once until
// the next in-order block), re-ACKs a duplicate of the block its last ACK
// named (in lockstep the classic behaviour that provokes the Sorcerer's
// Apprentice bug in naive servers; with a window, what internal/client
// does when its window ACK was lost), and re-sends its last ACK on
// timeout.
type rrqClient struct {
	n        *simNet
	window   int
	blksize  int
	seq      seq
	probe    bool // answer an OACK with ERROR 8 (UEFI size probe)
	mute     bool // never answer anything (a vanished client)
	errAfter int  // send ERROR 0 after this many DATA (0: never)
	timeout  time.Duration
	// busybox: like busybox 1.35, never re-ACK a duplicate, and restart
	// the retransmit timer on every packet received.
	busybox bool
	// atftp: like atftp 0.8 (Debian) with a window, acknowledge the first
	// duplicate received since the last in-order block (its last in-order
	// block), and no other duplicate.
	atftp    bool
	dupAcked bool

	expect   uint64
	inWin    int
	gapAcked bool
	got      bytes.Buffer
	done     bool
	final    uint16
	oack     []proto.Option
	errs     []proto.ErrorPacket
	gen      int
	acks     int
	dataSeen int
}

func newRRQClient(n *simNet, p proto.Params) *rrqClient {
	c := &rrqClient{n: n, window: max(p.Windowsize, 1), blksize: cmp.Or(p.Blksize, 512), seq: seq{p.Rollover}, expect: 1, timeout: 3 * time.Second}
	n.client = c
	return c
}

func (c *rrqClient) ack(k uint64) {
	c.acks++
	c.n.clientSend(proto.AppendAck(nil, c.seq.wire(k)))
}

func (c *rrqClient) arm() {
	c.gen++
	gen, tries := c.gen, 0
	var fire func()
	fire = func() {
		if gen != c.gen || c.done || tries >= 10 {
			return
		}
		tries++
		c.ack(c.expect - 1)
		c.n.after(c.timeout, fire)
	}
	c.n.after(c.timeout, fire)
}

func (c *rrqClient) handle(pkt []byte) {
	if c.mute {
		return
	}
	op, _ := proto.PeekOpcode(pkt)
	switch op {
	case proto.OpOACK:
		opts, err := proto.ParseOACK(pkt)
		if err != nil || c.expect != 1 {
			return
		}
		c.oack = opts
		if c.probe {
			c.done = true
			c.n.clientSend(proto.AppendError(nil, proto.ErrOptionRefused, "User aborted the transfer"))
			return
		}
		c.ack(0)
		c.arm()
	case proto.OpERROR:
		e, _ := proto.ParseError(pkt)
		c.errs = append(c.errs, e)
		c.done = true
	case proto.OpDATA:
		d, err := proto.ParseData(pkt)
		if err != nil {
			return
		}
		c.dataSeen++
		if c.done {
			if d.Block == c.final {
				c.ack(c.expect - 1) // our final ACK was lost
			}
			return
		}
		if c.errAfter > 0 && c.dataSeen >= c.errAfter {
			c.done = true
			c.n.clientSend(proto.AppendError(nil, proto.ErrUndefined, "disk on fire"))
			return
		}
		if c.busybox && d.Block != c.seq.wire(c.expect) {
			c.arm()
			return
		}
		if c.atftp && d.Block != c.seq.wire(c.expect) {
			if _, old := c.seq.abs(d.Block, c.expect-min(c.expect, 65000), c.expect-1); old {
				if !c.dupAcked {
					c.dupAcked = true
					c.inWin = 0
					c.ack(c.expect - 1)
				}
				return
			}
		}
		switch {
		case d.Block == c.seq.wire(c.expect):
			c.got.Write(d.Payload)
			c.expect++
			c.inWin++
			c.gapAcked = false
			c.dupAcked = false
			if len(d.Payload) < c.blksize {
				c.done, c.final = true, d.Block
				c.ack(c.expect - 1)
				return
			}
			if c.inWin >= c.window {
				c.inWin = 0
				c.ack(c.expect - 1)
			}
			c.arm()
		case d.Block == c.seq.wire(c.expect-1):
			c.ack(c.expect - 1)
		case c.window > 1 && !c.gapAcked:
			c.gapAcked = true
			c.inWin = 0
			c.ack(c.expect - 1)
		}
	}
}

// wrqClient models a client uploading data: it sends windows of blocks,
// slides on ACKs (restarting after the acknowledged block) and goes back to
// the oldest unacknowledged block on timeout.
type wrqClient struct {
	n       *simNet
	data    []byte
	blksize int
	window  int
	seq     seq
	timeout time.Duration
	mute    bool

	base, next, last uint64
	started, done    bool
	oack             []proto.Option
	errs             []proto.ErrorPacket
	gen              int
	sentData         int
}

func newWRQClient(n *simNet, p proto.Params, data []byte) *wrqClient {
	blk := cmp.Or(p.Blksize, 512)
	c := &wrqClient{n: n, data: data, blksize: blk, window: max(p.Windowsize, 1), seq: seq{p.Rollover},
		timeout: 1500 * time.Millisecond, base: 1, next: 1, last: uint64(len(data)/blk) + 1}
	n.client = c
	return c
}

func (c *wrqClient) block(k uint64) []byte {
	off := int(k-1) * c.blksize
	end := min(off+c.blksize, len(c.data))
	return proto.AppendData(nil, c.seq.wire(k), c.data[off:end])
}

func (c *wrqClient) sendWindow() {
	for c.next < c.base+uint64(c.window) && c.next <= c.last {
		c.sentData++
		c.n.clientSend(c.block(c.next))
		c.next++
	}
	c.gen++
	gen, tries := c.gen, 0
	var fire func()
	fire = func() {
		if gen != c.gen || c.done || tries >= 10 {
			return
		}
		tries++
		c.next = c.base
		for c.next < c.base+uint64(c.window) && c.next <= c.last {
			c.sentData++
			c.n.clientSend(c.block(c.next))
			c.next++
		}
		c.n.after(c.timeout, fire)
	}
	c.n.after(c.timeout, fire)
}

func (c *wrqClient) handle(pkt []byte) {
	if c.mute {
		return
	}
	op, _ := proto.PeekOpcode(pkt)
	switch op {
	case proto.OpOACK:
		if c.started {
			return
		}
		c.oack, _ = proto.ParseOACK(pkt)
		c.started = true
		c.sendWindow()
	case proto.OpACK:
		n, _ := proto.ParseAck(pkt)
		k, ok := c.seq.abs(n, c.base-1, c.next-1)
		if !ok {
			return
		}
		c.started = true
		if k == c.last {
			c.done = true
			return
		}
		if k+1 > c.base || (k == 0 && c.next == 1) {
			c.base, c.next = k+1, k+1
			c.sendWindow()
		}
	case proto.OpERROR:
		e, _ := proto.ParseError(pkt)
		c.errs = append(c.errs, e)
		c.done = true
	}
}
