package testenv

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Atftp downloads d.File with atftp. Octet transfers use batch mode:
//
//	atftp [--option "blksize N"] [--option "tsize 0"] [--option "windowsize N"] --get -r FILE -l OUT HOST PORT
//
// Batch mode has no transfer mode switch, so netascii transfers drive the
// interactive command interpreter over stdin instead (connect, mode netascii,
// option ..., get, quit); there atftp exits 0 whatever happens and errors are
// recognised in its stderr, and file names containing white space give
// ErrUnsupported. atftp converts netascii to local line ends. atftp does not
// check option values: a blksize or windowsize out of the RFC ranges is sent
// as is.
func Atftp(ctx context.Context, t testing.TB, d Download) ([]byte, error) {
	t.Helper()
	x, err := newTransfer("atftp", d.Host, d.File, d.Blksize, d.Tsize, d.Windowsize, d.Mode, d.NoOptions)
	if err != nil {
		return nil, err
	}
	bin := LookPath(t, "atftp")
	dir := workDir(t)
	out := filepath.Join(dir, "download")
	var r result
	if x.netascii {
		if strings.ContainsAny(x.file, " \t\n") {
			return nil, x.unsupported("netascii (interactive mode) with white space in the file name")
		}
		r = run(ctx, dir, x.atftpScript("get "+x.file+" "+out), bin)
		if err := r.atftpInteractiveErr(); err != nil {
			return nil, err
		}
	} else {
		r = run(ctx, dir, nil, bin, append(x.atftpOptions(), "--get", "-r", x.file, "-l", out, x.hostArg(), x.portArg())...)
		if r.err != nil {
			return nil, r.failed(r.err.Error())
		}
	}
	return readOutput(r, out)
}

// AtftpUpload uploads u.Data as u.File with atftp --put (or the interactive
// "put" for netascii). Same options and quirks as [Atftp]; on a WRQ atftp
// sends the real size as tsize.
func AtftpUpload(ctx context.Context, t testing.TB, u Upload) error {
	t.Helper()
	x, err := newTransfer("atftp", u.Host, u.File, u.Blksize, u.Tsize, u.Windowsize, u.Mode, u.NoOptions)
	if err != nil {
		return err
	}
	bin := LookPath(t, "atftp")
	dir := workDir(t)
	in, err := writeInput(dir, u.Data)
	if err != nil {
		return err
	}
	if x.netascii {
		if strings.ContainsAny(x.file, " \t\n") {
			return x.unsupported("netascii (interactive mode) with white space in the file name")
		}
		return run(ctx, dir, x.atftpScript("put "+in+" "+x.file), bin).atftpInteractiveErr()
	}
	r := run(ctx, dir, nil, bin, append(x.atftpOptions(), "--put", "-l", in, "-r", x.file, x.hostArg(), x.portArg())...)
	if r.err != nil {
		return r.failed(r.err.Error())
	}
	return nil
}

// atftpOptions are the --option arguments. tsize is requested as "tsize 0":
// with "tsize enable" (the man page's spelling) atftp 0.8.0 sends the
// literal value "enable" in an RRQ, which in.tftpd 5.2 ignores.
func (x transfer) atftpOptions() []string {
	var args []string
	for _, o := range x.atftpOptionValues() {
		args = append(args, "--option", o)
	}
	return args
}

func (x transfer) atftpOptionValues() []string {
	var opts []string
	if x.blksize != 0 {
		opts = append(opts, fmt.Sprintf("blksize %d", x.blksize))
	}
	if x.tsize {
		opts = append(opts, "tsize 0")
	}
	if x.windowsize != 0 {
		opts = append(opts, fmt.Sprintf("windowsize %d", x.windowsize))
	}
	return opts
}

// atftpScript is the interactive session running command in netascii mode.
func (x transfer) atftpScript(command string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "connect %s %s\nmode netascii\n", x.hostArg(), x.portArg())
	for _, o := range x.atftpOptionValues() {
		fmt.Fprintf(&b, "option %s\n", o)
	}
	fmt.Fprintf(&b, "%s\nquit\n", command)
	return b.Bytes()
}

// atftpInteractiveErr: in interactive mode atftp exits 0 after failures;
// it reports them on stderr ("tftp: error received from server <...>",
// "tftp: aborting", "timeout: retrying ..."), next to harmless lines such as
// "Option blksize = 1468".
func (r result) atftpInteractiveErr() error {
	if r.err != nil {
		return r.failed(r.err.Error())
	}
	for _, line := range strings.Split(string(r.stderr), "\n") {
		l := strings.ToLower(line)
		if strings.Contains(l, "error") || strings.Contains(l, "abort") || strings.Contains(l, "timeout") || strings.Contains(l, "fail") {
			return r.failed("transfer failed (interactive atftp exits 0 on errors; judged by its stderr)")
		}
	}
	return nil
}
