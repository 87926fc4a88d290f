package testenv

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// curl's --tftp-blksize range (it refuses others with exit code 71).
const (
	curlMinBlksize = 8
	curlMaxBlksize = 65464
)

// Curl downloads d.File with curl (tftp://HOST:PORT/FILE, written to
// stdout). curl always sends tsize, blksize (512 by default) and timeout
// unless d.NoOptions (--tftp-no-options), so it cannot send a blksize without
// tsize, and it has no windowsize. With Mode "netascii" the URL gets
// ";mode=netascii" and the bytes returned are the netascii wire form: curl
// does not convert CR LF / CR NUL back. curl fails (exit 71, "invalid tsize
// -:0:- value in OACK packet") when the server answers tsize 0, i.e. for
// every empty file unless NoOptions.
func Curl(ctx context.Context, t testing.TB, d Download) ([]byte, error) {
	t.Helper()
	x, err := newTransfer("curl", d.Host, d.File, d.Blksize, d.Tsize, d.Windowsize, d.Mode, d.NoOptions)
	if err != nil {
		return nil, err
	}
	args, err := x.curlArgs()
	if err != nil {
		return nil, err
	}
	bin := LookPath(t, "curl")
	r := run(ctx, workDir(t), nil, bin, append(args, "-o", "-", x.curlURL())...)
	if r.err != nil {
		return nil, r.failed(r.err.Error())
	}
	return r.stdout, nil
}

// CurlUpload uploads u.Data as u.File with curl -T. It sends tsize (the
// size), blksize and timeout unless u.NoOptions.
func CurlUpload(ctx context.Context, t testing.TB, u Upload) error {
	t.Helper()
	x, err := newTransfer("curl", u.Host, u.File, u.Blksize, u.Tsize, u.Windowsize, u.Mode, u.NoOptions)
	if err != nil {
		return err
	}
	args, err := x.curlArgs()
	if err != nil {
		return err
	}
	bin := LookPath(t, "curl")
	dir := workDir(t)
	in, err := writeInput(dir, u.Data)
	if err != nil {
		return err
	}
	r := run(ctx, dir, nil, bin, append(args, "-T", in, x.curlURL())...)
	if r.err != nil {
		return r.failed(r.err.Error())
	}
	return nil
}

func (x transfer) curlArgs() ([]string, error) {
	// -sS: no progress meter. -v: the reason for a failure goes to stderr
	// (curl 7.88's own error line is often a bogus "getpeername() failed").
	// --globoff: "[::1]" and file names with [] or {} are not URL globs.
	args := []string{"-sS", "-v", "--globoff"}
	switch {
	case x.windowsize != 0:
		return nil, x.unsupported("no windowsize option")
	case x.noOptions:
		args = append(args, "--tftp-no-options")
	case x.blksize != 0 && (x.blksize < curlMinBlksize || x.blksize > curlMaxBlksize):
		return nil, x.unsupported("blksize %d outside %d..%d", x.blksize, curlMinBlksize, curlMaxBlksize)
	case x.blksize != 0:
		args = append(args, "--tftp-blksize", fmt.Sprint(x.blksize))
	}
	// Without NoOptions curl sends tsize whether x.tsize is set or not.
	return args, nil
}

// curlURL is tftp://HOST:PORT/FILE with FILE escaped (";" too, which curl
// would otherwise parse as ";mode="); curl unescapes it and sends the path
// without its leading slash as the file name, so "/abs" stays absolute.
func (x transfer) curlURL() string {
	u := url.URL{Scheme: "tftp", Host: x.host.String(), Path: "/" + x.file}
	s := "tftp://" + u.Host + strings.ReplaceAll(u.EscapedPath(), ";", "%3B")
	if x.netascii {
		s += ";mode=netascii"
	}
	return s
}
