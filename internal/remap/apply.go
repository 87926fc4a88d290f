package remap

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// The ERROR messages (code 2, access violation) tftpd-hpa sends when the
// rules refuse a request.
const (
	// MsgAccessDenied is sent for an "a" rule without a message: tftpd-hpa's
	// text for error code 2.
	MsgAccessDenied = "Access denied"

	// MsgTableFailure is sent when rule processing does not terminate
	// (MaxSteps, or this package's other limits).
	MsgTableFailure = "Remap table failure"
)

const (
	// maxWork bounds the regular-expression searches of one Apply: each
	// costs the length of the string searched times the size of the
	// expression's compiled program (Go's matcher does at most that many
	// steps per byte), plus searchCost for its fixed overhead.
	maxWork    = 64 << 20
	searchCost = 4096

	// maxTrace bounds Result.Trace; a "g" rule logs every replacement.
	maxTrace = 100
)

// Request is what Apply needs to know about a request.
type Request struct {
	Filename string     // the filename as the client sent it
	Write    bool       // true for a WRQ (put), false for an RRQ (get)
	Client   netip.Addr // the client's address, for \i, \x and the 4 and 6 filters
}

// Result is the outcome of Apply.
type Result struct {
	// Filename is the remapped filename (unchanged if no rule rewrote it).
	// Rules can make it empty; tftpd-hpa then fails to open "" and answers
	// "File not found". It is empty when Abort is set.
	Filename string

	// Abort means the request must be refused with ERROR code 2 (access
	// violation) and Message.
	Abort bool

	// Message is the exact ERROR text tftpd-hpa sends when Abort is set:
	// the expanded message of the "a" rule (which may be empty),
	// MsgAccessDenied, or MsgTableFailure.
	Message string

	// Trace holds the lines tftpd-hpa logs at verbosity 3 (-vvv) while it
	// remaps, such as "remap: rule 2: rewrite: /tftpboot/pxelinux.0"; see the
	// package documentation. It is nil when there are no rules.
	Trace []string
}

// Apply runs the rules on a request's filename (remap.c rewrite_string). A
// nil or empty Rules returns the filename unchanged, without a trace. Apply
// never loops forever and bounds its memory and CPU time: see the Limits
// section of the package documentation.
func (r *Rules) Apply(req Request) Result {
	in := req.Filename
	if i := strings.IndexByte(in, 0); i >= 0 {
		in = in[:i] // tftpd-hpa sees a C string
	}
	if r.Len() == 0 {
		return Result{Filename: in}
	}
	a := applier{client: req.Client.Unmap()}
	a.tracef("remap: input: %s", in)
	if len(in) > MaxFilenameLen {
		a.lastf("remap: filename longer than %d bytes", MaxFilenameLen)
		return a.fail()
	}
	is4, is6 := a.client.Is4(), a.client.Is6()
	cur := in
	steps := MaxSteps
	for i := 0; i < len(r.rules); i++ {
		ru := &r.rules[i]
		switch {
		case ru.mode == 'G' && req.Write, ru.mode == 'P' && !req.Write,
			ru.flags&flagIPv4 != 0 && !is4, ru.flags&flagIPv6 != 0 && !is6:
			continue // the rule does not apply to this request
		}
		if steps == 0 {
			a.lastf("remap: Breaking loop, input = %s, last = %s", in, cur)
			return a.fail()
		}
		steps--
		matched := false
		for {
			a.work += len(cur)*ru.re.insts + searchCost
			if a.work > maxWork {
				a.lastf("remap: Breaking loop, input = %s, last = %s", in, cur)
				return a.fail()
			}
			m := ru.re.match(cur)
			if (m != nil) == (ru.flags&flagInverse != 0) {
				break
			}
			matched = true
			if ru.flags&flagAbort != 0 {
				a.lastf("remap: rule %d: abort: %s", ru.num, cur)
				res := Result{Abort: true, Message: MsgAccessDenied, Trace: a.trace}
				if ru.pattern != "" {
					// tftpd-hpa 5.2 keeps the text around the match (so
					// "a \.pvt$ denied" on "x.pvt" sends "xdenied"). A
					// message over MaxFilenameLen is cut there.
					res.Message, _ = a.expand(ru.pattern, cur, m)
				}
				return res
			}
			if ru.flags&flagRewrite != 0 {
				s, ok := a.expand(ru.pattern, cur, m)
				if !ok {
					a.lastf("remap: rule %d: result longer than %d bytes", ru.num, MaxFilenameLen)
					return a.fail()
				}
				cur = s
				a.tracef("remap: rule %d: rewrite: %s", ru.num, cur)
			}
			if ru.flags&flagGlobal == 0 {
				break
			}
		}
		if !matched {
			continue
		}
		if ru.flags&flagExit != 0 {
			a.lastf("remap: rule %d: exit", ru.num)
			return Result{Filename: cur, Trace: a.trace}
		}
		if ru.flags&flagRestart != 0 {
			a.tracef("remap: rule %d: restart", ru.num)
			// tftpd-hpa 5.2 sets its rule pointer to the first rule and
			// then steps to the next one, so processing resumes at the
			// second rule: the first rule is skipped after a restart.
			i = 0
		}
	}
	a.lastf("remap: done")
	return Result{Filename: cur, Trace: a.trace}
}

// applier is the state of one Apply.
type applier struct {
	client netip.Addr
	work   int
	trace  []string
	buf    []byte
}

// tracef adds a line to the trace, up to maxTrace lines.
func (a *applier) tracef(format string, args ...any) {
	switch {
	case len(a.trace) < maxTrace:
		a.trace = append(a.trace, fmt.Sprintf(format, args...))
	case len(a.trace) == maxTrace:
		a.trace = append(a.trace, "remap: trace truncated")
	}
}

// lastf adds the final line of the trace, even past maxTrace.
func (a *applier) lastf(format string, args ...any) {
	a.trace = append(a.trace, fmt.Sprintf(format, args...))
}

func (a *applier) fail() Result {
	return Result{Abort: true, Message: MsgTableFailure, Trace: a.trace}
}

// Case conversions of \U and \L.
const (
	caseNone = iota
	caseUpper
	caseLower
)

func xform(c byte, mode int) byte {
	switch mode {
	case caseUpper:
		return toUpper(c)
	case caseLower:
		return toLower(c)
	}
	return c
}

// expand builds the result of a rule (remap.c genmatchstring): the text of
// subj before the match, pattern with its escapes expanded, and the text
// after the match. m is nil for an inverted rule, which has no match: then
// the result is the expanded pattern alone and \0-\9 are empty. If the
// result would be longer than MaxFilenameLen, expand returns its first
// MaxFilenameLen bytes and ok false.
func (a *applier) expand(pattern, subj string, m []int) (s string, ok bool) {
	b := a.buf[:0]
	if m != nil {
		b = append(b, subj[:m[0]]...)
	}
	mode := caseNone
	for k := 0; k < len(pattern); {
		c := pattern[k]
		if c != '\\' || k+1 == len(pattern) {
			// A backslash at the very end is an ordinary character.
			b = append(b, xform(c, mode))
			k++
			continue
		}
		e := pattern[k+1]
		k += 2
		switch e {
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if n := int(e-'0') * 2; m != nil && m[n] >= 0 {
				b = appendXform(b, subj[m[n]:m[n+1]], mode)
			}
		case 'U':
			mode = caseUpper
		case 'L':
			mode = caseLower
		case 'E':
			mode = caseNone
		case 'i':
			b = appendXform(b, ipText(a.client), mode)
		case 'x':
			b = appendXform(b, ipHex(a.client), mode)
		default:
			// Any other escaped character stands for itself: \\ \# \ .
			b = append(b, xform(e, mode))
		}
		if len(b) > MaxFilenameLen {
			break
		}
	}
	if m != nil && len(b) <= MaxFilenameLen {
		b = append(b, subj[m[1]:]...)
	}
	a.buf = b[:0]
	if len(b) > MaxFilenameLen {
		return string(b[:MaxFilenameLen]), false
	}
	return string(b), true
}

func appendXform(b []byte, s string, mode int) []byte {
	if mode == caseNone {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		b = append(b, xform(s[i], mode))
	}
	return b
}

// ipText is \i: the address as inet_ntop writes it, without a zone.
func ipText(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.WithZone("")
	if ip.Is6() {
		// inet_ntop writes an IPv4-compatible address (::/96 except ::
		// and ::x) with a dotted quad.
		b := ip.As16()
		if [12]byte(b[:12]) == [12]byte{} && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte(b[12:])).String()
		}
	}
	return ip.String()
}

// ipHex is \x: the address in upper-case hexadecimal, 8 digits for IPv4
// ("%08lX" of the address) and 32 for IPv6 (each byte "%02X").
func ipHex(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(ip.AsSlice()))
}
