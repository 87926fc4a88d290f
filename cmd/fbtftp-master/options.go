package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/httporigin"
	"github.com/fbtftp-go/fbtftp/internal/getopt"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/logging"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/tmpl"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/version"
)

// defaultIdle is in.tftpd's -t default: inetd mode exits after 15 minutes
// without a request.
const defaultIdle = 900 * time.Second

// options is the parsed command line. Field comments name the flags.
type options struct {
	// How the server gets its sockets.
	listen     bool          // -l, --listen: standalone, detached
	foreground bool          // -L, --foreground: standalone, attached
	systemd    bool          // --systemd: sockets from LISTEN_FDS
	addresses  []string      // -a, --address (repeatable); none means ":tftp"
	port       string        // -S, --port, --service: default port of the addresses
	family     udp.Family    // -4, -6
	idle       time.Duration // -t, --timeout (seconds)
	idleSet    bool          // -t was given
	pidFile    string        // -P, --pidfile
	stderr     bool          // --stderr: keep logging to standard error

	// What is served and how.
	dirs         []string      // operands
	secure       bool          // -s, --secure, --chroot
	create       bool          // -c, --create
	permissive   bool          // -p, --permissive
	readOnly     bool          // --read-only, --ro
	maxUpload    int64         // --max-upload, --max-size (bytes; 0: no limit)
	user         string        // -u, --user
	umask        int           // -U, --umask; -1 when not given
	mapFile      string        // -m, --map-file
	mapTest      string        // --map-test
	retransmit   time.Duration // -T, --retransmit (µs)
	fixedRetx    bool          // --retransmit fixed (adaptive: the default)
	blocksize    int           // -B N; 0: the protocol maximum
	blocksizeMTU bool          // -B mtu[-N]
	mtuSlack     int           // N of -B mtu-N
	windowsize   int           // -W, --windowsize; 0: the worker's default
	refuse       []string      // -r, --refuse, --reject, --reject-all
	ports        udp.PortRange // -R, --port-range, --ports
	singlePort   bool          // --single-port
	verbosity    int           // -v (counted), --verbosity N

	version, help bool // -V, --version; -h, --help

	// Ours.
	worker       string            // --worker
	prefork      int               // --prefork
	maxWorkers   int               // --max-workers
	maxPerClient int               // --max-sessions-per-client; -1 when not given, 0 for no limit
	maxSpawning  int               // --max-spawning; -1 when not given, 0 for no bound
	workerMemory int64             // --worker-memory-limit; -1 when not given, 0 for no limit
	queueSize    int               // --queue-size; -1 when not given, 0 for no queue
	queueTimeout time.Duration     // --queue-timeout; 0 when not given
	busyError    bool              // --busy-error
	perWorker    int               // --sessions-per-worker (0 when not given: 1)
	workerIdle   time.Duration     // --worker-idle-timeout (0 when not given)
	workerMaxRSS int64             // --worker-max-rss in bytes; 0 when not given, -1 for no bound
	drainTimeout time.Duration     // --drain-timeout
	logFormat    string            // --log-format
	metricsAddr  string            // --metrics-addr HOST:PORT (Prometheus; served by the metrics wiring)
	templateData string            // --template-data FILE (JSON values for templates)
	http         httporigin.Config // --http-*: HTTP origins (fbtftp-worker-http)
	useHTTP      bool              // an --http-* option, or map rules routing to URLs
	noLandlock   bool              // --no-landlock
	noSeccomp    bool              // --no-seccomp
	extra        map[string]string // --set KEY=VALUE (Request.Extra)
}

// MetricsAddr is the --metrics-addr value, "" when not given: where the
// Prometheus endpoint listens.
func (o *options) MetricsAddr() string { return o.metricsAddr }

// standalone reports whether the server binds its own sockets (-l or -L).
func (o *options) standalone() bool { return o.listen || o.foreground }

// parseArgs parses the command line (without the program name) the way
// in.tftpd does. The error is one line naming the option; the caller exits
// with EX_USAGE. When -V comes before a bad option, in.tftpd has already
// printed its version and exited 0: the returned options then have version
// set, along with the error, and the caller does the same.
func parseArgs(args []string) (*options, error) {
	o := &options{user: "nobody", umask: -1, retransmit: time.Second, family: udp.AnyFamily, idle: defaultIdle, maxPerClient: -1, maxSpawning: -1, workerMemory: -1, queueSize: -1}
	flag := func(p *bool) func(string, string) error {
		return func(string, string) error { *p = true; return nil }
	}
	str := func(p *string) func(string, string) error {
		return func(_, s string) error { *p = s; return nil }
	}
	integer := func(p *int, lo, hi int, what string) func(string, string) error {
		return func(_, s string) error {
			v, err := strconv.Atoi(s)
			if err != nil || v < lo || v > hi {
				return fmt.Errorf("Bad %s value (range %d-%d): %s", what, lo, hi, s)
			}
			*p = v
			return nil
		}
	}
	set := func(p func()) func(string, string) error {
		return func(string, string) error { p(); return nil }
	}
	// The setters, keyed by each option's first long name; the spellings,
	// arguments and documentation are optionDocs' (help.go).
	setters := map[string]func(name, arg string) error{
		// tftpd-hpa 5.2.
		"ipv4":       set(func() { o.family = udp.IPv4Only }),
		"ipv6":       set(func() { o.family = udp.IPv6Only }),
		"create":     flag(&o.create),
		"secure":     flag(&o.secure),
		"permissive": flag(&o.permissive),
		"verbose":    set(func() { o.verbosity++ }),
		"verbosity":  integer(&o.verbosity, 0, 1<<20, "verbosity"),
		"version":    flag(&o.version),
		"listen":     flag(&o.listen),
		"foreground": flag(&o.foreground),
		"address":    o.addressOpt,
		"blocksize":  o.blocksizeOpt,
		"user":       o.userOpt,
		"umask":      o.umaskOpt,
		"refuse":     o.refuseOpt,
		"timeout":    o.timeoutOpt,
		"retransmit": o.retransmitOpt,
		"port-range": o.portRangeOpt,
		"map-file":   o.mapFileOpt,
		"pidfile":    str(&o.pidFile),

		// Later tftp-hpa spellings.
		"port":       o.portOpt,
		"windowsize": integer(&o.windowsize, 1, proto.MaxWindowsize, "window size"),
		"read-only":  flag(&o.readOnly),
		"max-upload": o.maxUploadOpt,
		"reject-all": o.refuseAll,
		"map-test":   str(&o.mapTest),
		"systemd":    flag(&o.systemd),
		"stderr":     flag(&o.stderr),
		"help":       flag(&o.help),

		// Ours.
		"worker":                  o.workerOpt,
		"prefork":                 integer(&o.prefork, 0, 4096, "prefork"),
		"max-workers":             integer(&o.maxWorkers, 1, 1<<20, "max-workers"),
		"max-sessions-per-client": integer(&o.maxPerClient, 0, 1<<20, "max-sessions-per-client"),
		"max-spawning":            integer(&o.maxSpawning, 0, 4096, "max-spawning"),
		"worker-memory-limit":     o.workerMemoryOpt,
		"queue-size":              integer(&o.queueSize, 0, 1<<24, "queue-size"),
		"queue-timeout":           duration(&o.queueTimeout, false, "queue timeout"),
		"busy-error":              flag(&o.busyError),
		"sessions-per-worker":     integer(&o.perWorker, 1, 1<<30, "sessions-per-worker"),
		"worker-idle-timeout":     duration(&o.workerIdle, false, "worker idle timeout"),
		"worker-max-rss":          o.workerMaxRSSOpt,
		"drain-timeout":           o.drainTimeoutOpt,
		"log-format":              o.logFormatOpt,
		"metrics-addr":            o.metricsAddrOpt,
		"template-data":           o.templateDataOpt,
		"no-landlock":             flag(&o.noLandlock),
		"no-seccomp":              flag(&o.noSeccomp),
		"single-port":             flag(&o.singlePort),
		"set":                     o.setOpt,
		"http-origin":             o.httpOriginOpt,
		"http-allow-origin":       o.httpAllowOriginOpt,
		"http-allow-net":          o.httpAllowNetOpt,
		"http-cache":              o.httpCacheOpt,
		"http-cache-size":         size(&o.http.CacheMaxBytes, "HTTP cache size"),
		"http-cache-entries":      integer(&o.http.CacheMaxEntries, 1, 1<<30, "HTTP cache entries"),
		"http-fill-timeout":       duration(&o.http.FillTimeout, false, "HTTP cache fill time limit"),
		"http-cache-max-age":      duration(&o.http.CacheMaxAge, true, "HTTP cache max age"),
		"http-connect-timeout":    duration(&o.http.ConnectTimeout, false, "HTTP connect timeout"),
		"http-timeout":            o.httpTimeoutOpt,
		"http-max-size":           size(&o.http.MaxSize, "HTTP object size limit"),
		"http-client-headers":     flag(&o.http.ClientHeaders),
	}
	table := getoptTable(setters)
	// in.tftpd prints its version and exits as soon as getopt reaches -V:
	// what follows is not looked at.
	for i := range table {
		set := table[i].Set
		table[i].Set = func(name, arg string) error {
			if o.version {
				return nil
			}
			return set(name, arg)
		}
	}
	dirs, err := getopt.Parse(table, args)
	if err != nil {
		return o, err
	}
	o.dirs = dirs
	if o.version || o.help || o.mapTest != "" {
		return o, nil
	}
	h := o.http
	o.useHTTP = h.Origin != "" || len(h.Origins) > 0 || h.CacheDir != ""
	return o, o.check()
}

// check validates combinations, with in.tftpd's messages where it has them.
func (o *options) check() error {
	switch {
	case o.secure && len(o.dirs) == 0:
		return errors.New("no -s directory")
	case o.secure && len(o.dirs) > 1:
		return errors.New("too many -s directories")
	case len(o.dirs) == 0:
		// in.tftpd would serve every absolute path of the file system.
		return errors.New("no directory given (give -s DIRECTORY, or the directories files may be served from)")
	case o.systemd && o.standalone():
		return errors.New("--systemd cannot be combined with -l or -L")
	case o.readOnly && o.create:
		return errors.New("--read-only cannot be combined with -c")
	case o.singlePort && !o.ports.IsZero():
		return errors.New("--single-port cannot be combined with -R: every session uses the listening port")
	}
	for _, d := range o.dirs {
		if d == "" {
			return errors.New("empty directory operand")
		}
	}
	return nil
}

func (o *options) addressOpt(_, s string) error {
	// Syntax only; names are resolved when the sockets are made.
	if strings.HasPrefix(s, "[") && !strings.Contains(s, "]") {
		return fmt.Errorf("invalid address %q: missing ']'", s)
	}
	if !strings.HasPrefix(s, "[") && strings.Count(s, ":") >= 2 {
		if _, err := netip.ParseAddr(s); err != nil {
			return errors.New("Numeric IPv6 addresses need to be enclosed in []")
		}
	}
	o.addresses = append(o.addresses, s)
	return nil
}

func (o *options) portOpt(_, s string) error {
	if _, err := udp.ParseListenAddress(":"+s, ""); err != nil || s == "" {
		return fmt.Errorf("cannot resolve local bind port: %s", s)
	}
	o.port = s
	return nil
}

// blocksizeOpt parses -B N, -B mtu and -B mtu-N.
func (o *options) blocksizeOpt(_, s string) error {
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "mtu"); ok {
		slack := 0
		if rest != "" {
			n, ok := strings.CutPrefix(rest, "-")
			v, err := strconv.Atoi(n)
			if !ok || err != nil || v < 0 || v > 65535 {
				return fmt.Errorf("Bad maximum blocksize value (range 512-%d, mtu or mtu-N): %s", proto.MaxBlksize, s)
			}
			slack = v
		}
		o.blocksizeMTU, o.mtuSlack, o.blocksize = true, slack, 0
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 512 || v > proto.MaxBlksize {
		return fmt.Errorf("Bad maximum blocksize value (range 512-%d): %s", proto.MaxBlksize, s)
	}
	o.blocksize, o.blocksizeMTU = v, false
	return nil
}

func (o *options) userOpt(_, s string) error {
	if s == "" {
		return errors.New("no user given")
	}
	o.user = s
	return nil
}

func (o *options) umaskOpt(_, s string) error {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("Invalid umask: %s", s)
	}
	o.umask = int(v)
	return nil
}

func (o *options) refuseOpt(_, s string) error {
	if !proto.IsKnownOption(s) {
		return fmt.Errorf("Unknown option: %s (known: %s)", s, strings.Join(proto.KnownOptions, ", "))
	}
	name := strings.ToLower(s)
	for _, r := range o.refuse {
		if r == name {
			return nil
		}
	}
	o.refuse = append(o.refuse, name)
	return nil
}

func (o *options) refuseAll(string, string) error {
	o.refuse = append([]string(nil), proto.KnownOptions...)
	return nil
}

func (o *options) timeoutOpt(_, s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 1<<30 {
		return fmt.Errorf("Bad timeout value: %s", s)
	}
	o.idle, o.idleSet = time.Duration(v)*time.Second, true
	return nil
}

// retransmitOpt is in.tftpd's -T/--retransmit USEC, and ours
// --retransmit adaptive|fixed (the policy; a number is never a policy).
func (o *options) retransmitOpt(_, s string) error {
	if s == "adaptive" || s == "fixed" {
		o.fixedRetx = s == "fixed"
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < proto.MinUtimeout || v > proto.MaxUtimeout {
		return fmt.Errorf("Bad timeout value: %s", s)
	}
	o.retransmit = time.Duration(v) * time.Microsecond
	return nil
}

func (o *options) portRangeOpt(_, s string) error {
	r, err := udp.ParsePortRange(s)
	if err != nil || r.IsZero() {
		return fmt.Errorf("Bad port range: %s", s)
	}
	o.ports = r
	return nil
}

func (o *options) mapFileOpt(_, s string) error {
	if o.mapFile != "" {
		return errors.New("Multiple -m options")
	}
	if s == "" {
		return errors.New("empty map file name")
	}
	o.mapFile = s
	return nil
}

// maxUploadOpt parses a byte count with an optional K, M or G suffix
// (powers of 1024).
func (o *options) maxUploadOpt(_, s string) error {
	v, err := parseSize(s)
	if err != nil {
		return fmt.Errorf("Bad maximum upload size: %s", s)
	}
	o.maxUpload = v
	return nil
}

// workerMemoryOpt parses --worker-memory-limit: 0 (no limit) or at least
// 128M (an idle worker maps about 75 MiB of data).
func (o *options) workerMemoryOpt(_, s string) error {
	v, err := parseSize(s)
	if err != nil || v != 0 && v < minWorkerMemory {
		return fmt.Errorf("invalid worker memory limit: %s (0, or at least 128M)", s)
	}
	o.workerMemory = v
	return nil
}

// minWorkerMemory is the smallest --worker-memory-limit.
const minWorkerMemory = 128 << 20

// workerMaxRSSOpt parses --worker-max-rss SIZE; 0 means no bound.
func (o *options) workerMaxRSSOpt(_, s string) error {
	v, err := parseSize(s)
	if err != nil {
		return fmt.Errorf("invalid worker memory bound: %s", s)
	}
	if v == 0 {
		v = -1
	}
	o.workerMaxRSS = v
	return nil
}

// size parses N[K|M|G] into *p.
func size(p *int64, what string) func(string, string) error {
	return func(_, s string) error {
		v, err := parseSize(s)
		if err != nil {
			return fmt.Errorf("invalid %s: %s", what, s)
		}
		*p = v
		return nil
	}
}

// duration parses a Go duration ("5s", "1m30s") into *p; zero only when
// zeroOK.
func duration(p *time.Duration, zeroOK bool, what string) func(string, string) error {
	return func(_, s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || (d == 0 && !zeroOK) {
			return fmt.Errorf("invalid %s: %q", what, s)
		}
		*p = d
		return nil
	}
}

// parseSize reads N, NK, NM or NG (powers of 1024).
func parseSize(s string) (int64, error) {
	n, mult := s, int64(1)
	if len(n) > 0 {
		switch n[len(n)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			n = n[:len(n)-1]
		}
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, errors.New("invalid size")
	}
	return v * mult, nil
}

// setOpt takes --set KEY=VALUE: a Request.Extra value for every session.
func (o *options) setOpt(_, s string) error {
	k, v, ok := strings.Cut(s, "=")
	switch {
	case !ok || k == "":
		return fmt.Errorf("invalid --set %q (want KEY=VALUE)", s)
	case len(k) > ipc.MaxStringLen || len(v) > ipc.MaxStringLen:
		return fmt.Errorf("--set %.20q...: longer than %d bytes", s, ipc.MaxStringLen)
	}
	if o.extra == nil {
		o.extra = map[string]string{}
	}
	if _, dup := o.extra[k]; !dup && len(o.extra) == ipc.MaxExtra {
		return fmt.Errorf("too many --set keys (at most %d)", ipc.MaxExtra)
	}
	o.extra[k] = v
	return nil
}

// httpOriginOpt takes --http-origin URL: the prefix for names not found
// locally.
func (o *options) httpOriginOpt(_, s string) error {
	if err := checkOriginURL(s); err != nil {
		return fmt.Errorf("invalid --http-origin %q: %v", s, err)
	}
	o.http.Origin = s
	return nil
}

// httpAllowOriginOpt adds an origin that map rules may route to, besides
// the ones they spell out.
func (o *options) httpAllowOriginOpt(_, s string) error {
	for _, v := range strings.Split(s, ",") {
		if err := checkOriginURL(v); err != nil {
			return fmt.Errorf("invalid --http-allow-origin %q: %v", v, err)
		}
		o.http.Origins = append(o.http.Origins, v)
	}
	return nil
}

// httpTimeoutOpt bounds each wait for the origin: the response headers,
// then every read of the body.
func (o *options) httpTimeoutOpt(name, s string) error {
	if err := duration(&o.http.IdleTimeout, false, "HTTP timeout")(name, s); err != nil {
		return err
	}
	o.http.HeaderTimeout = o.http.IdleTimeout
	return nil
}

// httpAllowNetOpt restricts the addresses the workers may connect to.
func (o *options) httpAllowNetOpt(_, s string) error {
	for _, v := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			if a, err2 := netip.ParseAddr(v); err2 == nil {
				p, err = netip.PrefixFrom(a, a.BitLen()), nil
			}
		}
		if err != nil {
			return fmt.Errorf("invalid --http-allow-net %q (want an address or ADDR/BITS)", v)
		}
		o.http.Networks = append(o.http.Networks, p.Masked())
	}
	return nil
}

func (o *options) httpCacheOpt(_, s string) error {
	abs, err := filepath.Abs(s)
	if err != nil || s == "" {
		return fmt.Errorf("invalid --http-cache %q", s)
	}
	o.http.CacheDir = abs
	return nil
}

// checkOriginURL accepts absolute http and https URLs with a host.
func checkOriginURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("the scheme must be http or https")
	case u.Host == "":
		return errors.New("no host")
	}
	return nil
}

func (o *options) workerOpt(_, s string) error {
	if s == "" {
		return errors.New("empty worker path")
	}
	o.worker = s
	return nil
}

func (o *options) drainTimeoutOpt(_, s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("invalid duration %q", s)
	}
	o.drainTimeout = d
	return nil
}

func (o *options) logFormatOpt(_, s string) error {
	if s != logging.FormatJSON && s != logging.FormatConsole {
		return fmt.Errorf("invalid value %q (want json or console)", s)
	}
	o.logFormat = s
	return nil
}

// templateDataOpt takes the template data file: checked now, read by each
// worker before its chroot.
func (o *options) templateDataOpt(_, s string) error {
	abs, err := filepath.Abs(s)
	if err != nil {
		return err
	}
	if _, err := tmpl.LoadValues(abs); err != nil {
		return fmt.Errorf("invalid template data file: %v", err)
	}
	o.templateData = abs
	return nil
}

func (o *options) metricsAddrOpt(_, s string) error {
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return fmt.Errorf("invalid address %q (want HOST:PORT)", s)
	}
	o.metricsAddr = s
	return nil
}

// versionString is the -V line. in.tftpd prints its configuration
// ("tftp-hpa 5.2, with remap, with tcpwrappers"); this is the same shape,
// whatever the program is called.
func versionString() string {
	return fmt.Sprintf("fbtftp-go %s (tftp-hpa 5.2 compatible), with remap, without tcpwrappers, with systemd, options: %s",
		version.String(), strings.Join(proto.KnownOptions, " "))
}
