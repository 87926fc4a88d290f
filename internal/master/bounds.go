package master

import (
	"strconv"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// maxPacketRate bounds the packets a session can send or receive per
// second: 4 Mi, several times what one UDP socket moves on loopback. It
// only has to make a lie obvious, never to cut an honest count.
const maxPacketRate = 1 << 22

// clockSlack is how far a worker's wall-clock start may lie outside the
// time the master saw the session run (a clock step between the two).
const clockSlack = time.Second

// boundStats makes a worker's Stats plausible before anything counts them.
// The worker is untrusted: identity fields (session, peer, addresses, file,
// op, mode, the options requested) are taken from the Handoff, and every
// other field is checked against what the master knows: the session ran
// from sent (the Handoff went out) to now, blksize and windowsize were
// negotiated from what the client asked for within the server's caps, a
// DATA packet carries at most one block, an upload at most
// Settings.MaxUpload bytes, an OACK only options the client asked for. A value out of bounds is clamped to the
// bound; the names of the fields corrected are returned.
func boundStats(st *stats.SessionStats, ho *ipc.Handoff, pid int, sent, now time.Time) []string {
	st.SessionID, st.Peer, st.Local, st.Filename, st.Op = ho.SessionID, ho.Peer, ho.Local, ho.Filename, ho.Op
	st.Mode, st.OptionsRequested, st.WorkerPID = ho.Mode, ho.Options, pid

	var fixed []string
	fix := func(field string) { fixed = append(fixed, field) }

	elapsed := max(now.Sub(sent), 0) // monotonic: both times are the master's
	if st.Duration < 0 || st.Duration > elapsed+time.Millisecond {
		st.Duration = elapsed
		fix("duration")
	}
	if w := sent.Round(0); st.Start.Before(w.Add(-clockSlack)) || st.Start.After(now.Round(0).Add(clockSlack)) {
		st.Start = w
		fix("start")
	}
	// Negotiation (RFC 2348, RFC 7440) never goes above what the client
	// asked for, nor above the server's caps; without the option the
	// defaults hold: 512-byte blocks, lockstep.
	maxBlk, maxWin := negotiable(ho)
	if st.Blksize != 0 && (st.Blksize < proto.MinBlksize || st.Blksize > maxBlk) {
		st.Blksize = min(max(st.Blksize, proto.MinBlksize), maxBlk)
		fix("blksize")
	}
	if st.Windowsize < 0 || st.Windowsize > maxWin {
		st.Windowsize = min(max(st.Windowsize, 0), maxWin)
		fix("windowsize")
	}
	if st.Tsize < -1 {
		st.Tsize = -1
		fix("tsize")
	}
	maxPackets := uint64(maxPacketRate * (elapsed + time.Second).Seconds())
	if st.PacketsSent > maxPackets {
		st.PacketsSent = maxPackets
		fix("packets_sent")
	}
	if st.PacketsReceived > maxPackets {
		st.PacketsReceived = maxPackets
		fix("packets_received")
	}
	if st.Retransmits > st.PacketsSent {
		st.Retransmits = st.PacketsSent
		fix("retransmits")
	}
	// A round trip the session measured fits in the session.
	if st.RTT < 0 || st.RTT > elapsed {
		st.RTT = min(max(st.RTT, 0), elapsed)
		fix("rtt")
	}
	if maxBytes := maxPayload(st.Op, st.Blksize, st.PacketsSent, st.PacketsReceived, ho.Settings.MaxUpload); st.Bytes > maxBytes {
		st.Bytes = maxBytes
		fix("bytes")
	}
	if acked, ok := ackedSubset(st.OptionsAcked, ho.Options); !ok {
		st.OptionsAcked = acked
		fix("options_acked")
	}
	return append(fixed, boundOrigin(&st.Origin, elapsed, 0)...)
}

// Bounds on a worker's origin work (stats.OriginStats), far above what a
// worker can do, so that only a lie hits them.
const (
	maxOriginRate  = 10_000  // HTTP requests per second
	maxEvictedSize = 1 << 50 // bytes in one report (1 PiB)
)

// boundOrigin clamps a worker's report of its origin work, in its Stats or
// in a later OriginStats message, to what a worker running for elapsed can
// have done: latencies within elapsed, requests at maxOriginRate, errors
// and cache fills at most one per request (earlier counts the requests of
// the worker's earlier report: a fill the session started may end after
// it), evictions at maxPacketRate. It returns the names of the fields
// corrected.
func boundOrigin(o *stats.OriginStats, elapsed time.Duration, earlier uint64) []string {
	var fixed []string
	clamp := func(field string, v *uint64, limit uint64) {
		if *v > limit {
			*v = limit
			fixed = append(fixed, field)
		}
	}
	window := elapsed + time.Second
	clamp("origin_requests", &o.Requests, uint64(maxOriginRate*window.Seconds()))
	for i, d := range o.Latencies {
		if d > elapsed+time.Millisecond {
			o.Latencies[i] = elapsed
			if len(fixed) == 0 || fixed[len(fixed)-1] != "origin_latencies" {
				fixed = append(fixed, "origin_latencies")
			}
		}
	}
	requests := o.Requests + earlier
	for i := range o.Errors {
		clamp("origin_errors", &o.Errors[i], requests)
	}
	clamp("origin_fills", &o.Fills, requests)
	clamp("origin_aborted_fills", &o.AbortedFills, requests)
	clamp("origin_evictions", &o.Evictions, uint64(maxPacketRate*window.Seconds()))
	limit := uint64(maxEvictedSize)
	if o.Evictions == 0 {
		limit = 0
	}
	clamp("origin_evicted_bytes", &o.EvictedBytes, limit)
	return fixed
}

// negotiable returns the largest blksize and windowsize a session of ho
// can have negotiated.
func negotiable(ho *ipc.Handoff) (blksize, windowsize int) {
	blksize, windowsize = 512, 1
	capBlk := proto.MaxBlksize
	if b := ho.Settings.MaxBlksize; b > 0 && b < capBlk {
		capBlk = max(b, proto.MinBlksize)
	}
	capWin := proto.DefaultMaxWindow
	if w := ho.Settings.MaxWindowsize; w > 0 {
		capWin = min(w, proto.MaxWindowsize)
	}
	for _, o := range ho.Options {
		v, err := strconv.Atoi(o.Value)
		if err != nil || v <= 0 {
			continue
		}
		switch {
		case strings.EqualFold(o.Name, proto.OptBlksize), strings.EqualFold(o.Name, proto.OptBlksize2):
			blksize = max(blksize, min(v, capBlk))
		case strings.EqualFold(o.Name, proto.OptWindowsize):
			windowsize = max(windowsize, min(v, capWin))
		}
	}
	return blksize, windowsize
}

// ackedSubset returns the acknowledged options that the client requested,
// each once (RFC 2347: the OACK holds only options the request named), and
// whether acked already was such a list.
func ackedSubset(acked, requested []proto.Option) ([]proto.Option, bool) {
	valid := func(i int) bool {
		o := acked[i]
		found := false
		for _, r := range requested {
			if strings.EqualFold(r.Name, o.Name) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
		for _, p := range acked[:i] {
			if strings.EqualFold(p.Name, o.Name) {
				return false
			}
		}
		return true
	}
	all := true
	for i := range acked {
		if !valid(i) {
			all = false
			break
		}
	}
	if all {
		return acked, true
	}
	var out []proto.Option
	for i := range acked {
		if valid(i) {
			out = append(out, acked[i])
		}
	}
	return out, false
}

// Progress report rate: an honest worker reports every 500 ms
// (transfer.DefaultProgressInterval); the master takes a sustained
// progressRate per second, in bursts of up to progressBurst (reports that
// queued while the master was busy arrive together).
const (
	progressRate  = 4
	progressBurst = 16
)

// boundProgress makes a worker's Progress report plausible before the
// master uses it, with the bounds of boundStats (the session has run for
// elapsed since the Handoff went out; blksize and windowsize as
// negotiable; payload at most one block per DATA packet, an upload at
// most Settings.MaxUpload; the RTT within the session's time), and never below the previous report prev: the
// counters only grow. It returns the names of the fields corrected.
func boundProgress(p, prev *stats.Progress, ho *ipc.Handoff, elapsed time.Duration) []string {
	var fixed []string
	clampU := func(field string, v *uint64, lo, hi uint64) {
		if *v < lo || *v > hi {
			*v = min(max(*v, lo), max(lo, hi))
			fixed = append(fixed, field)
		}
	}
	maxPackets := uint64(maxPacketRate * (max(elapsed, 0) + time.Second).Seconds())
	clampU("packets_sent", &p.PacketsSent, prev.PacketsSent, maxPackets)
	clampU("packets_received", &p.PacketsReceived, prev.PacketsReceived, maxPackets)
	clampU("retransmits", &p.Retransmits, prev.Retransmits, p.PacketsSent)
	maxBlk, maxWin := negotiable(ho)
	if p.Blksize != 0 && (p.Blksize < proto.MinBlksize || p.Blksize > maxBlk) {
		p.Blksize = min(max(p.Blksize, proto.MinBlksize), maxBlk)
		fixed = append(fixed, "blksize")
	}
	if p.Windowsize < 0 || p.Windowsize > maxWin {
		p.Windowsize = min(max(p.Windowsize, 0), maxWin)
		fixed = append(fixed, "windowsize")
	}
	if p.RTT < 0 || p.RTT > max(elapsed, 0) {
		p.RTT = min(max(p.RTT, 0), max(elapsed, 0))
		fixed = append(fixed, "rtt")
	}
	maxBytes := maxPayload(ho.Op, p.Blksize, p.PacketsSent, p.PacketsReceived, ho.Settings.MaxUpload)
	if ho.Op == proto.OpWRQ && ho.Settings.MaxUpload > 0 {
		if p.Size > ho.Settings.MaxUpload {
			p.Size = ho.Settings.MaxUpload
			fixed = append(fixed, "size")
		}
	}
	clampU("bytes", &p.Bytes, prev.Bytes, maxBytes)
	return fixed
}

// maxPayload is the most payload a session's packets can have moved:
// payload travels in DATA packets of at most one block (blksize; the
// largest when unknown), sent for a download and received for an upload,
// and an upload is cut at maxUpload (> 0).
func maxPayload(op proto.Opcode, blksize int, sent, received uint64, maxUpload int64) uint64 {
	blk := uint64(proto.MaxBlksize)
	if blksize > 0 {
		blk = uint64(blksize)
	}
	data := sent
	if op == proto.OpWRQ {
		data = received
	}
	n := data * blk
	if op == proto.OpWRQ && maxUpload > 0 {
		n = min(n, uint64(maxUpload))
	}
	return n
}
