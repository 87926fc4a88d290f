package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
)

// scenario is one measurement, run once per server per repetition.
type scenario struct {
	Name        string
	Kind        string // kindSingle, kindSmall, kindConcurrent
	File        string // fileLarge, fileSmall, fileMedium
	Blksize     int
	Windowsize  int
	Concurrency int
}

const (
	kindSingle     = "single"     // one download: MB/s
	kindSmall      = "small"      // downloads for a duration: sessions/s, first-packet latency
	kindConcurrent = "concurrent" // many at once for a duration: MB/s, peak PSS of the server tree

	fileSmall  = "4k.bin"
	fileMedium = "1m.bin"
	fileLarge  = "large.bin" // 100 MiB, smaller with -quick
)

var allScenarios = []scenario{
	{"single-100M-b1468", kindSingle, fileLarge, 1468, 0, 1},
	{"single-100M-b65464", kindSingle, fileLarge, 65464, 0, 1},
	{"single-100M-b1468-w16", kindSingle, fileLarge, 1468, 16, 1},
	{"single-100M-b65464-w16", kindSingle, fileLarge, 65464, 16, 1},
	{"single-100M-b1468-w64", kindSingle, fileLarge, 1468, 64, 1},
	{"single-100M-b65464-w64", kindSingle, fileLarge, 65464, 64, 1},
	{"small-4K-c1", kindSmall, fileSmall, 0, 0, 1},
	{"small-4K-c16", kindSmall, fileSmall, 0, 0, 16},
	{"small-4K-c64", kindSmall, fileSmall, 0, 0, 64},
	{"concurrent-1M-c200", kindConcurrent, fileMedium, 1468, 0, 200},
}

// The metrics, and whether higher is better.
const (
	mMBPS     = "MB/s"
	mSessPS   = "sessions/s"
	mFirstP50 = "first_p50_ms"
	mFirstP99 = "first_p99_ms"
	mPSS      = "peak_pss_MiB"
)

var higherIsBetter = map[string]bool{mMBPS: true, mSessPS: true}

func (sc scenario) metrics() []string {
	switch sc.Kind {
	case kindSingle:
		return []string{mMBPS}
	case kindSmall:
		return []string{mSessPS, mFirstP50, mFirstP99}
	}
	return []string{mMBPS, mSessPS, mPSS}
}

type compareConfig struct {
	Servers       []serverSpec  `json:"servers"`
	Baseline      string        `json:"baseline"`
	Scenarios     []string      `json:"scenarios"`
	Reps          int           `json:"reps"`
	Quick         bool          `json:"quick"`
	LargeSize     int64         `json:"large_file_bytes"`
	SmallDuration time.Duration `json:"-"`
	ConcDuration  time.Duration `json:"-"`
	SmallSeconds  float64       `json:"small_duration_s"`
	ConcSeconds   float64       `json:"concurrent_duration_s"`
	Root          string        `json:"root"`
	scenarios     []scenario
	sizes         map[string]int64
}

// runRecord is one scenario run on one server.
type runRecord struct {
	Scenario string             `json:"scenario"`
	Server   string             `json:"server"`
	Rep      int                `json:"rep"`
	Skipped  string             `json:"skipped,omitempty"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Load     *loadResult        `json:"load,omitempty"`
	PSSProcs int                `json:"pss_processes,omitempty"`
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func compareCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var servers, noWindow listFlag
	fs.Var(&servers, "server", "server under test as `NAME=COMMAND`, with {port} and {root} substituted; without {port}, the socket is its standard input (inetd mode) (repeatable)")
	fs.Var(&noWindow, "nowindow", "`NAME` of a server without windowsize support: its windowsize scenarios are skipped (repeatable, or comma-separated)")
	baseline := fs.String("baseline", "", "server the ratios are relative to (default: the first -server)")
	scen := fs.String("scenarios", "all", "comma-separated scenarios, or all: "+scenarioNames())
	reps := fs.Int("reps", 3, "repetitions of every scenario on every server")
	quick := fs.Bool("quick", false, "a ~1 minute smoke run: 16 MiB large file, 1 s small and concurrent runs")
	jsonOut := fs.String("json", "", "also write the full report as JSON to this `file`")
	root := fs.String("root", "", "directory for the test files (default: a temporary one, removed at the end)")
	smallDur := fs.Duration("small-duration", 5*time.Second, "duration of each small-* run")
	concDur := fs.Duration("concurrent-duration", 5*time.Second, "duration of each concurrent-* run")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if len(servers) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "compare: at least one -server NAME=COMMAND is required")
		fs.Usage()
		return errUsage
	}
	cfg := compareConfig{Reps: *reps, Quick: *quick, LargeSize: 100 << 20, SmallDuration: *smallDur, ConcDuration: *concDur, Root: *root}
	if *quick {
		cfg.LargeSize = 16 << 20
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["small-duration"] {
			cfg.SmallDuration = time.Second
		}
		if !set["concurrent-duration"] {
			cfg.ConcDuration = time.Second
		}
	}
	if cfg.Reps < 1 {
		return fmt.Errorf("-reps must be at least 1")
	}
	nw := map[string]bool{}
	for _, v := range noWindow {
		for _, n := range strings.Split(v, ",") {
			nw[strings.TrimSpace(n)] = true
		}
	}
	names := map[string]bool{}
	for _, s := range servers {
		spec, err := parseServerSpec(s)
		if err != nil {
			return err
		}
		if names[spec.Name] {
			return fmt.Errorf("-server %s given twice", spec.Name)
		}
		names[spec.Name] = true
		spec.NoWindow = nw[spec.Name]
		delete(nw, spec.Name)
		cfg.Servers = append(cfg.Servers, spec)
	}
	for n := range nw {
		return fmt.Errorf("-nowindow %s: no such -server", n)
	}
	cfg.Baseline = *baseline
	if cfg.Baseline == "" {
		cfg.Baseline = cfg.Servers[0].Name
	}
	if !names[cfg.Baseline] {
		return fmt.Errorf("-baseline %s: no such -server", cfg.Baseline)
	}
	var err error
	if cfg.scenarios, err = selectScenarios(*scen); err != nil {
		return err
	}
	for _, sc := range cfg.scenarios {
		cfg.Scenarios = append(cfg.Scenarios, sc.Name)
	}
	rep, err := compare(ctx, cfg, stderr)
	if rep != nil {
		printTable(stdout, rep)
		if *jsonOut != "" {
			b, jerr := json.MarshalIndent(rep, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
			}
			if jerr != nil && err == nil {
				err = jerr
			}
		}
	}
	return err
}

func scenarioNames() string {
	var n []string
	for _, sc := range allScenarios {
		n = append(n, sc.Name)
	}
	return strings.Join(n, ", ")
}

func selectScenarios(list string) ([]scenario, error) {
	if list == "" || list == "all" {
		return allScenarios, nil
	}
	var out []scenario
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, sc := range allScenarios {
			if sc.Name == name {
				out, found = append(out, sc), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-scenarios: unknown %q (known: %s)", name, scenarioNames())
		}
	}
	return out, nil
}

// makeRoot creates the test files (world-readable, as in.tftpd requires),
// reusing files of the right size.
func makeRoot(dir string, sizes map[string]int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'f', 'b', 't', 'f', 't', 'p'})
	for name, size := range sizes {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.Size() == size && fi.Mode().Perm()&0o004 != 0 {
			continue
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = io.CopyN(f, rng, size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := os.Chmod(path, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// compare runs every scenario on every server, interleaved: for each
// repetition and scenario the servers take turns, in a rotating order.
func compare(ctx context.Context, cfg compareConfig, log io.Writer) (*report, error) {
	cfg.SmallSeconds, cfg.ConcSeconds = cfg.SmallDuration.Seconds(), cfg.ConcDuration.Seconds()
	rep := &report{Started: time.Now().UTC(), Config: cfg}
	cfg.sizes = map[string]int64{fileSmall: 4 << 10, fileMedium: 1 << 20, fileLarge: cfg.LargeSize}
	if cfg.Root == "" {
		dir, err := os.MkdirTemp("", "fbtftp-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Root = dir
	}
	if err := makeRoot(cfg.Root, cfg.sizes); err != nil {
		return nil, fmt.Errorf("test files: %w", err)
	}
	fmt.Fprintf(log, "root %s: %s %d B, %s %d B, %s %d B\n", cfg.Root,
		fileSmall, cfg.sizes[fileSmall], fileMedium, cfg.sizes[fileMedium], fileLarge, cfg.sizes[fileLarge])

	running := make([]*runningServer, len(cfg.Servers))
	defer func() {
		for _, s := range running {
			if s != nil {
				s.stop()
			}
		}
	}()
	for i, spec := range cfg.Servers {
		s, err := startServer(ctx, spec, cfg.Root, fileSmall)
		if err != nil {
			return nil, err
		}
		running[i] = s
		fmt.Fprintf(log, "started %s: pid %d on %v\n", spec.Name, s.pid(), s.addr)
	}

	for r := 0; r < cfg.Reps; r++ {
		for _, sc := range cfg.scenarios {
			for k := range running {
				s := running[(k+r)%len(running)]
				if err := ctx.Err(); err != nil {
					rep.Summary = summarize(rep.Runs, cfg)
					return rep, err
				}
				select {
				case <-s.proc.Done():
					return rep, fmt.Errorf("%s exited: %v; output: %s", s.spec.Name, s.proc.Err(), tailOf(s.proc.Output()))
				default:
				}
				rec := runScenario(ctx, cfg, s, sc)
				rec.Rep = r + 1
				rep.Runs = append(rep.Runs, rec)
				fmt.Fprintf(log, "rep %d/%d %-24s %-10s %s\n", r+1, cfg.Reps, sc.Name, s.spec.Name, describe(rec, sc))
			}
		}
	}
	rep.Summary = summarize(rep.Runs, cfg)
	return rep, nil
}

func describe(rec runRecord, sc scenario) string {
	if rec.Skipped != "" {
		return "skipped: " + rec.Skipped
	}
	var b strings.Builder
	for _, m := range sc.metrics() {
		fmt.Fprintf(&b, "%s=%.4g ", m, rec.Metrics[m])
	}
	if rec.Load != nil && rec.Load.Failures > 0 {
		fmt.Fprintf(&b, "failures=%d %v", rec.Load.Failures, rec.Load.Errors)
	}
	return b.String()
}

// runScenario runs sc once against s.
func runScenario(ctx context.Context, cfg compareConfig, s *runningServer, sc scenario) runRecord {
	rec := runRecord{Scenario: sc.Name, Server: s.spec.Name, Metrics: map[string]float64{}}
	if sc.Windowsize > 0 && s.spec.NoWindow {
		rec.Skipped = "no windowsize support"
		rec.Metrics = nil
		return rec
	}
	lc := loadConfig{
		Server:      s.addr,
		File:        sc.File,
		Concurrency: sc.Concurrency,
		Size:        cfg.sizes[sc.File],
		Opts:        client.Options{Blksize: sc.Blksize, Windowsize: sc.Windowsize},
	}
	var res loadResult
	switch sc.Kind {
	case kindSingle:
		lc.N = 1
		res = runLoad(ctx, lc)
		rec.Metrics[mMBPS] = res.MBPS
	case kindSmall:
		lc.Duration = cfg.SmallDuration
		res = runLoad(ctx, lc)
		rec.Metrics[mSessPS] = res.SessionsPS
		rec.Metrics[mFirstP50] = res.FirstP50
		rec.Metrics[mFirstP99] = res.FirstP99
	case kindConcurrent:
		lc.Duration = cfg.ConcDuration
		stop := make(chan struct{})
		peak := make(chan [2]int64, 1)
		go func() { peak <- samplePSS(s.pid(), 50*time.Millisecond, stop) }()
		res = runLoad(ctx, lc)
		close(stop)
		p := <-peak
		rec.Metrics[mMBPS] = res.MBPS
		rec.Metrics[mSessPS] = res.SessionsPS
		rec.Metrics[mPSS] = float64(p[0]) / 1024
		rec.PSSProcs = int(p[1])
	}
	rec.Load = &res
	if res.Sessions == res.Failures {
		// Nothing succeeded: no throughput to speak of.
		for _, m := range sc.metrics() {
			if m != mPSS {
				rec.Metrics[m] = math.NaN()
			}
		}
	}
	return rec
}

// samplePSS samples the PSS of pid's process tree every interval until
// stop is closed and returns the peak (KiB) and the process count then.
func samplePSS(pid int, interval time.Duration, stop <-chan struct{}) [2]int64 {
	var peak [2]int64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if kib, n, err := treePSS(pid); err == nil && kib > peak[0] {
			peak = [2]int64{kib, int64(n)}
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}
