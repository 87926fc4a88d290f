package proto

import (
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Option names understood by Negotiate.
const (
	OptBlksize    = "blksize"    // RFC 2348
	OptBlksize2   = "blksize2"   // tftpd-hpa: largest power of two <= value
	OptTsize      = "tsize"      // RFC 2349
	OptTimeout    = "timeout"    // RFC 2349, seconds
	OptUtimeout   = "utimeout"   // tftpd-hpa, microseconds
	OptWindowsize = "windowsize" // RFC 7440
	OptRollover   = "rollover"   // tftpd-hpa: block number after 65535
)

// KnownOptions lists the option names Negotiate can acknowledge, in a fixed
// order (for documentation, flag validation and metrics label sets).
var KnownOptions = []string{OptBlksize, OptBlksize2, OptTsize, OptTimeout, OptUtimeout, OptWindowsize, OptRollover}

// IsKnownOption reports whether name (any case) is one of KnownOptions.
func IsKnownOption(name string) bool {
	for _, k := range KnownOptions {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// Protocol bounds on option values.
const (
	MinBlksize       = 8     // RFC 2348
	MaxBlksize       = 65464 // RFC 2348
	MinTimeout       = 1     // RFC 2349, seconds
	MaxTimeout       = 255   // RFC 2349, seconds
	MinUtimeout      = 10000 // tftpd-hpa, µs
	MaxUtimeout      = 255000000
	MinWindowsize    = 1     // RFC 7440
	MaxWindowsize    = 65535 // RFC 7440
	DefaultMaxWindow = 64    // server cap when Limits.MaxWindowsize is 0
)

// Limits is the server's side of option negotiation. The zero value allows
// every option at its protocol maximum except windowsize, capped at
// DefaultMaxWindow.
type Limits struct {
	// MaxBlksize caps blksize and blksize2 (in.tftpd -B); 0 means 65464.
	MaxBlksize int
	// MaxWindowsize caps windowsize; 0 means DefaultMaxWindow.
	MaxWindowsize int
	// Refuse names options never acknowledged (in.tftpd -r), any case.
	Refuse []string
}

func (l Limits) maxBlksize() int {
	if l.MaxBlksize <= 0 || l.MaxBlksize > MaxBlksize {
		return MaxBlksize
	}
	if l.MaxBlksize < MinBlksize {
		return MinBlksize
	}
	return l.MaxBlksize
}

func (l Limits) maxWindow() int {
	if l.MaxWindowsize <= 0 {
		return DefaultMaxWindow
	}
	if l.MaxWindowsize > MaxWindowsize {
		return MaxWindowsize
	}
	return l.MaxWindowsize
}

func (l Limits) refused(name string) bool {
	for _, r := range l.Refuse {
		if strings.EqualFold(r, name) {
			return true
		}
	}
	return false
}

// Params are the transfer parameters that result from negotiation.
type Params struct {
	Blksize    int           // bytes per DATA block; 512 unless negotiated
	Windowsize int           // blocks per window; 1 (lockstep) unless negotiated
	Timeout    time.Duration // client-requested retransmit timeout; 0 = server default
	Tsize      int64         // acknowledged transfer size; -1 when not acknowledged
	Rollover   int           // block number after 65535: 0 (default) or 1
	// Acked holds the OACK contents in the client's order, with the
	// client's spelling of each name. Empty means: send no OACK.
	Acked []Option
}

// DefaultParams are the RFC 1350 parameters used when nothing is negotiated.
func DefaultParams() Params {
	return Params{Blksize: DefaultBlksize, Windowsize: 1, Tsize: -1}
}

// parseUint parses a plain decimal number: digits only, no sign, no space,
// at most 20 digits, no overflow. Anything else is malformed.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// Negotiate computes the parameters of a transfer from the options a client
// requested, the server's limits and the content size. It is a pure function.
//
// size is the number of bytes the client will receive on an RRQ (already
// converted for netascii), or -1 when unknown; it is ignored for a WRQ.
//
// Policy per option (a value that is malformed or out of range is never
// acknowledged and the default stays in force; the transfer goes on):
//   - blksize (RFC 2348): 8 or more; values above the server maximum
//     (Limits.MaxBlksize, at most 65464) are clamped to it, as tftpd-hpa does.
//   - blksize2 (tftpd-hpa): as blksize, then rounded down to a power of two.
//   - tsize (RFC 2349): RRQ: the real size, only when size > 0 (curl
//     rejects "tsize 0"; an empty file needs no size). WRQ: the client's
//     value, echoed.
//   - timeout (RFC 2349): 1..255 seconds. utimeout (tftpd-hpa): 10000..
//     255000000 µs. Both set the initial retransmit timeout; the later wins.
//   - windowsize (RFC 7440): 1..65535, clamped to Limits.MaxWindowsize.
//   - rollover (tftpd-hpa): "0" or "1".
//
// Unknown options, options named in Limits.Refuse and repeats of an option
// already seen are ignored. Acked keeps the client's order and spelling.
func Negotiate(op Opcode, req []Option, lim Limits, size int64) Params {
	p := DefaultParams()
	var seen [8]bool // indexed by position in KnownOptions
	for _, o := range req {
		idx := -1
		for i, k := range KnownOptions {
			if strings.EqualFold(k, o.Name) {
				idx = i
				break
			}
		}
		if idx < 0 || seen[idx] || lim.refused(o.Name) {
			continue
		}
		seen[idx] = true
		v, ok := parseUint(o.Value)
		if !ok {
			continue
		}
		var ack uint64
		switch KnownOptions[idx] {
		case OptBlksize, OptBlksize2:
			if v < MinBlksize {
				continue
			}
			ack = min(v, uint64(lim.maxBlksize()))
			if KnownOptions[idx] == OptBlksize2 {
				ack = uint64(1) << (63 - bits.LeadingZeros64(ack))
			}
			p.Blksize = int(ack)
		case OptTsize:
			if op == OpRRQ {
				// An empty file's tsize is not acknowledged: curl rejects
				// "tsize 0" in an OACK as invalid, and every client
				// downloads an empty file at once anyway.
				if size <= 0 {
					continue
				}
				ack = uint64(size)
			} else {
				if v > 1<<62 {
					continue
				}
				ack = v
			}
			p.Tsize = int64(ack)
		case OptTimeout:
			if v < MinTimeout || v > MaxTimeout {
				continue
			}
			ack = v
			p.Timeout = time.Duration(v) * time.Second
		case OptUtimeout:
			if v < MinUtimeout || v > MaxUtimeout {
				continue
			}
			ack = v
			p.Timeout = time.Duration(v) * time.Microsecond
		case OptWindowsize:
			if v < MinWindowsize || v > MaxWindowsize {
				continue
			}
			ack = min(v, uint64(lim.maxWindow()))
			p.Windowsize = int(ack)
		case OptRollover:
			if v > 1 {
				continue
			}
			ack = v
			p.Rollover = int(v)
		}
		p.Acked = append(p.Acked, Option{Name: o.Name, Value: strconv.FormatUint(ack, 10)})
	}
	return p
}
