// Command stats is a custom master built on server.Server: it serves a
// directory with the stock worker and publishes fbtftp's two statistics
// callbacks, per session and server-wide, as JSON lines to a file (one
// object per line, "type" tells which), the way fbtftp fed Facebook's
// monitoring.
//
//	go build -o bin/stats ./examples/stats
//	bin/stats -a 127.0.0.1:6969 -root demo/root -worker bin/fbtftp-worker -out /tmp/stats.jsonl
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/fbtftp-go/fbtftp/server"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// publisher writes one JSON object per line; callbacks may run
// concurrently.
type publisher struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *publisher) publish(kind string, v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enc.Encode(map[string]any{"type": kind, "time": time.Now().UTC(), "data": v})
}

func main() {
	addr := flag.String("a", ":6969", "listen address [addr][:port]")
	root := flag.String("root", ".", "directory to serve")
	worker := flag.String("worker", "", "worker binary (default: fbtftp-worker next to this program)")
	out := flag.String("out", "stats.jsonl", "JSON lines file to append to")
	interval := flag.Duration("interval", time.Minute, "server stats interval")
	flag.Parse()

	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	pub := &publisher{enc: json.NewEncoder(f)}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s := &server.Server{
		Addrs:         []string{*addr},
		Root:          *root,
		WorkerPath:    *worker,
		Prefork:       2,
		StatsInterval: *interval,
		SessionStats: func(st *tftp.SessionStats) {
			pub.publish("session", map[string]any{
				"session_id": st.SessionID, "peer": st.Peer.String(), "file": st.Filename,
				"outcome": st.Outcome, "bytes": st.Bytes, "blksize": st.Blksize,
				"retransmits": st.Retransmits, "duration_seconds": st.Duration.Seconds(),
			})
		},
		ServerStats: func(st *server.ServerStats) { pub.publish("server", st) },
		Listening:   func(addrs []string) { fmt.Printf("{\"listening\":%q}\n", addrs[0]) },
	}
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
