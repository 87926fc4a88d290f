package hostile

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// Environment of the fake workers.
const (
	// workerEnv makes the test binary a worker; its value is the file
	// that holds the mode (read at each start, so a test can change it).
	workerEnv = "FBTFTP_HOSTILE_WORKER"
	// childEnv makes it the child a forking worker leaves behind; its
	// value is the file the child writes its pid to.
	childEnv = "FBTFTP_HOSTILE_CHILD"
	// setsidEnv makes that child leave the worker's process group first.
	setsidEnv = "FBTFTP_HOSTILE_SETSID"
)

// The fake workers' modes.
const (
	modeGood          = "good"            // fbtftp.ServeWorker with 1000 bytes for every name
	modeNoHello       = "no-hello"        // never says Hello
	modeEarlyStats    = "early-stats"     // Stats right after Hello, before any Handoff
	modeForkExit      = "fork-exit"       // starts a child holding its fds, exits without Stats
	modeStatsForkExit = "stats-fork-exit" // Stats, then the same
	modeSetsidFork    = "setsid-fork-exit"
	modeDupStats      = "dup-stats"      // Stats twice, then waits
	modeOversized     = "oversized"      // a 70 KB message, then waits
	modeStatsWithFD   = "stats-fd"       // Stats carrying a descriptor, then waits
	modeLyingStats    = "lying-stats"    // absurd Stats, then exits
	modeHold          = "hold"           // no Stats, never exits, ignores SIGTERM
	modeOverrun       = "overrun"        // Stats, then never exits, ignores SIGTERM
	modeCloseLinger   = "close-linger"   // closes its end, never exits
	modeForkHold      = "fork-hold"      // starts a child holding its fds, never exits, ignores SIGTERM
	modeOrigin        = "origin"         // Stats, then its origin work after the session (OriginStats), then exits
	modeOriginTwice   = "origin-twice"   // Stats, then OriginStats twice, then waits
	modeOriginLies    = "origin-lies"    // Stats, then absurd OriginStats, then exits
	modeProgressFlood = "progress-flood" // 200 Progress reports at once, then waits
	modeProgressLies  = "progress-lies"  // an absurd Progress report, then believable Stats, then exits
	modeProgressLate  = "progress-late"  // Stats, then a Progress report, then waits

	// Reuse (--sessions-per-worker): arg is a file the worker creates if
	// it ever gets a second Handoff.
	modeReadyEarly     = "ready-early"     // Ready before its Stats, then waits
	modeReadyTwice     = "ready-twice"     // Stats, Ready, Ready, then waits for a Handoff
	modeReadyHolding   = "ready-holding"   // Stats, Ready with the session socket still open, then waits for a Handoff
	modeReadyUninvited = "ready-uninvited" // Stats, Ready after a Handoff without Reuse, then waits for a Handoff
)

// runFakeWorker is the fake worker's main.
func runFakeWorker(modeFile string) int {
	if pidFile := os.Getenv(childEnv); pidFile != "" {
		return runLeftChild(pidFile)
	}
	b, _ := os.ReadFile(modeFile)
	mode, arg, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	var sent *os.File // ready-twice: written once both Readys are out
	if mode == modeReadyTwice {
		// Opened before Hello, so that the descriptor count the master
		// checks before a reuse does not change when it is written.
		sent, _ = os.Create(arg + ".sent")
	}
	if mode == modeGood {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		h := fbtftp.HandlerFunc(func(context.Context, *fbtftp.Request) (fbtftp.ResponseData, error) {
			return fbtftp.BytesResponse(make([]byte, 1000)), nil
		})
		if err := fbtftp.ServeWorker(ctx, h, fbtftp.WorkerConfig{}); err != nil {
			return 1
		}
		return 0
	}
	if mode == modeNoHello {
		time.Sleep(time.Hour)
		return 0
	}
	// A raw copy of the socketpair end, for what the protocol never does.
	raw, err := unix.Dup(ipc.WorkerFD)
	if err != nil {
		return 1
	}
	conn, err := ipc.FromFD(ipc.WorkerFD)
	if err != nil {
		return 1
	}
	if err := conn.SendHello(); err != nil {
		return 1
	}
	if mode == modeEarlyStats {
		conn.SendStats(fakeStats(nil))
	}
	ho, sock, err := conn.RecvHandoff()
	if err != nil {
		return 0
	}
	switch mode {
	case modeReadyEarly:
		conn.SendReady()
		time.Sleep(time.Hour)
	case modeReadyTwice, modeReadyUninvited, modeReadyHolding:
		conn.SendStats(fakeStats(ho))
		if mode != modeReadyHolding {
			sock.Close()
		}
		conn.SendReady()
		if mode == modeReadyTwice {
			conn.SendReady()
			sent.Write([]byte("both")) // both are in the master's socket now
		}
		if _, _, err := conn.RecvHandoff(); err == nil {
			os.WriteFile(arg, []byte("a second session"), 0o644)
		}
		time.Sleep(time.Hour)
	case modeEarlyStats:
		conn.SendStats(fakeStats(ho))
	case modeForkExit, modeSetsidFork:
		leaveChild(raw, sock, arg, mode == modeSetsidFork)
	case modeStatsForkExit:
		conn.SendStats(fakeStats(ho))
		leaveChild(raw, sock, arg, false)
	case modeForkHold:
		signal.Ignore(syscall.SIGTERM)
		startChild(raw, sock, arg, false)
		time.Sleep(time.Hour)
	case modeDupStats:
		conn.SendStats(fakeStats(ho))
		conn.SendStats(fakeStats(ho))
		time.Sleep(time.Hour)
	case modeOversized:
		unix.Sendmsg(raw, make([]byte, 70_000), nil, nil, 0)
		time.Sleep(time.Hour)
	case modeStatsWithFD:
		msg, _ := ipc.AppendStats(nil, fakeStats(ho))
		unix.Sendmsg(raw, msg, unix.UnixRights(0), nil, 0)
		time.Sleep(time.Hour)
	case modeLyingStats:
		st := fakeStats(ho)
		st.Bytes, st.PacketsSent, st.PacketsReceived = 18_000_000_000_000_000_000, 1<<60, 1<<60
		st.Retransmits, st.Duration, st.Start = 1<<62, 1000*time.Hour, time.Unix(0, 0)
		st.Blksize, st.Windowsize = 1<<30, 1<<30
		st.OptionsAcked = []proto.Option{{Name: "x-not-requested", Value: "1"}}
		st.Filename, st.Peer = "/etc/shadow", netip.MustParseAddrPort("192.0.2.1:69")
		conn.SendStats(st)
	case modeOrigin:
		conn.SendStats(fakeStats(ho))
		conn.SendOriginStats(&stats.OriginStats{Requests: 1, Fills: 1, Latencies: []time.Duration{time.Millisecond}})
	case modeOriginTwice:
		conn.SendStats(fakeStats(ho))
		conn.SendOriginStats(&stats.OriginStats{Requests: 1, Fills: 1})
		conn.SendOriginStats(&stats.OriginStats{Requests: 1, Fills: 1})
		time.Sleep(time.Hour)
	case modeOriginLies:
		conn.SendStats(fakeStats(ho))
		conn.SendOriginStats(&stats.OriginStats{Requests: 1 << 60, Fills: 1 << 60, Evictions: 1 << 60,
			EvictedBytes: 18_000_000_000_000_000_000, Latencies: []time.Duration{1000 * time.Hour}})
	case modeProgressFlood:
		for range 200 {
			conn.TrySendProgress(fakeProgress(ho))
		}
		time.Sleep(time.Hour)
	case modeProgressLies:
		p := fakeProgress(ho)
		p.Bytes, p.PacketsSent, p.PacketsReceived, p.Retransmits = 18_000_000_000_000_000_000, 1<<60, 1<<60, 1<<62
		p.Blksize, p.Windowsize = 1<<30, 1<<30
		conn.TrySendProgress(p)
		conn.SendStats(fakeStats(ho))
	case modeProgressLate:
		conn.SendStats(fakeStats(ho))
		conn.TrySendProgress(fakeProgress(ho))
		time.Sleep(time.Hour)
	case modeHold:
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	case modeOverrun:
		conn.SendStats(fakeStats(ho))
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	case modeCloseLinger:
		conn.Close()
		unix.Close(raw)
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	}
	return 0
}

// fakeStats is a success with a believable transfer of 1000 bytes.
func fakeStats(ho *ipc.Handoff) *stats.SessionStats {
	st := &stats.SessionStats{Op: proto.OpRRQ, Outcome: stats.OutcomeSuccess, Tsize: -1, Blksize: 512, Windowsize: 1,
		PacketsSent: 2, PacketsReceived: 2, Bytes: 1000, Start: time.Now(), WorkerPID: os.Getpid()}
	if ho != nil {
		st.SessionID, st.Peer, st.Local, st.Filename = ho.SessionID, ho.Peer, ho.Local, ho.Filename
	}
	return st
}

// fakeProgress is a believable report halfway through fakeStats.
func fakeProgress(ho *ipc.Handoff) *stats.Progress {
	return &stats.Progress{SessionID: ho.SessionID, Bytes: 500, PacketsSent: 1, PacketsReceived: 1, Size: 1000,
		Blksize: 512, Windowsize: 1, Source: stats.SourceFile}
}

// leaveChild starts a child that holds the worker's end of the socketpair
// (as its descriptor 3) and the session socket, writes its pid to
// pidFile and waits to be killed; the worker then exits.
func leaveChild(raw int, sock *os.File, pidFile string, setsid bool) {
	startChild(raw, sock, pidFile, setsid)
	os.Exit(0)
}

// startChild starts that child and waits until it runs (its pid file
// exists): the master must not count on it being gone.
func startChild(raw int, sock *os.File, pidFile string, setsid bool) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+pidFile)
	if setsid {
		cmd.Env = append(cmd.Env, setsidEnv+"=1")
	}
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(raw), "ipc"), sock}
	if err := cmd.Start(); err != nil {
		os.Exit(1)
	}
	for range 1000 {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runLeftChild is the child a forking worker leaves: it writes its pid and
// sleeps, ignoring SIGTERM.
func runLeftChild(pidFile string) int {
	signal.Ignore(syscall.SIGTERM)
	if os.Getenv(setsidEnv) != "" {
		syscall.Setsid()
	}
	tmp := pidFile + ".tmp"
	os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o644)
	os.Rename(tmp, pidFile)
	time.Sleep(time.Hour)
	return 0
}

// modeFileFor writes mode (and its argument) to a fresh file in dir.
func writeMode(file, mode, arg string) error {
	return os.WriteFile(filepath.Clean(file), []byte(mode+" "+arg), 0o644)
}
