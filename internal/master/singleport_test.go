package master_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

func singlePort(c *master.Config) { c.SinglePort = true }

// TestSinglePortDownloads: every reply comes from the listening address
// and port; sessions from one client address on several ports run at once.
func TestSinglePortDownloads(t *testing.T) {
	e := start(t, singlePort)
	want, _ := os.ReadFile(filepath.Join(e.root, "big"))
	var wg sync.WaitGroup
	opts := []client.Options{{}, {Blksize: 1468, Tsize: true}, {Windowsize: 16, Blksize: 8192}, {Blksize: 1024}}
	for _, o := range opts {
		wg.Go(func() {
			got, res, err := get(t, e.addr, "big", o)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%+v: %v (got %d bytes, want %d)", o, err, len(got), len(want))
			}
			if res.Peer != e.addr {
				t.Errorf("%+v: replies from %v, want the listener %v", o, res.Peer, e.addr)
			}
		})
	}
	wg.Wait()
	waitFor(t, "stats", func() bool { return len(e.stats()) == len(opts) })
	for _, s := range e.stats() {
		if s.Outcome != stats.OutcomeSuccess || s.Local != e.addr {
			t.Errorf("stats %+v", s)
		}
	}
	if n := e.m.Counters().Violations[master.ViolationSessionSocket]; n != 0 {
		t.Errorf("%d session socket violations", n)
	}
}

// TestSinglePortProbeSamePort: UEFI firmware ends its size probe with
// ERROR 8 and sends its download's RRQ from the same port at once. In
// single-port mode that RRQ reaches the probe's session socket, not the
// listener; the master hands it on once the probe is over. The client here
// never retransmits: a lost RRQ fails the test.
func TestSinglePortProbeSamePort(t *testing.T) {
	e := start(t, singlePort)
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendRequest(proto.OpRRQ, "big", "octet", []proto.Option{{Name: "tsize", Value: "0"}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.RecvPacket(5 * time.Second)
	if err != nil || p.Op != proto.OpOACK || p.From != e.addr {
		t.Fatalf("probe answer %+v, %v; want an OACK from %v", p, err, e.addr)
	}
	if err := s.SendError(e.addr, proto.ErrOptionRefused, "probe"); err != nil {
		t.Fatal(err)
	}
	if err := s.SendRequest(proto.OpRRQ, "big", "octet", nil); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(e.root, "big"))
	var got []byte
	for block := uint16(1); ; block++ {
		p, err := s.RecvPacket(10 * time.Second)
		if err != nil {
			t.Fatalf("block %d: %v (the RRQ sent after the probe was lost)", block, err)
		}
		if p.Op != proto.OpDATA || p.Block != block || p.From != e.addr {
			t.Fatalf("got %v block %d from %v; want DATA %d from %v", p.Op, p.Block, p.From, block, e.addr)
		}
		got = append(got, p.Payload...)
		if err := s.SendAck(e.addr, block); err != nil {
			t.Fatal(err)
		}
		if len(p.Payload) < 512 {
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("downloaded %d bytes, want %d", len(got), len(want))
	}
	waitFor(t, "two sessions", func() bool { return len(e.stats()) == 2 })
	if o := e.stats()[0].Outcome; o != stats.OutcomeProbe {
		t.Errorf("first session %s, want probe", o)
	}
}

// TestSinglePortRefusesPortRange: -R means nothing with every session on
// the listening port.
func TestSinglePortRefusesPortRange(t *testing.T) {
	ls, err := udp.Listen(udp.ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, udp.AnyFamily)
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	_, err = master.New(master.Config{Listeners: ls, WorkerPath: os.Args[0], SinglePort: true, Ports: udp.PortRange{Lo: 10000, Hi: 10100}})
	if err == nil {
		t.Fatal("New accepted a port range in single-port mode")
	}
}

// TestSinglePortMovedSocket: a worker that disconnects its session socket
// (which would take the listener's requests) is caught by the audit and
// killed; the listener serves again.
func TestSinglePortMovedSocket(t *testing.T) {
	e := start(t, singlePort)
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendRequest(proto.OpRRQ, "disconnect", "octet", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the violation", func() bool { return e.m.Counters().Violations[master.ViolationSessionSocket] == 1 })
	waitFor(t, "the worker's end", func() bool { return len(e.stats()) == 1 })
	if o := e.stats()[0].Outcome; o != stats.OutcomeWorkerCrash {
		t.Errorf("outcome %s, want worker_crash", o)
	}
	got, _, err := get(t, e.addr, "one", client.Options{})
	if err != nil || len(got) != 1 {
		t.Fatalf("download after the violation: %v", err)
	}
}

// disconnectUDPSockets connects every UDP socket of the process to
// AF_UNSPEC, as a hostile worker could.
func disconnectUDPSockets() {
	for fd := range 256 {
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil || typ != unix.SOCK_DGRAM {
			continue
		}
		if sa, err := unix.Getsockname(fd); err != nil {
			continue
		} else if _, ok := sa.(*unix.SockaddrUnix); ok {
			continue
		}
		var sa unix.RawSockaddrInet6 // sa_family 0: AF_UNSPEC
		unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	}
}
