package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/metrics"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// Defaults for zero fields.
const (
	defaultUser    = "nobody"
	defaultRetries = 5 // in.tftpd gives up after 63 times -T: 1+2+4+8+16+32
	defaultVersion = "devel"
)

// startup is a checked configuration on its way to a running master.
type startup struct {
	s        *Server
	log      *zap.Logger
	cfg      master.Config
	roots    []string // the served directories, as the master sees them
	useHTTP  bool
	wc       *workerConfig
	counters *master.ServerCounters

	metricsLn net.Listener // bound by start, or handed over
}

// prepare checks the configuration and builds the master's, without
// listeners. Errors are *StartError.
func (s *Server) prepare(log *zap.Logger) (*startup, error) {
	st := &startup{s: s, log: log, counters: &master.ServerCounters{}}
	secure := s.Root != ""
	switch {
	case secure && len(s.Dirs) > 0:
		return nil, startErr(KindUsage, "both Root and Dirs are set")
	case secure:
		st.roots = []string{s.Root}
	case len(s.Dirs) == 0:
		return nil, startErr(KindUsage, "no directory to serve (Root or Dirs)")
	default:
		st.roots = slices.Clone(s.Dirs)
	}
	if p := s.Ports; p != (PortRange{}) && (p.Low == 0 || p.Low > p.High) {
		return nil, startErr(KindUsage, "Bad port range: %d:%d", p.Low, p.High)
	}
	if s.SinglePort && s.Ports != (PortRange{}) {
		return nil, startErr(KindUsage, "single-port mode cannot be combined with a port range")
	}
	if len(st.roots) > ipc.MaxRoots {
		return nil, startErr(KindUsage, "too many directories (at most %d)", ipc.MaxRoots)
	}
	for i, d := range st.roots {
		a, err := filepath.Abs(d)
		if err != nil {
			return nil, startErr(KindNoInput, "%s: %v", d, err)
		}
		st.roots[i] = a
		fi, err := os.Stat(a)
		switch {
		case err == nil && fi.IsDir():
		case secure && err != nil:
			return nil, startErr(KindNoInput, "%s: %v", d, unwrapPath(err))
		case secure:
			return nil, startErr(KindNoInput, "%s: Not a directory", d)
		default:
			// in.tftpd does not look at the directories without -s: one may
			// be mounted later. Say it, though.
			log.Warn("directory not available", zap.String("directory", a), zap.Error(err))
		}
	}
	chroot := ""
	if secure {
		chroot = st.roots[0]
	}
	user := s.User
	if user == "" {
		user = defaultUser
	}
	spec, privileged, err := sandbox.ForUser(user, chroot)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, startErr(KindNoUser, "no user %s: %v", user, err)
	}
	settings := st.settings(secure)
	switch {
	case secure && privileged:
		settings.Roots = []string{"/"}
	case secure:
		log.Warn("not running as root: workers neither chroot nor change user; files are confined to the root by path",
			zap.String("root", st.roots[0]))
		settings.Roots = st.roots
	default:
		if !privileged {
			log.Warn("not running as root: workers do not change user")
		}
		settings.Roots = st.roots
	}
	if st.wc, err = loadWorkerConfig(s.MapFile, s.TemplateData); err != nil {
		return nil, err
	}
	h := s.HTTP
	st.useHTTP = h.Origin != "" || len(h.Origins) > 0 || h.CacheDir != ""
	if origins := st.wc.rules.URLOrigins(); len(origins) > 0 {
		log.Info("map file routes names to HTTP origins", zap.Strings("origins", origins))
		st.useHTTP = true
	}
	if st.useHTTP {
		if err := prepareHTTPCache(h.CacheDir, st.roots, spec); err != nil {
			return nil, err
		}
	}
	if !s.NoLandlock {
		// Workers may then touch nothing but the served directories (and
		// write them only when uploads are possible), the HTTP cache and
		// WritableDirs, whatever runs in them.
		spec.Landlock = true
		if s.Uploads {
			spec.FSWrite = slices.Clone(st.roots)
		} else {
			spec.FSRead = slices.Clone(st.roots)
		}
		if h.CacheDir != "" {
			spec.FSWrite = append(spec.FSWrite, h.CacheDir)
		}
		spec.FSWrite = append(spec.FSWrite, s.WritableDirs...)
	}
	// Workers then make no system call outside what sessions need
	// (internal/sandbox), installed after Landlock, before Hello.
	spec.Seccomp = !s.NoSeccomp
	worker, err := st.workerPath()
	if err != nil {
		return nil, err
	}
	env := []string{"GOMAXPROCS=1"}
	if st.useHTTP {
		env = append(env, h.Environ()...)
	}
	env = append(env, s.WorkerEnv...)
	st.cfg = master.Config{
		WorkerPath: worker,
		WorkerArgs: s.WorkerArgs,
		WorkerEnv:  env,
		Sandbox:    spec,
		// The stock fbtftp-worker opens nothing outside the root before
		// it serves: the master chroots it and drops its privileges at
		// exec, which costs it no stop-the-world (custom workers and
		// fbtftp-worker-http open their files between Connect and Serve).
		SandboxAtExec: !st.useHTTP && filepath.Base(worker) == stockWorker,
		Settings:      settings,
		Prefork:       s.Prefork,
		MaxSpawning:   s.MaxSpawning,

		WorkerMemoryLimit: workerMemoryLimit(s.WorkerMemoryLimit),
		MaxWorkers:        s.MaxWorkers,
		DrainTimeout:      s.DrainTimeout,

		MaxSessionsPerClient: s.MaxSessionsPerClient,
		QueueSize:            s.QueueSize,
		QueueTimeout:         s.QueueTimeout,
		BusyError:            s.BusyError,
		SessionsPerWorker:    s.SessionsPerWorker,
		WorkerIdleTimeout:    s.WorkerIdleTimeout,
		WorkerMaxRSS:         s.WorkerMaxRSS,
		ReapOrphans:          s.ReapOrphans,
		IdleTimeout:          s.IdleTimeout,
		AllowWrite:           s.Uploads,
		Ports:                udp.PortRange{Lo: s.Ports.Low, Hi: s.Ports.High},
		SinglePort:           s.SinglePort,
		Logger:               log.Named("master"),
		OnSession:            s.SessionStats,
		Rules:                st.wc.rules,
	}
	return st, nil
}

// settings are the per-session settings every Handoff carries, but Roots.
func (st *startup) settings(secure bool) ipc.Settings {
	set := st.s.Settings
	set.Secure = secure
	set.ReadOnly = !st.s.Uploads
	if set.Retries == 0 {
		set.Retries = defaultRetries
	}
	return wireSettings(&set)
}

// stockWorker is the name of the stock worker binary. A worker of that
// name is started sandboxed at exec (master.Config.SandboxAtExec).
const stockWorker = "fbtftp-worker"

// workerPath is WorkerPath, else fbtftp-worker (fbtftp-worker-http when
// HTTP origins are configured) found by findWorker from the directory of
// the running program, through symbolic links: /usr/sbin/in.tftpd ->
// /usr/lib/fbtftp/fbtftp-master finds /usr/lib/fbtftp/fbtftp-worker, and
// /usr/sbin/fbtftp-master finds /usr/libexec/fbtftp/fbtftp-worker.
func (st *startup) workerPath() (string, error) {
	w := st.s.WorkerPath
	if w == "" {
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			return "", startErr(KindOS, "locating the worker: %v", err)
		}
		name := stockWorker
		if st.useHTTP {
			name = "fbtftp-worker-http" // net/http makes every start slower: only when needed
		}
		w = findWorker(filepath.Dir(exe), name, st.s.WorkerDirs)
	}
	w, err := filepath.Abs(w)
	if err != nil {
		return "", startErr(KindNoInput, "worker binary: %v", err)
	}
	if _, err := os.Stat(w); err != nil {
		return "", startErr(KindNoInput, "worker binary: %v", err)
	}
	return w, nil
}

// findWorker returns the first existing worker binary called name among,
// in order: exeDir (a build tree, or a link /usr/sbin/in.tftpd ->
// /opt/fbtftp/fbtftp-master), ../libexec/fbtftp beside it (make install
// with any PREFIX: /usr/sbin and /usr/libexec/fbtftp), and dirs. When none
// exists it returns the first candidate, for the error message.
func findWorker(exeDir, name string, dirs []string) string {
	cands := []string{
		filepath.Join(exeDir, name),
		filepath.Join(exeDir, "..", "libexec", "fbtftp", name),
	}
	for _, d := range dirs {
		cands = append(cands, filepath.Join(d, name))
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return filepath.Clean(c)
		}
	}
	return cands[0]
}

// prepareHTTPCache creates the HTTP cache directory (mode 0700), owned by
// the workers' user, and checks it lies outside every root: TFTP clients
// must never reach the cache's files. Workers open it before they chroot.
func prepareHTTPCache(dir string, roots []string, spec sandbox.Spec) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return startErr(KindCantCreate, "--http-cache %s: %v", dir, unwrapPath(err))
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return startErr(KindCantCreate, "--http-cache %s: %v", dir, unwrapPath(err))
	}
	for _, r := range roots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(rr, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return startErr(KindConfig, "--http-cache %s lies inside the served directory %s: put it outside (e.g. /var/cache/fbtftp)", dir, r)
		}
	}
	if spec.Drop {
		if err := os.Chown(real, spec.UID, spec.GID); err != nil {
			return startErr(KindCantCreate, "--http-cache %s: %v", dir, unwrapPath(err))
		}
	}
	return nil
}

// start binds the listeners, builds the master and its metrics, and
// serves the metrics until mctx ends: after Run's ctx, so that they serve
// through the drain (/healthz 503, the last sessions' counts).
func (st *startup) start(mctx context.Context) (*master.Master, *observer, error) {
	s := st.s
	var ls []*udp.Listener
	var err error
	if s.Handover != nil {
		closeFiles(s.Listeners)
		ls, st.metricsLn, err = s.Handover.take()
	} else {
		ls, err = st.listeners()
	}
	if err != nil {
		st.wc.close()
		return nil, nil, err
	}
	fail := func(err error) (*master.Master, *observer, error) {
		closeListeners(ls)
		if st.metricsLn != nil {
			st.metricsLn.Close()
		}
		st.wc.close()
		return nil, nil, err
	}
	if st.metricsLn == nil && s.MetricsAddr != "" {
		var lc net.ListenConfig
		if st.metricsLn, err = lc.Listen(mctx, "tcp", s.MetricsAddr); err != nil {
			return fail(startErr(KindOS, "metrics: listen: %v", err))
		}
	}
	if s.BlksizeFromMTU {
		bs, err := mtuBlocksize(ls, s.MTUSlack)
		if err != nil {
			return fail(err)
		}
		st.cfg.Settings.MaxBlksize = bs
		st.log.Info("blocksize from the interface mtu", zap.Int("max_blksize", bs))
	}
	st.cfg.Listeners = ls
	st.cfg.WorkerConfig = st.wc.file
	obs := &observer{counters: st.counters}
	st.cfg.Observer = st.counters
	if st.metricsLn != nil {
		version := s.Version
		if version == "" {
			version = defaultVersion
		}
		obs.reg = prometheus.NewRegistry()
		obs.metrics = metrics.New(obs.reg, &obs.gauges, version)
		if s.HTTP.CacheDir != "" {
			metrics.RegisterCache(obs.reg, s.HTTP.CacheDir)
		}
		st.cfg.Observer = master.Observers{st.counters, obs.metrics}
	}
	m, err := master.New(st.cfg)
	if err != nil {
		return fail(startErr(KindOS, "%v", err))
	}
	st.wc.file = nil // the master's now
	if obs.reg != nil {
		obs.gauges.m.Store(m)
		obs.carry = metrics.NewCarry(obs.reg)
		obs.live = &carriedLive{}
		metrics.ServeListener(mctx, st.metricsLn, metrics.Handler(obs.carry, m, liveView(m, obs.live)))
		st.log.Info("metrics listening", zap.Stringer("address", st.metricsLn.Addr()))
	}
	return m, obs, nil
}

// addrs are the bound addresses, for Listening.
func (st *startup) addrs() []string {
	out := make([]string, len(st.cfg.Listeners))
	for i, l := range st.cfg.Listeners {
		out[i] = l.LocalAddr().String()
	}
	return out
}

// observer is what Reload reports to, besides the logs.
type observer struct {
	counters *master.ServerCounters
	reg      *prometheus.Registry
	metrics  *metrics.Metrics // nil without MetricsAddr
	carry    *metrics.Carry   // reg and the series of a server this one took over from
	live     *carriedLive     // the sessions of a server this one took over from; nil without MetricsAddr
	gauges   gaugeSource
}

// gaugeSource hands the master's gauges to the metrics once the master
// exists: metrics must be the master's Observer before master.New.
type gaugeSource struct{ m atomic.Pointer[master.Master] }

func (g *gaugeSource) Counters() master.Snapshot {
	if m := g.m.Load(); m != nil {
		return m.Counters()
	}
	return master.Snapshot{}
}

// listeners binds every address of Addrs (":tftp" when none and no
// Listeners), with Port as the default port and Family, and takes over
// Listeners.
func (st *startup) listeners() ([]*udp.Listener, error) {
	s := st.s
	var ls []*udp.Listener
	fail := func(err error) ([]*udp.Listener, error) {
		closeListeners(ls)
		closeFiles(s.Listeners)
		return nil, err
	}
	for i, f := range s.Listeners {
		l, err := udp.FromFile(f)
		if err != nil {
			return fail(startErr(KindOS, "listener %d: not a UDP socket: %v", i, err))
		}
		f.Close()
		ls = append(ls, l)
	}
	addrs := s.Addrs
	if len(addrs) == 0 && len(s.Listeners) == 0 {
		addrs = []string{""}
	}
	family := udp.AnyFamily
	switch s.Family {
	case IPv4Only:
		family = udp.IPv4Only
	case IPv6Only:
		family = udp.IPv6Only
	}
	for _, a := range addrs {
		spec, err := udp.ParseListenAddress(a, s.Port)
		if err != nil {
			return fail(startErr(KindNoInput, "address %q: %v", a, err))
		}
		if err := checkFamily(a, spec, family); err != nil {
			return fail(err)
		}
		more, err := udp.Listen(spec, family)
		if err != nil {
			return fail(startErr(KindOS, "cannot bind to local socket %s: %v", spec, err))
		}
		ls = append(ls, more...)
	}
	return ls, nil
}

// checkFamily refuses an address of the wrong family for -4/-6, with
// in.tftpd's message.
func checkFamily(a string, spec udp.ListenSpec, f udp.Family) error {
	if spec.IsWildcard() || f == udp.AnyFamily {
		return nil
	}
	for _, ip := range spec.Addrs {
		if ip.Is4() == (f == udp.IPv4Only) {
			return nil
		}
	}
	name := "AF_INET"
	if f == udp.IPv6Only {
		name = "AF_INET6"
	}
	return startErr(KindUsage, "Address %s is not in address family %s", a, name)
}

func closeListeners(ls []*udp.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// Header sizes for BlksizeFromMTU: IP, UDP, and TFTP's opcode and block
// number.
const (
	ipv4Header = 20
	ipv6Header = 40
	udpHeader  = 8
	tftpHeader = 4
)

// mtuBlocksize is -B mtu[-N]: the largest blksize whose DATA packets fit
// the MTU of the listening addresses, less slack. A listener bound to a
// wildcard address uses the smallest MTU of the interfaces that are up; an
// IPv6 (dual-stack) listener counts the IPv6 header. The result is the
// smallest over the listeners, within 512..65464.
func mtuBlocksize(ls []*udp.Listener, slack int) (int, error) {
	best := maxBlksize
	for _, l := range ls {
		a := l.LocalAddr().Addr()
		hdr := ipv4Header + udpHeader + tftpHeader
		if a.Is6() {
			hdr = ipv6Header + udpHeader + tftpHeader
		}
		var mtu int
		var err error
		if a.IsUnspecified() {
			mtu, err = smallestMTU()
		} else {
			mtu, err = udp.InterfaceMTU(a)
		}
		if err != nil {
			return 0, startErr(KindOS, "-B mtu: %v", err)
		}
		best = min(best, mtu-hdr-slack)
	}
	return max(best, 512), nil
}

// maxBlksize is RFC 2348's largest block size.
const maxBlksize = 65464

// smallestMTU is the smallest MTU of the interfaces that are up, the
// loopback interface counting only when it is the only one.
func smallestMTU() (int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, err
	}
	mtu, lo := 0, 0
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.MTU <= 0 {
			continue
		}
		if ifi.Flags&net.FlagLoopback != 0 {
			lo = ifi.MTU
			continue
		}
		if mtu == 0 || ifi.MTU < mtu {
			mtu = ifi.MTU
		}
	}
	if mtu == 0 {
		mtu = lo
	}
	if mtu == 0 {
		return 0, errors.New("no interface is up")
	}
	return mtu, nil
}

// wireSettings is the part of s a Handoff carries.
func wireSettings(s *fbtftp.Settings) ipc.Settings {
	w := ipc.Settings{
		Timeout:         s.Timeout,
		Retries:         s.Retries,
		MaxBlksize:      s.MaxBlksize,
		MaxWindowsize:   s.MaxWindowsize,
		Refuse:          s.Refuse,
		SessionDeadline: s.SessionDeadline,
		Umask:           uint32(s.Umask.Perm()),
		MaxUpload:       s.MaxUpload,
		Roots:           s.Roots,
		Verbosity:       s.Verbosity,
		LogFormat:       s.LogFormat,
		Extra:           s.Extra,
	}
	for _, f := range []struct {
		on  bool
		bit uint32
	}{{s.Permissive, ipc.FlagPermissive}, {s.Create, ipc.FlagCreate}, {s.ReadOnly, ipc.FlagReadOnly}, {s.Secure, ipc.FlagSecure},
		{s.FixedRetransmit, ipc.FlagFixedRetransmit}} {
		if f.on {
			w.Flags |= f.bit
		}
	}
	return w
}

// workerMemoryLimit maps Server.WorkerMemoryLimit (0: the default, negative:
// none) to master.Config's (0: none).
func workerMemoryLimit(n int64) int64 {
	switch {
	case n == 0:
		return master.DefaultWorkerMemoryLimit
	case n < 0:
		return 0
	}
	return n
}
