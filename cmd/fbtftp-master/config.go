package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fbtftp-go/fbtftp"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/logging"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/workermain"
)

// sysexits(3) codes, as in.tftpd uses them.
const (
	exUsage     = 64 // command line
	exNoInput   = 66 // missing directory or map file, unresolvable address
	exNoUser    = 67 // -u names no user
	exOSErr     = 71 // sockets, processes
	exIOErr     = 74 // inetd mode without a socket on standard input
	exCantCreat = 73 // the HTTP cache directory
	exConfig    = 78 // bad map file
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
		rules, err := checkMapFile(abs)
		if err != nil {
			return master.Config{}, err
		}
		settings.MapFile = abs
		if origins := rules.URLOrigins(); len(origins) > 0 {
			log.Info("map file routes names to HTTP origins", zap.Strings("origins", origins))
			o.useHTTP = true
		}
	}
	if o.useHTTP {
		if err := prepareHTTPCache(o.http.CacheDir, roots, spec); err != nil {
			return master.Config{}, err
		}
	}
	if !o.noLandlock {
		// Workers may then touch nothing but the served directories (and
		// write them only when uploads are possible) and the HTTP cache,
		// whatever runs in them.
		spec.Landlock = true
		if o.readOnly {
			spec.FSRead = roots
		} else {
			spec.FSWrite = roots
		}
		if o.http.CacheDir != "" {
			spec.FSWrite = append(slices.Clone(spec.FSWrite), o.http.CacheDir)
		}
	}
	// Workers then make no system call outside what sessions need
	// (internal/sandbox), installed after Landlock, before Hello.
	spec.Seccomp = !o.noSeccomp
	worker, err := o.workerPath()
	if err != nil {
		return master.Config{}, err
	}
	env := []string{"GOMAXPROCS=1"}
	if settings.MapFile != "" {
		// Workers read the rules before they chroot (the file may lie
		// outside the root); SIGHUP replaces the idle ones to reload.
		env = append(env, fbtftp.EnvMapFile+"="+settings.MapFile)
	}
	if o.templateData != "" {
		env = append(env, workermain.EnvTemplateData+"="+o.templateData)
	}
	if o.useHTTP {
		env = append(env, o.http.Environ()...)
	}
	return master.Config{
		WorkerPath:           worker,
		WorkerEnv:            env,
		Sandbox:              spec,
		Settings:             settings,
		Prefork:              o.prefork,
		MaxWorkers:           o.maxWorkers,
		MaxSessionsPerClient: perClientLimit(o.maxPerClient),
		DrainTimeout:         o.drainTimeout,
		AllowWrite:           !o.readOnly,
		Ports:                o.ports,
		Logger:               log.Named("master"),
		// The master owns this process: what workers leave is its to reap.
		ReapOrphans: true,
	}, nil
}

// perClientLimit maps --max-sessions-per-client (-1 when not given, 0 for
// no limit) to master.Config.MaxSessionsPerClient (0 for the default, a
// negative value for no limit).
func perClientLimit(n int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return -1
	}
	return n
}

// workerPath is --worker, else fbtftp-worker (fbtftp-worker-http when HTTP
// origins are configured) found by findWorker from the directory of the
// real master binary: through symbolic links, so that /usr/sbin/in.tftpd ->
// /usr/lib/fbtftp/fbtftp-master finds /usr/lib/fbtftp/fbtftp-worker, and
// /usr/sbin/fbtftp-master finds /usr/libexec/fbtftp/fbtftp-worker.
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
		name := "fbtftp-worker"
		if o.useHTTP {
			name = "fbtftp-worker-http" // net/http makes every start slower: only when needed
		}
		w = findWorker(filepath.Dir(exe), name)
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
func checkMapFile(path string) (*remap.Rules, error) {
	rules, err := remap.ParseFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, exitf(exNoInput, "Cannot open map file: %s: %v", path, pe.Err)
		}
		return nil, exitf(exConfig, "bad map file: %v", err)
	}
	return rules, nil
}

// prepareHTTPCache creates the --http-cache directory (mode 0700), owned by
// the workers' user, and checks it lies outside every root: TFTP clients
// must never reach the cache's files. Workers open it before they chroot.
func prepareHTTPCache(dir string, roots []string, spec sandbox.Spec) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return exitf(exCantCreat, "--http-cache %s: %v", dir, unwrapPath(err))
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return exitf(exCantCreat, "--http-cache %s: %v", dir, unwrapPath(err))
	}
	for _, r := range roots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(rr, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return exitf(exConfig, "--http-cache %s lies inside the served directory %s: put it outside (e.g. /var/cache/fbtftp)", dir, r)
		}
	}
	if spec.Drop {
		if err := os.Chown(real, spec.UID, spec.GID); err != nil {
			return exitf(exCantCreat, "--http-cache %s: %v", dir, unwrapPath(err))
		}
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
		LogFormat:     o.resolvedLogFormat(),
		Extra:         o.extra,
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

// resolvedLogFormat is --log-format, else the default the master's own
// logger takes (console on a terminal, else JSON): workers write the same.
func (o *options) resolvedLogFormat() string {
	if o.logFormat != "" {
		return o.logFormat
	}
	return logging.DefaultFormat()
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
