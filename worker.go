package fbtftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/neigh"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/internal/transfer"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/wlog"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// ErrNotStartedByMaster is returned by ServeWorker when the process was not
// started by fbtftp-master (for example, run by hand).
var ErrNotStartedByMaster = ipc.ErrNotStartedByMaster

// WorkerConfig configures ServeWorker. The zero value works.
type WorkerConfig struct {
	// Logger receives the worker's logs. Nil builds one from the master's
	// settings (format and verbosity), writing to standard error, which
	// the worker shares with the master: one log stream results.
	Logger *slog.Logger
}

// ServeWorker is the whole life of a worker process, for a custom worker's
// main: Connect, then Serve. It returns ErrNotStartedByMaster when there is
// no master, nil when the master went away before handing a session over,
// and otherwise the session's error, if any (already reported to the
// master).
func ServeWorker(ctx context.Context, h Handler, cfg WorkerConfig) error {
	w, err := Connect()
	if err != nil {
		return err
	}
	return w.Serve(ctx, h, cfg)
}

// Worker is a worker process's side of its master, between Connect and
// Serve. Its methods give what the master checked and handed over for a
// handler to be built with, before the sandbox is in place.
type Worker struct {
	conn *ipc.Conn
	spec sandbox.Spec
	wc   *ipc.WorkerConfig
	// rules are wc's map rules, parsed; nil when none.
	rules *remap.Rules
}

// Connect connects to the master that started this process (descriptor 3)
// and reads the configuration it handed over (descriptor 4): the sandbox to
// apply, the checked map rules and template data. The process is not
// confined yet: a handler that needs a file outside the served directory
// (a cache, a certificate) opens it between Connect and Serve.
//
// It returns an error wrapping ErrNotStartedByMaster when the process was
// not started by fbtftp-master or server.Server (run by hand).
func Connect() (*Worker, error) {
	conn, err := ipc.FromFD(ipc.WorkerFD)
	if err != nil {
		return nil, err
	}
	w := &Worker{conn: conn}
	if err := w.init(); err != nil {
		conn.Close()
		return nil, err
	}
	return w, nil
}

func (w *Worker) init() error {
	var err error
	if w.spec, err = sandbox.FromEnv(os.Getenv); err != nil {
		return err
	}
	if w.wc, err = ipc.ReadWorkerConfig(ipc.ConfigFD); err != nil {
		return err
	}
	if len(w.wc.MapRules) > 0 {
		// Checked by the master: an error here means a broken master.
		if w.rules, err = remap.Parse(bytes.NewReader(w.wc.MapRules)); err != nil {
			return fmt.Errorf("map rules: %w", err)
		}
	}
	return nil
}

// TemplateData returns the template data file the master checked
// (fbtftp-master --template-data, server.Server.TemplateData), for
// fileserver.Config.TemplateData; nil when none.
func (w *Worker) TemplateData() []byte { return w.wc.TemplateData }

// RoutePrefixes returns the URL prefixes the master's map rules route
// names to (httporigin.Handler.Allow takes them); nil when none.
func (w *Worker) RoutePrefixes() []string {
	if w.rules == nil {
		return nil
	}
	return w.rules.URLPrefixes()
}

// Serve confines the process (chroot, unprivileged user, no_new_privs,
// Landlock) as the master asks, says it is ready, waits for a session,
// asks h for the content (for an upload: its WriteHandler for the
// target), runs the transfer (options, OACK, lockstep or windowed DATA,
// retransmissions), reports the session's stats to the master and
// returns. The master's map rules have already rewritten Request.Path.
//
// When the master reuses workers (fbtftp-master --sessions-per-worker),
// Serve serves the sessions it is handed one after another, never two at
// once: after each it closes the session's socket, waits for h's Drain,
// tells the master it is ready again and waits for the next one. The
// sandbox is applied once. Each session gets a new Request and context;
// h itself is shared, so a Handler must keep no state of one session that
// the next could see (fileserver.Server and httporigin.Handler keep
// none). After a session in which h panicked, Serve returns instead of
// taking another one: the process may hold what the panic left half done.
//
// It returns nil when the master went away (or closed an idle worker)
// before handing a session over, and otherwise the last session's error,
// if any (already reported to the master). Cancelling ctx ends the
// session: the client gets ERROR 0 and the outcome is "shutdown"; a worker
// waiting for a session returns nil. So does the master shutting down its
// end of the socketpair, which is how it stops sessions when it shuts
// down: a worker needs no signal handler (os/signal would add two threads
// to every worker). Serve may be called once.
func (w *Worker) Serve(ctx context.Context, h Handler, cfg WorkerConfig) error {
	conn := w.conn
	defer conn.Close()
	applied, err := sandbox.Apply(w.spec)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if err := conn.SendHello(); err != nil {
		return err
	}
	// A cancelled ctx interrupts the wait for a Handoff (session's end
	// re-arms nothing: see the check below).
	stopWait := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stopWait()
	log := cfg.Logger
	for first := true; ; first = false {
		ho, sock, err := conn.RecvHandoff()
		if err != nil {
			if errors.Is(err, io.EOF) || (!first && ctx.Err() != nil) {
				return nil // the master closed an idle worker, or we stop
			}
			return err
		}
		if first {
			if log == nil {
				log = wlog.New(os.Stderr, "worker", ho.Settings.LogFormat, ho.Settings.Verbosity)
			}
			if (w.spec.Landlock || w.spec.Seccomp) && log.Enabled(ctx, slog.LevelDebug) {
				log.Debug("sandbox", slog.String("chroot", w.spec.Chroot), slog.Int("uid", os.Getuid()),
					slog.Int("landlock_abi", applied.LandlockABI), slog.Bool("seccomp", applied.Seccomp))
			}
			// The session socket reads block in recvmsg
			// (udp.SessionConn). With one P, sysmon hands the P off
			// during every wait longer than 20 µs (each ACK), which
			// costs more than the netpoller saves; a second P keeps it
			// idle. No thread or allocation is added by it (measured:
			// docs/benchmarks.md).
			if runtime.GOMAXPROCS(0) < 2 {
				runtime.GOMAXPROCS(2)
			}
		}
		serr, retire := w.session(ctx, h, ho, sock, log)
		if !ho.Reuse || retire {
			return serr
		}
		if ctx.Err() != nil {
			return serr // stopping: the master learns it from the exit
		}
		if err := conn.SendReady(); err != nil {
			return errors.Join(serr, err)
		}
	}
}

// session serves one session handed over with sock (which it closes) and
// reports it to the master. retire is true when the process must not
// serve another session: the handler panicked.
func (w *Worker) session(parent context.Context, h Handler, ho *ipc.Handoff, sock *os.File, log *slog.Logger) (serr error, retire bool) {
	conn := w.conn
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if d := ho.Settings.SessionDeadline; d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	// EOF on the IPC socket means the master is gone: stop at once. A
	// reused worker stops watching once the session is over, so that the
	// next Handoff is read by Serve (the master sends nothing before the
	// worker's Ready).
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		conn.WaitClosed()
		cancel()
	}()
	if ho.Reuse {
		defer func() {
			conn.SetReadDeadline(time.Unix(1, 0))
			<-watching
			conn.SetReadDeadline(time.Time{})
		}()
	}

	sess, err := udp.NewSessionConn(sock)
	sock.Close() // the SessionConn has its own descriptor
	if err != nil {
		return err, true
	}
	st := &stats.SessionStats{
		SessionID:        ho.SessionID,
		Peer:             ho.Peer,
		Local:            ho.Local,
		Filename:         ho.Filename,
		Op:               ho.Op,
		Mode:             ho.Mode,
		WorkerPID:        os.Getpid(),
		OptionsRequested: ho.Options,
		Tsize:            -1,
		Start:            time.Now(),
	}
	req := &Request{
		SessionID: ho.SessionID,
		Op:        ho.Op,
		Filename:  ho.Filename,
		Path:      ho.Filename,
		Mode:      ho.Mode.String(),
		Options:   ho.Options,
		Peer:      ho.Peer,
		Local:     ho.Local,
		Extra:     ho.Settings.Extra,
		Settings:  settingsFromWire(&ho.Settings),
		Logger: log.With(slog.String("session_id", ho.SessionID), slog.String("peer", ho.Peer.String()),
			slog.String("file", ho.Filename)),
	}
	if mac, ok := neigh.Lookup(ho.Peer.Addr()); ok {
		req.MAC = mac
	}
	stop := context.AfterFunc(ctx, sess.Interrupt)
	if err := applyRules(w.rules, req); err != nil {
		serr = refuse(sess, req.Peer, st, err)
	} else {
		serr = serveSession(ctx, h, req, sess, st, progressTo(conn))
	}
	stop()
	// The session is over: the socket goes now, before the master hears
	// of the end and not when the process exits (a Drainer may go on for
	// long): nothing of this session reaches its client after the Stats,
	// and a reused worker holds no descriptor of it when it takes the
	// next. In single-port mode the master holds its own copy, and reads
	// what the client sends from now on (a new request from the same
	// port) as a request.
	sess.Close()
	if st.Duration == 0 {
		st.Duration = time.Since(st.Start)
	}
	var pe *panicError
	retire = errors.As(serr, &pe)
	reporter, _ := implementation[OriginReporter](h)
	if reporter != nil {
		st.Origin = reporter.TakeOriginStats()
	}
	logFailure(req.Logger, st, serr)
	if err := conn.SendStats(st); err != nil {
		return errors.Join(serr, err), true
	}
	if d, ok := implementation[Drainer](h); ok {
		if err := d.Drain(ctx); err != nil && ctx.Err() == nil {
			req.Logger.Warn("background work after the session failed", slog.Any("error", err))
		}
	}
	if reporter != nil {
		// What the session started and did not wait for (a cache fill
		// after a size probe, the eviction after it).
		if late := reporter.TakeOriginStats(); !late.IsZero() {
			if err := conn.SendOriginStats(&late); err != nil {
				req.Logger.Debug("reporting the origin work after the session", slog.Any("error", err))
			}
		}
	}
	// A session that ran into its deadline, or whose master went away,
	// ends the process: the master kills a worker past its deadline.
	return serr, retire || ctx.Err() != nil
}

// serveSession resolves the content and runs the transfer, filling st.
func serveSession(ctx context.Context, h Handler, r *Request, sess *udp.SessionConn, st *stats.SessionStats, report progressFunc) error {
	set := r.Settings
	if r.Op == tftp.OpWRQ {
		return serveUpload(ctx, h, r, sess, st, report)
	}
	data, err := serveTFTP(ctx, h, r)
	if err != nil {
		if ctx.Err() != nil {
			return transfer.Stopped(ctx, st, func(code tftp.ErrorCode, msg string) {
				refuse(sess, r.Peer, st, &tftp.Error{Code: code, Message: msg})
			})
		}
		return refuse(sess, r.Peer, st, err)
	}
	defer data.Close()
	st.Source = sourceOf(data)
	size, known := data.Size()
	if !known {
		size = -1
	}
	var src io.Reader = data
	if r.Mode == "netascii" {
		// tsize is the converted size: known only when the content can be
		// scanned without consuming it.
		if ra, ok := data.(io.ReaderAt); ok && size >= 0 {
			if size, err = proto.NetasciiSize(io.NewSectionReader(ra, 0, size)); err != nil {
				size = -1
			}
		} else {
			size = -1
		}
		src = proto.NewNetasciiEncoder(data)
	}
	params := proto.Negotiate(r.Op, r.Options, proto.Limits{
		MaxBlksize:    set.MaxBlksize,
		MaxWindowsize: set.MaxWindowsize,
		Refuse:        set.Refuse,
	}, size)
	tr := &transfer.Transfer{
		Conn:   sess,
		Peer:   r.Peer,
		Params: params,
		Config: transfer.Config{Timeout: set.Timeout, Retries: set.Retries, Retransmit: retransmitPolicy(set)},
		Stats:  st,
	}
	tr.Config.Trace = packetTrace(ctx, r.Logger, set.Verbosity)
	tr.Config.Progress = report.of(size)
	return tr.Send(ctx, src)
}

// retransmitPolicy is the master's --retransmit choice.
func retransmitPolicy(set *Settings) transfer.Retransmit {
	if set.FixedRetransmit {
		return transfer.RetransmitFixed
	}
	return transfer.RetransmitAdaptive
}

// progressFunc reports a running session's figures to the master, with
// the content's size (-1 unknown).
type progressFunc func(st *stats.SessionStats, size int64)

// progressTo returns the progressFunc that sends Progress messages on
// conn, never waiting (a report the master has no room for is dropped).
func progressTo(conn *ipc.Conn) progressFunc {
	return func(st *stats.SessionStats, size int64) {
		_ = conn.TrySendProgress(&stats.Progress{
			SessionID: st.SessionID, Bytes: st.Bytes, PacketsSent: st.PacketsSent, PacketsReceived: st.PacketsReceived,
			Retransmits: st.Retransmits, Size: min(max(size, -1), ipc.MaxProgressSize), Blksize: st.Blksize,
			Windowsize: st.Windowsize, Source: st.Source, RTT: st.RTT,
		})
	}
}

// of returns the transfer engine's Progress hook for content of size.
func (f progressFunc) of(size int64) func(*stats.SessionStats) {
	if f == nil {
		return nil
	}
	return func(st *stats.SessionStats) { f(st, size) }
}

// applyRules rewrites r.Path with the remap rules, as in.tftpd does before
// any other check; an "a" rule refuses the request (ERROR 2 with the rule's
// message) and an empty result is "File not found".
func applyRules(rules *remap.Rules, r *Request) error {
	if rules == nil {
		return nil
	}
	res := rules.Apply(remap.Request{Filename: r.Filename, Write: r.Op == tftp.OpWRQ, Client: r.Peer.Addr()})
	if res.Abort {
		r.Logger.Info("remap rule refused the request", slog.String("message", res.Message))
		return &tftp.Error{Code: tftp.CodeAccessViolation, Message: res.Message}
	}
	if res.Filename != r.Filename {
		r.Logger.Debug("remapped", slog.String("remapped_to", res.Filename))
	}
	if res.Filename == "" {
		return tftp.ErrNotFound
	}
	r.Path = res.Filename
	return nil
}

// packetTrace returns the engine's per-packet hook: at verbosity
// wlog.VerbosityPackets (-vv) and when the logger wants Debug lines, a line
// per packet with its block number (DATA, ACK) or error code (ERROR); else
// nil (nothing at all is done per packet).
func packetTrace(ctx context.Context, log *slog.Logger, verbosity int) func(string, []byte, netip.AddrPort) {
	if verbosity < wlog.VerbosityPackets || !log.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	return func(dir string, pkt []byte, _ netip.AddrPort) {
		op, _ := proto.PeekOpcode(pkt)
		attrs := [4]slog.Attr{slog.String("dir", dir), slog.String("op", op.String()), slog.Int("len", len(pkt))}
		n := 3
		if len(pkt) >= 4 {
			switch op {
			case proto.OpDATA, proto.OpACK:
				// RFC 1350 §5: opcode, then the 2-byte block number.
				attrs[n] = slog.Int("block", int(binary.BigEndian.Uint16(pkt[2:4])))
				n++
			case proto.OpERROR:
				attrs[n] = slog.Int("error_code", int(binary.BigEndian.Uint16(pkt[2:4])))
				n++
			}
		}
		log.LogAttrs(ctx, slog.LevelDebug, "packet", attrs[:n]...)
	}
}

// logFailure logs a session that failed by our fault, with the stack of a
// handler's panic.
func logFailure(log *slog.Logger, st *stats.SessionStats, err error) {
	if err == nil || st.Outcome != stats.OutcomeServerError {
		return
	}
	if pe := (*panicError)(nil); errors.As(err, &pe) {
		log.Error("session failed", slog.Any("error", err), slog.String("stack", string(pe.stack)))
		return
	}
	log.Error("session failed", slog.Any("error", err))
}

// panicError is a handler's panic, with the goroutine's stack.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panic: %v", e.value) }

// callHandler runs a handler method, turning a panic, or a nil result
// without an error, into an error: the master still gets the stats and the
// client an ERROR.
func callHandler[T comparable](call func() (T, error)) (v T, err error) {
	var zero T
	defer func() {
		if p := recover(); p != nil {
			v, err = zero, &panicError{value: p, stack: debug.Stack()}
		}
	}()
	v, err = call()
	if err == nil && v == zero {
		err = errors.New("handler returned neither a result nor an error")
	}
	return v, err
}

// serveTFTP calls h.ServeTFTP through callHandler.
func serveTFTP(ctx context.Context, h Handler, r *Request) (ResponseData, error) {
	return callHandler(func() (ResponseData, error) { return h.ServeTFTP(ctx, r) })
}

// refuse answers the request with an ERROR and records the outcome.
func refuse(sess *udp.SessionConn, peer netip.AddrPort, st *stats.SessionStats, err error) error {
	code, msg := tftp.WireError(err)
	_ = sess.WritePacket(proto.AppendError(nil, code, msg), peer)
	st.PacketsSent++
	st.ErrorCode, st.ErrorMessage = code, msg
	st.Outcome = stats.OutcomeForCode(code)
	st.Duration = time.Since(st.Start)
	if st.Outcome == stats.OutcomeServerError {
		return err
	}
	return nil
}
