package testenv

import (
	"context"
	"path/filepath"
	"testing"
)

// TftpHPA downloads d.File with the tftp-hpa client:
//
//	tftp -4|-6 -l -m octet|netascii HOST PORT -c get FILE OUT
//
// tftp-hpa 5.2 sends no options at all: Blksize, Tsize and Windowsize give
// ErrUnsupported. In netascii mode it converts to local line ends, so the
// bytes returned equal the server's file. It exits 0 even when the server
// answers with an ERROR packet (printing "Error code N: ..." on stdout) and
// leaves an empty local file, so any output counts as failure.
func TftpHPA(ctx context.Context, t testing.TB, d Download) ([]byte, error) {
	t.Helper()
	x, err := newTransfer("tftp-hpa", d.Host, d.File, d.Blksize, d.Tsize, d.Windowsize, d.Mode, d.NoOptions)
	if err != nil {
		return nil, err
	}
	if err := x.tftpHPACheck(); err != nil {
		return nil, err
	}
	bin := LookPath(t, "tftp")
	dir := workDir(t)
	out := filepath.Join(dir, "download")
	r := run(ctx, dir, nil, bin, append(x.tftpHPAArgs(), "get", x.file, out)...)
	if err := r.tftpHPAErr(); err != nil {
		return nil, err
	}
	return readOutput(r, out)
}

// TftpHPAUpload uploads u.Data as u.File with "tftp ... -c put IN FILE".
// Same limits and quirks as [TftpHPA].
func TftpHPAUpload(ctx context.Context, t testing.TB, u Upload) error {
	t.Helper()
	x, err := newTransfer("tftp-hpa", u.Host, u.File, u.Blksize, u.Tsize, u.Windowsize, u.Mode, u.NoOptions)
	if err != nil {
		return err
	}
	if err := x.tftpHPACheck(); err != nil {
		return err
	}
	bin := LookPath(t, "tftp")
	dir := workDir(t)
	in, err := writeInput(dir, u.Data)
	if err != nil {
		return err
	}
	r := run(ctx, dir, nil, bin, append(x.tftpHPAArgs(), "put", in, x.file)...)
	return r.tftpHPAErr()
}

func (x transfer) tftpHPACheck() error {
	switch {
	case x.blksize != 0:
		return x.unsupported("no blksize option (tftp-hpa 5.2 sends no options)")
	case x.tsize:
		return x.unsupported("no tsize option (tftp-hpa 5.2 sends no options)")
	case x.windowsize != 0:
		return x.unsupported("no windowsize option (tftp-hpa 5.2 sends no options)")
	}
	return nil
}

// tftpHPAArgs are the arguments up to and including "-c"; the command
// follows as separate arguments (no shell word splitting). -l (literal
// mode) keeps a ':' in a file name from being read as "host:file". The mode
// is always explicit: tftp-hpa's default is netascii.
func (x transfer) tftpHPAArgs() []string {
	family, mode := "-4", "octet"
	if x.host.Addr().Is6() {
		family = "-6"
	}
	if x.netascii {
		mode = "netascii"
	}
	return []string{family, "-l", "-m", mode, x.hostArg(), x.portArg(), "-c"}
}

// tftpHPAErr: tftp-hpa 5.2 exits 0 after an ERROR packet and 69 after
// "Transfer timed out."; a successful non-verbose transfer prints nothing.
func (r result) tftpHPAErr() error {
	switch {
	case r.err != nil:
		return r.failed(r.err.Error())
	case len(r.stdout) > 0 || len(r.stderr) > 0:
		return r.failed("transfer failed (tftp-hpa exits 0 on errors; judged by its output)")
	}
	return nil
}
