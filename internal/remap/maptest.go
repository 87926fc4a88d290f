package remap

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// RunTest is the --map-test mode: it reads one filename per line from in,
// applies r to it as a request from client (a WRQ if write is set, else an
// RRQ) and writes "filename -> result" or "filename -> ABORT" to out, one
// line per filename. A trailing "\r" is removed from each input line and
// empty lines are skipped (a request cannot carry an empty filename). Lines
// may be up to 64 KiB long, the largest filename a UDP request can carry.
func RunTest(r *Rules, in io.Reader, out io.Writer, client netip.Addr, write bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), 64*1024+2)
	w := bufio.NewWriter(out)
	for sc.Scan() {
		name := strings.TrimSuffix(sc.Text(), "\r")
		if name == "" {
			continue
		}
		res := r.Apply(Request{Filename: name, Write: write, Client: client})
		result := res.Filename
		if res.Abort {
			result = "ABORT"
		}
		if _, err := fmt.Fprintf(w, "%s -> %s\n", name, result); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading filenames: %w", err)
	}
	return w.Flush()
}
