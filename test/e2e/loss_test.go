package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/lossnet"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// newLossNet builds a server namespace and a client namespace joined by a
// lossy veth link (internal/lossnet), removed when the test ends, or skips
// (fails under CI=true) where that is not possible.
func newLossNet(t *testing.T) *lossnet.Net {
	t.Helper()
	if err := lossnet.Available(); err != nil {
		testenv.Require(t, "network namespaces, ip and nft ("+err.Error()+")")
	}
	n, err := lossnet.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("lossnet cleanup: %v", err)
		}
	})
	return n
}

// lossClient is one way to download a file through the lossy link.
type lossClient struct {
	name   string
	window int // windowsize asked for (1: lockstep)
	get    func(ctx context.Context, t *testing.T, n *lossnet.Net, server netip.AddrPort, file string) ([]byte, error)
}

func externalLossClient(name string, blksize, window int, dl func(context.Context, testing.TB, testenv.Download) ([]byte, error)) lossClient {
	return lossClient{name: name, window: max(window, 1), get: func(ctx context.Context, t *testing.T, n *lossnet.Net, server netip.AddrPort, file string) ([]byte, error) {
		return dl(testenv.WithNetns(ctx, n.Client), t, testenv.Download{Host: server, File: file, Blksize: blksize, Windowsize: window})
	}}
}

func ownLossClient(name string, window int) lossClient {
	return lossClient{name: name, window: max(window, 1), get: func(ctx context.Context, t *testing.T, n *lossnet.Net, server netip.AddrPort, file string) ([]byte, error) {
		var buf bytes.Buffer
		err := n.Do(n.Client, func() error {
			// Dally: re-ACK the final block if the server resends it
			// (our final ACK was lost), as RFC 1350 §6 suggests.
			_, err := client.Get(ctx, server, file, client.Options{Blksize: 1468, Windowsize: window, Tsize: true,
				Timeout: time.Second, Retries: 10, Dally: 300 * time.Millisecond}, &buf)
			return err
		})
		return buf.Bytes(), err
	}}
}

// TestLossyDownloads downloads through a link that drops a fraction of the
// UDP datagrams each way, with the real clients and the project's own, and
// checks that every download is byte-exact and that each lost packet costs
// the server about one retransmission (lockstep; a window is resent from
// its first unacknowledged block, RFC 7440 §4). The loss rates run in
// parallel, each on its own pair of namespaces; file sizes keep the whole
// test within seconds. FBTFTP_LOSS_ONLY=20 runs only the 20% case and
// prints the master's log after a failed download.
func TestLossyDownloads(t *testing.T) {
	rates := []struct {
		rate float64
		size int
	}{{0.005, 1 << 20}, {0.01, 1 << 20}, {0.05, 256 << 10}, {0.20, 32 << 10}}
	clients := []lossClient{
		externalLossClient("busybox", 1468, 0, testenv.Busybox),
		externalLossClient("tftp-hpa", 0, 0, testenv.TftpHPA), // blksize 512: tftp-hpa sends no options
		externalLossClient("atftp-w8", 1468, 8, testenv.Atftp),
		ownLossClient("own", 0),
		ownLossClient("own-w16", 16),
	}
	for _, rc := range rates {
		if only := os.Getenv("FBTFTP_LOSS_ONLY"); only != "" && only != strconv.FormatFloat(rc.rate*100, 'f', -1, 64) {
			continue
		}
		t.Run(strconv.FormatFloat(rc.rate*100, 'f', -1, 64)+"%", func(t *testing.T) {
			t.Parallel()
			n := newLossNet(t)
			root := worldReadableDir(t)
			content := pattern("lossy", rc.size)
			for _, c := range clients {
				if err := os.WriteFile(filepath.Join(root, c.name), content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := startServerIn(t, n.Server, root, netip.AddrPortFrom(lossnet.ServerAddr, 0).String(), "--drain-timeout", "1s")
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
			defer cancel()
			if err := n.SetLoss(ctx, rc.rate); err != nil {
				t.Fatal(err)
			}
			drops := map[string]uint64{}
			ran := 0
			for _, c := range clients {
				before := totalDrops(t, n)
				start := time.Now()
				got, err := c.get(ctx, t, n, s.addr, c.name)
				for try := 1; try < 5 && err != nil && strings.Contains(err.Error(), "unexpected OACK"); try++ {
					// atftp 0.8.0 aborts when the server resends its
					// OACK because ACK 0 was lost, as any server must
					// (in.tftpd does too); a boot loader would retry.
					t.Logf("%s: aborted on a retransmitted OACK (atftp's bug), retrying", c.name)
					ran++ // the aborted session reports too
					got, err = c.get(ctx, t, n, s.addr, c.name)
				}
				if errors.Is(err, testenv.ErrUnsupported) {
					t.Logf("%s: %v", c.name, err)
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					if os.Getenv("FBTFTP_LOSS_ONLY") != "" {
						t.Logf("%s", s.log())
					}
					continue
				}
				if !bytes.Equal(got, content) {
					t.Errorf("%s: got %d bytes, want %d (content differs)", c.name, len(got), len(content))
				}
				drops[c.name] = totalDrops(t, n) - before
				t.Logf("%-9s done in %v", c.name, time.Since(start).Round(time.Millisecond))
				ran++
			}
			// A session whose final ACK was lost outlives its client (the
			// server retries until it gives up); the others report within
			// moments.
			lines := waitSessionsUpTo(s, ran, 5*time.Second)
			var lockRetx, lockDrops uint64
			for _, c := range clients {
				d, ok := drops[c.name]
				if !ok {
					continue
				}
				st, ok := lines[c.name]
				if !ok || st["outcome"] != "success" {
					t.Logf("%-9s %3d lost, session not finished or not a success (%v): final ACK lost, not counted", c.name, d, st["outcome"])
					continue
				}
				retx := uint64(st["retransmits"].(float64))
				t.Logf("%-9s %3d lost, %3d retransmitted, rtt %v", c.name, d, retx, st["rtt"])
				if c.window == 1 {
					lockRetx += retx
					lockDrops += d
				} else if retx > 2*d*uint64(c.window)+10 {
					t.Errorf("%s: %d retransmits for %d lost packets, window %d", c.name, retx, d, c.window)
				}
			}
			if lockDrops > 0 {
				ratio := float64(lockRetx) / float64(lockDrops)
				t.Logf("lockstep: %.2f retransmits per lost packet", ratio)
				// One retransmission per lost DATA or ACK; a lost request
				// or re-ACK costs the server nothing. On a loaded machine
				// a client that answers later than the RTO floor (20 ms)
				// adds a spurious one now and then; a retransmission
				// storm (Sorcerer's Apprentice) would multiply them.
				if lockRetx > 2*lockDrops+10 {
					t.Errorf("lockstep: %d retransmits for %d lost packets", lockRetx, lockDrops)
				}
			}
		})
	}
}

// totalDrops is the number of datagrams the link dropped both ways.
func totalDrops(t *testing.T, n *lossnet.Net) uint64 {
	t.Helper()
	var total uint64
	for _, side := range []lossnet.Side{lossnet.ToServer, lossnet.ToClient} {
		d, err := n.Drops(context.Background(), side)
		if err != nil {
			t.Fatal(err)
		}
		total += d
	}
	return total
}

// waitSessionsUpTo waits up to d for n session lines and returns the lines
// there are, by file name.
func waitSessionsUpTo(s *server, n int, d time.Duration) map[string]map[string]any {
	deadline := time.Now().Add(d)
	for len(s.sessions()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := map[string]map[string]any{}
	for _, l := range s.sessions() {
		out[fmt.Sprint(l["file"])] = l
	}
	return out
}
