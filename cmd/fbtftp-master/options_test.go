package main

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/version"
)

// TestParseOptions covers every option, short and long spellings alike.
func TestParseOptions(t *testing.T) {
	base := func() *options {
		o, err := parseArgs([]string{"-L", "/d"})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	cases := []struct {
		args []string
		want func(o *options)
	}{
		// tftpd-hpa 5.2.
		{[]string{"-4"}, func(o *options) { o.family = udp.IPv4Only }},
		{[]string{"--ipv4"}, func(o *options) { o.family = udp.IPv4Only }},
		{[]string{"-6"}, func(o *options) { o.family = udp.IPv6Only }},
		{[]string{"--ipv6"}, func(o *options) { o.family = udp.IPv6Only }},
		{[]string{"-l"}, func(o *options) { o.listen = true }},
		{[]string{"--listen"}, func(o *options) { o.listen = true }},
		{[]string{"--foreground"}, func(o *options) {}},
		{[]string{"-a", ":69"}, func(o *options) { o.addresses = []string{":69"} }},
		{[]string{"-a:69"}, func(o *options) { o.addresses = []string{":69"} }},
		{[]string{"--address", "[::1]:6969"}, func(o *options) { o.addresses = []string{"[::1]:6969"} }},
		{[]string{"--address=10.0.0.1"}, func(o *options) { o.addresses = []string{"10.0.0.1"} }},
		{[]string{"--addr", "10.0.0.1"}, func(o *options) { o.addresses = []string{"10.0.0.1"} }},
		{[]string{"-a", "10.0.0.1", "-a", "[::1]:70", "--address", ":71"}, func(o *options) {
			o.addresses = []string{"10.0.0.1", "[::1]:70", ":71"}
		}},
		{[]string{"-c"}, func(o *options) { o.create = true }},
		{[]string{"--create"}, func(o *options) { o.create = true }},
		{[]string{"-s"}, func(o *options) { o.secure = true }},
		{[]string{"--secure"}, func(o *options) { o.secure = true }},
		{[]string{"--chroot"}, func(o *options) { o.secure = true }},
		{[]string{"-u", "tftp"}, func(o *options) { o.user = "tftp" }},
		{[]string{"--user=tftp"}, func(o *options) { o.user = "tftp" }},
		{[]string{"-U", "022"}, func(o *options) { o.umask = 0o22 }},
		{[]string{"--umask", "0777"}, func(o *options) { o.umask = 0o777 }},
		{[]string{"-p"}, func(o *options) { o.permissive = true }},
		{[]string{"--permissive"}, func(o *options) { o.permissive = true }},
		{[]string{"-P", "/run/tftpd.pid"}, func(o *options) { o.pidFile = "/run/tftpd.pid" }},
		{[]string{"--pidfile", "p"}, func(o *options) { o.pidFile = "p" }},
		{[]string{"-t", "30"}, func(o *options) { o.idle, o.idleSet = 30*time.Second, true }},
		{[]string{"--timeout", "0"}, func(o *options) { o.idle, o.idleSet = 0, true }},
		{[]string{"-T", "10000"}, func(o *options) { o.retransmit = 10 * time.Millisecond }},
		{[]string{"--retransmit", "255000000"}, func(o *options) { o.retransmit = 255 * time.Second }},
		{[]string{"--retransmit", "fixed", "-T", "20000"}, func(o *options) { o.fixedRetx, o.retransmit = true, 20*time.Millisecond }},
		{[]string{"--retransmit", "fixed", "--retransmit", "adaptive"}, func(o *options) {}},
		{[]string{"-m", "/etc/tftpd.map"}, func(o *options) { o.mapFile = "/etc/tftpd.map" }},
		{[]string{"--map-file", "m"}, func(o *options) { o.mapFile = "m" }},
		{[]string{"-v"}, func(o *options) { o.verbosity = 1 }},
		{[]string{"-vvv"}, func(o *options) { o.verbosity = 3 }},
		{[]string{"--verbose", "-v"}, func(o *options) { o.verbosity = 2 }},
		{[]string{"--verbosity", "5"}, func(o *options) { o.verbosity = 5 }},
		{[]string{"-r", "blksize"}, func(o *options) { o.refuse = []string{"blksize"} }},
		{[]string{"--refuse", "TSIZE", "-r", "tsize"}, func(o *options) { o.refuse = []string{"tsize"} }},
		{[]string{"--reject", "utimeout"}, func(o *options) { o.refuse = []string{"utimeout"} }},
		{[]string{"-B", "1468"}, func(o *options) { o.blocksize = 1468 }},
		{[]string{"--blocksize", "512"}, func(o *options) { o.blocksize = 512 }},
		{[]string{"-B", "65464"}, func(o *options) { o.blocksize = 65464 }},
		{[]string{"-R", "4000:4100"}, func(o *options) { o.ports = udp.PortRange{Lo: 4000, Hi: 4100} }},
		{[]string{"--port-range", "5:5"}, func(o *options) { o.ports = udp.PortRange{Lo: 5, Hi: 5} }},
		{[]string{"-V"}, func(o *options) { o.version = true }},
		{[]string{"--version"}, func(o *options) { o.version = true }},

		// Later tftp-hpa spellings.
		{[]string{"--ports", "4000:4001"}, func(o *options) { o.ports = udp.PortRange{Lo: 4000, Hi: 4001} }},
		{[]string{"-S", "6969"}, func(o *options) { o.port = "6969" }},
		{[]string{"--port", "tftp"}, func(o *options) { o.port = "tftp" }},
		{[]string{"--service=69"}, func(o *options) { o.port = "69" }},
		{[]string{"-W", "8"}, func(o *options) { o.windowsize = 8 }},
		{[]string{"--windowsize", "65535"}, func(o *options) { o.windowsize = 65535 }},
		{[]string{"--read-only"}, func(o *options) { o.readOnly = true }},
		{[]string{"--ro"}, func(o *options) { o.readOnly = true }},
		{[]string{"--max-upload", "1048576"}, func(o *options) { o.maxUpload = 1 << 20 }},
		{[]string{"--max-size", "64M"}, func(o *options) { o.maxUpload = 64 << 20 }},
		{[]string{"--max-size=2k"}, func(o *options) { o.maxUpload = 2048 }},
		{[]string{"--reject-all"}, func(o *options) { o.refuse = proto.KnownOptions }},
		{[]string{"--refuse-all"}, func(o *options) { o.refuse = proto.KnownOptions }},
		{[]string{"-B", "mtu"}, func(o *options) { o.blocksizeMTU = true }},
		{[]string{"--blocksize", "MTU-8"}, func(o *options) { o.blocksizeMTU, o.mtuSlack = true, 8 }},
		{[]string{"--map-test", "m"}, func(o *options) { o.mapTest = "m" }},
		{[]string{"--stderr"}, func(o *options) { o.stderr = true }},
		{[]string{"-h"}, func(o *options) { o.help = true }},
		{[]string{"--help"}, func(o *options) { o.help = true }},

		// Ours.
		{[]string{"--worker", "/usr/lib/fbtftp/fbtftp-worker"}, func(o *options) { o.worker = "/usr/lib/fbtftp/fbtftp-worker" }},
		{[]string{"--prefork", "4"}, func(o *options) { o.prefork = 4 }},
		{[]string{"--max-workers", "100"}, func(o *options) { o.maxWorkers = 100 }},
		{[]string{"--max-sessions-per-client", "0"}, func(o *options) { o.maxPerClient = 0 }},
		{[]string{"--max-sessions-per-client=3"}, func(o *options) { o.maxPerClient = 3 }},
		{[]string{"--max-spawning", "0"}, func(o *options) { o.maxSpawning = 0 }},
		{[]string{"--max-spawning=2"}, func(o *options) { o.maxSpawning = 2 }},
		{[]string{"--worker-memory-limit", "0"}, func(o *options) { o.workerMemory = 0 }},
		{[]string{"--worker-memory-limit=512M"}, func(o *options) { o.workerMemory = 512 << 20 }},
		{[]string{"--queue-size", "0"}, func(o *options) { o.queueSize = 0 }},
		{[]string{"--queue-size=500"}, func(o *options) { o.queueSize = 500 }},
		{[]string{"--queue-timeout", "2500ms"}, func(o *options) { o.queueTimeout = 2500 * time.Millisecond }},
		{[]string{"--busy-error"}, func(o *options) { o.busyError = true }},
		{[]string{"--drain-timeout", "5s"}, func(o *options) { o.drainTimeout = 5 * time.Second }},
		{[]string{"--sessions-per-worker", "1000"}, func(o *options) { o.perWorker = 1000 }},
		{[]string{"--worker-idle-timeout=2m"}, func(o *options) { o.workerIdle = 2 * time.Minute }},
		{[]string{"--worker-max-rss", "64M"}, func(o *options) { o.workerMaxRSS = 64 << 20 }},
		{[]string{"--worker-max-rss", "0"}, func(o *options) { o.workerMaxRSS = -1 }},
		{[]string{"--log-format", "console"}, func(o *options) { o.logFormat = "console" }},
		{[]string{"--metrics-addr", "127.0.0.1:9100"}, func(o *options) { o.metricsAddr = "127.0.0.1:9100" }},
		{[]string{"--single-port"}, func(o *options) { o.singlePort = true }},
		{[]string{"--metrics-addr", ":0"}, func(o *options) { o.metricsAddr = ":0" }},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			got, err := parseArgs(append(append([]string{"-L"}, c.args...), "/d"))
			if err != nil {
				t.Fatal(err)
			}
			want := base()
			c.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestParseInvocations checks whole command lines that distributions use.
func TestParseInvocations(t *testing.T) {
	o, err := parseArgs([]string{"--listen", "--user", "tftp", "--address", ":69", "--secure", "/srv/tftp"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.listen || o.user != "tftp" || !reflect.DeepEqual(o.addresses, []string{":69"}) || !o.secure ||
		!reflect.DeepEqual(o.dirs, []string{"/srv/tftp"}) {
		t.Errorf("Debian: %+v", o)
	}
	o, err = parseArgs([]string{"-s", "/var/lib/tftpboot"})
	if err != nil {
		t.Fatal(err)
	}
	if o.standalone() || !o.secure || o.idle != defaultIdle || o.idleSet || o.user != "nobody" {
		t.Errorf("Fedora: %+v", o)
	}
	// Operands anywhere, grouped short options, attached arguments.
	o, err = parseArgs([]string{"/a", "-vvLsc", "-u", "nobody", "-a127.0.0.1:69", "-B1468"})
	if err != nil {
		t.Fatal(err)
	}
	if o.verbosity != 2 || !o.foreground || !o.secure || !o.create || o.blocksize != 1468 || o.dirs[0] != "/a" {
		t.Errorf("grouped: %+v", o)
	}
	// Several directories without -s.
	o, err = parseArgs([]string{"-L", "/a", "/b", "/c"})
	if err != nil || len(o.dirs) != 3 {
		t.Errorf("directories: %+v %v", o, err)
	}
}

// TestParseErrors: every bad option or value is one line naming it.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unrecognized option '--bogus'"},
		{[]string{"-Z"}, "invalid option -- 'Z'"},
		{[]string{"-j"}, "invalid option -- 'j'"},
		{[]string{"-a"}, "option requires an argument -- 'a'"},
		{[]string{"--address"}, "option '--address' requires an argument"},
		{[]string{"--listen=yes"}, "option '--listen' doesn't allow an argument"},
		{[]string{"--re", "x"}, "option '--re' is ambiguous"},
		{[]string{"-B", "abc"}, "option '-B': Bad maximum blocksize value (range 512-65464): abc"},
		{[]string{"-B", "511"}, "option '-B': Bad maximum blocksize value (range 512-65464): 511"},
		{[]string{"--blocksize", "65465"}, "option '--blocksize': Bad maximum blocksize value (range 512-65464): 65465"},
		{[]string{"-B", "mtu+3"}, "option '-B': Bad maximum blocksize value (range 512-65464, mtu or mtu-N): mtu+3"},
		{[]string{"-B", "mtu-x"}, "option '-B': Bad maximum blocksize value (range 512-65464, mtu or mtu-N): mtu-x"},
		{[]string{"-T", "9999"}, "option '-T': Bad timeout value: 9999"},
		{[]string{"--retransmit", "255000001"}, "option '--retransmit': Bad timeout value: 255000001"},
		{[]string{"-T", "1s"}, "option '-T': Bad timeout value: 1s"},
		{[]string{"--retransmit", "Adaptive"}, "option '--retransmit': Bad timeout value: Adaptive"},
		{[]string{"-t", "x"}, "option '-t': Bad timeout value: x"},
		{[]string{"--timeout", "-1"}, "option '--timeout': Bad timeout value: -1"},
		{[]string{"-R", "1000"}, "option '-R': Bad port range: 1000"},
		{[]string{"-R", "2000:1000"}, "option '-R': Bad port range: 2000:1000"},
		{[]string{"--ports", "0:10"}, "option '--ports': Bad port range: 0:10"},
		{[]string{"-U", "999"}, "option '-U': Invalid umask: 999"},
		{[]string{"--umask", "1000"}, "option '--umask': Invalid umask: 1000"},
		{[]string{"-r", "foo"}, "option '-r': Unknown option: foo"},
		{[]string{"--reject", "mtu"}, "option '--reject': Unknown option: mtu"},
		{[]string{"-m", "a", "-m", "b"}, "option '-m': Multiple -m options"},
		{[]string{"-W", "0"}, "option '-W': Bad window size value (range 1-65535): 0"},
		{[]string{"--windowsize", "65536"}, "option '--windowsize': Bad window size value (range 1-65535): 65536"},
		{[]string{"--verbosity", "x"}, "option '--verbosity': Bad verbosity value"},
		{[]string{"--max-upload", "lots"}, "option '--max-upload': Bad maximum upload size: lots"},
		{[]string{"--max-size", "-1"}, "option '--max-size': Bad maximum upload size: -1"},
		{[]string{"-S", "nosuchservice"}, "option '-S': cannot resolve local bind port: nosuchservice"},
		{[]string{"--port", "70000"}, "option '--port': cannot resolve local bind port: 70000"},
		{[]string{"-a", "1.2.3.4:69:70"}, "option '-a': Numeric IPv6 addresses need to be enclosed in []"},
		{[]string{"-a", "[::1:69"}, "option '-a': invalid address \"[::1:69\": missing ']'"},
		{[]string{"-u", ""}, "option '-u': no user given"},
		{[]string{"--prefork", "-1"}, "option '--prefork': Bad prefork value (range 0-4096): -1"},
		{[]string{"--max-workers", "0"}, "option '--max-workers': Bad max-workers value (range 1-1048576): 0"},
		{[]string{"--max-sessions-per-client", "-1"}, "option '--max-sessions-per-client': Bad max-sessions-per-client value (range 0-1048576): -1"},
		{[]string{"--worker-memory-limit", "64M"}, "option '--worker-memory-limit': invalid worker memory limit: 64M (0, or at least 128M)"},
		{[]string{"--queue-size", "-1"}, "option '--queue-size': Bad queue-size value (range 0-16777216): -1"},
		{[]string{"--queue-timeout", "0s"}, "option '--queue-timeout': invalid queue timeout: \"0s\""},
		{[]string{"--drain-timeout", "soon"}, "option '--drain-timeout': invalid duration \"soon\""},
		{[]string{"--sessions-per-worker", "0"}, "option '--sessions-per-worker': Bad sessions-per-worker value (range 1-1073741824): 0"},
		{[]string{"--worker-idle-timeout", "0s"}, "option '--worker-idle-timeout': invalid worker idle timeout: \"0s\""},
		{[]string{"--log-format", "xml"}, "option '--log-format': invalid value \"xml\" (want json or console)"},
		{[]string{"--metrics-addr", "9100"}, "option '--metrics-addr': invalid address \"9100\" (want HOST:PORT)"},
		{[]string{"--worker", ""}, "option '--worker': empty worker path"},
		{[]string{"--set", "novalue"}, "option '--set': invalid --set \"novalue\" (want KEY=VALUE)"},
		{[]string{"--set", "=v"}, "option '--set': invalid --set \"=v\" (want KEY=VALUE)"},
		{[]string{"--http-origin", "ftp://h/"}, "option '--http-origin': invalid --http-origin \"ftp://h/\": the scheme must be http or https"},
		{[]string{"--http-origin", "http:///x"}, "option '--http-origin': invalid --http-origin \"http:///x\": no host"},
		{[]string{"--http-allow-origin", "http://a,b"}, "option '--http-allow-origin': invalid --http-allow-origin \"b\": the scheme must be http or https"},
		{[]string{"--http-allow-net", "10.0.0.0/33"}, "option '--http-allow-net': invalid --http-allow-net \"10.0.0.0/33\" (want an address or ADDR/BITS)"},
		{[]string{"--http-cache-size", "big"}, "option '--http-cache-size': invalid HTTP cache size: big"},
		{[]string{"--http-timeout", "0s"}, "option '--http-timeout': invalid HTTP timeout: \"0s\""},
		{[]string{"--http-connect-timeout", "-1s"}, "option '--http-connect-timeout': invalid HTTP connect timeout: \"-1s\""},
		{[]string{"--http-cache-max-age", "x"}, "option '--http-cache-max-age': invalid HTTP cache max age: \"x\""},
		// Combinations, in.tftpd's words where it has them.
		{[]string{"-s"}, "no -s directory"},
		{[]string{"-s", "/a", "/b"}, "too many -s directories"},
		{[]string{"-L"}, "no directory given"},
		{[]string{"--systemd", "-L", "/a"}, "--systemd cannot be combined with -l or -L"},
		{[]string{"--ro", "-c", "/a"}, "--read-only cannot be combined with -c"},
		{[]string{"--single-port", "-R", "4000:4100", "/a"}, "--single-port cannot be combined with -R"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			o, err := parseArgs(c.args)
			if err == nil {
				t.Fatalf("no error, options %+v", o)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line starting with %q", msg, c.want)
			}
			if o.version {
				t.Error("version set")
			}
		})
	}
}

// TestVersionFirst: -V wins over anything after it, as in in.tftpd, but
// not over an error before it.
func TestVersionFirst(t *testing.T) {
	for _, args := range [][]string{{"-V"}, {"-V", "--bogus"}, {"-V", "-B", "1"}, {"-L", "-V"}, {"--version", "-s"}} {
		o, _ := parseArgs(args)
		if !o.version {
			t.Errorf("%q: version not set", args)
		}
	}
	if o, err := parseArgs([]string{"-B", "1", "-V"}); err == nil || o.version {
		t.Errorf("-B 1 -V: err %v version %v", err, o.version)
	}
	v := versionString()
	if !strings.Contains(v, "fbtftp-go "+version.String()+" ") || !strings.Contains(v, "tftp-hpa 5.2") || !strings.Contains(v, "with remap") || strings.Contains(v, "\n") {
		t.Errorf("version line %q", v)
	}
}

func TestSettings(t *testing.T) {
	o, err := parseArgs([]string{"-L", "-c", "-p", "-s", "-U", "027", "-T", "500000", "-B", "1468", "-W", "4",
		"-r", "tsize", "--max-upload", "1M", "-vv", "--log-format", "json", "/d"})
	if err != nil {
		t.Fatal(err)
	}
	s := o.settings()
	want := fbtftp.Settings{
		Timeout: 500 * time.Millisecond, Retries: 5, MaxBlksize: 1468, MaxWindowsize: 4, Refuse: []string{"tsize"},
		Create: true, Permissive: true, Umask: 0o27, MaxUpload: 1 << 20,
		Verbosity: 2, LogFormat: "json",
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
	if srv := o.server(nil); srv.Root != "/d" || len(srv.Dirs) != 0 || !srv.Uploads {
		t.Errorf("server: root %q dirs %q uploads %v", srv.Root, srv.Dirs, srv.Uploads)
	}
	// in.tftpd: umask 0 unless -p, which keeps the inherited one.
	o, _ = parseArgs([]string{"-L", "/d"})
	if s := o.settings(); s.Umask != 0 || s.Create || s.Permissive {
		t.Errorf("default umask %#o create %v permissive %v", s.Umask, s.Create, s.Permissive)
	}
	if srv := o.server(nil); srv.Root != "" || len(srv.Dirs) != 1 {
		t.Errorf("server without -s: root %q dirs %q", srv.Root, srv.Dirs)
	}
	o, _ = parseArgs([]string{"-L", "-p", "/d"})
	if s := o.settings(); s.Umask != fs.FileMode(currentUmask()) {
		t.Errorf("-p umask %#o, want the inherited %#o", s.Umask, currentUmask())
	}
	o, _ = parseArgs([]string{"-L", "--ro", "/d"})
	if srv := o.server(nil); srv.Uploads {
		t.Error("--ro: uploads on")
	}
	o, _ = parseArgs([]string{"-L", "--retransmit", "fixed", "/d"})
	if s := o.settings(); !s.FixedRetransmit {
		t.Error("--retransmit fixed: FixedRetransmit not set")
	}
	o, _ = parseArgs([]string{"-L", "/d"})
	if s := o.settings(); s.FixedRetransmit {
		t.Error("adaptive by default: FixedRetransmit set")
	}
}

func TestChooseMode(t *testing.T) {
	parse := func(args ...string) *options {
		o, err := parseArgs(append(args, "/d"))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// Standard input is not a socket in tests.
	cases := []struct {
		o    *options
		nfds int
		want mode
		err  bool
	}{
		{parse("-l"), 0, modeStandalone, false},
		{parse("-L"), 2, modeStandalone, false},
		{parse("--systemd"), 1, modeSystemd, false},
		{parse("--systemd"), 0, 0, true},
		{parse(), 1, modeSystemd, false},
		{parse(), 0, modeInetd, false},
	}
	for i, c := range cases {
		got, err := chooseMode(c.o, c.nfds)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("case %d: %v, %v; want %v (error %v)", i, got, err, c.want, c.err)
		}
	}
}

// TestHTTPOptions: the --http-* options fill the worker configuration and
// turn on fbtftp-worker-http.
func TestHTTPOptions(t *testing.T) {
	o, err := parseArgs([]string{"-L", "-s", "/srv", "--http-origin", "http://repo/tftp/",
		"--http-allow-origin", "https://a,http://b:8080", "--http-allow-net", "10.0.0.0/8,192.0.2.7",
		"--http-cache", "/var/cache/fbtftp", "--http-cache-size", "20G", "--http-cache-max-age", "1h",
		"--http-connect-timeout", "2s", "--http-timeout", "7s", "--http-max-size", "2G", "--http-client-headers",
		"--http-cache-entries", "500", "--http-fill-timeout", "90s"})
	if err != nil {
		t.Fatal(err)
	}
	h := o.http
	if !o.useHTTP || h.Origin != "http://repo/tftp/" || len(h.Origins) != 2 || len(h.Networks) != 2 ||
		h.Networks[1].String() != "192.0.2.7/32" || h.CacheDir != "/var/cache/fbtftp" ||
		h.CacheMaxBytes != 20<<30 || h.CacheMaxAge != time.Hour || h.ConnectTimeout != 2*time.Second ||
		h.IdleTimeout != 7*time.Second || h.HeaderTimeout != 7*time.Second || h.MaxSize != 2<<30 || !h.ClientHeaders ||
		h.CacheMaxEntries != 500 || h.FillTimeout != 90*time.Second {
		t.Fatalf("%+v (useHTTP %v)", h, o.useHTTP)
	}
	o, err = parseArgs([]string{"-L", "-s", "/srv"})
	if err != nil || o.useHTTP {
		t.Fatalf("no --http-*: useHTTP %v, %v", o.useHTTP, err)
	}
}

func TestSetOption(t *testing.T) {
	o, err := parseArgs([]string{"-L", "-s", "/srv", "--set", "kernel-url=http://k/?a=b", "--set", "empty=", "--set", "kernel-url=http://k2/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.extra) != 2 || o.extra["kernel-url"] != "http://k2/" || o.extra["empty"] != "" {
		t.Fatalf("extra %v", o.extra)
	}
	args := []string{"-L", "-s", "/srv"}
	for i := range ipc.MaxExtra + 1 {
		args = append(args, "--set", fmt.Sprintf("k%d=v", i))
	}
	if _, err := parseArgs(args); err == nil || !strings.Contains(err.Error(), "too many --set keys") {
		t.Fatalf("%d keys: %v", ipc.MaxExtra+1, err)
	}
}

func TestPerClientLimit(t *testing.T) {
	for _, c := range []struct{ flag, want int }{{-1, 0}, {0, -1}, {1, 1}, {8, 8}} {
		if got := perClientLimit(c.flag); got != c.want {
			t.Errorf("perClientLimit(%d) = %d, want %d", c.flag, got, c.want)
		}
	}
}

// TestQueueOptions: the admission queue's options reach server.Server.
func TestQueueOptions(t *testing.T) {
	for _, c := range []struct {
		args    []string
		size    int
		timeout time.Duration
		busy    bool
	}{
		{nil, 0, 0, false}, // the defaults: the server's
		{[]string{"--queue-size", "0"}, -1, 0, false},
		{[]string{"--queue-size", "300", "--queue-timeout", "3s", "--busy-error"}, 300, 3 * time.Second, true},
	} {
		o, err := parseArgs(append([]string{"-L", "-s", "/srv"}, c.args...))
		if err != nil {
			t.Fatal(err)
		}
		s := o.server(zap.NewNop())
		if s.QueueSize != c.size || s.QueueTimeout != c.timeout || s.BusyError != c.busy {
			t.Errorf("%v: QueueSize %d QueueTimeout %v BusyError %v", c.args, s.QueueSize, s.QueueTimeout, s.BusyError)
		}
	}
}
