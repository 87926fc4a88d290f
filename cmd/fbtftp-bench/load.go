package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

var errUsage = errors.New("usage")

// loadConfig describes one load run.
type loadConfig struct {
	Server      netip.AddrPort
	File        string
	Opts        client.Options
	N           int           // sessions to run; 0 with Duration: as many as fit
	Concurrency int           // workers
	Duration    time.Duration // stop starting sessions after this; 0: run N
	Size        int64         // expected size; -1: tsize when acknowledged, else the first transfer's
	SHA256      []byte        // expected digest, nil: not checked
	// SourceAddrs gives every worker its own source address, 127.x.y.z
	// (sourceAddr), as machines in a boot storm have: per-client limits
	// then see one session per client. IPv4 loopback servers only.
	SourceAddrs bool
}

// sourceAddr is the source address of load worker i with SourceAddrs:
// 127.1.0.1 and up (16 million; Linux answers on all of 127.0.0.0/8).
func sourceAddr(i int) netip.AddrPort {
	i++
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)}), 0)
}

// loadResult is what a load run measured.
type loadResult struct {
	Sessions    int            `json:"sessions"`
	Failures    int            `json:"failures"`
	Bytes       int64          `json:"bytes"`
	Seconds     float64        `json:"duration_s"`
	SessionsPS  float64        `json:"sessions_per_s"`
	MBPS        float64        `json:"mb_per_s"`
	FirstP50    float64        `json:"first_packet_p50_ms"`
	FirstP99    float64        `json:"first_packet_p99_ms"`
	Retransmits int            `json:"retransmits"`
	Refused     int            `json:"refused"` // sessions that ended with an ERROR from the server
	Errors      map[string]int `json:"errors,omitempty"`
}

// counter is an io.Writer that counts and optionally hashes.
type counter struct {
	n int64
	h hash.Hash
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.h != nil {
		c.h.Write(p)
	}
	return len(p), nil
}

// runLoad runs the sessions of cfg and returns the aggregate.
func runLoad(ctx context.Context, cfg loadConfig) loadResult {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.Size < 0 && cfg.Opts.Mode == proto.ModeOctet {
		cfg.Opts.Tsize = true
	}
	var (
		next     atomic.Int64
		size     atomic.Int64
		mu       sync.Mutex
		res      = loadResult{Errors: map[string]int{}}
		latency  []time.Duration
		wg       sync.WaitGroup
		start    time.Time // set when every worker is started
		deadline time.Time
	)
	size.Store(cfg.Size)
	begin := make(chan struct{}) // every worker starts at once
	if cfg.SourceAddrs && !cfg.Server.Addr().Is4() {
		cfg.SourceAddrs = false
	}
	for i := range cfg.Concurrency {
		opts := cfg.Opts
		if cfg.SourceAddrs {
			opts.LocalAddr = sourceAddr(i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			var lat []time.Duration
			var local loadResult
			errs := map[string]int{}
			w := &counter{}
			if cfg.SHA256 != nil {
				w.h = sha256.New()
			}
			for ctx.Err() == nil {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					break
				}
				if cfg.N > 0 && next.Add(1) > int64(cfg.N) {
					break
				}
				w.n = 0
				if w.h != nil {
					w.h.Reset()
				}
				r, err := client.Get(ctx, cfg.Server, cfg.File, opts, w)
				if err == nil {
					err = verify(&size, r, w, cfg.SHA256)
				}
				if ctx.Err() != nil && err != nil {
					break // interrupted, not failed
				}
				local.Sessions++
				local.Retransmits += r.Retransmits
				local.Bytes += w.n
				if err != nil {
					local.Failures++
					if se := (*tftp.Error)(nil); errors.As(err, &se) {
						local.Refused++
					}
					errs[errorKey(err)]++
					continue
				}
				lat = append(lat, r.FirstPacket)
			}
			mu.Lock()
			defer mu.Unlock()
			res.Sessions += local.Sessions
			res.Failures += local.Failures
			res.Refused += local.Refused
			res.Bytes += local.Bytes
			res.Retransmits += local.Retransmits
			latency = append(latency, lat...)
			for k, v := range errs {
				res.Errors[k] += v
			}
		}()
	}
	start = time.Now()
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	close(begin) // the workers read deadline after this
	wg.Wait()
	elapsed := time.Since(start)
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.SessionsPS = float64(res.Sessions-res.Failures) / res.Seconds
		res.MBPS = float64(res.Bytes) / 1e6 / res.Seconds
	}
	slices.Sort(latency)
	res.FirstP50 = ms(percentile(latency, 50))
	res.FirstP99 = ms(percentile(latency, 99))
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	return res
}

// verify checks a transfer's size and digest. The expected size is fixed
// by the first transfer when it was not given or acknowledged as tsize.
func verify(size *atomic.Int64, r client.Result, w *counter, digest []byte) error {
	if r.Tsize >= 0 && r.Tsize != w.n {
		return fmt.Errorf("size mismatch: %d bytes, tsize %d", w.n, r.Tsize)
	}
	want := size.Load()
	if want < 0 {
		size.CompareAndSwap(-1, w.n)
		want = size.Load()
	}
	if w.n != want {
		return fmt.Errorf("size mismatch: %d bytes, want %d", w.n, want)
	}
	if digest != nil && !bytes.Equal(w.h.Sum(nil), digest) {
		return errors.New("sha256 mismatch")
	}
	return nil
}

// errorKey groups errors for the report without per-session details.
func errorKey(err error) string {
	var se *tftp.Error
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("server error %d: %s", se.Code, se.Message)
	case errors.Is(err, client.ErrTimeout):
		return "timeout"
	}
	var pe *client.ProtocolError
	if errors.As(err, &pe) {
		return "protocol error: " + pe.Reason
	}
	return err.Error()
}

func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "server `address:port` (required)")
	file := fs.String("file", "", "file to download (required)")
	n := fs.Int("n", 0, "number of downloads (default 100 without -duration)")
	c := fs.Int("c", 1, "concurrent workers")
	blksize := fs.Int("blksize", 0, "blksize option (0: not sent)")
	windowsize := fs.Int("windowsize", 0, "windowsize option (0: not sent)")
	duration := fs.Duration("duration", 0, "run for this long instead of -n downloads")
	sum := fs.String("sha256", "", "expected sha256 of the file (hex)")
	size := fs.Int64("size", -1, "expected size in bytes (default: tsize, else the first download's)")
	netascii := fs.Bool("netascii", false, "netascii mode")
	timeout := fs.Duration("timeout", time.Second, "retransmit timeout")
	retries := fs.Int("retries", client.DefaultRetries, "retransmits in a row before a download fails")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *server == "" || *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "load: -server and -file are required")
		fs.Usage()
		return errUsage
	}
	addr, err := netip.ParseAddrPort(*server)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	cfg := loadConfig{
		Server: addr, File: *file, N: *n, Concurrency: *c, Duration: *duration, Size: *size,
		Opts: client.Options{Blksize: *blksize, Windowsize: *windowsize, Timeout: *timeout, Retries: *retries},
	}
	if *netascii {
		cfg.Opts.Mode = proto.ModeNetascii
	}
	if cfg.N == 0 && cfg.Duration == 0 {
		cfg.N = 100
	}
	if *sum != "" {
		if cfg.SHA256, err = hex.DecodeString(*sum); err != nil || len(cfg.SHA256) != sha256.Size {
			return fmt.Errorf("-sha256: not a sha256 hex digest")
		}
	}
	res := runLoad(ctx, cfg)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	if res.Failures > 0 {
		keys := make([]string, 0, len(res.Errors))
		for k := range res.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Errorf("%d of %d downloads failed (first: %s)", res.Failures, res.Sessions, keys[0])
	}
	return ctx.Err()
}
