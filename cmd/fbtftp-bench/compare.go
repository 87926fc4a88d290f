package main

import (
	"context"
	"crypto/sha256"
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
	"github.com/fbtftp-go/fbtftp/internal/lossnet"
)

// scenario is one measurement, run once per server per repetition.
type scenario struct {
	Name        string
	Kind        string // kindSingle, kindSmall, kindConcurrent, kindLossy
	File        string // fileLarge, fileSmall, fileMedium, fileLossy
	Blksize     int
	Windowsize  int
	Concurrency int
	Loss        float64 // kindLossy: the fraction of datagrams dropped each way
}

const (
	kindSingle     = "single"     // one download: MB/s, server CPU per MB
	kindSmall      = "small"      // downloads for a duration: sessions/s, first-packet latency
	kindConcurrent = "concurrent" // Concurrency clients, 3 downloads each: MB/s, server CPU, peak PSS and threads of the server tree
	kindLossy      = "lossy"      // one busybox download over a lossy link: seconds, server CPU per MB
	// kindStorm is a boot storm: Concurrency clients, each from its own
	// loopback address (127.x.y.z, as machines are), start one download at
	// the same moment and behave like boot firmware: retransmit every
	// stormTimeout, give up after stormRetries in a row. Completed,
	// refused (an ERROR from the server), wall time, first packet p99,
	// peak PSS of the server tree.
	kindStorm = "storm"

	fileSmall  = "4k.bin"
	fileMedium = "1m.bin"
	fileLarge  = "large.bin" // 100 MiB, smaller with -quick
	fileLossy  = "lossy.bin" // 20 MiB, smaller with -quick
)

var allScenarios = []scenario{
	{"single-100M-b512", kindSingle, fileLarge, 512, 0, 1, 0},
	{"single-100M-b1468", kindSingle, fileLarge, 1468, 0, 1, 0},
	{"single-100M-b65464", kindSingle, fileLarge, 65464, 0, 1, 0},
	{"single-100M-b1468-w16", kindSingle, fileLarge, 1468, 16, 1, 0},
	{"single-100M-b65464-w16", kindSingle, fileLarge, 65464, 16, 1, 0},
	{"single-100M-b1468-w64", kindSingle, fileLarge, 1468, 64, 1, 0},
	{"single-100M-b65464-w64", kindSingle, fileLarge, 65464, 64, 1, 0},
	{"small-4K-c1", kindSmall, fileSmall, 0, 0, 1, 0},
	{"small-4K-c16", kindSmall, fileSmall, 0, 0, 16, 0},
	{"small-4K-c64", kindSmall, fileSmall, 0, 0, 64, 0},
	{"concurrent-1M-c200", kindConcurrent, fileMedium, 1468, 0, 200, 0},
	// Over a veth link between two network namespaces that drops this
	// fraction of the datagrams each way (internal/lossnet), with busybox
	// as the client. Not in "all" (in.tftpd needs about 25 minutes for
	// one 5% run): select them with -scenarios all,lossy or by name.
	{"lossy1-20M-b1468-busybox", kindLossy, fileLossy, 1468, 0, 1, 0.01},
	{"lossy5-20M-b1468-busybox", kindLossy, fileLossy, 1468, 0, 1, 0.05},
	// Boot storms (issue 16). Not in "all" either (a 1500-client run takes
	// a minute per server on 2 vCPUs): -scenarios all,storm, storm, or by
	// name.
	{"storm-1M-c300", kindStorm, fileMedium, 1468, 0, 300, 0},
	{"storm-1M-c1500", kindStorm, fileMedium, 1468, 0, 1500, 0},
	{"storm-1M-c5000", kindStorm, fileMedium, 1468, 0, 5000, 0},
}

// The storm's clients: the firmware-like retransmission of issue 16's
// measurement (a 2 s timeout, 4 retries: a client not answered within
// 10 s fails its boot).
const (
	stormTimeout = 2 * time.Second
	stormRetries = 4
)

// The metrics, and whether higher is better.
const (
	mMBPS     = "MB/s"
	mCPU      = "cpu_ms_per_MB" // CPU time of the server's process tree per MB sent
	mSessPS   = "sessions/s"
	mFirstP50 = "first_p50_ms"
	mFirstP99 = "first_p99_ms"
	mPSS      = "peak_pss_MiB"
	mThreads  = "peak_threads" // threads of the server's process tree at the PSS peak
	mCPUSess  = "cpu_ms_per_session"
	mCPUTotal = "cpu_s" // CPU time of the server's process tree for the whole run
	mDone     = "completed"
	mRefused  = "refused"
	mWall     = "wall_s"
	mSeconds  = "seconds"
	mLost     = "lost_packets" // datagrams the link dropped, both ways
)

var higherIsBetter = map[string]bool{mMBPS: true, mSessPS: true, mDone: true}

func (sc scenario) metrics() []string {
	switch sc.Kind {
	case kindSingle:
		return []string{mMBPS, mCPU}
	case kindSmall:
		return []string{mSessPS, mCPUSess, mFirstP50, mFirstP99}
	case kindLossy:
		return []string{mSeconds, mCPU, mLost}
	case kindStorm:
		return []string{mDone, mRefused, mWall, mFirstP99, mPSS}
	}
	return []string{mMBPS, mCPUTotal, mSessPS, mPSS, mThreads}
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
	LossTimeout   time.Duration `json:"-"`
	LossSeconds   float64       `json:"lossy_timeout_s"`
	Busybox       string        `json:"busybox"`
	FloorExecs    int           `json:"floor_execs"`
	FloorBinary   string        `json:"floor_binary,omitempty"`
	scenarios     []scenario
	sizes         map[string]int64
	digests       map[string][sha256.Size]byte
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
	Floor    *floorResult       `json:"floor,omitempty"` // scenario "floor"
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func compareCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var servers, noWindow listFlag
	fs.Var(&servers, "server", "server under test as `NAME=COMMAND`, with {addr}, {port} and {root} substituted; without {port}, the socket is its standard input (inetd mode) (repeatable)")
	fs.Var(&noWindow, "nowindow", "`NAME` of a server without windowsize support: its windowsize scenarios are skipped (repeatable, or comma-separated)")
	baseline := fs.String("baseline", "", "server the ratios are relative to (default: the first -server)")
	scen := fs.String("scenarios", "all", "comma-separated scenarios or groups: all (every scenario but the lossy ones), lossy, or names: "+scenarioNames())
	reps := fs.Int("reps", 3, "repetitions of every scenario on every server")
	quick := fs.Bool("quick", false, "a ~1 minute smoke run: 16 MiB large file, 1 MiB lossy file, 1 s small runs, one download per concurrent client")
	jsonOut := fs.String("json", "", "also write the full report as JSON to this `file`")
	root := fs.String("root", "", "directory for the test files (default: a temporary one, removed at the end)")
	smallDur := fs.Duration("small-duration", 5*time.Second, "duration of each small-* run")
	concDur := fs.Duration("concurrent-duration", 0, "run each concurrent-* scenario for this long (0: every client downloads the file 3 times, once with -quick)")
	lossTimeout := fs.Duration("lossy-timeout", 45*time.Minute, "give up a lossy-* download after this long")
	busybox := fs.String("busybox", "busybox", "busybox binary (the client of the lossy-* scenarios)")
	floorExecs := fs.Int("floor-execs", 200, "execs of an empty static Go binary per repetition, the floor of a fresh worker per session (0: not measured)")
	floorBin := fs.String("floor-binary", "", "the empty static Go binary for the floor (default: built with the go command in PATH)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if len(servers) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "compare: at least one -server NAME=COMMAND is required")
		fs.Usage()
		return errUsage
	}
	cfg := compareConfig{Reps: *reps, Quick: *quick, LargeSize: 100 << 20, SmallDuration: *smallDur, ConcDuration: *concDur, Root: *root,
		LossTimeout: *lossTimeout, Busybox: *busybox, FloorExecs: *floorExecs, FloorBinary: *floorBin}
	if *quick {
		cfg.LargeSize = 16 << 20
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["small-duration"] {
			cfg.SmallDuration = time.Second
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
			dropNaN(rep)
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

// dropNaN removes the metrics that could not be measured (NaN, which JSON
// cannot carry) from the runs.
func dropNaN(rep *report) {
	for _, r := range rep.Runs {
		for k, v := range r.Metrics {
			if math.IsNaN(v) {
				delete(r.Metrics, k)
			}
		}
	}
}

func scenarioNames() string {
	var n []string
	for _, sc := range allScenarios {
		n = append(n, sc.Name)
	}
	return strings.Join(n, ", ")
}

// selectScenarios returns the scenarios of a comma-separated list of
// names and groups ("all": every scenario but the lossy ones; "lossy"),
// in the order of allScenarios.
func selectScenarios(list string) ([]scenario, error) {
	if list == "" {
		list = "all"
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, sc := range allScenarios {
			if sc.Name == name || name == "all" && sc.Kind != kindLossy && sc.Kind != kindStorm ||
				name == "lossy" && sc.Kind == kindLossy || name == "storm" && sc.Kind == kindStorm {
				want[sc.Name], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("-scenarios: unknown %q (known: all, lossy, storm, %s)", name, scenarioNames())
		}
	}
	var out []scenario
	for _, sc := range allScenarios {
		if want[sc.Name] {
			out = append(out, sc)
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
	cfg.SmallSeconds, cfg.ConcSeconds, cfg.LossSeconds = cfg.SmallDuration.Seconds(), cfg.ConcDuration.Seconds(), cfg.LossTimeout.Seconds()
	rep := &report{Started: time.Now().UTC(), Config: cfg}
	lossySize := int64(20 << 20)
	if cfg.Quick {
		lossySize = 1 << 20
	}
	cfg.sizes = map[string]int64{fileSmall: 4 << 10, fileMedium: 1 << 20, fileLarge: cfg.LargeSize, fileLossy: lossySize}
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

	lossy, loopback := false, false
	for _, sc := range cfg.scenarios {
		if sc.Kind == kindLossy {
			lossy = true
		} else {
			loopback = true
		}
	}
	var ln *lossnet.Net
	if lossy {
		var err error
		if ln, err = lossnet.New(ctx); err != nil {
			return nil, fmt.Errorf("lossy scenarios: %w", err)
		}
		defer ln.Close()
		if cfg.digests, err = digests(cfg.Root, fileLossy); err != nil {
			return nil, err
		}
	}
	// One instance of each server on loopback, and one on the lossy link.
	running := make([]*runningServer, len(cfg.Servers))
	lossyRunning := make([]*runningServer, len(cfg.Servers))
	defer func() {
		for _, s := range append(running, lossyRunning...) {
			if s != nil {
				s.stop()
			}
		}
	}()
	for i, spec := range cfg.Servers {
		if loopback {
			s, err := startServer(ctx, spec, nil, cfg.Root, fileSmall)
			if err != nil {
				return nil, err
			}
			running[i] = s
			fmt.Fprintf(log, "started %s: pid %d on %v\n", spec.Name, s.pid(), s.addr)
		}
		if lossy {
			if !strings.Contains(spec.Template, "{addr}") {
				return nil, fmt.Errorf("-server %s: the lossy scenarios need {addr} (the address to listen on) in its command", spec.Name)
			}
			s, err := startServer(ctx, spec, ln, cfg.Root, fileSmall)
			if err != nil {
				return nil, err
			}
			lossyRunning[i] = s
			fmt.Fprintf(log, "started %s: pid %d on %v (lossy link, namespace %s)\n", spec.Name, s.pid(), s.addr, ln.Server)
		}
	}

	if loopback && cfg.FloorExecs > 0 && cfg.FloorBinary == "" {
		dir, err := os.MkdirTemp("", "fbtftp-bench-floor-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if cfg.FloorBinary, err = buildEmpty(ctx, dir); err != nil {
			return nil, err
		}
	}
	for r := 0; r < cfg.Reps; r++ {
		if loopback && cfg.FloorExecs > 0 {
			f, err := measureFloor(ctx, cfg.FloorBinary, cfg.FloorExecs)
			if err != nil {
				return rep, err
			}
			rep.Runs = append(rep.Runs, runRecord{Scenario: "floor", Rep: r + 1, Floor: &f})
			fmt.Fprintf(log, "rep %d/%d floor: exec of an empty static Go binary (%d B): %.3g ms CPU median, %.3g ms mean, %.3g ms wall (%d execs)\n",
				r+1, cfg.Reps, f.Bytes, f.CPUMedian, f.CPUMean, f.WallMed, f.Execs)
		}
		for _, sc := range cfg.scenarios {
			for k := range cfg.Servers {
				i := (k + r) % len(cfg.Servers)
				s := running[i]
				if sc.Kind == kindLossy {
					s = lossyRunning[i]
				}
				if err := ctx.Err(); err != nil {
					rep.Summary, rep.Floor = summarize(rep.Runs, cfg), floorMedian(rep.Runs)
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
	rep.Summary, rep.Floor = summarize(rep.Runs, cfg), floorMedian(rep.Runs)
	return rep, nil
}

// digests returns the SHA-256 of the named files under root.
func digests(root string, names ...string) (map[string][sha256.Size]byte, error) {
	out := map[string][sha256.Size]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(root, n))
		if err != nil {
			return nil, err
		}
		out[n] = sha256.Sum256(b)
	}
	return out, nil
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
		cpu, err := cpuDuring(s, func() { res = runLoad(ctx, lc) })
		rec.Metrics[mMBPS] = res.MBPS
		rec.Metrics[mCPU] = cpuPerMB(cpu, err, res.Bytes)
	case kindSmall:
		lc.Duration = cfg.SmallDuration
		cpu, err := cpuDuring(s, func() { res = runLoad(ctx, lc) })
		rec.Metrics[mSessPS] = res.SessionsPS
		rec.Metrics[mCPUSess] = perSession(cpu, err, res.Sessions)
		rec.Metrics[mFirstP50] = res.FirstP50
		rec.Metrics[mFirstP99] = res.FirstP99
	case kindConcurrent:
		// Every client downloads the file three times (one round with
		// -quick): a fixed amount of work, so the CPU compares.
		lc.N = 3 * sc.Concurrency
		if cfg.Quick {
			lc.N = sc.Concurrency
		}
		if cfg.ConcDuration > 0 {
			lc.N, lc.Duration = 0, cfg.ConcDuration
		}
		stop := make(chan struct{})
		peak := make(chan pssPeak, 1)
		go func() { peak <- samplePSS(s.pid(), 50*time.Millisecond, stop) }()
		cpu, err := cpuDuring(s, func() { res = runLoad(ctx, lc) })
		close(stop)
		p := <-peak
		rec.Metrics[mMBPS] = res.MBPS
		rec.Metrics[mSessPS] = res.SessionsPS
		rec.Metrics[mCPUTotal] = math.NaN()
		if err == nil {
			rec.Metrics[mCPUTotal] = cpu.Seconds()
		}
		rec.Metrics[mPSS] = float64(p.KiB) / 1024
		rec.Metrics[mThreads] = float64(p.Threads)
		rec.PSSProcs = p.Procs
	case kindLossy:
		var lost uint64
		var cpu time.Duration
		res, lost, cpu = runLossy(ctx, cfg, s, sc)
		rec.Metrics[mSeconds] = res.Seconds
		rec.Metrics[mCPU] = cpuPerMB(cpu, nil, res.Bytes)
		rec.Metrics[mLost] = float64(lost)
	case kindStorm:
		lc.N = sc.Concurrency
		lc.Opts.Timeout, lc.Opts.Retries = stormTimeout, stormRetries
		lc.SourceAddrs = true
		stop := make(chan struct{})
		peak := make(chan pssPeak, 1)
		go func() { peak <- samplePSS(s.pid(), 50*time.Millisecond, stop) }()
		res = runLoad(ctx, lc)
		close(stop)
		p := <-peak
		rec.Metrics[mDone] = float64(res.Sessions - res.Failures)
		rec.Metrics[mRefused] = float64(res.Refused)
		rec.Metrics[mWall] = res.Seconds
		rec.Metrics[mFirstP99] = res.FirstP99
		rec.Metrics[mPSS] = float64(p.KiB) / 1024
		rec.PSSProcs = p.Procs
	}
	rec.Load = &res
	if res.Sessions == res.Failures {
		// Nothing succeeded: no throughput to speak of.
		for _, m := range sc.metrics() {
			if m != mPSS && m != mDone && m != mRefused && m != mWall {
				rec.Metrics[m] = math.NaN()
			}
		}
	}
	return rec
}

// perSession is the CPU time per session in milliseconds, NaN when it
// could not be measured.
func perSession(cpu time.Duration, err error, sessions int) float64 {
	if err != nil || sessions <= 0 || cpu < 0 {
		return math.NaN()
	}
	return ms(cpu) / float64(sessions)
}

// cpuPerMB is the CPU time per MB (10^6 bytes) in milliseconds, NaN when
// it could not be measured.
func cpuPerMB(cpu time.Duration, err error, bytes int64) float64 {
	if err != nil || bytes <= 0 || cpu < 0 {
		return math.NaN()
	}
	return float64(cpu) / float64(time.Millisecond) / (float64(bytes) / 1e6)
}

// cpuDuring runs fn and returns the CPU time the server (its cgroup, or
// its process tree) used meanwhile. It then waits (up to 3 s) until the
// processes that served have exited, that is until the server has no more
// processes than before and its CPU time stopped moving. A pooled
// server's refill (a worker started to replace the one that served) is
// part of the cost.
func cpuDuring(s *runningServer, fn func()) (time.Duration, error) {
	before, n, err := s.cpu()
	if err != nil {
		fn()
		return 0, err
	}
	fn()
	deadline := time.Now().Add(3 * time.Second)
	last := time.Duration(-1)
	for {
		cpu, count, err := s.cpu()
		if err != nil {
			return 0, err
		}
		if (count <= n && cpu == last) || time.Now().After(deadline) {
			return cpu - before, nil
		}
		last = cpu
		time.Sleep(20 * time.Millisecond)
	}
}

// runLossy downloads sc.File with busybox from the client namespace of the
// server's lossy link at sc.Loss, checks the copy byte for byte, and
// returns the result, the datagrams dropped and the server's CPU time.
func runLossy(ctx context.Context, cfg compareConfig, s *runningServer, sc scenario) (loadResult, uint64, time.Duration) {
	res := loadResult{Sessions: 1, Errors: map[string]int{}}
	fail := func(err error) (loadResult, uint64, time.Duration) {
		res.Failures++
		res.Errors[err.Error()]++
		return res, 0, 0
	}
	if err := s.net.SetLoss(ctx, sc.Loss); err != nil {
		return fail(err)
	}
	defer s.net.SetLoss(context.Background(), 0)
	out, err := os.CreateTemp("", "fbtftp-bench-lossy-")
	if err != nil {
		return fail(err)
	}
	out.Close()
	defer os.Remove(out.Name())
	rctx, cancel := context.WithTimeout(ctx, cfg.LossTimeout)
	defer cancel()
	cmd := s.net.Command(rctx, s.net.Client, cfg.Busybox, "tftp", "-g", "-b", fmt.Sprint(sc.Blksize),
		"-r", sc.File, "-l", out.Name(), s.addr.Addr().String(), fmt.Sprint(s.addr.Port()))
	var stderr lastBytes
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	start := time.Now()
	var runErr error
	cpu, cerr := cpuDuring(s, func() { runErr = cmd.Run() })
	res.Seconds = time.Since(start).Seconds()
	var lost uint64
	for _, side := range []lossnet.Side{lossnet.ToServer, lossnet.ToClient} {
		d, err := s.net.Drops(ctx, side)
		if err == nil {
			lost += d
		}
	}
	if runErr != nil {
		return fail(fmt.Errorf("busybox: %v: %s", runErr, lastLine(stderr.String())))
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		return fail(err)
	}
	if sha256.Sum256(b) != cfg.digests[sc.File] {
		return fail(fmt.Errorf("content differs (%d bytes)", len(b)))
	}
	if cerr != nil {
		cpu = -1
	}
	res.Bytes = int64(len(b))
	res.MBPS = float64(res.Bytes) / 1e6 / res.Seconds
	res.Errors = nil
	return res, lost, cpu
}

// lastBytes keeps the last 4 KiB written to it (a client's output, for
// errors).
type lastBytes struct{ b []byte }

func (l *lastBytes) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 4096 {
		l.b = append(l.b[:0], l.b[len(l.b)-4096:]...)
	}
	return len(p), nil
}

func (l *lastBytes) String() string { return string(l.b) }

// lastLine returns the last non-empty line of s (busybox's progress bar
// uses carriage returns).
func lastLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	if len(lines) == 0 {
		return ""
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// pssPeak is the process tree at its peak PSS: the PSS (KiB), processes
// and threads then, and the most threads seen at any sample.
type pssPeak struct {
	KiB     int64
	Procs   int
	Threads int
}

// samplePSS samples the PSS of pid's process tree every interval until
// stop is closed and returns the peak PSS (with the processes then) and
// the peak thread count (at any sample).
func samplePSS(pid int, interval time.Duration, stop <-chan struct{}) pssPeak {
	var peak pssPeak
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if kib, n, threads, err := treePSS(pid); err == nil {
			if kib > peak.KiB {
				peak.KiB, peak.Procs = kib, n
			}
			peak.Threads = max(peak.Threads, threads)
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}
