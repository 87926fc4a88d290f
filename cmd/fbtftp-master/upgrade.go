package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/server"
)

// upgradeTimeout bounds the start of the new master on SIGUSR2.
const upgradeTimeout = 30 * time.Second

// handoverMode is the mode of a master started by an upgrade: the old
// master's (its command line is the same). Its sockets come from the old
// master; the mode only decides the idle timeout and the logs.
func handoverMode(o *options) mode {
	if o.standalone() {
		return modeStandalone
	}
	return modeSystemd // inetd mode never upgrades
}

// upgradeOnSignal is SIGUSR2, nginx's binary upgrade: the master starts
// its binary again (the file at its path now) with the same arguments and
// hands it the listening sockets (server.Upgrade). On success it returns
// the new master's pid: this one serves its last sessions and exits, and
// systemd is told the new main pid. On failure the error is logged and
// this master goes on serving.
func upgradeOnSignal(ctx context.Context, s *server.Server, o *options, ln launch, log *zap.Logger) (int, bool) {
	if ln.md == modeInetd {
		log.Warn("SIGUSR2 in inetd mode: no upgrade (inetd starts the new binary with the next request)")
		return 0, false
	}
	path, err := ln.self.Self()
	if err != nil {
		log.Error("upgrade failed: still serving", zap.Error(err))
		return 0, false
	}
	env := os.Environ()
	if e := ln.notify.Env(); e != "" {
		env = append(env, e)
	}
	log.Info("upgrade: starting the new master", zap.String("path", path))
	pid, err := s.Upgrade(ctx, server.UpgradeConfig{
		Path: path, Args: os.Args, Env: env, Dir: ln.self.Dir, Timeout: upgradeTimeout,
	})
	if err != nil {
		log.Error("upgrade failed: still serving", zap.String("path", path), zap.Error(err))
		return 0, false
	}
	log.Info("upgrade: the new master serves; finishing the sessions in flight", zap.Int("new_pid", pid))
	// NotifyAccess=main: only this process may move MAINPID.
	// The status stays until the next one; the new master sends none (it
	// is not the main process until systemd has read this), so it must
	// describe the unit from now on, not this process.
	if err := ln.notify.Send("MAINPID="+strconv.Itoa(pid), upgradedStatus(pid, os.Getpid())); err != nil {
		log.Warn("cannot notify the service manager of the new main pid", zap.Int("new_pid", pid), zap.Error(err))
	}
	return pid, true
}

// removePidFile removes the pid file if it still names this process (a
// new master after an upgrade has written its own).
func removePidFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(bytes.TrimSpace(b), []byte(strconv.Itoa(os.Getpid()))) {
		return
	}
	os.Remove(path)
}

// upgradedStatus is the unit's status text after an upgrade.
func upgradedStatus(newPid, oldPid int) string {
	return "STATUS=serving (pid " + strconv.Itoa(newPid) + " took over from pid " + strconv.Itoa(oldPid) + ")"
}
