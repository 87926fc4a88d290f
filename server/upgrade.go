package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/metrics"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/upgrade"
)

// Names of the sockets in a handover.
const (
	handoverTFTP    = "tftp"
	handoverMetrics = "metrics"
)

// stateInterval is how often a server that handed over sends its metrics
// to the new one while its last sessions run.
const stateInterval = time.Second

// Handover is what a server started by Upgrade gets from the server that
// started it: the listening sockets (the metrics listener included) and a
// channel to tell it when the new server serves. Set it as
// Server.Handover.
type Handover struct {
	h *upgrade.Handover
}

// TakeHandover returns the handover of a process started by
// Server.Upgrade, or nil, nil when the process was not started so (the
// FBTFTP_UPGRADE variable is absent). It removes the variable from the
// environment. Call it once, early in main.
func TakeHandover() (*Handover, error) {
	h, err := upgrade.Inherit()
	if h == nil || err != nil {
		return nil, err
	}
	return &Handover{h: h}, nil
}

// Parent is the pid of the server that started this one.
func (h *Handover) Parent() int { return h.h.Parent }

// Close closes what a Handover holds that Run did not take (for a program
// that ends before Run).
func (h *Handover) Close() { h.h.Close() }

// UpgradeConfig says what Upgrade starts. The zero value starts the
// running binary again, with the same arguments and environment, in the
// current directory.
type UpgradeConfig struct {
	// Path is the binary; default: the running program's file at its
	// path now (a package upgrade that replaced it is the new version).
	Path string
	// Args are its arguments, argv[0] included; default os.Args.
	Args []string
	// Env is its environment; default os.Environ(). FBTFTP_UPGRADE is
	// added.
	Env []string
	// Dir is its working directory; "" keeps this process's.
	Dir string
	// Timeout bounds the wait for the new server to serve: default 30 s.
	Timeout time.Duration
}

// ErrUpgraded is returned by Upgrade once the server has handed over.
var ErrUpgraded = errors.New("server: already handed over to a new process")

// Upgrade is a zero-downtime upgrade (fbtftp-master's SIGUSR2): it starts
// the program again (cfg) and hands it the listening sockets and the
// metrics listener; the new process's Server takes them over
// (TakeHandover, Server.Handover) and says when it serves. From then on
// this server stops accepting: it reads no more requests, closes its idle
// workers and stops serving metrics, and Run returns once the sessions in
// flight have ended by themselves (ctx ending meanwhile drains them as
// usual). Their stats still reach the callbacks here, and the metrics the
// new server exposes include this server's (internal/metrics.Carry) until
// the end. For a moment both processes read the sockets: every request
// is answered by one of them.
//
// When the new process fails to start, exits, or does not serve within
// cfg.Timeout, it is killed, nothing changes here and the error says
// why. Upgrade returns the new process's pid.
func (s *Server) Upgrade(ctx context.Context, cfg UpgradeConfig) (int, error) {
	s.mu.Lock()
	r := s.running
	s.mu.Unlock()
	if r == nil {
		return 0, ErrNotRunning
	}
	r.upMu.Lock()
	defer r.upMu.Unlock()
	if r.child != nil {
		return 0, ErrUpgraded
	}
	select {
	case <-r.done:
		return 0, ErrNotRunning
	default:
	}
	if cfg.Path == "" {
		p, err := upgrade.Here().Self()
		if err != nil {
			return 0, fmt.Errorf("upgrade: locating the program: %w", err)
		}
		cfg.Path = p
	}
	if cfg.Args == nil {
		cfg.Args = os.Args
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	var files []upgrade.File
	for _, l := range r.listeners {
		files = append(files, upgrade.File{Name: handoverTFTP, Conn: l})
	}
	if sc, ok := r.metricsLn.(syscall.Conn); ok {
		files = append(files, upgrade.File{Name: handoverMetrics, Conn: sc})
	}
	child, err := upgrade.Start(ctx, upgrade.Config{
		Path: cfg.Path, Args: cfg.Args, Env: cfg.Env, Dir: cfg.Dir, Files: files, Timeout: cfg.Timeout,
		Track: master.StartChild, Untrack: master.ChildDone,
	})
	if err != nil {
		return 0, err
	}
	r.child = child
	r.m.StopAccepting()
	r.stopMetrics() // the new server answers scrapes, with our series added
	if err := child.Commit(r.state()); err != nil {
		r.log.Warn("upgrade: sending the metrics to the new process", zap.Int("pid", child.Pid), zap.Error(err))
	}
	r.wg.Go(func() { r.sendStates() })
	return child.Pid, nil
}

// state is this server's metrics for the new one, with its live sessions
// (withSessions); nil without metrics.
func (r *run) state() []byte {
	if r.carry == nil {
		return nil
	}
	b, err := metrics.Encode(r.carry)
	if err != nil || len(b) > upgrade.MaxPayload {
		r.log.Warn("upgrade: encoding the metrics", zap.Int("bytes", len(b)), zap.Error(err))
		return nil
	}
	if s := withSessions(b, r.m.Live().Sessions); len(s) <= upgrade.MaxPayload {
		return s
	}
	return b
}

// sendStates sends the metrics to the new server while the last sessions
// run, until Run's master has returned.
func (r *run) sendStates() {
	if r.carry == nil {
		return
	}
	t := time.NewTicker(stateInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			if err := r.child.Send(r.state()); err != nil {
				r.log.Debug("upgrade: sending the metrics", zap.Error(err))
			}
		}
	}
}

// finishUpgrade is Run's end after Upgrade: the last state, with every
// session of this server accounted, then the end of the control channel.
func (r *run) finishUpgrade() {
	r.upMu.Lock()
	defer r.upMu.Unlock()
	if r.child == nil {
		return
	}
	if r.carry != nil {
		if err := r.child.Send(r.state()); err != nil {
			r.log.Warn("upgrade: sending the last metrics to the new process", zap.Error(err))
		}
	}
	r.child.Close()
	r.log.Info("handed over: exiting", zap.Int("new_pid", r.child.Pid))
}

// take turns the handed-over sockets into listeners and the
// metrics listener (nil if there is none).
func (h *Handover) take() ([]*udp.Listener, net.Listener, error) {
	var ls []*udp.Listener
	fail := func(err error) ([]*udp.Listener, net.Listener, error) {
		closeListeners(ls)
		return nil, nil, err
	}
	tftp := h.h.Take(handoverTFTP)
	defer closeFiles(tftp)
	for i, f := range tftp {
		l, err := udp.FromFile(f)
		if err != nil {
			return fail(startErr(KindOS, "handed-over listener %d: not a UDP socket: %v", i, err))
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return fail(startErr(KindOS, "the handover holds no listening socket"))
	}
	var ml net.Listener
	mfs := h.h.Take(handoverMetrics)
	defer closeFiles(mfs)
	if len(mfs) > 0 {
		var err error
		if ml, err = net.FileListener(mfs[0]); err != nil {
			return fail(startErr(KindOS, "handed-over metrics listener: %v", err))
		}
	}
	return ls, ml, nil
}

// ready tells the old server this one serves, and carries its metrics
// and live sessions until it is gone; it returns when done is closed.
func (h *Handover) ready(log *zap.Logger, version string, carry *metrics.Carry, lv *carriedLive, done <-chan struct{}) {
	onState := func([]byte) {}
	if carry != nil {
		onState = func(p []byte) {
			if err := carry.Set(p); err != nil {
				log.Warn("upgrade: metrics from the old process", zap.Error(err))
			}
			if lv != nil {
				sessions, err := sessionsOf(p)
				if err != nil {
					log.Warn("upgrade: live sessions from the old process", zap.Error(err))
				}
				lv.set(sessions)
			}
		}
	}
	if err := h.h.Ready(version, onState); err != nil {
		log.Warn("upgrade: the old process is gone already", zap.Int("pid", h.h.Parent), zap.Error(err))
		return
	}
	log.Info("took over from the old process", zap.Int("old_pid", h.h.Parent))
	select {
	case <-h.h.ParentGone():
		if carry != nil {
			carry.Orphan()
		}
		if lv != nil {
			lv.set(nil)
		}
		if err := h.h.Err(); err != nil {
			log.Warn("upgrade: the old process broke the control channel", zap.Error(err))
		} else {
			log.Info("the old process has exited", zap.Int("old_pid", h.h.Parent))
		}
	case <-done:
	}
}
