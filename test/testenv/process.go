package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 3 * time.Second

// Process is a server under test: fbtftp-master, in.tftpd, atftpd. It runs
// in its own process group, so that Stop also ends what it forked (in.tftpd
// forks a child per transfer, the master its workers); its standard error
// (and standard output, unless the command sets them) is kept, and the
// lines that are JSON objects (fbtftp's logs) are parsed, for waiting on
// log events.
type Process struct {
	Cmd *exec.Cmd

	done chan struct{} // closed once the process is reaped
	err  error         // Wait's result, valid after done

	mu      sync.Mutex
	out     bytes.Buffer
	lines   []map[string]any
	changed chan struct{} // closed and replaced at each new line
	eof     chan struct{} // closed when the output ends
}

// StartProcess starts cmd as a Process. Standard error is read through a
// pipe whose writing end the child (and any daemon it leaves) owns, so
// output goes on after the process exits.
func StartProcess(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, done: make(chan struct{}), changed: make(chan struct{}), eof: make(chan struct{})}
	var pw *os.File
	if cmd.Stderr == nil {
		pr, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		pw = w
		cmd.Stderr = w
		if cmd.Stdout == nil {
			cmd.Stdout = w
		}
		go p.read(pr)
	} else {
		close(p.eof)
	}
	setProcessGroup(cmd)
	err := cmd.Start()
	if pw != nil {
		pw.Close() // the child has its copy
	}
	if err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *Process) read(r io.ReadCloser) {
	defer close(p.eof)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var m map[string]any
		isJSON := json.Unmarshal(sc.Bytes(), &m) == nil
		p.mu.Lock()
		p.out.Write(sc.Bytes())
		p.out.WriteByte('\n')
		if isJSON {
			p.lines = append(p.lines, m)
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
}

// Output returns what the process wrote so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Lines returns the JSON log lines logged so far whose "msg" is msg, or
// every JSON line when msg is empty.
func (p *Process) Lines(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, m := range p.lines {
		if msg == "" || m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// WaitLines waits until n lines with msg were logged, or timeout passes,
// or the output ends; it returns the lines (fewer than n on failure) and
// whether there were n. It waits for each new line, not for a clock.
func (p *Process) WaitLines(msg string, n int, timeout time.Duration) ([]map[string]any, bool) {
	return p.WaitFor(timeout, func(lines []map[string]any) ([]map[string]any, bool) {
		var out []map[string]any
		for _, m := range lines {
			if m["msg"] == msg {
				out = append(out, m)
			}
		}
		return out, len(out) >= n
	})
}

// WaitFor calls cond with every JSON line logged so far, now and after
// each new line, until it reports true, timeout passes or the output ends,
// and returns its last result.
func (p *Process) WaitFor(timeout time.Duration, cond func([]map[string]any) ([]map[string]any, bool)) ([]map[string]any, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		got, ok := cond(p.lines)
		changed := p.changed
		p.mu.Unlock()
		if ok {
			return got, true
		}
		select {
		case <-changed:
		case <-p.eof:
			p.mu.Lock()
			got, ok = cond(p.lines)
			p.mu.Unlock()
			return got, ok
		case <-deadline.C:
			return got, false
		}
	}
}

// OutputDone is closed once the output has ended: every process holding
// the pipe (the process, what it forked) has exited or closed it, and
// every line is in Lines and Output.
func (p *Process) OutputDone() <-chan struct{} { return p.eof }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns Wait's result; valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Wait waits up to d for the process to exit and returns its exit status
// (-1 when killed by a signal), or an error when it still runs.
func (p *Process) Wait(d time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode(), nil
	case <-time.After(d):
		return -1, fmt.Errorf("%s still running after %v", p.Cmd.Path, d)
	}
}

// Stop ends the process: SIGTERM to it (a master then drains its
// sessions), SIGKILL to its whole group after stopGrace or once it has
// exited (what it forked goes too), and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.done:
	default:
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
		}
	}
	signalGroup(p.Cmd, true)
	<-p.done
}
