package ipc

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// Settings bit flags (Settings.Flags). Other bits are invalid.
const (
	FlagPermissive      uint32 = 1 << iota // -p: skip the world-readable/-writable checks
	FlagCreate                             // -c: allow WRQ to create new files
	FlagReadOnly                           // refuse every WRQ
	FlagSecure                             // -s: the worker serves from a chroot
	FlagFixedRetransmit                    // --retransmit fixed: in.tftpd's timer instead of the adaptive one
)

// flagsKnown is the union of the defined flags.
const flagsKnown = FlagPermissive | FlagCreate | FlagReadOnly | FlagSecure | FlagFixedRetransmit

// LogFormat values accepted in Settings.LogFormat; the empty string means
// the worker's default.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
)

// Handoff is the master's request to a worker to serve one session. It
// travels with the session's UDP socket attached (SCM_RIGHTS). The layout is
// in the package documentation.
type Handoff struct {
	SessionID string         // unique per master run
	Op        proto.Opcode   // RRQ or WRQ
	Filename  string         // as requested
	RawMode   string         // the mode as the client spelled it
	Mode      proto.Mode     // the parsed mode
	Options   []proto.Option // in the client's order; nil when none
	Peer      netip.AddrPort // the client; required, unmapped
	Local     netip.AddrPort // the session socket's address; required, unmapped
	Received  time.Time      // when the master read the request (for handoff latency)
	Settings  Settings       // server configuration for this session
	// Reuse tells the worker that the master may hand it another session
	// after this one (fbtftp-master --sessions-per-worker): once done, it
	// sends Ready and waits for the next Handoff instead of exiting.
	Reuse bool
}

// Settings is the server configuration a worker needs to serve a session.
// Durations and sizes must not be negative.
type Settings struct {
	Timeout         time.Duration     // initial retransmit timeout (-T)
	Retries         int               // retransmissions before giving up
	MaxBlksize      int               // upper bound for blksize (-B)
	MaxWindowsize   int               // upper bound for windowsize
	Refuse          []string          // refused option names (-r), at most MaxRefuse
	SessionDeadline time.Duration     // maximum session wall time
	Flags           uint32            // FlagPermissive, FlagCreate, FlagReadOnly, FlagSecure, FlagFixedRetransmit
	Umask           uint32            // -U, at most 0777
	MaxUpload       int64             // maximum WRQ size in bytes
	Roots           []string          // root directories (after chroot: usually "/"), at most MaxRoots
	Verbosity       int               // log verbosity (-v count or --verbosity)
	LogFormat       string            // LogFormatJSON, LogFormatConsole or empty
	Extra           map[string]string // free-form settings for custom workers, at most MaxExtra non-empty keys
}

// AppendHandoff appends the encoding of h to b. It fails, leaving b as it
// was, if a field exceeds a bound or holds an invalid value, or if the
// message would exceed MaxMessageSize. IPv4-mapped addresses are unmapped.
func AppendHandoff(b []byte, h *Handoff) ([]byte, error) {
	w := writer{b: b, msg: "handoff"}
	start := len(b)
	w.byte1(msgHandoff)
	w.str("session_id", h.SessionID, MaxStringLen)
	w.op("op", h.Op)
	w.str("filename", h.Filename, MaxStringLen)
	w.str("raw_mode", h.RawMode, MaxStringLen)
	w.mode("mode", h.Mode)
	w.options("options", h.Options)
	w.addr("peer", h.Peer, true)
	w.addr("local", h.Local, true)
	w.time("received", h.Received)
	s := &h.Settings
	w.duration("timeout", s.Timeout)
	w.nonNeg("retries", s.Retries)
	w.nonNeg("max_blksize", s.MaxBlksize)
	w.nonNeg("max_windowsize", s.MaxWindowsize)
	w.strings("refuse", s.Refuse, MaxRefuse)
	w.duration("session_deadline", s.SessionDeadline)
	if s.Flags&^flagsKnown != 0 {
		w.fail("flags", fmt.Sprintf("unknown flags %#x", s.Flags&^flagsKnown))
	}
	w.uvarint(uint64(s.Flags))
	if s.Umask > 0o777 {
		w.fail("umask", fmt.Sprintf("%#o exceeds 0777", s.Umask))
	}
	w.uvarint(uint64(s.Umask))
	w.varint(s.MaxUpload)
	w.strings("roots", s.Roots, MaxRoots)
	w.int32v("verbosity", s.Verbosity)
	if !validLogFormat(s.LogFormat) {
		w.fail("log_format", fmt.Sprintf("%q is not json or console", s.LogFormat))
	}
	w.str("log_format", s.LogFormat, MaxStringLen)
	appendExtra(&w, s.Extra)
	reuse := byte(0)
	if h.Reuse {
		reuse = 1
	}
	w.byte1(reuse)
	return w.finish(start)
}

// appendExtra writes the map sorted by key, so equal maps encode equally.
func appendExtra(w *writer, m map[string]string) {
	w.count("extra", len(m), MaxExtra)
	if w.err != nil {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" {
			w.fail("extra", "empty key")
			return
		}
		w.str("extra", k, MaxStringLen)
		w.str("extra", m[k], MaxStringLen)
	}
}

func validLogFormat(s string) bool {
	return s == "" || s == LogFormatJSON || s == LogFormatConsole
}

// DecodeHandoff decodes a Handoff. Every error wraps ErrMalformed. Empty
// lists and maps decode as nil.
func DecodeHandoff(b []byte) (*Handoff, error) {
	r := reader{b: b, msg: "handoff"}
	r.start(msgHandoff)
	h := &Handoff{
		SessionID: r.str("session_id", MaxStringLen),
		Op:        r.op("op"),
		Filename:  r.str("filename", MaxStringLen),
		RawMode:   r.str("raw_mode", MaxStringLen),
		Mode:      r.mode("mode"),
		Options:   r.options("options"),
		Peer:      r.addr("peer", true),
		Local:     r.addr("local", true),
		Received:  r.time("received"),
	}
	s := &h.Settings
	s.Timeout = r.duration("timeout")
	s.Retries = r.nonNeg("retries")
	s.MaxBlksize = r.nonNeg("max_blksize")
	s.MaxWindowsize = r.nonNeg("max_windowsize")
	s.Refuse = r.strings("refuse", MaxRefuse)
	s.SessionDeadline = r.duration("session_deadline")
	s.Flags = uint32(r.bounded("flags", math.MaxUint32))
	if s.Flags&^flagsKnown != 0 {
		r.fail("flags", fmt.Sprintf("unknown flags %#x", s.Flags&^flagsKnown))
	}
	s.Umask = uint32(r.bounded("umask", 0o777))
	s.MaxUpload = r.varint("max_upload")
	s.Roots = r.strings("roots", MaxRoots)
	s.Verbosity = r.int32v("verbosity")
	s.LogFormat = r.str("log_format", MaxStringLen)
	if r.err == nil && !validLogFormat(s.LogFormat) {
		r.fail("log_format", fmt.Sprintf("%q is not json or console", s.LogFormat))
	}
	s.Extra = decodeExtra(&r)
	switch r.byte1("reuse") {
	case 0:
	case 1:
		h.Reuse = true
	default:
		r.fail("reuse", "not 0 or 1")
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return h, nil
}

// decodeExtra reads the map; keys must be non-empty and strictly ascending,
// which rejects duplicates and keeps the encoding canonical.
func decodeExtra(r *reader) map[string]string {
	n := int(r.bounded("extra", MaxExtra))
	if n == 0 || r.err != nil {
		return nil
	}
	m := make(map[string]string, n)
	prev := ""
	for i := range n {
		k := r.str("extra", MaxStringLen)
		v := r.str("extra", MaxStringLen)
		if r.err != nil {
			return nil
		}
		if k == "" || (i > 0 && k <= prev) {
			r.fail("extra", "keys empty, unsorted or duplicated")
			return nil
		}
		m[k] = v
		prev = k
	}
	return m
}
