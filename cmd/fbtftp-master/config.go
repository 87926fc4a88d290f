package main

import (
	"errors"
	"fmt"
	"github.com/fbtftp-go/fbtftp"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
)

// sysexits(3) codes, as in.tftpd uses them.
const (
	exUsage   = 64 // command line
	exNoInput = 66 // missing directory or map file, unresolvable address
	exNoUser  = 67 // -u names no user
	exOSErr   = 71 // sockets, processes
	exIOErr   = 74 // inetd mode without a socket on standard input
	exConfig  = 78 // bad map file
)

// exitError is a startup failure with the status to exit with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// exitCode is the status for err: its exitError code, else 1.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// masterConfig turns the options into a master configuration, without
// listeners: the worker, its sandbox (chroot and user when running as
// root) and the per-session settings.
func (o *options) masterConfig(log *zap.Logger) (master.Config, error) {
	roots := make([]string, len(o.dirs))
	for i, d := range o.dirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return master.Config{}, exitf(exNoInput, "%s: %v", d, err)
		}
		roots[i] = a
		fi, err := os.Stat(a)
		switch {
		case err == nil && fi.IsDir():
		case o.secure && err != nil:
			return master.Config{}, exitf(exNoInput, "%s: %v", d, unwrapPath(err))
		case o.secure:
			return master.Config{}, exitf(exNoInput, "%s: Not a directory", d)
		default:
			// in.tftpd does not look at the directories without -s: one may
			// be mounted later. Say it, though.
			log.Warn("directory not available", zap.String("directory", a), zap.Error(err))
		}
	}
	worker, err := o.workerPath()
	if err != nil {
		return master.Config{}, err
	}
	chroot := ""
	if o.secure {
		chroot = roots[0]
	}
	spec, privileged, err := sandbox.ForUser(o.user, chroot)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return master.Config{}, exitf(exNoUser, "no user %s: %v", o.user, err)
	}
	settings := o.settings()
	switch {
	case o.secure && privileged:
		settings.Roots = []string{"/"}
	case o.secure:
		log.Warn("not running as root: workers neither chroot nor change user; files are confined to the root by path",
			zap.String("root", roots[0]))
		settings.Roots = roots
	default:
		if !privileged {
			log.Warn("not running as root: workers do not change user")
		}
		settings.Roots = roots
	}
	if len(settings.Roots) > ipc.MaxRoots {
		return master.Config{}, exitf(exUsage, "too many directories (at most %d)", ipc.MaxRoots)
	}
	if o.mapFile != "" {
		abs, err := filepath.Abs(o.mapFile)
		if err != nil {
			return master.Config{}, exitf(exNoInput, "Cannot open map file: %s: %v", o.mapFile, err)
		}
		if err := checkMapFile(abs); err != nil {
			return master.Config{}, err
		}
		settings.MapFile = abs
	}
	env := []string{"GOMAXPROCS=1"}
	if settings.MapFile != "" {
		// Workers read the rules before they chroot (the file may lie
		// outside the root); SIGHUP replaces the idle ones to reload.
		env = append(env, fbtftp.EnvMapFile+"="+settings.MapFile)
	}
	if o.templateData != "" {
		env = append(env, fbtftp.EnvTemplateData+"="+o.templateData)
	}
	return master.Config{
		WorkerPath:   worker,
		WorkerEnv:    env,
		Sandbox:      spec,
		Settings:     settings,
		Prefork:      o.prefork,
		MaxWorkers:   o.maxWorkers,
		DrainTimeout: o.drainTimeout,
		AllowWrite:   !o.readOnly,
		Ports:        o.ports,
		Logger:       log.Named("master"),
	}, nil
}

// workerPath is --worker, else fbtftp-worker in the directory of the real
// master binary: through symbolic links, so that /usr/sbin/in.tftpd ->
// /usr/lib/fbtftp/fbtftp-master finds /usr/lib/fbtftp/fbtftp-worker.
func (o *options) workerPath() (string, error) {
	w := o.worker
	if w == "" {
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			return "", exitf(exOSErr, "locating the worker: %v", err)
		}
		w = filepath.Join(filepath.Dir(exe), "fbtftp-worker")
	}
	w, err := filepath.Abs(w)
	if err != nil {
		return "", exitf(exNoInput, "worker binary: %v", err)
	}
	if _, err := os.Stat(w); err != nil {
		return "", exitf(exNoInput, "worker binary: %v", err)
	}
	return w, nil
}

// checkMapFile parses the map file as in.tftpd does at startup and on
// SIGHUP: an unreadable file is EX_NOINPUT, a bad one EX_CONFIG.
func checkMapFile(path string) error {
	if _, err := remap.ParseFile(path); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return exitf(exNoInput, "Cannot open map file: %s: %v", path, pe.Err)
		}
		return exitf(exConfig, "bad map file: %v", err)
	}
	return nil
}

// settings are the per-session settings every Handoff carries.
func (o *options) settings() ipc.Settings {
	s := ipc.Settings{
		Timeout:       o.retransmit,
		Retries:       5, // in.tftpd gives up after 63 times -T: 1+2+4+8+16+32
		MaxBlksize:    o.blocksize,
		MaxWindowsize: o.windowsize,
		Refuse:        o.refuse,
		MaxUpload:     o.maxUpload,
		Verbosity:     o.verbosity,
		LogFormat:     o.logFormat,
	}
	// in.tftpd: umask(-U value, default 0), except that -p without -U
	// keeps the inherited umask.
	switch {
	case o.umask >= 0:
		s.Umask = uint32(o.umask)
	case o.permissive:
		s.Umask = currentUmask()
	}
	if o.permissive {
		s.Flags |= ipc.FlagPermissive
	}
	if o.create {
		s.Flags |= ipc.FlagCreate
	}
	if o.readOnly {
		s.Flags |= ipc.FlagReadOnly
	}
	if o.secure {
		s.Flags |= ipc.FlagSecure
	}
	return s
}

// unwrapPath drops the operation and path of an *fs.PathError, for
// in.tftpd-style "DIR: No such file or directory" messages.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
