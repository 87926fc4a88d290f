package transfer

// The measurement behind MinRTO and InitialRTO (docs/protocol.md): how long
// real clients take to acknowledge, from the fixed-timer engine's point of
// view, on loopback or across a veth link between two namespaces. It is not
// a test (timings are never asserted): run it by hand,
//
//	FBTFTP_MEASURE=lo   go test -run TestMeasureACKLatency -v ./internal/transfer
//	FBTFTP_MEASURE=veth go test -run TestMeasureACKLatency -v ./internal/transfer
//
// as root, with busybox, tftp-hpa and atftp installed.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/lossnet"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// recConn records, for each DATA sent once, the time to its ACK, and the
// time from the OACK to ACK 0.
type recConn struct {
	c        *net.UDPConn
	lastSend map[uint16]time.Time
	dup      map[uint16]bool
	lat      []time.Duration
	first    time.Duration
	oackAt   time.Time
}

func (r *recConn) ReadPacket(b []byte, deadline time.Time) (int, netip.AddrPort, error) {
	r.c.SetReadDeadline(deadline)
	n, from, err := r.c.ReadFromUDPAddrPort(b)
	if err == nil && n >= 4 {
		now := time.Now()
		op, _ := proto.PeekOpcode(b[:n])
		if op == proto.OpACK {
			blk := uint16(b[2])<<8 | uint16(b[3])
			if blk == 0 && !r.oackAt.IsZero() && r.first == 0 {
				r.first = now.Sub(r.oackAt)
			} else if at, ok := r.lastSend[blk]; ok && !r.dup[blk] {
				r.lat = append(r.lat, now.Sub(at))
				delete(r.lastSend, blk)
			}
		}
	}
	return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
}

func (r *recConn) WritePacket(b []byte, to netip.AddrPort) error {
	op, _ := proto.PeekOpcode(b)
	now := time.Now()
	if op == proto.OpOACK && r.oackAt.IsZero() {
		r.oackAt = now
	}
	if op == proto.OpDATA {
		blk := uint16(b[2])<<8 | uint16(b[3])
		if _, ok := r.lastSend[blk]; ok {
			r.dup[blk] = true
		}
		r.lastSend[blk] = now
	}
	_, err := r.c.WriteToUDPAddrPort(b, to)
	return err
}

// pct returns the p-th percentile of sorted xs.
func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(xs)-1))
	return xs[i]
}

func TestMeasureACKLatency(t *testing.T) {
	if os.Getenv("FBTFTP_MEASURE") == "" {
		t.Skip("a measurement, not a test: set FBTFTP_MEASURE=lo or veth")
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
	dir := t.TempDir()
	os.WriteFile(dir+"/f", data, 0o644)
	var ln *lossnet.Net
	host := "127.0.0.1"
	if os.Getenv("FBTFTP_MEASURE") == "veth" {
		var err error
		ln, err = lossnet.New(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		host = lossnet.ServerAddr.String()
	}
	clients := map[string]func(port int) []string{
		"busybox": func(p int) []string {
			return []string{"busybox", "tftp", "-g", "-b", "1468", "-r", "f", "-l", "/dev/null", host, fmt.Sprint(p)}
		},
		"tftp-hpa": func(p int) []string {
			return []string{"tftp", "-m", "octet", host, fmt.Sprint(p), "-c", "get", "f", "/dev/null"}
		},
		"atftp": func(p int) []string {
			return []string{"atftp", "--option", "blksize 1468", "--get", "-r", "f", "-l", "/dev/null", host, fmt.Sprint(p)}
		},
	}
	for _, name := range []string{"busybox", "tftp-hpa", "atftp"} {
		for rep := range 2 {
			var l *net.UDPConn
			listen := func() error {
				var err error
				l, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(host)})
				return err
			}
			if ln != nil {
				if err := ln.Do(ln.Server, listen); err != nil {
					t.Fatal(err)
				}
			} else if err := listen(); err != nil {
				t.Fatal(err)
			}
			port := l.LocalAddr().(*net.UDPAddr).Port
			argv := clients[name](port)
			var cmd *exec.Cmd
			if ln != nil {
				cmd = ln.Command(context.Background(), ln.Client, argv[0], argv[1:]...)
			} else {
				cmd = exec.Command(argv[0], argv[1:]...)
			}
			cmd.Start()
			buf := make([]byte, 2000)
			l.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := l.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := proto.ParseRequest(buf[:n])
			var sess *net.UDPConn
			mk := func() error {
				var err error
				sess, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(host)})
				return err
			}
			if ln != nil {
				ln.Do(ln.Server, mk)
			} else {
				mk()
			}
			params := proto.Negotiate(proto.OpRRQ, req.Options, proto.Limits{MaxBlksize: 65464, MaxWindowsize: 64}, int64(len(data)))
			rc := &recConn{c: sess, lastSend: map[uint16]time.Time{}, dup: map[uint16]bool{}}
			var st stats.SessionStats
			tr := &Transfer{Conn: rc, Peer: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Params: params, Config: Config{Retransmit: RetransmitFixed}, Stats: &st}
			start := time.Now()
			err = tr.Send(context.Background(), bytes.NewReader(data))
			el := time.Since(start)
			cmd.Wait()
			l.Close()
			sess.Close()
			slices.Sort(rc.lat)
			t.Logf("%-8s rep%d err=%v %.0f MB/s n=%d first(OACK->ACK0)=%v p50=%v p99=%v p99.9=%v p99.99=%v max=%v >5ms=%d >10ms=%d >20ms=%d srtt=%v retx=%d",
				name, rep, err, float64(len(data))/1e6/el.Seconds(), len(rc.lat), rc.first, pct(rc.lat, 50), pct(rc.lat, 99), pct(rc.lat, 99.9), pct(rc.lat, 99.99), pct(rc.lat, 100),
				count(rc.lat, 5*time.Millisecond), count(rc.lat, 10*time.Millisecond), count(rc.lat, 20*time.Millisecond), st.RTT, st.Retransmits)
		}
	}
}

// count returns how many of xs exceed over.
func count(xs []time.Duration, over time.Duration) int {
	n := 0
	for _, x := range xs {
		if x > over {
			n++
		}
	}
	return n
}
