package transfer

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// The retransmission policy, proved on the simulated network: every time
// below is virtual (sim_test.go), nothing depends on the machine's speed.

func TestRTOEstimator(t *testing.T) {
	ms := time.Millisecond
	t.Run("fixed is in.tftpd's timer", func(t *testing.T) {
		var r rto
		r.init(RetransmitFixed, time.Second, 5)
		if r.budget != 63*time.Second {
			t.Fatalf("budget %v, want 63s", r.budget)
		}
		var got []time.Duration
		for range 7 {
			got = append(got, r.wait())
			r.timedOut()
		}
		want := []time.Duration{1, 2, 4, 8, 16, 32, 32}
		for i := range want {
			if got[i] != want[i]*time.Second {
				t.Fatalf("waits %v", got)
			}
		}
		r.sample(time.Millisecond) // measured, never used
		if r.wait() != time.Second || r.smoothed() != time.Millisecond {
			t.Fatalf("wait %v srtt %v", r.wait(), r.smoothed())
		}
	})
	t.Run("adaptive starts at InitialRTO capped by the timeout", func(t *testing.T) {
		var r rto
		r.init(RetransmitAdaptive, time.Second, 5)
		if r.wait() != InitialRTO {
			t.Fatalf("wait %v", r.wait())
		}
		r.init(RetransmitAdaptive, 100*ms, 5)
		if r.wait() != 100*ms || r.budget != 6300*ms {
			t.Fatalf("wait %v budget %v", r.wait(), r.budget)
		}
	})
	t.Run("RFC 6298 estimator with the MinRTO floor", func(t *testing.T) {
		var r rto
		r.init(RetransmitAdaptive, time.Second, 5)
		r.sample(100 * ms) // first: srtt=R, rttvar=R/2, rto=srtt+4*rttvar
		if r.srtt != 100*ms || r.rttvar != 50*ms || r.wait() != 300*ms {
			t.Fatalf("srtt %v rttvar %v rto %v", r.srtt, r.rttvar, r.wait())
		}
		r.sample(20 * ms) // rttvar = 3/4*50 + 1/4*80 = 57.5; srtt = 7/8*100 + 1/8*20 = 90
		if r.srtt != 90*ms || r.rttvar != 57500*time.Microsecond || r.wait() != 320*ms {
			t.Fatalf("srtt %v rttvar %v rto %v", r.srtt, r.rttvar, r.wait())
		}
		for range 200 {
			r.sample(100 * time.Microsecond)
		}
		if r.wait() != MinRTO {
			t.Fatalf("a LAN round trip gives %v, want the floor %v", r.wait(), MinRTO)
		}
		for range 200 {
			r.sample(5 * time.Second)
		}
		if r.wait() != time.Second {
			t.Fatalf("a long round trip gives %v, want the 1s cap", r.wait())
		}
	})
	t.Run("backoff doubles, never beyond the fixed timer, and below it stays until a sample (Karn)", func(t *testing.T) {
		var r rto
		r.init(RetransmitAdaptive, time.Second, 5)
		r.sample(100 * time.Microsecond)
		var got []time.Duration
		for range 12 {
			got = append(got, r.wait())
			r.timedOut()
		}
		// After an unanswered retransmission, RetryFloor (150 ms) doubles.
		want := []time.Duration{20, 150, 300, 600, 1200, 2400, 4800, 9600, 19200, 32000, 32000, 32000}
		for i := range want {
			if got[i] != want[i]*ms {
				t.Fatalf("waits %v", got)
			}
		}
		r.progress() // an ACK of a retransmitted block: ambiguous
		if r.wait() != time.Second {
			t.Fatalf("after progress %v, want the fixed timer's 1s", r.wait())
		}
		r.sample(100 * time.Microsecond)
		if r.wait() != MinRTO {
			t.Fatalf("after a sample %v", r.wait())
		}
		// Below the fixed timer, the backoff outlives progress until a
		// valid sample (Karn).
		r.init(RetransmitAdaptive, 10*time.Second, 5)
		r.sample(100 * time.Microsecond)
		r.timedOut()
		r.timedOut()
		r.timedOut()
		r.progress()
		if r.wait() != 8*MinRTO {
			t.Fatalf("backoff dropped without a sample: %v", r.wait())
		}
		r.timedOut() // backoff 4 (320 ms) beats RetryFloor
		if r.wait() != 16*MinRTO {
			t.Fatalf("after a timeout %v", r.wait())
		}
		r.sample(100 * time.Microsecond)
		if r.wait() != MinRTO {
			t.Fatalf("after a sample %v", r.wait())
		}
	})
	t.Run("budget follows the retries", func(t *testing.T) {
		var r rto
		r.init(RetransmitAdaptive, 2*time.Second, 7)
		if r.budget != 2*(1+2+4+8+16+32+32+32)*time.Second {
			t.Fatalf("budget %v", r.budget)
		}
	})
	for _, s := range []string{"adaptive", "fixed"} {
		p, err := ParseRetransmit(s)
		if err != nil || p.String() != s {
			t.Errorf("%s: %v %v", s, p, err)
		}
	}
	if _, err := ParseRetransmit("Adaptive"); err == nil {
		t.Error("ParseRetransmit is exact")
	}
}

// dataSends returns the times at which the server sent DATA with this
// wire block number.
func dataSends(n *simNet, block uint16) []time.Time {
	var out []time.Time
	for _, s := range n.log {
		if s.op == proto.OpDATA && s.block == block {
			out = append(out, s.at)
		}
	}
	return out
}

func TestAdaptiveRecoversAtTheMeasuredPace(t *testing.T) {
	// One lost DATA and one lost ACK: the fixed policy waits 1 s for each,
	// the adaptive one the floor (the simulated round trip is 100 µs).
	const size = 512*40 + 100
	for _, tc := range []struct {
		name  string
		fault fault
		block uint16
	}{
		{"DATA 10 lost", nthFault(toClient, proto.OpDATA, drop, 0, 10), 10},
		{"ACK 10 lost", nthFault(toServer, proto.OpACK, drop, 0, 10), 10},
	} {
		for _, pc := range []struct {
			policy Retransmit
			wait   time.Duration
		}{{RetransmitFixed, time.Second}, {RetransmitAdaptive, MinRTO}} {
			t.Run(fmt.Sprintf("%s/%v", tc.name, pc.policy), func(t *testing.T) {
				r := runSend(t, sendCase{size: size, params: proto.Params{Tsize: -1}, fault: tc.fault, config: Config{Retransmit: pc.policy}})
				if r.err != nil || !bytes.Equal(r.c.got.Bytes(), r.src) {
					t.Fatalf("err %v", r.err)
				}
				sends := dataSends(r.n, tc.block)
				if len(sends) != 2 || r.st.Retransmits != 1 {
					t.Fatalf("block %d sent %d times, %d retransmits", tc.block, len(sends), r.st.Retransmits)
				}
				if got := sends[1].Sub(sends[0]); got != pc.wait {
					t.Errorf("resent after %v, want %v", got, pc.wait)
				}
				if pc.policy == RetransmitAdaptive && (r.st.RTT < 100*time.Microsecond || r.st.RTT > 200*time.Microsecond) {
					t.Errorf("smoothed RTT %v, want about the simulated 100µs", r.st.RTT)
				}
			})
		}
	}
}

func TestAdaptiveLostACKWithBusybox(t *testing.T) {
	// busybox ignores a duplicate DATA and restarts its 100 ms timer on
	// it: when its ACK 10 is lost, the server's retransmission of DATA 10
	// (after MinRTO) goes unanswered, and RetryFloor keeps the server
	// quiet long enough for busybox to re-ACK: about 20 + 100 ms, where
	// plain doubling (20, 40, 80, 160 ms) would take 240 ms.
	const size = 512*40 + 100
	r := runSend(t, sendCase{size: size, params: proto.Params{Tsize: -1}, fault: nthFault(toServer, proto.OpACK, drop, 0, 10),
		clientFn: func(c *rrqClient) { c.busybox, c.timeout = true, 100*time.Millisecond }})
	if r.err != nil || !bytes.Equal(r.c.got.Bytes(), r.src) {
		t.Fatalf("err %v", r.err)
	}
	sends10, sends11 := dataSends(r.n, 10), dataSends(r.n, 11)
	if len(sends10) != 2 || len(sends11) != 1 {
		t.Fatalf("DATA 10 sent %d times, DATA 11 %d", len(sends10), len(sends11))
	}
	if got := sends11[0].Sub(sends10[0]); got > MinRTO+110*time.Millisecond {
		t.Errorf("the lost ACK cost %v", got)
	}
}

func TestAdaptiveKarn(t *testing.T) {
	// ACK 38 (of 41) arrives 30 ms late, after the server resent DATA 38
	// (RTO 20 ms): that ACK is ambiguous and must not be taken as a 30 ms
	// (or 10 ms) sample, which the three samples left would not wash out.
	// The client (busybox-like) does not answer the duplicate DATA 38, so
	// the late ACK is the only one.
	const size = 512*40 + 100
	blocks := blocksFor(size, 512)
	r := runSend(t, sendCase{size: size, params: proto.Params{Tsize: -1}, fault: nthFault(toServer, proto.OpACK, delay, 30*time.Millisecond, 38),
		clientFn: func(c *rrqClient) { c.busybox, c.timeout = true, 100*time.Millisecond }})
	if r.err != nil || !bytes.Equal(r.c.got.Bytes(), r.src) {
		t.Fatalf("err %v", r.err)
	}
	if r.st.Retransmits != 1 || r.n.sent[proto.OpDATA] != blocks+1 {
		t.Fatalf("retransmits %d, DATA sent %d (want %d)", r.st.Retransmits, r.n.sent[proto.OpDATA], blocks+1)
	}
	if r.st.RTT > 200*time.Microsecond {
		t.Errorf("smoothed RTT %v: an ambiguous ACK was sampled", r.st.RTT)
	}
}

func TestAdaptiveBackoffAndGiveUp(t *testing.T) {
	// The client vanishes after block 5: the first wait is the floor (the
	// measured round trip is far below it), the next ones double from
	// RetryFloor, and the session gives up 63 s after its last progress,
	// as in.tftpd.
	r := runSend(t, sendCase{size: 100_000, params: proto.Params{Tsize: -1}, clientFn: func(c *rrqClient) { c.errAfter = 0 },
		fault: func(dir string, op proto.Opcode, nth int, _ []byte) (action, time.Duration) {
			if dir == toClient && op == proto.OpDATA && nth >= 6 {
				return drop, 0
			}
			return deliver, 0
		}})
	if r.st.Outcome != stats.OutcomeTimeout {
		t.Fatalf("outcome %q", r.st.Outcome)
	}
	sends := dataSends(r.n, 6)
	var gaps []time.Duration
	for i := 1; i < len(sends); i++ {
		gaps = append(gaps, sends[i].Sub(sends[i-1]))
	}
	want := []time.Duration{20, 150, 300, 600, 1200, 2400, 4800, 9600, 19200}
	if len(gaps) != len(want) {
		t.Fatalf("block 6 resent after %v", gaps)
	}
	for i := range want {
		if gaps[i] != want[i]*time.Millisecond {
			t.Fatalf("block 6 resent after %v", gaps)
		}
	}
	ack5 := sends[0] // DATA 6 went out when ACK 5 arrived
	if got := r.n.now.Sub(ack5); got != 63*time.Second {
		t.Errorf("gave up %v after the last progress, want 63s", got)
	}
}

func TestAdaptiveNegotiatedTimeoutCaps(t *testing.T) {
	// utimeout=10000 (10 ms) is below the floor: the client asked to be
	// retransmitted to within 10 ms and is (RFC 2349).
	r := runSend(t, sendCase{size: 5000, params: proto.Params{Tsize: -1, Timeout: 10 * time.Millisecond},
		fault: nthFault(toClient, proto.OpDATA, drop, 0, 4)})
	if r.err != nil {
		t.Fatal(r.err)
	}
	sends := dataSends(r.n, 4)
	if len(sends) != 2 || sends[1].Sub(sends[0]) != 10*time.Millisecond {
		t.Fatalf("block 4 sent at %v", sends)
	}
	// A long negotiated timeout does not slow the adaptive policy down.
	r = runSend(t, sendCase{size: 5000, params: proto.Params{Tsize: -1, Timeout: 30 * time.Second},
		fault: nthFault(toClient, proto.OpDATA, drop, 0, 4)})
	sends = dataSends(r.n, 4)
	if r.err != nil || len(sends) != 2 || sends[1].Sub(sends[0]) != MinRTO {
		t.Fatalf("err %v, block 4 sent at %v", r.err, sends)
	}
}

func TestAdaptiveWindowResendsFromFirstUnacked(t *testing.T) {
	// Window 8: the ACK of the second window (block 16) is lost. On the
	// timeout the server resends from block 9, the first unacknowledged,
	// the whole window and only it.
	const size = 512*40 + 100
	r := runSend(t, sendCase{size: size, params: proto.Params{Windowsize: 8, Tsize: -1}, fault: nthFault(toServer, proto.OpACK, drop, 0, 2)})
	if r.err != nil || !bytes.Equal(r.c.got.Bytes(), r.src) {
		t.Fatalf("err %v", r.err)
	}
	var seq []uint16
	for _, s := range r.n.log {
		if s.op == proto.OpDATA {
			seq = append(seq, s.block)
		}
	}
	want := []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 9, 10, 11, 12, 13, 14, 15, 16, 17}
	for i := range want {
		if i >= len(seq) || seq[i] != want[i] {
			t.Fatalf("DATA sent in the order %v, want %v...", seq, want)
		}
	}
	if r.st.Retransmits != 8 {
		t.Errorf("retransmits %d, want 8", r.st.Retransmits)
	}
	first, second := dataSends(r.n, 9), dataSends(r.n, 16)
	if got := first[1].Sub(second[0]); got != MinRTO {
		t.Errorf("window resent %v after it was sent, want %v", got, MinRTO)
	}
}

func TestAdaptiveLossCostsLittle(t *testing.T) {
	// 300 kB at 5% and 20% random loss (plus duplicates and reordering)
	// each way, lockstep and with windows: the adaptive policy takes a
	// small fraction of the fixed policy's (virtual) time (a tenth; a
	// quarter for windows at 20%, where most windows lose a block and
	// Karn's rule finds few clean samples), and in lockstep every lost
	// packet costs at most one retransmission.
	for _, tc := range []struct {
		rate   float64
		window int
		ratio  time.Duration
	}{{0.05, 1, 10}, {0.05, 8, 10}, {0.20, 1, 10}, {0.20, 8, 4}} {
		t.Run(fmt.Sprintf("loss%v/win%d", tc.rate, tc.window), func(t *testing.T) {
			var took [2]time.Duration
			for i, policy := range []Retransmit{RetransmitFixed, RetransmitAdaptive} {
				for seed := range uint64(4) {
					r := runSend(t, sendCase{size: 300_000, params: proto.Params{Blksize: 1468, Windowsize: tc.window, Tsize: -1},
						fault: lossy(seed, tc.rate), config: Config{Retransmit: policy}})
					if r.err != nil || !bytes.Equal(r.c.got.Bytes(), r.src) {
						t.Fatalf("%v seed %d: err %v", policy, seed, r.err)
					}
					lost := r.n.dropped[toClient] + r.n.dropped[toServer]
					if tc.window == 1 && r.st.Retransmits > uint64(lost) {
						t.Errorf("%v seed %d: %d retransmits for %d lost packets", policy, seed, r.st.Retransmits, lost)
					}
					// The simulated round trip is 100 µs, but the faults
					// delay packets by up to 5 ms.
					if policy == RetransmitAdaptive && (r.st.RTT <= 0 || r.st.RTT > 5*time.Millisecond) {
						t.Errorf("seed %d: smoothed RTT %v", seed, r.st.RTT)
					}
					took[i] += r.st.Duration
				}
			}
			if took[1]*tc.ratio > took[0] {
				t.Errorf("adaptive took %v, fixed %v: want at most 1/%d", took[1], took[0], tc.ratio)
			}
			t.Logf("virtual time: fixed %v, adaptive %v", took[0], took[1])
		})
	}
}

func TestWindowDuplicateACKLoop(t *testing.T) {
	// Window 8, DATA 16 lost: the server times out and resends 9..16; an
	// atftp-like client acknowledges the first duplicate (9) with ACK 15
	// while 16 is still on its way. Restarting the window on every such
	// ACK sent blocks already in flight again, as duplicates, for another
	// such ACK, up to the end of the file. The loss must cost about one
	// window of retransmissions.
	for _, batch := range []bool{false, true} {
		const size = 1468*200 + 9
		r := runSend(t, sendCase{size: size, params: proto.Params{Blksize: 1468, Windowsize: 8, Tsize: -1}, batch: batch,
			fault: nthFault(toClient, proto.OpDATA, drop, 0, 16), clientFn: func(c *rrqClient) { c.atftp = true }})
		if r.err != nil || !bytes.Equal(r.c.got.Bytes(), r.src) {
			t.Fatalf("err %v", r.err)
		}
		if r.st.Retransmits > 2*8 {
			t.Errorf("batch %v: %d retransmits for one lost DATA, window 8", batch, r.st.Retransmits)
		}
	}
}

func TestReceiveKeepsTheFixedTimer(t *testing.T) {
	// A lost DATA during an upload: an RFC 1350 sender ignores duplicate
	// ACKs, so only its own timer (1.5 s here) recovers; the server
	// re-ACKs once, at in.tftpd's 1 s, whatever the policy, and measures
	// the round trip for its stats.
	r := runRecv(t, recvCase{size: 512*20 + 7, fault: nthFault(toServer, proto.OpDATA, drop, 0, 5)})
	if r.err != nil || !bytes.Equal(r.got.Bytes(), r.src) {
		t.Fatalf("err %v", r.err)
	}
	var acks []time.Time
	for _, s := range r.n.log {
		if s.op == proto.OpACK && s.block == 4 {
			acks = append(acks, s.at)
		}
	}
	if len(acks) != 2 || acks[1].Sub(acks[0]) != time.Second {
		t.Fatalf("ACK 4 sent at %v", acks)
	}
	if r.st.RTT < 100*time.Microsecond || r.st.RTT > 200*time.Microsecond {
		t.Errorf("smoothed RTT %v", r.st.RTT)
	}
}
