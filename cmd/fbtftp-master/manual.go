package main

import (
	"fmt"
	"strings"
)

// The man pages fbtftp-master(8) and fbtftp-worker(8), generated from
// optionDocs (help.go) and the sections below. `make man` writes them to
// docs/man/; TestManPages fails while the committed pages differ from what
// this file generates, and when an option the parser accepts is missing.

// manSection is a titled section of prose: paragraphs, or tagged
// paragraphs (.TP) when a paragraph starts with a tag and a tab.
type manSection struct {
	title string
	paras []string
}

var masterDescription = []string{
	"fbtftp-master is a TFTP server (RFC 1350, with the options of RFC 2347, 2348, 2349 and 7440, and tftpd-hpa's utimeout, rollover and blksize2) that serves each session in its own worker process. The master runs as root and never opens the content: it reads each request, answers what needs no file system (malformed requests are dropped, unknown modes and uploads when they are disabled get an ERROR, requests beyond --max-workers wait in a bounded admission queue, fair across clients, until a worker is free), creates the session's UDP socket bound to the address the client talked to, and hands the socket and the request to a worker over a socketpair. The worker, fbtftp-worker(8), has chrooted into the root and dropped to the -u user (and confined itself with Landlock) before it reads the request; it runs the transfer, reports the session's statistics and exits. The master logs one line per session and counts it in its metrics.",
	"The command line is tftpd-hpa's in.tftpd(8)'s: the same options mean the same, and init scripts, inetd and xinetd entries and systemd units written for in.tftpd work unchanged with fbtftp-master in its place.",
	"Without -l or -L the server runs in inetd mode: the listening socket is standard input, and the server exits after -t seconds without requests. With sockets passed by systemd socket activation it serves those.",
	"Only world-readable regular files are served, and only existing world-writable files are overwritten by uploads, unless -p. A name with a \"..\" component, a symbolic link leading out of the root, a directory or a device is refused. An upload is written to a temporary file next to its target and renamed over it once complete: an aborted upload leaves the old file.",
}

var masterSections = []manSection{
	{"SIGNALS", []string{
		"SIGTERM, SIGINT\tStop reading requests, let running sessions finish for --drain-timeout, then stop their workers and exit 0. /healthz answers 503 and /metrics is served until then.",
		"SIGHUP\tReread and check the -m map file and the --template-data file and replace the idle workers, so that new sessions use them. A file that became unreadable or invalid keeps the last good configuration in force (logged, and counted in fbtftp_config_reloads_total{result=\"failure\"}); in.tftpd exits instead. In inetd mode the server exits, as in.tftpd does.",
		"SIGUSR2\tUpgrade without downtime (nginx's binary upgrade): start the binary at the master's path now (a package upgrade's new file) with the same arguments, and hand it the listening sockets and the metrics listener. Once the new master serves (pid file written, MAINPID= sent to systemd), this one stops reading requests, lets its sessions run to their end (their stats logged and counted; its metrics carried over to the new master's /metrics) and exits 0. If the new binary fails to start, exits or is not serving within 30 seconds, it is killed, the error is logged (\"upgrade failed: still serving\") and this master goes on serving. Ignored in inetd mode, and after a master has handed over. Under systemd: systemctl kill --kill-whom=main -s USR2 fbtftp.service. See docs/upgrade.md.",
		"Workers receive no signal from the terminal or the service manager: under systemd, KillMode=mixed sends SIGTERM to the master alone.",
	}},
	{"EXIT STATUS", []string{
		"0\tA clean shutdown (SIGTERM, SIGINT, the inetd idle timeout), -V, --help.",
		"1\tAn error while serving.",
		"64\tA usage error: an unknown option, a bad value, a missing or extra directory (EX_USAGE).",
		"66\tA missing -s directory, worker binary or map file, an unresolvable address (EX_NOINPUT).",
		"67\tThe -u user does not exist (EX_NOUSER).",
		"71\tA socket cannot be bound, or sockets are missing (EX_OSERR).",
		"73\tThe --http-cache directory cannot be created (EX_CANTCREAT).",
		"74\tinetd mode without a socket on standard input (EX_IOERR).",
		"78\tAn invalid map file, or an --http-cache directory inside the root (EX_CONFIG).",
	}},
	{"ENVIRONMENT", []string{
		"LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES\tsystemd socket activation (sd_listen_fds(3)): the sockets passed as descriptors 3 and up. They are removed from the environment before workers start.",
		"HTTP_PROXY, HTTPS_PROXY, NO_PROXY\tThe proxy fbtftp-worker-http uses to reach HTTP origins (workers inherit the master's environment).",
		"NOTIFY_SOCKET\tsystemd's notification socket (sd_notify(3), Type=notify): the master sends READY=1 once it serves, MAINPID= when it hands over on SIGUSR2, STOPPING=1 when it stops. Removed from the environment before workers start.",
		"FBTFTP_UPGRADE\tSet by a master for the new master it starts on SIGUSR2: which inherited descriptors are the handed-over sockets. Removed at once.",
		"FBTFTP_*\tOtherwise set by the master for its workers (see fbtftp-worker(8)); not read by the master.",
	}},
	{"FILES", []string{
		"/usr/libexec/fbtftp/fbtftp-worker\tThe stock worker (see --worker).",
		"/usr/libexec/fbtftp/fbtftp-worker-http\tThe stock worker with HTTP origins.",
		"/srv/tftp\tThe served directory of the packaged service, owned by the tftp user.",
		"/var/cache/fbtftp\tThe HTTP origin cache of the packaged service (--http-cache).",
		"/etc/default/fbtftp\tThe packaged service's settings: TFTP_USERNAME, TFTP_DIRECTORY, TFTP_ADDRESS, TFTP_OPTIONS as tftpd-hpa's, and FBTFTP_OPTIONS for this server's own options.",
		"/etc/default/tftpd-hpa\tRead by the packaged service after /etc/default/fbtftp when it exists: its TFTP_ variables win, so a tftpd-hpa configuration carries over.",
		"/lib/systemd/system/fbtftp.socket\tThe socket unit: UDP port 69 on every address.",
		"/lib/systemd/system/fbtftp.service\tThe hardened service it activates.",
		"/dev/log\tsyslog, where -l and inetd mode send the logs when standard error leads nowhere.",
	}},
	{"NOTES", []string{
		"Differences from in.tftpd: unknown options are refused, not ignored; -a is repeatable; \"..\" is always refused; errors are answered with RFC codes and texts, never strerror(3). docs/compatibility.md in the source lists them all.",
		"The master never runs content code. Workers treat requests as untrusted, and the master treats workers as untrusted: every message between them is bounded and strictly decoded.",
	}},
	{"EXAMPLES", []string{
		"Debian's invocation, standalone:\n\tfbtftp-master --listen --user tftp --address :69 --secure /srv/tftp",
		"With HTTP origins, a cache and metrics:\n\tfbtftp-master -L -s /srv/tftp -u tftp --http-origin http://repo.example/tftp/ --http-cache /var/cache/fbtftp --metrics-addr 127.0.0.1:9169",
	}},
	{"SEE ALSO", []string{
		"fbtftp-worker(8), in.tftpd(8), tftp(1), systemd.socket(5), inetd.conf(5)",
	}},
}

var workerDescription = []string{
	"fbtftp-worker serves one TFTP session (or, with --sessions-per-worker, several one after another) for fbtftp-master(8), which starts it (or keeps a few ready with --prefork): it is not meant to be run by hand, and says so and exits 2 when it is. fbtftp-worker-http is the same worker with HTTP origins (--http-origin, map rules routing to URLs); the master runs it only then, because net/http makes every start slower.",
	"On start the worker reads its configuration from the environment, reads the map rules and template data the master checked (descriptor 4; it never reads those files itself), opens what it needs outside the root (the HTTP cache directory), then confines itself: chroot(2) into the root when -s is given and the master runs as root, setgroups(2), setgid(2) and setuid(2) to the -u user, the no_new_privs flag, and Landlock rules limiting it to the served directories and the cache. Only then does it tell the master it is ready and receive a request. It resolves the content (remap rules, the file, a NAME.tmpl template rendered for the client, or the HTTP origin), negotiates the options, runs the transfer on the session socket the master passed, reports the session's statistics and exits.",
	"The worker takes no options; arguments are ignored.",
}

var workerSections = []manSection{
	{"FILES", []string{
		"descriptor 3\tThe worker's end of an AF_UNIX SOCK_SEQPACKET socketpair with the master: a Hello from the worker, one request with the session's UDP socket attached (SCM_RIGHTS), the statistics back. End of file means the master is gone: the worker stops at once.",
		"descriptor 4\tA sealed memfd(2) with the map rules (-m) and the template data (--template-data) as the master read and checked them at start or at its last SIGHUP: workers never read those files, so an edit takes effect on SIGHUP.",
		"descriptors 1 and 2\tThe master's standard error: the worker's log lines join the master's, in its format.",
	}},
	{"ENVIRONMENT", []string{
		"FBTFTP_CHROOT, FBTFTP_UID, FBTFTP_GID, FBTFTP_GROUPS\tThe sandbox: the directory to chroot into, the user and groups to switch to.",
		"FBTFTP_LANDLOCK, FBTFTP_FS_READ, FBTFTP_FS_WRITE\tLandlock on or off, and the directories the worker may read, or read and write.",
		"FBTFTP_LOG_FORMAT\tThe master's log format (json or console), for lines written before and after the session.",
		"FBTFTP_HTTP_ORIGIN, FBTFTP_HTTP_ORIGINS, FBTFTP_HTTP_ALLOW_NET, FBTFTP_HTTP_CACHE, FBTFTP_HTTP_CACHE_SIZE, FBTFTP_HTTP_CACHE_MAX_AGE, FBTFTP_HTTP_CONNECT_TIMEOUT, FBTFTP_HTTP_HEADER_TIMEOUT, FBTFTP_HTTP_IDLE_TIMEOUT, FBTFTP_HTTP_MAX_SIZE, FBTFTP_HTTP_CLIENT_HEADERS\tfbtftp-worker-http's --http-* settings.",
		"HTTP_PROXY, HTTPS_PROXY, NO_PROXY\tThe proxy fbtftp-worker-http uses.",
		"GOMAXPROCS\tSet to 1 by the master: a worker serves one session.",
	}},
	{"SIGNALS", []string{
		"SIGTERM, SIGINT\tEnd the session: the client gets ERROR 0 and the outcome is \"shutdown\". The master sends SIGTERM when --drain-timeout runs out.",
	}},
	{"EXIT STATUS", []string{
		"0\tThe session was served, whatever the client did, or the master closed an idle worker.",
		"1\tThe worker could not start or confine itself, or the session failed on the server's side (also in the master's session line).",
		"2\tNot started by fbtftp-master.",
	}},
	{"SEE ALSO", []string{
		"fbtftp-master(8), chroot(2), landlock(7)",
	}},
}

// manPage renders a page: the header, NAME, SYNOPSIS, DESCRIPTION, the
// options (when any) and the other sections.
func manPage(name, summary string, synopsis [][2]string, description []string, options bool, sections []manSection) string {
	var r roff
	r.line(`.TH "%s" "8" "" "fbtftp-go" "System Manager's Manual"`, roffEscape(strings.ToUpper(name)))
	r.line(".SH NAME")
	r.line("%s \\- %s", roffEscape(name), roffEscape(summary))
	r.line(".SH SYNOPSIS")
	for i, s := range synopsis {
		if i > 0 {
			r.line(".br")
		}
		r.line(".B %s", roffEscape(s[0]))
		r.line("%s", roffEscape(s[1]))
	}
	r.line(".SH DESCRIPTION")
	for _, p := range description {
		r.para(p)
	}
	if options {
		r.line(".SH OPTIONS")
		r.para("Options are parsed like getopt_long(3): short options can be grouped (-vvL), arguments attached or separate, long options abbreviated while unambiguous, \"--\" ends them.")
		for _, sec := range optionSections {
			r.line(".SS %s", roffEscape(sec))
			for _, d := range optionDocs {
				if d.section == sec {
					r.line(".TP")
					r.line("%s", d.manTag())
					r.line("%s", roffText(d.manText()))
				}
			}
		}
	}
	for _, s := range sections {
		r.line(".SH %s", s.title)
		for _, p := range s.paras {
			if tag, text, ok := strings.Cut(p, "\t"); ok && !strings.Contains(tag, "\n") {
				r.line(".TP")
				r.line(`\fB%s\fR`, roffEscape(tag))
				r.line("%s", roffText(text))
				continue
			}
			r.para(p)
		}
	}
	return r.b.String()
}

// masterManPage is fbtftp-master(8).
func masterManPage() string {
	return manPage("fbtftp-master", "TFTP server with one sandboxed worker process per session",
		[][2]string{
			{"fbtftp-master", "[options] -s directory"},
			{"fbtftp-master", "-l|-L [options] -s directory"},
			{"fbtftp-master", "[options] directory..."},
			{"fbtftp-master", "--map-test file"},
		}, masterDescription, true, masterSections)
}

// workerManPage is fbtftp-worker(8).
func workerManPage() string {
	return manPage("fbtftp-worker", "the worker process of fbtftp-master, one per TFTP session",
		[][2]string{
			{"fbtftp-worker", "(started by fbtftp-master)"},
			{"fbtftp-worker-http", "(started by fbtftp-master)"},
		}, workerDescription, false, workerSections)
}

// manTag is the .TP tag of an option: bold spellings, italic argument.
func (d optionDoc) manTag() string {
	var names []string
	if d.short != 0 {
		names = append(names, `\fB\-`+roffEscape(string(d.short))+`\fR`)
	}
	for _, l := range d.long {
		names = append(names, `\fB\-\-`+roffEscape(l)+`\fR`)
	}
	tag := strings.Join(names, ", ")
	if d.arg != "" {
		tag += ` \fI` + roffEscape(d.arg) + `\fR`
	}
	return tag
}

// roff accumulates a page's lines.
type roff struct{ b strings.Builder }

func (r *roff) line(format string, args ...any) {
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteByte('\n')
}

// para is a paragraph; a line of it starting with a tab is an example,
// set unfilled and indented.
func (r *roff) para(p string) {
	r.line(".PP")
	for _, l := range strings.Split(p, "\n") {
		if ex, ok := strings.CutPrefix(l, "\t"); ok {
			r.line(".RS")
			r.line(".nf")
			r.line(`\fB%s\fR`, roffEscape(ex))
			r.line(".fi")
			r.line(".RE")
			continue
		}
		r.line("%s", roffText(l))
	}
}

// roffEscape makes s safe inside a roff line: backslashes are \e and
// hyphens \- (so that options and names copy as ASCII minus signs).
func roffEscape(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffText is roffEscape for a whole text line: a line starting with a
// control character (. or ') gets a zero-width \& first.
func roffText(s string) string {
	s = roffEscape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
