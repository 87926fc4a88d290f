package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/syslog"
	"os"
	"time"
)

// The master and its workers log to standard error (fd 2; workers inherit
// the master's). Where that leads nowhere useful, logSink takes its place:
//
//   - inetd mode: inetd, xinetd and systemd (StandardInput=socket) make fds
//     0, 1 and 2 all the UDP socket; writes to it fail, and a worker must
//     not inherit it;
//   - -l: the server detaches from the terminal it was started on.
//
// There fds 1 and 2 become a pipe whose lines go to syslog (facility
// daemon, the program name as ident, as in.tftpd logs), or /dev/null when
// there is no syslog. --stderr keeps a terminal in the -l case.
type logSink struct {
	done chan struct{} // closed when the forwarder has drained the pipe
}

// sinkDrainTimeout bounds how long close waits for log lines still in the
// pipe (a worker that outlived the master may hold its write end).
const sinkDrainTimeout = 2 * time.Second

// redirectStdio points fds 1 and 2 at syslog (or /dev/null). It returns nil
// when nothing could be redirected.
func redirectStdio(prog string) *logSink {
	w, err := syslog.Dial("", "", syslog.LOG_DAEMON|syslog.LOG_INFO, prog)
	if err != nil {
		nullStdio()
		return nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		w.Close()
		nullStdio()
		return nil
	}
	err1 := redirectFD(pw, 1)
	err2 := redirectFD(pw, 2)
	pw.Close()
	if err1 != nil || err2 != nil {
		pr.Close()
		w.Close()
		nullStdio()
		return nil
	}
	s := &logSink{done: make(chan struct{})}
	go func() { // owned by s: close waits for it
		defer close(s.done)
		defer w.Close()
		defer pr.Close()
		forward(pr, w)
	}()
	return s
}

// nullStdio points fds 1 and 2 at /dev/null.
func nullStdio() {
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		redirectFD(null, 1)
		redirectFD(null, 2)
		null.Close()
	}
}

// close sends what is left to syslog: fds 1 and 2 go to /dev/null, which
// closes this process's write ends of the pipe.
func (s *logSink) close() {
	if s == nil {
		return
	}
	nullStdio()
	select {
	case <-s.done:
	case <-time.After(sinkDrainTimeout):
	}
}

// forward copies lines from r to syslog, at the priority of the zap level
// each carries (JSON "level":"warn", console "\tWARN\t"). A line longer
// than the buffer is cut; the rest of it is dropped.
func forward(r io.Reader, w *syslog.Writer) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			send(w, bytes.TrimRight(line, "\r\n"))
		}
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			return
		}
	}
}

func send(w *syslog.Writer, line []byte) {
	if len(line) == 0 {
		return
	}
	msg := string(line)
	switch {
	case has(line, "error") || has(line, "dpanic") || has(line, "panic") || has(line, "fatal"):
		w.Err(msg)
	case has(line, "warn"):
		w.Warning(msg)
	case has(line, "debug"):
		w.Debug(msg)
	default:
		w.Info(msg)
	}
}

// has reports whether a zap line is at level lvl (lower case).
func has(line []byte, lvl string) bool {
	return bytes.Contains(line, []byte(`"level":"`+lvl+`"`)) ||
		bytes.Contains(line, []byte("\t"+string(bytes.ToUpper([]byte(lvl)))+"\t"))
}
