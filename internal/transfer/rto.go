package transfer

import (
	"fmt"
	"time"
)

// Retransmit is the retransmission policy of a session.
type Retransmit uint8

// The retransmission policies.
const (
	// RetransmitAdaptive measures the round trip of each session and
	// retransmits after an RTO derived from it (RFC 6298 with Karn's
	// algorithm), as RFC 1123 §4.2.3.2 asks of TFTP. The configured or
	// negotiated timeout caps the first wait and sets the give-up time.
	RetransmitAdaptive Retransmit = iota
	// RetransmitFixed is in.tftpd's policy: wait the configured or
	// negotiated timeout, doubling it after each consecutive timeout.
	RetransmitFixed
)

// String returns "adaptive" or "fixed".
func (r Retransmit) String() string {
	switch r {
	case RetransmitAdaptive:
		return "adaptive"
	case RetransmitFixed:
		return "fixed"
	}
	return fmt.Sprintf("Retransmit(%d)", uint8(r))
}

// ParseRetransmit parses "adaptive" or "fixed".
func ParseRetransmit(s string) (Retransmit, error) {
	switch s {
	case "adaptive":
		return RetransmitAdaptive, nil
	case "fixed":
		return RetransmitFixed, nil
	}
	return 0, fmt.Errorf("retransmit policy %q: want adaptive or fixed", s)
}

// The adaptive policy's constants; docs/protocol.md gives the
// measurements behind them.
const (
	// MinRTO is the floor of the adaptive retransmit timeout. A LAN round
	// trip is well under a millisecond, so the floor, not the estimate,
	// sets the RTO there: it must stay above the scheduling delays of a
	// busy client or server (spurious retransmits) and far below the
	// 1 s that every lost packet costs with in.tftpd's fixed timer.
	MinRTO = 20 * time.Millisecond
	// InitialRTO is the wait before the first measurement (the OACK, or
	// DATA 1, or the WRQ's first ACK), capped by the session's timeout.
	// The first answer of a client includes its own start of the
	// transfer (opening the file, allocating buffers), and a duplicate
	// first packet is the one fragile firmware likes least.
	InitialRTO = 250 * time.Millisecond
	// RetryFloor is the least wait after a retransmission that went
	// unanswered (doubling after each further one). A client that
	// re-ACKs a duplicate DATA (RFC 1350 clients, tftp-hpa, atftp,
	// internal/client) answers the first retransmission at once, so a
	// second timeout means a second loss. busybox ignores duplicates
	// and answers on its own 100 ms timer, which each duplicate
	// restarts: when its ACK was lost, retransmitting faster than that
	// timer only delays its answer.
	RetryFloor = 150 * time.Millisecond
	// maxBackoffExp caps the doubling of the wait at 32 times.
	maxBackoffExp = 5
)

// rto computes the retransmit timeout of a session. With the fixed policy
// it is in.tftpd's timer: base, doubling per consecutive timeout, back to
// base on progress. The adaptive policy is RFC 6298's estimator fed with
// round-trip samples that Karn's rule keeps unambiguous (never from an
// answer that may be to a packet sent twice), a floor of MinRTO and a cap
// of base, exponential backoff per timeout kept until the next valid
// sample (Karn again: a round trip that grew past the RTO gets measured
// instead of retransmitted forever), and never a longer wait than the
// fixed timer at the same point: adaptive never retransmits later than
// in.tftpd would.
//
// Whatever the policy, a session gives up after budget without progress:
// with the default 5 retries that is 63 times base (1+2+4+8+16+32), when
// in.tftpd gives up.
type rto struct {
	fixed   bool
	base    time.Duration // the configured or negotiated timeout
	budget  time.Duration // give up after this long without progress
	srtt    time.Duration // smoothed round trip; 0 until the first sample
	rttvar  time.Duration
	cur     time.Duration // the RTO before backoff
	backoff int           // timeouts since the last valid sample (Karn)
	streak  int           // consecutive timeouts since the last progress
	samples uint64
}

func (r *rto) init(policy Retransmit, base time.Duration, retries int) {
	*r = rto{fixed: policy == RetransmitFixed, base: base}
	for i := range retries + 1 {
		r.budget += base << min(i, maxBackoffExp)
	}
	r.cur = base
	if !r.fixed {
		r.cur = min(base, InitialRTO)
	}
}

// wait is how long to wait for an answer to what was just sent.
func (r *rto) wait() time.Duration {
	fixed := r.base << min(r.streak, maxBackoffExp)
	if r.fixed {
		return fixed
	}
	// Back off from the current RTO, but never beyond what the fixed
	// timer would wait at this point: the adaptive policy never
	// retransmits later than in.tftpd would.
	w := r.cur << min(r.backoff, 16)
	if r.streak >= 1 {
		w = max(w, RetryFloor<<min(r.streak-1, 16))
	}
	return min(w, fixed)
}

// timedOut records a timeout: the next wait is twice as long (RFC 6298
// §5.5).
func (r *rto) timedOut() { r.backoff, r.streak = r.backoff+1, r.streak+1 }

// progress records an acknowledgement of new data that came without a
// valid sample. The fixed timer starts again from base; the adaptive
// backoff stays (Karn), under that cap.
func (r *rto) progress() { r.streak = 0 }

// sample records an acknowledgement of new data that came with a
// round-trip measurement of a packet sent once, and feeds the estimator
// (RFC 6298 §2.2 and §2.3, with alpha 1/8 and beta 1/4).
func (r *rto) sample(rtt time.Duration) {
	r.backoff, r.streak = 0, 0
	if rtt < 0 {
		return
	}
	r.samples++
	if r.samples == 1 {
		r.srtt, r.rttvar = rtt, rtt/2
	} else {
		d := r.srtt - rtt
		if d < 0 {
			d = -d
		}
		r.rttvar += (d - r.rttvar) / 4
		r.srtt += (rtt - r.srtt) / 8
	}
	if r.fixed {
		return
	}
	// RFC 6298 §2.4 puts a 1 s floor here for TCP; the floor for TFTP is
	// MinRTO. The session's timeout is the cap: the client asked to be
	// retransmitted to within that (RFC 2349), and -T says the same.
	r.cur = min(max(r.srtt+4*r.rttvar, MinRTO), r.base)
}

// smoothed returns the smoothed round-trip time, 0 when nothing was
// measured.
func (r *rto) smoothed() time.Duration { return r.srtt }
