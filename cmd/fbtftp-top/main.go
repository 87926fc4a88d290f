// Command fbtftp-top is a live view of a running fbtftp-master, in the
// spirit of top: the sessions running now, each with a progress bar, its
// rate and age, sorted by age or rate, and the master's requests, refusals
// and outcomes over the last minute. It polls GET /sessions on the master's
// metrics listener (--metrics-addr; docs/metrics.md).
//
//	fbtftp-top [-d 1s] [-s age|rate] [-n N] [-b] [HOST:PORT | URL]
//
// On a terminal it redraws in place (the alternate screen, like top); keys:
// s toggles the order, q quits. With -b, or when the output is not a
// terminal, it prints one frame per poll as plain text (batch mode, for
// scripts and logs). It uses the standard library only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/live"
)

// Limits: a poll is one small GET; a master with thousands of sessions
// answers a few hundred KiB.
const (
	defaultAddr = "127.0.0.1:9169" // the Debian package's --metrics-addr
	minDelay    = 200 * time.Millisecond
	maxBody     = 32 << 20
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line's.
type options struct {
	url     string
	delay   time.Duration
	sort    sortKey
	n       int
	batch   bool
	timeout time.Duration
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("fbtftp-top", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fbtftp-top [flags] [HOST:PORT | URL]   (default "+defaultAddr+": the master's --metrics-addr)")
		fs.PrintDefaults()
	}
	o := &options{}
	fs.DurationVar(&o.delay, "d", time.Second, "refresh interval (at least 200ms)")
	order := fs.String("s", "age", "sort sessions by `age` (oldest first) or rate (fastest first)")
	fs.IntVar(&o.n, "n", 0, "exit after `N` refreshes (0: until q or a signal)")
	fs.BoolVar(&o.batch, "b", false, "batch mode: plain text, one frame per refresh, no keys")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "timeout of one poll")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch *order {
	case "age":
		o.sort = byAge
	case "rate":
		o.sort = byRate
	default:
		return nil, fmt.Errorf("-s %q: want age or rate", *order)
	}
	if fs.NArg() > 1 {
		return nil, errors.New("one address at most")
	}
	addr := defaultAddr
	if fs.NArg() == 1 {
		addr = fs.Arg(0)
	}
	u, err := sessionsURL(addr)
	if err != nil {
		return nil, err
	}
	o.url = u
	o.delay = max(o.delay, minDelay)
	o.n = max(o.n, 0)
	return o, nil
}

// sessionsURL makes HOST:PORT or an http(s) URL without a path into the
// URL of GET /sessions.
func sessionsURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q: want HOST:PORT or an http URL", addr)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/sessions"
	}
	return u.String(), nil
}

func run(ctx context.Context, args []string, stdin *os.File, stdout *os.File, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "fbtftp-top:", err)
		return 2
	}
	p := &poller{url: o.url, client: &http.Client{Timeout: o.timeout}}
	if o.batch || !isTerminal(stdout) {
		return batch(ctx, o, p, stdout)
	}
	return interactive(ctx, o, p, stdin, stdout)
}

// poller reads the live view.
type poller struct {
	url    string
	client *http.Client
}

// poll fetches one snapshot.
func (p *poller) poll(ctx context.Context) (*live.Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %s", p.url, resp.Status)
	}
	var s live.Snapshot
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxBody))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("GET %s: %w", p.url, err)
	}
	return &s, nil
}

// batch prints a frame per refresh, plain, up to o.n of them. It fails
// when the last poll failed.
func batch(ctx context.Context, o *options, p *poller, out io.Writer) int {
	var err error
	for i := 0; o.n == 0 || i < o.n; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return 0
			case <-time.After(o.delay):
			}
			fmt.Fprintln(out)
		}
		var s *live.Snapshot
		s, err = p.poll(ctx)
		if ctx.Err() != nil {
			return 0
		}
		v := view{source: o.url, sort: o.sort, err: err, now: time.Now(), delay: o.delay}
		if _, werr := fmt.Fprintln(out, strings.Join(render(s, v), "\n")); werr != nil {
			return 1 // a closed pipe: nobody reads
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

// interactive redraws in place on the alternate screen until q, a signal or
// o.n refreshes; keys are read without echo when stdin is a terminal.
func interactive(ctx context.Context, o *options, p *poller, stdin, out *os.File) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := make(chan byte, 8)
	keysOn := false
	if restore, err := cbreak(stdin); err == nil {
		defer restore()
		keysOn = true
		go func() { // ends with the process: a read of a terminal cannot be interrupted portably
			b := make([]byte, 1)
			for {
				if n, err := stdin.Read(b); err != nil || n == 0 {
					return
				}
				select {
				case keys <- b[0]:
				default:
				}
			}
		}()
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	// The alternate screen, cursor hidden; restored on the way out.
	fmt.Fprint(out, "\x1b[?1049h\x1b[?25l")
	defer fmt.Fprint(out, "\x1b[?25h\x1b[?1049l")

	sort := o.sort
	var (
		snap *live.Snapshot
		err  error
	)
	draw := func() {
		w, h := termSize(out)
		lines := render(snap, view{source: o.url, sort: sort, width: w, height: h, err: err, interactive: keysOn, now: time.Now(), delay: o.delay})
		var b strings.Builder
		b.WriteString("\x1b[H")
		for i, l := range lines {
			if i > 0 {
				b.WriteString("\r\n")
			}
			b.WriteString(l)
			b.WriteString("\x1b[K")
		}
		b.WriteString("\x1b[J")
		out.WriteString(b.String())
	}
	tick := time.NewTicker(o.delay)
	defer tick.Stop()
	for i := 0; ; {
		snap, err = p.poll(ctx)
		if ctx.Err() != nil {
			return 0
		}
		draw()
		if i++; o.n > 0 && i >= o.n {
			return 0
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return 0
			case <-tick.C:
				break wait
			case <-winch:
				draw()
			case k := <-keys:
				switch k {
				case 'q', 'Q', 3: // 3: ^C without ISIG
					return 0
				case 's', 'S':
					sort = 1 - sort
					draw()
				case ' ', '\r', '\n': // refresh now, like top
					break wait
				}
			}
		}
	}
}

// envSize is COLUMNS x LINES, else 80x24: the size of a terminal that does
// not say.
func envSize() (width, height int) {
	width, height = 80, 24
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		width = n
	}
	if n, err := strconv.Atoi(os.Getenv("LINES")); err == nil && n > 0 {
		height = n
	}
	return width, height
}
