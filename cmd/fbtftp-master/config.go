package main

import (
	"errors"
	"fmt"
	"io/fs"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/logging"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/version"
	"github.com/fbtftp-go/fbtftp/server"
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

// exitCode is the status for err: its exitError code, the sysexits code of
// a server.StartError's kind, else 1.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	switch server.KindOf(err) {
	case server.KindUsage:
		return exUsage
	case server.KindNoInput:
		return exNoInput
	case server.KindNoUser:
		return exNoUser
	case server.KindOS:
		return exOSErr
	case server.KindCantCreate:
		return exCantCreat
	case server.KindConfig:
		return exConfig
	}
	return 1
}

// server turns the options into the server's configuration, without its
// sockets (mode decides those).
func (o *options) server(log *zap.Logger) *server.Server {
	s := &server.Server{
		Addrs:          o.addresses,
		Port:           o.port,
		Family:         serverFamily(o.family),
		User:           o.user,
		Uploads:        !o.readOnly,
		MapFile:        o.mapFile,
		TemplateData:   o.templateData,
		HTTP:           o.http,
		Settings:       o.settings(),
		BlksizeFromMTU: o.blocksizeMTU,
		MTUSlack:       o.mtuSlack,
		Ports:          server.PortRange{Low: o.ports.Lo, High: o.ports.Hi},
		SinglePort:     o.singlePort,
		WorkerPath:     o.worker,
		Prefork:        o.prefork,
		MaxWorkers:     o.maxWorkers,
		DrainTimeout:   o.drainTimeout,
		NoLandlock:     o.noLandlock,
		NoSeccomp:      o.noSeccomp,

		MaxSessionsPerClient: perClientLimit(o.maxPerClient),
		MaxSpawning:          perClientLimit(o.maxSpawning),
		WorkerMemoryLimit:    int64(perClientLimit(int(o.workerMemory))),
		QueueSize:            perClientLimit(o.queueSize), // the same mapping: -1 not given, 0 none
		QueueTimeout:         o.queueTimeout,
		BusyError:            o.busyError,
		SessionsPerWorker:    o.perWorker,
		WorkerIdleTimeout:    o.workerIdle,
		WorkerMaxRSS:         o.workerMaxRSS,
		// The master owns this process: what workers leave is its to reap.
		ReapOrphans: true,
		MetricsAddr: o.metricsAddr,
		Version:     version.String(),
		WorkerDirs:  workerDirs(),
		Logger:      log,
	}
	if o.secure {
		s.Root = o.dirs[0]
	} else {
		s.Dirs = o.dirs
	}
	return s
}

// settings are the per-session settings every Handoff carries (the
// server fills Roots, Secure and ReadOnly).
func (o *options) settings() fbtftp.Settings {
	s := fbtftp.Settings{
		Timeout:         o.retransmit,
		Retries:         5, // in.tftpd gives up after 63 times -T: 1+2+4+8+16+32
		MaxBlksize:      o.blocksize,
		MaxWindowsize:   o.windowsize,
		Refuse:          o.refuse,
		MaxUpload:       o.maxUpload,
		Permissive:      o.permissive,
		Create:          o.create,
		FixedRetransmit: o.fixedRetx,
		Verbosity:       o.verbosity,
		LogFormat:       o.resolvedLogFormat(),
		Extra:           o.extra,
	}
	// in.tftpd: umask(-U value, default 0), except that -p without -U
	// keeps the inherited umask.
	switch {
	case o.umask >= 0:
		s.Umask = fs.FileMode(o.umask)
	case o.permissive:
		s.Umask = fs.FileMode(currentUmask())
	}
	return s
}

// checkMapFile parses the map file as in.tftpd does at startup: an
// unreadable file is EX_NOINPUT, a bad one EX_CONFIG.
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

// serverFamily is -4/-6 for the server.
func serverFamily(f udp.Family) server.Family {
	switch f {
	case udp.IPv4Only:
		return server.IPv4Only
	case udp.IPv6Only:
		return server.IPv6Only
	}
	return server.AnyFamily
}

// resolvedLogFormat is --log-format, else the default the master's own
// logger takes (console on a terminal, else JSON): workers write the same.
func (o *options) resolvedLogFormat() string {
	if o.logFormat != "" {
		return o.logFormat
	}
	return logging.DefaultFormat()
}

// perClientLimit maps an option given as N, 0 for none, -1 when not given,
// to the server's field: N, -1 for none, 0 for the default
// (--max-sessions-per-client, --queue-size, --max-spawning,
// --worker-memory-limit).
func perClientLimit(n int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return -1
	}
	return n
}
