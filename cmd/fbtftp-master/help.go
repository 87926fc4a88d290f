package main

import (
	"fmt"
	"strings"

	"github.com/fbtftp-go/fbtftp/internal/getopt"
	"github.com/fbtftp-go/fbtftp/internal/master"
)

// optionDoc documents one option: every spelling the parser accepts, its
// argument, a line for --help and a paragraph for the man page. This table
// is the one source of both (see usage and manual.go); parseArgs builds
// the parser's table from it, so an option without a doc entry does not
// exist, and TestOptionDocs fails on a setter without one.
type optionDoc struct {
	short   byte          // 0: long only
	long    []string      // the first is the name setters are keyed by
	arg     string        // the argument's name; "" for a flag
	help    string        // one line for --help
	man     string        // the man page's paragraph; help when empty
	more    func() string // appended to the --help line: what the default is on this machine
	section string        // one of optionSections
}

// optionSections orders the options in --help and in the man page.
var optionSections = []string{
	"Sockets and modes",
	"What is served",
	"Protocol",
	"Workers and limits",
	"HTTP origins",
	"Logs and information",
}

// optionDocs lists every option, in.tftpd's first in each section.
var optionDocs = []optionDoc{
	// Sockets and modes.
	{short: 'l', long: []string{"listen"}, section: "Sockets and modes",
		help: "standalone: bind the sockets, detach",
		man:  "Run standalone: bind the -a addresses, then detach like daemon(3) once serving: the calling process exits 0 (or with the server's exit status if it cannot start), and the server's standard input, output and error no longer lead to the caller's (logs go to syslog, facility daemon, unless --stderr)."},
	{short: 'L', long: []string{"foreground"}, section: "Sockets and modes",
		help: "standalone, in the foreground",
		man:  "Run standalone in the foreground, logging to standard error."},
	{long: []string{"systemd"}, section: "Sockets and modes",
		help: "take the sockets from systemd (LISTEN_FDS; automatic when set for us)",
		man:  "Take the listening sockets from systemd socket activation (LISTEN_PID, LISTEN_FDS). Without the option this happens by itself when systemd passed sockets to this process and standard input is not a socket. The sockets' addresses are the socket unit's (ListenDatagram=); an -a address then has to name one of them, or the server refuses to start. Cannot be combined with -l or -L."},
	{short: 'a', long: []string{"address"}, arg: "[ADDR][:PORT]", section: "Sockets and modes",
		help: "listen address, repeatable (default: every address, port 69)",
		man:  "Listen on ADDR, port PORT (a number or a service name; default 69, or -S). IPv6 addresses go in brackets ([::1]:69). An empty ADDR is every IPv4 and IPv6 address. Repeatable: one listener per address. Without -l or -L it is ignored (inetd mode), as by in.tftpd."},
	{short: 'S', long: []string{"port", "service"}, arg: "PORT", section: "Sockets and modes",
		help: "port for addresses given without one",
		man:  "The port of the -a addresses given without one, and of the default wildcard address."},
	{short: '4', long: []string{"ipv4"}, section: "Sockets and modes",
		help: "IPv4 only"},
	{short: '6', long: []string{"ipv6"}, section: "Sockets and modes",
		help: "IPv6 only",
		man:  "IPv6 only. Without -4 or -6 the wildcard address is one dual-stack socket."},
	{short: 't', long: []string{"timeout"}, arg: "SECS", section: "Sockets and modes",
		help: "inetd mode: exit after SECS without requests (default 900)",
		man:  "inetd mode (and systemd mode when given): exit after SECS seconds without a request and without a session in flight (default 900). Ignored standalone."},
	{short: 'P', long: []string{"pidfile"}, arg: "FILE", section: "Sockets and modes",
		help: "write the server's pid to FILE (standalone)",
		man:  "Write the serving process's pid to FILE (with -l, the detached process's) and remove it on exit. Ignored in inetd mode."},

	// What is served.
	{short: 's', long: []string{"secure", "chroot"}, section: "What is served",
		help: "serve the one DIRECTORY as the root (chroot when root)",
		man:  "Serve the single DIRECTORY operand as the root: file names are relative to it, and workers chroot(2) into it when the master runs as root. Without -s, requests must name absolute paths under one of the DIRECTORY operands."},
	{short: 'u', long: []string{"user"}, arg: "USER", section: "What is served",
		help: "workers run as USER (default nobody)",
		man:  "Workers run as USER (a name or a uid) and its groups; default nobody. Only when the master runs as root."},
	{short: 'c', long: []string{"create"}, section: "What is served",
		help: "uploads may create new files",
		man:  "Uploads (WRQ) may create new files; without it, only existing world-writable files (any file with -p) can be overwritten."},
	{short: 'U', long: []string{"umask"}, arg: "MASK", section: "What is served",
		help: "umask for created files (octal; default 0, or inherited with -p)"},
	{short: 'p', long: []string{"permissive"}, section: "What is served",
		help: "no world-readable/-writable checks: the user's permissions decide",
		man:  "Do not require files to be world-readable (downloads) or world-writable (uploads): the worker user's permissions decide."},
	{long: []string{"read-only", "ro"}, section: "What is served",
		help: "refuse every upload",
		man:  "Refuse every upload with ERROR 2. Cannot be combined with -c."},
	{long: []string{"max-upload", "max-size"}, arg: "N[K|M|G]", section: "What is served",
		help: "largest upload accepted",
		man:  "Largest upload accepted, in bytes (K, M, G: powers of 1024); 0, the default, means no limit. A larger tsize, or more data, gets ERROR 3."},
	{short: 'm', long: []string{"map-file"}, arg: "FILE", section: "What is served",
		help: "filename remapping rules (reread on SIGHUP)",
		man:  "Filename remapping rules in tftpd-hpa's format (operations r g i e s a G P 4 6 ~, escapes \\0-\\9 \\i \\x \\U \\L \\E); rules may also route names to http:// or https:// URLs. Read at startup (an unreadable file exits 66, an invalid one 78) and on SIGHUP."},
	{long: []string{"map-test"}, arg: "FILE", section: "What is served",
		help: "apply FILE's rules to the file names on standard input, print, exit",
		man:  "Read file names from standard input, one per line, apply FILE's rules as for a read request from 127.0.0.1 (::1 with -6), print \"name -> result\" lines, and exit. No directory is needed."},
	{long: []string{"template-data"}, arg: "FILE", section: "What is served",
		help: "JSON values for *.tmpl files, keyed by MAC or IP",
		man:  "JSON values for NAME.tmpl files (Go text/template rendered for each client), keyed by MAC or IP address. Checked at startup, read by each worker."},
	{long: []string{"set"}, arg: "KEY=VALUE", section: "What is served",
		help: "a value for custom workers (Request.Extra), repeatable",
		man:  "A value handed to every session of a custom worker (Request.Extra[KEY]). Repeatable."},

	// Protocol.
	{short: 'T', long: []string{"retransmit"}, arg: "USEC", section: "Protocol",
		help: "retransmit timeout in microseconds (default 1000000); --retransmit adaptive|fixed: the policy",
		man:  "Retransmit timeout in microseconds, 10000 to 255000000 (default 1000000); a session without progress gives up after 63 times it. With --retransmit fixed it is in.tftpd's timer: wait USEC, doubling at each of the 5 retries. With --retransmit adaptive (the default) the wait follows the session's measured round trip (RFC 6298, Karn's rule, at least 20 ms) and never exceeds what the fixed timer would wait. The words adaptive and fixed choose the policy; a number sets USEC."},
	{short: 'B', long: []string{"blocksize"}, arg: "N|mtu|mtu-N", section: "Protocol",
		help: "maximum blksize (512..65464; mtu: the interface MTU minus headers)",
		man:  "Largest blksize granted, 512 to 65464; mtu: the MTU of each listening address's interface minus the IP, UDP and TFTP headers (and N bytes more with mtu-N)."},
	{short: 'W', long: []string{"windowsize"}, arg: "N", section: "Protocol",
		help: "maximum windowsize (default 64)",
		man:  "Largest RFC 7440 windowsize granted, 1 to 65535 (default 64)."},
	{short: 'r', long: []string{"refuse", "reject"}, arg: "OPTION", section: "Protocol",
		help: "never acknowledge the TFTP option OPTION",
		man:  "Never acknowledge the TFTP option OPTION: blksize, blksize2, tsize, timeout, utimeout, windowsize or rollover. Repeatable."},
	{long: []string{"reject-all", "refuse-all"}, section: "Protocol",
		help: "acknowledge no TFTP option",
		man:  "Acknowledge no TFTP option (plain RFC 1350)."},
	{short: 'R', long: []string{"port-range", "ports"}, arg: "LO:HI", section: "Protocol",
		help: "session ports from this range",
		man:  "Bind each session's socket to a port from LO to HI (for firewalls); by default the kernel picks one. Cannot be combined with --single-port."},
	{long: []string{"single-port"}, section: "Protocol",
		help: "every session's packets from the listening port (for NAT, Services)",
		man:  "Send and receive every packet of every session on the listening address and port instead of a new port per session, so that NAT, conntrack, Kubernetes Services and ECMP see one flow per session. Each session still has its own worker and socket: the socket is bound to the listening port and connected to the client (SO_REUSEPORT; the kernel hands the client's packets to it). A packet from another port than the session's client reaches the listener, not the session, and gets no ERROR 5. One client address and port holds one session at a time. Cannot be combined with -R. See docs/scaling.md."},

	// Workers and limits.
	{long: []string{"worker"}, arg: "PATH", section: "Workers and limits",
		help: "worker binary (default: fbtftp-worker beside this program or in libexec/fbtftp)",
		man:  "The worker binary. By default fbtftp-worker (fbtftp-worker-http when HTTP origins are configured), looked for beside the real master binary, then in ../libexec/fbtftp beside it, then in the directory the build was installed to (/usr/libexec/fbtftp for the Debian package)."},
	{long: []string{"prefork"}, arg: "N", section: "Workers and limits",
		help: "keep N idle workers started",
		man:  "Keep N workers started, sandboxed and idle, so that a request does not wait for a worker to start. Each still serves one session."},
	{long: []string{"max-workers"}, arg: "N", section: "Workers and limits",
		help: "at most N sessions at once (default: sized from memory, CPUs and pids)",
		more: func() string { return "default here: " + master.SizeMaxWorkers(master.ReadMachine()).String() },
		man: fmt.Sprintf("At most N sessions (busy workers) at once; a request beyond waits in the admission queue (--queue-size) and is served as soon as a worker is free. "+
			"The default is sized from the machine: the smallest of its memory (MemTotal, or the cgroup's memory limit) / %d / %d MiB per worker, %d per CPU (the affinity mask or the cgroup's CPU quota), "+
			"and its process table (pid_max, threads-max or the cgroup's pids.max) / 2 / %d threads per worker; at least %d. "+
			"A worker mid-transfer was measured to cost 1.8 MiB of the machine's memory, the kernel's part included, and to run 6.5 threads; %d MiB is about twice that. "+
			"--help prints the value and the numbers for the machine it runs on, and the master logs them at start.",
			master.WorkerMemoryShare, master.WorkerMemoryBudget>>20, master.WorkersPerCPU, master.ThreadsPerWorker, master.MinMaxWorkers, master.WorkerMemoryBudget>>20)},
	{long: []string{"max-sessions-per-client"}, arg: "N", section: "Workers and limits",
		help: "at most N of them for one client address or IPv6 /64 (default 8; 0: no limit)",
		man:  "At most N of those sessions for one client address, an IPv6 client counting by its /64 (default 8; 0: no limit). A request beyond waits in the admission queue for one of its client's places; a client may have as many requests waiting as it may run, and a request beyond that is dropped without an answer (the client's retransmission tries again). A slot is held until the session's worker, and every process it started, is gone. Clients behind one NAT address share the limit."},
	{long: []string{"max-spawning"}, arg: "N", section: "Workers and limits",
		help: "at most N pool refills starting workers at once (default 1; 0: no bound)",
		man:  "At most N pool refills (--prefork) starting workers at once (default 1; 0: no bound, which is at most 4). Refills then take turns instead of competing with the running transfers for the CPUs. A worker started for a waiting request, when the pool is empty, never waits for a turn."},
	{long: []string{"worker-memory-limit"}, arg: "SIZE", section: "Workers and limits",
		help: "bound each worker's memory (default 256M; 0: no limit)",
		man:  "Bound each worker's memory to SIZE bytes (K, M or G suffixes; default 256M, at least 128M; 0: no limit): a hard limit on its data segment (RLIMIT_DATA: an allocation beyond fails and ends that one session), and half of it as the Go runtime's soft limit (GOMEMLIMIT), under which workers run without garbage collection (GOGC=off). An idle worker maps about 75 MiB of data, of which 2 to 5 MiB are resident."},
	{long: []string{"queue-size"}, arg: "N", section: "Workers and limits",
		help: "at most N requests waiting for a worker (default 10000; 0: no queue)",
		man:  "At most N requests wait in the admission queue for a worker (default 10000, about 5 MiB; 0: no queue, a request beyond --max-workers is then dropped, or refused with --busy-error). Waiting requests are served round robin across client addresses (an IPv6 /64 counting as one), the oldest of each client first; a client's retransmission of a waiting request keeps its place and takes no second one. A request that finds the queue full is dropped without an answer and counted (fbtftp_queue_dropped_total{reason=\"full\"}); /healthz then says \"admission queue saturated\". A booting machine that gets no answer retransmits and boots late; one that gets an ERROR fails its boot."},
	{long: []string{"queue-timeout"}, arg: "D", section: "Workers and limits",
		help: "forget a waiting request its client has not resent for D (default 6s)",
		man:  "Drop a waiting request its client has not sent again for D (a Go duration; default 6s): the client gave up, or moved on to its next boot device, and a worker sent to it would retransmit into the void. Each retransmission restarts the time and keeps the request's place. The default outlasts the steady retransmit interval of common boot firmware (EDK2 UEFI PXE 4 s, U-Boot 5 s, GRUB 0.4 to 1.2 s, iPXE doubling from 0.25 s) so that a client still asking never loses its place, while one that gave up is forgotten within seconds. A client whose interval is longer re-enters the queue at its next retransmission, behind the others."},
	{long: []string{"busy-error"}, section: "Workers and limits",
		help: "answer requests beyond --max-workers with ERROR 0 \"server busy\" instead of queueing them",
		man:  "Answer a request beyond --max-workers with ERROR 0 \"server busy\" at once instead of letting it wait in the admission queue (the behaviour before the queue existed; logged, at most 5 lines per 10 s). Boot firmware takes an ERROR as a failed boot and moves on to its next boot device or halts: use it only where clients fail over to another server. Requests beyond --max-sessions-per-client still wait."},
	{long: []string{"sessions-per-worker"}, arg: "N", section: "Workers and limits",
		help: "a worker serves up to N sessions, one at a time (default 1: a fresh process each)",
		man:  "A worker serves up to N sessions, one after another and never two at once, then exits (default 1: every session gets a fresh worker process). Between sessions the worker closes the session's socket and files and starts the next with a new request; its sandbox is applied once. The trade: a later session runs in the address space an earlier one used, so a flaw exploited by one client could see or influence the sessions after it in that process. A worker is not reused after a handler panic, past its session deadline, when it broke the protocol, holds more descriptors than before its first session, has a child process, or its RSS is over --worker-max-rss: it is killed or closed, and a crash still costs only the session it was serving. See docs/security.md."},
	{long: []string{"worker-idle-timeout"}, arg: "D", section: "Workers and limits",
		help: "with --sessions-per-worker, close a worker idle for D (default 30s)",
		man:  "With --sessions-per-worker, a worker that waits D (a Go duration; default 30s) for its next session is closed and exits."},
	{long: []string{"worker-max-rss"}, arg: "SIZE", section: "Workers and limits",
		help: "with --sessions-per-worker, kill a worker whose RSS exceeds SIZE after a session (default 128M; 0: no bound)",
		man:  "With --sessions-per-worker, the master reads a worker's resident set size from /proc after each session and kills, instead of reusing, a worker over SIZE bytes (K, M, G suffixes; default 128M; 0: no bound)."},
	{long: []string{"drain-timeout"}, arg: "D", section: "Workers and limits",
		help: "on SIGTERM let sessions finish for D (default 30s)",
		man:  "On SIGTERM or SIGINT, stop reading requests and let running sessions finish for D (a Go duration: 30s, 2m; default 30s), then stop their workers."},
	{long: []string{"no-landlock"}, section: "Workers and limits",
		help: "do not confine workers' file access with Landlock",
		man:  "Do not restrict the workers' file access with Landlock (by default, where the kernel has it, workers may only touch the served directories and the HTTP cache)."},
	{long: []string{"no-seccomp"}, section: "Workers and limits",
		help: "do not limit workers' system calls with seccomp",
		man:  "Do not limit the workers' system calls with the seccomp allow-list (by default, on linux/amd64 and linux/arm64, a worker that makes a call outside what sessions need is killed with SIGSYS; custom workers that need more run with this option)."},
	{long: []string{"metrics-addr"}, arg: "HOST:PORT", section: "Workers and limits",
		help: "serve Prometheus metrics there",
		man:  "Serve Prometheus metrics on http://HOST:PORT/metrics and a health check on /healthz (200, or 503 while draining, not yet serving, or while workers fail to start). The listener serves until the drain is over. Off by default."},

	// HTTP origins.
	{long: []string{"http-origin"}, arg: "URL", section: "HTTP origins",
		help: "serve names not found locally from URL + name (runs fbtftp-worker-http)",
		man:  "Serve names missing from the root from URL followed by the name, streamed while they are sent. Runs fbtftp-worker-http instead of fbtftp-worker."},
	{long: []string{"http-allow-origin"}, arg: "URL", section: "HTTP origins",
		help: "an origin map rules may route to, besides those they spell out",
		man:  "An origin map rules may route to, besides the ones they spell out. Repeatable, or comma-separated."},
	{long: []string{"http-allow-net"}, arg: "CIDR", section: "HTTP origins",
		help: "connect only to these addresses (repeatable)",
		man:  "The only networks workers may connect to (an address or ADDR/BITS). Repeatable, or comma-separated."},
	{long: []string{"http-cache"}, arg: "DIR", section: "HTTP origins",
		help: "keep origin objects in DIR, outside the root (shared by all workers)",
		man:  "Keep origin objects in DIR, which must lie outside every served directory (say /var/cache/fbtftp); it is created mode 0700 for the -u user. All workers share it: a boot storm costs the origin one fetch."},
	{long: []string{"http-cache-size"}, arg: "N[K|M|G]", section: "HTTP origins",
		help: "cache size bound, fills in progress included (default 1G)",
		man:  "Bound of the bytes of the cache's objects at every moment, fills in progress included (default 1G): a fill reserves its bytes before writing them, evicting the least recently used objects; a chunked body that outgrows the cache is streamed past it, uncached."},
	{long: []string{"http-cache-entries"}, arg: "N", section: "HTTP origins",
		help: "at most N cached objects (default 10000)",
		man:  "Bound of the number of cached objects (default 10000), two files each at rest; least recently used ones are evicted."},
	{long: []string{"http-cache-max-age"}, arg: "D", section: "HTTP origins",
		help: "serve cached objects unrevalidated for D (default 0: always revalidate)",
		man:  "Serve a cached object without asking the origin for D after it was fetched or revalidated (default 0: revalidate every download with ETag or Last-Modified)."},
	{long: []string{"http-connect-timeout"}, arg: "D", section: "HTTP origins",
		help: "TCP connect and TLS handshake bound (default 5s)"},
	{long: []string{"http-timeout"}, arg: "D", section: "HTTP origins",
		help: "longest wait for the origin's headers (default 10s) or body bytes (30s)",
		man:  "Longest wait for the origin's response headers (default 10s) and for each read of the body (default 30s)."},
	{long: []string{"http-max-size"}, arg: "N[K|M|G]", section: "HTTP origins",
		help: "refuse larger origin objects"},
	{long: []string{"http-fill-timeout"}, arg: "D", section: "HTTP origins",
		help: "stop a cache fill D after its session ended (default 5m)",
		man:  "How long a cache fill may go on after the session that started it ended, for example after a UEFI size probe (default 5m); the worker then stops it, deletes its temporary file, logs it and exits."},
	{long: []string{"http-client-headers"}, section: "HTTP origins",
		help: "tell the origin who asks (X-TFTP-Client-IP, -MAC, -Filename, X-TFTP-Server-IP)",
		man:  "Tell the origin who asks, for per-machine answers: X-TFTP-Client-IP, X-TFTP-Client-MAC, X-TFTP-Filename and X-TFTP-Server-IP headers. Answers marked Cache-Control: private are never cached."},

	// Logs and information.
	{short: 'v', long: []string{"verbose"}, section: "Logs and information",
		help: "more logging (repeatable: -v requests, -vv packets)",
		man:  "More logging, repeatable: -v adds a line per request and the workers' decisions, -vv a line per packet with its block number."},
	{long: []string{"verbosity"}, arg: "N", section: "Logs and information",
		help: "set the verbosity (as N times -v)"},
	{long: []string{"log-format"}, arg: "json|console", section: "Logs and information",
		help: "json or console (default: console on a terminal, else json)",
		man:  "Log format of the master and its workers: one JSON object per line, or console text. Default: console when standard error is a terminal, else json. Durations are numbers of seconds."},
	{long: []string{"stderr"}, section: "Logs and information",
		help: "keep logging to standard error with -l",
		man:  "With -l, keep logging to the caller's standard error instead of syslog (a caller capturing it then waits for the server to exit)."},
	{short: 'V', long: []string{"version"}, section: "Logs and information",
		help: "print the version and exit",
		man:  "Print the version line and exit 0; like in.tftpd, whatever follows on the command line."},
	{short: 'h', long: []string{"help"}, section: "Logs and information",
		help: "print this help and exit"},
}

// manText is the man page's paragraph for d.
func (d optionDoc) manText() string {
	if d.man != "" {
		return d.man
	}
	return strings.ToUpper(d.help[:1]) + d.help[1:] + "."
}

// spellings is "-s, --secure, --chroot" (with " ARG" after the first when
// the option takes one).
func (d optionDoc) spellings() string {
	var names []string
	if d.short != 0 {
		names = append(names, "-"+string(d.short))
	}
	for _, l := range d.long {
		names = append(names, "--"+l)
	}
	s := strings.Join(names, ", ")
	if d.arg != "" {
		s += " " + d.arg
	}
	return s
}

// usage is the --help text, from optionDocs.
func usage(prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Usage: %[1]s [options] -s DIRECTORY          (socket on standard input: inetd, xinetd, systemd)
       %[1]s -l|-L [options] -s DIRECTORY    (standalone)
       %[1]s [options] DIRECTORY...          (absolute file names under the directories)
`, prog)
	for _, sec := range optionSections {
		fmt.Fprintf(&b, "%s:\n", sec)
		for _, d := range optionDocs {
			if d.section != sec {
				continue
			}
			help := d.help
			if d.more != nil {
				help += "\n" + strings.Repeat(" ", 32) + d.more()
			}
			sp := d.spellings()
			if d.short == 0 {
				sp = "    " + sp
			}
			if len(sp) <= 28 {
				fmt.Fprintf(&b, "  %-30s%s\n", sp, help)
			} else {
				fmt.Fprintf(&b, "  %s  %s\n", sp, help)
			}
		}
	}
	fmt.Fprintf(&b, "The manual: man fbtftp-master (docs/man/fbtftp-master.8 in the source).\n")
	return b.String()
}

// getoptTable expands optionDocs into the parser's table: one entry per
// long spelling, the short letter on each, with the setter of the option's
// first long name. An option in optionDocs without a setter panics (a
// programming error, caught by every test that parses a command line).
func getoptTable(setters map[string]func(name, arg string) error) []getopt.Option {
	var t []getopt.Option
	for _, d := range optionDocs {
		set := setters[d.long[0]]
		if set == nil {
			panic("option --" + d.long[0] + " has no setter")
		}
		for _, l := range d.long {
			t = append(t, getopt.Option{Short: d.short, Long: l, HasArg: d.arg != "", Set: set})
		}
	}
	return t
}
