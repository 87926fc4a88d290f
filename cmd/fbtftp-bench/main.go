// Command fbtftp-bench is the load generator and the side-by-side benchmark
// harness for TFTP servers.
//
//	fbtftp-bench load -server 127.0.0.1:PORT -file NAME -n N -c C [flags]
//	fbtftp-bench compare -server 'NAME=COMMAND' ... [-baseline NAME] [flags]
//
// load runs N downloads (or downloads for -duration) with C concurrent
// workers against a running server and prints JSON. compare starts each
// server under test itself from a command template ({addr}, {port} and
// {root} are substituted; a command without {port} gets a socket bound
// beforehand on its standard input, inetd mode, so no port is raced for),
// creates the root with its test files, runs the scenarios interleaved
// across servers for -reps repetitions and prints a table of medians with
// the ratio to the baseline server (and -json): throughput, server CPU per
// MB (the server's cgroup, or its process tree), small sessions per
// second, first-packet latency, memory, and busybox downloads over a lossy
// link (internal/lossnet; each server then also runs in a network
// namespace, listening on {addr}). relay is a single-port relay in front
// of a server, for measuring the alternative to single-port mode's
// connected sockets (relay.go).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  fbtftp-bench load -server ADDR:PORT -file NAME [-n N] [-c C] [-duration D] [flags]
  fbtftp-bench compare -server 'NAME=COMMAND {port} {root}' [-server ...] [flags]
  fbtftp-bench relay -listen ADDR:PORT -- COMMAND {backend} ...
run "fbtftp-bench load -h" or "fbtftp-bench compare -h" for the flags
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "load":
		err = loadCmd(ctx, args[1:], stdout, stderr)
	case "compare":
		err = compareCmd(ctx, args[1:], stdout, stderr)
	case "relay":
		err = relayCmd(ctx, args[1:], stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintf(stderr, "fbtftp-bench: %v\n", err)
		return 1
	}
	return 0
}
