package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// sessionLocals checks that every session line names local as the
// session's address: in single-port mode, the listening address and port.
func (s *server) sessionLocals(t *testing.T, n int, local netip.AddrPort) {
	t.Helper()
	for _, m := range s.waitSessions(n) {
		if got := fmt.Sprint(m["local"]); got != local.String() {
			t.Errorf("session %v from %v: local %s, want the listener %v", m["session_id"], m["peer"], got, local)
		}
	}
}

// TestSinglePortRealClients: curl, tftp-hpa, atftp and busybox download
// from a --single-port master over IPv4 and IPv6, each while another
// session of the same client address (another port) is open.
func TestSinglePortRealClients(t *testing.T) {
	root := worldReadableDir(t)
	files := map[string]int{"one": 1, "odd": 300_007, "hold": 200_000}
	writeFiles(t, root, files)
	hosts := []string{"127.0.0.1:0"}
	if testenv.HaveIPv6Loopback() {
		hosts = append(hosts, "[::1]:0")
	}
	for _, h := range hosts {
		t.Run(h, func(t *testing.T) {
			s := startServer(t, root, h, "--prefork", "2", "--single-port")
			sessions := 0
			for _, c := range testenv.Clients() {
				// A session of the same address held open at block 1 by the
				// project's client, on another port.
				hold, err := client.NewSession(s.addr, netip.AddrPortFrom(s.addr.Addr(), 0))
				if err != nil {
					t.Fatal(err)
				}
				if err := hold.SendRequest(proto.OpRRQ, "hold", "octet", nil); err != nil {
					t.Fatal(err)
				}
				p, err := hold.RecvPacket(10 * time.Second)
				if err != nil || p.Op != proto.OpDATA || p.Block != 1 || p.From != s.addr {
					t.Fatalf("held session: %+v, %v; want DATA 1 from %v", p, err, s.addr)
				}
				for name := range map[string]bool{"one": true, "odd": true} {
					want, _ := os.ReadFile(filepath.Join(root, name))
					for _, d := range []testenv.Download{{}, {Blksize: 1468, Tsize: true}, {Blksize: 1468, Windowsize: 16}} {
						d.Host, d.File = s.addr, name
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						got, err := c.Download(ctx, t, d)
						cancel()
						if errors.Is(err, testenv.ErrUnsupported) {
							continue
						}
						sessions++
						if err != nil || !bytes.Equal(got, want) {
							t.Errorf("%s %s %+v: %v (%d bytes, want %d)", c.Name, name, d, err, len(got), len(want))
						}
					}
				}
				// The held session is still there, on its own port.
				if err := hold.SendAck(s.addr, 1); err != nil {
					t.Fatal(err)
				}
				// DATA 1 again first, maybe: the server's retransmissions
				// queued while the other clients ran.
				p, err = hold.RecvPacket(10 * time.Second)
				for i := 0; i < 100 && err == nil && p.Op == proto.OpDATA && p.Block == 1; i++ {
					p, err = hold.RecvPacket(10 * time.Second)
				}
				if err != nil || p.Op != proto.OpDATA || p.Block != 2 || p.From != s.addr {
					t.Errorf("held session after %s: %v %d from %v, %v; want DATA 2 from %v", c.Name, p.Op, p.Block, p.From, err, s.addr)
				}
				hold.SendError(s.addr, proto.ErrUndefined, "done")
				hold.Close()
				sessions++
			}
			s.sessionLocals(t, sessions, s.addr)
		})
	}
}

// TestSinglePortThroughNAT: a client behind nftables masquerade (its own
// namespace, a router namespace, the server's namespace) downloads from a
// --single-port master with every real client. Without single-port mode
// the first DATA comes from a new port, which the router's conntrack has no
// flow for: it is dropped and the client times out, unless the router
// attaches the kernel's TFTP helper, which expects that reply.
func TestSinglePortThroughNAT(t *testing.T) {
	n := testenv.NewNAT(t)
	root := worldReadableDir(t)
	files := map[string]int{"kernel": 500_003}
	writeFiles(t, root, files)
	want, _ := os.ReadFile(filepath.Join(root, "kernel"))
	host := netip.AddrPortFrom(testenv.NATServerAddr, 69)
	startInServer := func(t *testing.T, args ...string) *server {
		argv := append([]string{"-L", "-a", host.String(), "-s", root, "--log-format", "json", "--drain-timeout", "2s",
			"--worker", filepath.Join(bin, "fbtftp-worker")}, args...)
		s := &server{proc: startProc(t, n.Command(n.Server, filepath.Join(bin, "fbtftp-master"), argv...)), addr: host, root: root}
		if _, ok := s.WaitLines("listening", 1, 15*time.Second); !ok {
			t.Fatalf("master in %s did not start:\n%s", n.Server, s.log())
		}
		t.Cleanup(s.stop)
		return s
	}
	// ownGet downloads with the project's client from the client's
	// namespace.
	ownGet := func(o client.Options) ([]byte, error) {
		var got []byte
		err := n.Do(n.Client, func() error {
			var err error
			got, _, err = get(t, host, "kernel", o)
			return err
		})
		return got, err
	}

	t.Run("single-port", func(t *testing.T) {
		s := startInServer(t, "--single-port")
		ctx := testenv.WithNetns(context.Background(), n.Client)
		sessions := 0
		for _, c := range testenv.Clients() {
			for _, d := range []testenv.Download{{}, {Blksize: 1432, Tsize: true}, {Blksize: 1432, Windowsize: 8}} {
				d.Host, d.File = host, "kernel"
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				got, err := c.Download(cctx, t, d)
				cancel()
				if errors.Is(err, testenv.ErrUnsupported) {
					continue
				}
				sessions++
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s %+v through NAT: %v (%d bytes, want %d)", c.Name, d, err, len(got), len(want))
				}
			}
		}
		if got, err := ownGet(client.Options{Blksize: 1432, Tsize: true}); err != nil || !bytes.Equal(got, want) {
			t.Errorf("own client through NAT: %v", err)
		}
		sessions++
		for _, m := range s.waitSessions(sessions) {
			if peer, err := netip.ParseAddrPort(fmt.Sprint(m["peer"])); err != nil || peer.Addr() != testenv.NATPublicAddr {
				t.Errorf("session peer %v, want the router's address %v", m["peer"], testenv.NATPublicAddr)
			}
		}
		s.stop()
	})

	t.Run("default mode", func(t *testing.T) {
		startInServer(t)
		_, err := ownGet(client.Options{Timeout: 300 * time.Millisecond, Retries: 2})
		if err == nil {
			t.Fatal("a download through NAT worked without single-port mode and without the TFTP helper")
		}
		t.Logf("without single-port mode, as expected: %v", err)
		if err := n.AttachTFTPHelper(context.Background()); err != nil {
			t.Fatalf("attaching the TFTP conntrack helper: %v", err)
		}
		if got, err := ownGet(client.Options{Blksize: 1432}); err != nil || !bytes.Equal(got, want) {
			t.Errorf("with the TFTP helper on the router: %v", err)
		}
		ctx, cancel := context.WithTimeout(testenv.WithNetns(context.Background(), n.Client), 30*time.Second)
		defer cancel()
		if got, err := testenv.TftpHPA(ctx, t, testenv.Download{Host: host, File: "kernel"}); err != nil || !bytes.Equal(got, want) {
			t.Errorf("tftp-hpa with the TFTP helper on the router: %v", err)
		}
	})
}
