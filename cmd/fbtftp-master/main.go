// Command fbtftp-master is the fbtftp-go server: a root daemon that reads
// TFTP requests and hands each session to its own worker process. Its
// command line follows tftpd-hpa's in.tftpd (see docs/flags.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/logging"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// exUsage is the exit status for command-line errors (sysexits EX_USAGE),
// as in.tftpd uses.
const exUsage = 64

func main() {
	prog := filepath.Base(os.Args[0])
	opts, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		os.Exit(exUsage)
	}
	if opts.version {
		fmt.Println(versionString(prog))
		return
	}
	if opts.help {
		fmt.Print(usage(prog))
		return
	}
	log := logging.New(prog, opts.logFormat, opts.verbosity)
	defer log.Sync()
	if err := run(opts, log); err != nil {
		log.Error("exiting", zap.Error(err))
		os.Exit(1)
	}
}

func run(o *options, log *zap.Logger) error {
	cfg, err := o.masterConfig(log)
	if err != nil {
		return err
	}
	spec, err := udp.ParseListenAddress(o.address, udp.DefaultPort)
	if err != nil {
		return err
	}
	ls, err := udp.Listen(spec, o.family)
	if err != nil {
		return err
	}
	cfg.Listeners = ls
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	for _, l := range ls {
		log.Info("listening", zap.Stringer("address", l.LocalAddr()))
	}
	return m.Run(ctx)
}

// masterConfig turns the parsed options into a master configuration: the
// sandbox (chroot and user, when running as root), the worker and the
// per-session settings.
func (o *options) masterConfig(log *zap.Logger) (master.Config, error) {
	if len(o.dirs) == 0 {
		return master.Config{}, errors.New("no root directory given")
	}
	if !o.secure {
		return master.Config{}, errors.New("only --secure (-s) mode is supported so far: give -s and one directory")
	}
	if len(o.dirs) != 1 {
		return master.Config{}, errors.New("-s takes exactly one directory")
	}
	root, err := filepath.Abs(o.dirs[0])
	if err != nil {
		return master.Config{}, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return master.Config{}, fmt.Errorf("root %s is not a directory", root)
	}
	worker := o.worker
	if worker == "" {
		exe, err := os.Executable()
		if err != nil {
			return master.Config{}, err
		}
		worker = filepath.Join(filepath.Dir(exe), "fbtftp-worker")
	}
	if _, err := os.Stat(worker); err != nil {
		return master.Config{}, fmt.Errorf("worker binary: %w", err)
	}
	spec, privileged, err := sandbox.ForUser(o.user, root)
	if err != nil {
		return master.Config{}, err
	}
	settings := o.settings()
	if privileged {
		settings.Roots = []string{"/"}
	} else {
		log.Warn("not running as root: workers neither chroot nor change user; files are confined to the root by path",
			zap.String("root", root))
		settings.Roots = []string{root}
	}
	return master.Config{
		WorkerPath:   worker,
		WorkerEnv:    []string{"GOMAXPROCS=1"},
		Sandbox:      spec,
		Settings:     settings,
		Prefork:      o.prefork,
		MaxWorkers:   o.maxWorkers,
		DrainTimeout: o.drainTimeout,
		Ports:        o.ports,
		Logger:       log.Named("master"),
	}, nil
}
