package ipc

import (
	"fmt"
	"math"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// AppendStats appends the encoding of s, a Stats message, to b. It fails,
// leaving b as it was, if a field exceeds a bound or holds an invalid value
// (Op must be RRQ or WRQ, Outcome must be valid), or if the message would
// exceed MaxMessageSize. IPv4-mapped addresses are unmapped.
func AppendStats(b []byte, s *stats.SessionStats) ([]byte, error) {
	w := writer{b: b, msg: "stats"}
	start := len(b)
	w.byte1(msgStats)
	w.str("session_id", s.SessionID, MaxStringLen)
	w.addr("peer", s.Peer, false)
	w.addr("local", s.Local, false)
	w.str("filename", s.Filename, MaxStringLen)
	w.op("op", s.Op)
	w.mode("mode", s.Mode)
	w.nonNeg("worker_pid", s.WorkerPID)
	w.options("options_requested", s.OptionsRequested)
	w.options("options_acked", s.OptionsAcked)
	w.nonNeg("blksize", s.Blksize)
	w.nonNeg("windowsize", s.Windowsize)
	w.varint(s.Tsize)
	w.uvarint(s.PacketsSent)
	w.uvarint(s.PacketsReceived)
	w.uvarint(s.Bytes)
	w.uvarint(s.Retransmits)
	if !s.Outcome.Valid() {
		w.fail("outcome", fmt.Sprintf("unknown outcome %q", s.Outcome))
	}
	w.str("outcome", string(s.Outcome), MaxStringLen)
	if !s.Source.Valid() {
		w.fail("source", fmt.Sprintf("unknown source %q", s.Source))
	}
	w.str("source", string(s.Source), MaxStringLen)
	w.uvarint(uint64(s.ErrorCode))
	w.str("error_message", s.ErrorMessage, MaxStringLen)
	w.time("start", s.Start)
	w.duration("duration", s.Duration)
	w.origin(&s.Origin)
	w.duration("rtt", s.RTT)
	return w.finish(start)
}

// DecodeStats decodes a Stats message. The master calls it on what a worker
// sent, so it trusts nothing: every error wraps ErrMalformed. Empty option
// lists decode as nil.
func DecodeStats(b []byte) (*stats.SessionStats, error) {
	r := reader{b: b, msg: "stats"}
	r.start(msgStats)
	s := &stats.SessionStats{
		SessionID:        r.str("session_id", MaxStringLen),
		Peer:             r.addr("peer", false),
		Local:            r.addr("local", false),
		Filename:         r.str("filename", MaxStringLen),
		Op:               r.op("op"),
		Mode:             r.mode("mode"),
		WorkerPID:        r.nonNeg("worker_pid"),
		OptionsRequested: r.options("options_requested"),
		OptionsAcked:     r.options("options_acked"),
		Blksize:          r.nonNeg("blksize"),
		Windowsize:       r.nonNeg("windowsize"),
		Tsize:            r.varint("tsize"),
		PacketsSent:      r.uvarint("packets_sent"),
		PacketsReceived:  r.uvarint("packets_received"),
		Bytes:            r.uvarint("bytes"),
		Retransmits:      r.uvarint("retransmits"),
		Outcome:          stats.Outcome(r.str("outcome", MaxStringLen)),
	}
	if r.err == nil && !s.Outcome.Valid() {
		r.fail("outcome", fmt.Sprintf("unknown outcome %q", s.Outcome))
	}
	s.Source = stats.Source(r.str("source", MaxStringLen))
	if r.err == nil && !s.Source.Valid() {
		r.fail("source", fmt.Sprintf("unknown source %q", s.Source))
	}
	s.ErrorCode = proto.ErrorCode(r.bounded("error_code", math.MaxUint16))
	s.ErrorMessage = r.str("error_message", MaxStringLen)
	s.Start = r.time("start")
	s.Duration = r.duration("duration")
	s.Origin = r.origin()
	s.RTT = r.duration("rtt")
	if err := r.done(); err != nil {
		return nil, err
	}
	return s, nil
}
