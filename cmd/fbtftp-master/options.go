package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/getopt"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/logging"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

type options struct {
	listen, foreground bool
	address            string
	secure             bool
	user               string
	permissive         bool
	retransmit         time.Duration
	blocksize          int
	windowsize         int
	refuse             []string
	verbosity          int
	family             udp.Family
	ports              udp.PortRange
	version, help      bool
	dirs               []string

	worker       string
	prefork      int
	maxWorkers   int
	drainTimeout time.Duration
	logFormat    string
}

func intArg(lo, hi int) func(string) (int, error) {
	return func(s string) (int, error) {
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return 0, fmt.Errorf("invalid value %q (want %d..%d)", s, lo, hi)
		}
		return v, nil
	}
}

func parseArgs(args []string) (*options, error) {
	o := &options{user: "nobody", address: "", retransmit: time.Second, family: udp.AnyFamily}
	flag := func(p *bool) func(string, string) error {
		return func(string, string) error { *p = true; return nil }
	}
	integer := func(p *int, lo, hi int) func(string, string) error {
		return func(_, s string) error {
			v, err := intArg(lo, hi)(s)
			*p = v
			return err
		}
	}
	table := []getopt.Option{
		{Short: 'l', Long: "listen", Set: flag(&o.listen)},
		{Short: 'L', Long: "foreground", Set: flag(&o.foreground)},
		{Short: 'a', Long: "address", HasArg: true, Set: func(_, s string) error { o.address = s; return nil }},
		{Short: 's', Long: "secure", Set: flag(&o.secure)},
		{Long: "chroot", Set: flag(&o.secure)},
		{Short: 'u', Long: "user", HasArg: true, Set: func(_, s string) error { o.user = s; return nil }},
		{Short: 'p', Long: "permissive", Set: flag(&o.permissive)},
		{Short: 'T', Long: "retransmit", HasArg: true, Set: func(_, s string) error {
			v, err := intArg(proto.MinUtimeout, proto.MaxUtimeout)(s)
			o.retransmit = time.Duration(v) * time.Microsecond
			return err
		}},
		{Short: 'B', Long: "blocksize", HasArg: true, Set: integer(&o.blocksize, 512, proto.MaxBlksize)},
		{Short: 'W', Long: "windowsize", HasArg: true, Set: integer(&o.windowsize, 1, proto.MaxWindowsize)},
		{Short: 'r', Long: "refuse", HasArg: true, Set: o.refuseOpt},
		{Long: "reject", HasArg: true, Set: o.refuseOpt},
		{Short: 'v', Long: "verbose", Set: func(string, string) error { o.verbosity++; return nil }},
		{Long: "verbosity", HasArg: true, Set: integer(&o.verbosity, 0, 1<<20)},
		{Short: '4', Long: "ipv4", Set: func(string, string) error { o.family = udp.IPv4Only; return nil }},
		{Short: '6', Long: "ipv6", Set: func(string, string) error { o.family = udp.IPv6Only; return nil }},
		{Short: 'R', Long: "port-range", HasArg: true, Set: o.portRange},
		{Long: "ports", HasArg: true, Set: o.portRange},
		{Short: 'V', Long: "version", Set: flag(&o.version)},
		{Short: 'h', Long: "help", Set: flag(&o.help)},
		{Long: "worker", HasArg: true, Set: func(_, s string) error { o.worker = s; return nil }},
		{Long: "prefork", HasArg: true, Set: integer(&o.prefork, 0, 4096)},
		{Long: "max-workers", HasArg: true, Set: integer(&o.maxWorkers, 1, 1<<20)},
		{Long: "drain-timeout", HasArg: true, Set: func(_, s string) error {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return fmt.Errorf("invalid duration %q", s)
			}
			o.drainTimeout = d
			return nil
		}},
		{Long: "log-format", HasArg: true, Set: func(_, s string) error {
			if s != logging.FormatJSON && s != logging.FormatConsole {
				return fmt.Errorf("invalid value %q (want json or console)", s)
			}
			o.logFormat = s
			return nil
		}},
	}
	dirs, err := getopt.Parse(table, args)
	if err != nil {
		return nil, err
	}
	o.dirs = dirs
	if !o.version && !o.help && !o.listen && !o.foreground {
		return nil, fmt.Errorf("inetd mode (no -l or -L) is not supported yet: give -L")
	}
	return o, nil
}

func (o *options) refuseOpt(_, s string) error {
	if !proto.IsKnownOption(s) {
		return fmt.Errorf("unknown option to refuse %q (known: %s)", s, strings.Join(proto.KnownOptions, ", "))
	}
	o.refuse = append(o.refuse, strings.ToLower(s))
	return nil
}

func (o *options) portRange(_, s string) error {
	r, err := udp.ParsePortRange(s)
	o.ports = r
	return err
}

func (o *options) settings() ipc.Settings {
	s := ipc.Settings{
		Timeout:       o.retransmit,
		Retries:       5,
		MaxBlksize:    o.blocksize,
		MaxWindowsize: o.windowsize,
		Refuse:        o.refuse,
		Verbosity:     o.verbosity,
		LogFormat:     o.logFormat,
	}
	if o.permissive {
		s.Flags |= ipc.FlagPermissive
	}
	if o.secure {
		s.Flags |= ipc.FlagSecure
	}
	return s
}

func versionString(prog string) string {
	return fmt.Sprintf("%s (fbtftp-go) %s, in.tftpd 5.2 compatible; options: %s; worker per session, RFC 1350 2347 2348 2349 7440",
		prog, Version, strings.Join(proto.KnownOptions, " "))
}

func usage(prog string) string {
	return fmt.Sprintf(`Usage: %s -L [options] -s DIRECTORY
  -L, --foreground          run in the foreground (standalone)
  -a, --address [ADDR][:PORT]  listen address (default: every address, port 69)
  -s, --secure              serve DIRECTORY as the root (chroot when root)
  -u, --user USER           drop workers to USER (default nobody)
  -p, --permissive          serve files that are not world-readable
  -T, --retransmit USEC     initial retransmit timeout in microseconds (default 1000000)
  -B, --blocksize N         maximum blksize (512..65464)
  -W, --windowsize N        maximum windowsize (default 64)
  -r, --refuse OPTION       never acknowledge OPTION
  -R, --port-range LO:HI    session ports from this range
  -4, -6                    IPv4 or IPv6 only
  -v, --verbose             more logging (repeatable); --verbosity N
  -V, --version             print the version and exit
      --worker PATH         worker binary (default: fbtftp-worker next to this program)
      --prefork N           keep N idle workers started
      --max-workers N       at most N sessions at once (default 1024)
      --drain-timeout D     on SIGTERM let sessions finish for D (default 30s)
      --log-format F        json or console
`, prog)
}
