package main

import (
	"fmt"
	"io"

	"github.com/fbtftp-go/fbtftp"
)

// stream serves what produce writes, while it writes it: nothing is
// buffered beyond the block being sent and the size is unknown, so the
// tsize option is not acknowledged (the client learns the end from the
// first short block). produce runs in its own goroutine; its error, if
// any, ends the transfer with ERROR 0.
func stream(produce func(w io.Writer) error) fbtftp.ResponseData {
	pr, pw := io.Pipe()
	s := &pipeStream{PipeReader: pr, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		pw.CloseWithError(produce(pw)) // nil: the reader sees EOF
	}()
	return fbtftp.ReaderResponse(s, -1)
}

// pipeStream is the reading end of stream. The worker closes it at the end
// of the session, finished or not.
type pipeStream struct {
	*io.PipeReader
	done chan struct{} // closed when produce has returned
}

// Close makes the producer's next Write fail, so that it returns, and
// waits for it: no goroutine outlives the session.
func (s *pipeStream) Close() error {
	s.PipeReader.Close()
	<-s.done
	return nil
}

// writeUptime writes how long the machine has been up and its load. It
// asks the kernel directly (sysinfo(2)): /proc is not there in the chroot.
func writeUptime(w io.Writer) error {
	up, load, err := sysinfo()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "up %d seconds\n", int64(up.Seconds())); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "load average %.2f %.2f %.2f\n", load[0], load[1], load[2])
	return err
}
