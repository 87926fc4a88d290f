package testenv

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// busybox tftp's -b range (tftp_blksize_check in busybox 1.35: at least 24,
// at most 65564, which is above RFC 2348's 65464).
const (
	busyboxMinBlksize = 24
	busyboxMaxBlksize = 65564
)

// Busybox downloads d.File with busybox's tftp applet:
//
//	busybox tftp -g -r FILE -l OUT [-b N] HOST PORT
//
// It always sends "tsize 0" on a read (so NoOptions gives ErrUnsupported and
// Tsize is implied), sends blksize only when -b is not 512, supports octet
// only, and has no windowsize. It deletes the local file after an error.
func Busybox(ctx context.Context, t testing.TB, d Download) ([]byte, error) {
	t.Helper()
	x, err := newTransfer("busybox", d.Host, d.File, d.Blksize, d.Tsize, d.Windowsize, d.Mode, d.NoOptions)
	if err != nil {
		return nil, err
	}
	opts, err := x.busyboxOptions()
	if err != nil {
		return nil, err
	}
	bin := busybox(t)
	dir := workDir(t)
	out := filepath.Join(dir, "download")
	r := run(ctx, dir, nil, bin, append(append([]string{"tftp", "-g", "-r", x.file, "-l", out}, opts...), x.hostArg(), x.portArg())...)
	if r.err != nil {
		return nil, r.failed(r.err.Error())
	}
	return readOutput(r, out)
}

// BusyboxUpload uploads u.Data as u.File with busybox tftp -p. On a write it
// sends tsize with the real size. Same limits as [Busybox].
func BusyboxUpload(ctx context.Context, t testing.TB, u Upload) error {
	t.Helper()
	x, err := newTransfer("busybox", u.Host, u.File, u.Blksize, u.Tsize, u.Windowsize, u.Mode, u.NoOptions)
	if err != nil {
		return err
	}
	opts, err := x.busyboxOptions()
	if err != nil {
		return err
	}
	bin := busybox(t)
	dir := workDir(t)
	in, err := writeInput(dir, u.Data)
	if err != nil {
		return err
	}
	r := run(ctx, dir, nil, bin, append(append([]string{"tftp", "-p", "-l", in, "-r", x.file}, opts...), x.hostArg(), x.portArg())...)
	if r.err != nil {
		return r.failed(r.err.Error())
	}
	return nil
}

func (x transfer) busyboxOptions() ([]string, error) {
	switch {
	case x.netascii:
		return nil, x.unsupported("octet mode only")
	case x.windowsize != 0:
		return nil, x.unsupported("no windowsize option")
	case x.noOptions:
		return nil, x.unsupported("always sends tsize")
	case x.blksize != 0 && (x.blksize < busyboxMinBlksize || x.blksize > busyboxMaxBlksize):
		return nil, x.unsupported("blksize %d outside %d..%d", x.blksize, busyboxMinBlksize, busyboxMaxBlksize)
	case x.blksize != 0:
		return []string{"-b", fmt.Sprint(x.blksize)}, nil
	}
	return nil, nil
}

// busybox returns the busybox binary after checking that it has the tftp
// applet, calling Require otherwise.
func busybox(t testing.TB) string {
	t.Helper()
	bin := LookPath(t, "busybox")
	r := run(context.Background(), "", nil, bin, "--list")
	if r.err != nil || !bytes.Contains(append([]byte("\n"), r.stdout...), []byte("\ntftp\n")) {
		Require(t, "the tftp applet in "+bin)
	}
	return bin
}
