package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// stormClient is the source address of storm client i: 127.0.x.y, one
// address per client as real machines have.
func stormClient(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1 + byte(i/250), 0, 1 + byte(i%250)}), 0)
}

// TestStorm is a boot storm scaled down (issue 16): 300 machines ask for
// the same file at the same moment, against --max-workers 20. Every one
// completes byte for byte and none gets an ERROR: the 280 that find no
// worker wait in the admission queue (their RRQ retransmissions keep their
// place) and are served as workers free. The clients behave like firmware:
// a retransmission every second, failing after 60 in a row, so the storm
// is bounded in time. (Their patience is longer than real firmware's, EDK2
// about 28 s: on a machine shared with other builds, 300 worker starts can
// take that long, and a client that gives up is a load-dependent failure,
// not the one this test is about.)
func TestStorm(t *testing.T) {
	const clients, workers = 300, 20
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"pxelinux.0": 64 << 10})
	want := pattern("pxelinux.0", 64<<10)
	s := startServer(t, root, "127.0.0.1:0", "--max-workers", fmt.Sprint(workers), "--prefork", "4")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []string
		start = make(chan struct{})
	)
	for i := range clients {
		wg.Go(func() {
			<-start
			var buf bytes.Buffer
			_, err := client.Get(ctx, s.addr, "pxelinux.0",
				client.Options{Blksize: 1468, Timeout: time.Second, Retries: 60, LocalAddr: stormClient(i)}, &buf)
			if err == nil && !bytes.Equal(buf.Bytes(), want) {
				err = fmt.Errorf("%d bytes, not the file", buf.Len())
			}
			if err != nil {
				var se *tftp.Error
				if errors.As(err, &se) {
					err = fmt.Errorf("ERROR %d %q from the server", se.Code, se.Message)
				}
				mu.Lock()
				errs = append(errs, fmt.Sprintf("client %v: %v", stormClient(i).Addr(), err))
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	for _, e := range errs[:min(len(errs), 10)] {
		t.Error(e)
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d clients failed", len(errs), clients)
	}
	ss := s.waitSessions(clients)
	queued := 0
	for _, m := range ss {
		if m["outcome"] != "success" {
			t.Errorf("session %v", m)
		}
		if w, _ := m["queue_wait"].(float64); w > 0 {
			queued++
		}
	}
	// Most waited: only 20 workers (and 4 of them started beforehand).
	if queued < clients-4*workers {
		t.Errorf("%d sessions waited in the queue, want most of %d", queued, clients)
	}
	for _, msg := range []string{"request refused", "request dropped"} {
		if r := s.find(msg); len(r) > 0 {
			t.Errorf("%d %q lines: %v", len(r), msg, r[0])
		}
	}
}

// TestBusyError: with --busy-error, a request beyond --max-workers gets
// ERROR 0 "server busy" at once (the behaviour before the queue); without,
// it waits unanswered and is served when the worker frees.
func TestBusyError(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"big": 1 << 20, "small": 1000})
	for _, busy := range []bool{true, false} {
		t.Run(fmt.Sprintf("busy-error=%v", busy), func(t *testing.T) {
			args := []string{"--max-workers", "1", "--max-sessions-per-client", "0"}
			if busy {
				args = append(args, "--busy-error")
			}
			s := startServer(t, root, "127.0.0.1:0", args...)
			// The one worker: a download that never acknowledges DATA 1.
			hold, err := client.NewSession(s.addr, netip.AddrPort{})
			if err != nil {
				t.Fatal(err)
			}
			defer hold.Close()
			hold.SendRequest(proto.OpRRQ, "big", "octet", nil)
			data, err := hold.RecvPacket(10 * time.Second)
			if err != nil || data.Op != proto.OpDATA {
				t.Fatalf("the holding session: %+v %v", data, err)
			}
			release := func() { hold.SendTo(proto.AppendError(nil, proto.ErrUndefined, "client gone"), data.From) }
			defer release() // the drain need not wait for it
			second, err := client.NewSession(s.addr, netip.AddrPort{})
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			second.SendRequest(proto.OpRRQ, "small", "octet", nil)
			if busy {
				p, err := second.RecvPacket(10 * time.Second)
				if err != nil || p.Op != proto.OpERROR || p.Error.Code != proto.ErrUndefined || p.Error.Message != "server busy" {
					t.Fatalf("beyond --max-workers with --busy-error: %+v %v, want ERROR 0 server busy", p, err)
				}
				return
			}
			if p, err := second.RecvPacket(500 * time.Millisecond); err == nil {
				t.Fatalf("beyond --max-workers: answered %+v while the worker is held", p)
			}
			// Free the worker: the waiting request is served (its first
			// RRQ is still in the queue: 500 ms < --queue-timeout).
			release()
			p, err := second.RecvPacket(10 * time.Second)
			if err != nil || p.Op != proto.OpDATA || p.Block != 1 {
				t.Fatalf("the waiting request once the worker freed: %+v %v", p, err)
			}
		})
	}
}
