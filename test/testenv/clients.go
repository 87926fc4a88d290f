package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ErrUnsupported is returned (wrapped, with the reason) by the client
// wrappers for a [Download] or [Upload] the client cannot perform, for
// example a windowsize with curl. Callers skip that combination:
//
//	if errors.Is(err, testenv.ErrUnsupported) { t.Skip(err) }
var ErrUnsupported = errors.New("not supported by this client")

// DefaultClientTimeout bounds a client run when the context passed to a
// wrapper has no deadline.
const DefaultClientTimeout = 30 * time.Second

// Download describes one read request (RRQ) made with a real client.
// Zero values mean "the client's default".
type Download struct {
	// Host is the server's address; IPv4 or IPv6.
	Host netip.AddrPort
	// File is the file name sent in the RRQ.
	File string
	// Blksize, when not 0, requests the blksize option (RFC 2348).
	Blksize int
	// Tsize requests the tsize option (RFC 2349). Some clients send it
	// anyway (curl, busybox); see the package documentation.
	Tsize bool
	// Windowsize, when not 0, requests the windowsize option (RFC 7440).
	Windowsize int
	// Mode is "octet" (when empty) or "netascii".
	Mode string
	// NoOptions asks for a bare RFC 1350 request without any option; the
	// other option fields must then be zero.
	NoOptions bool
}

// Upload describes one write request (WRQ) made with a real client. The
// fields mean what they mean in [Download]; Data is the content sent.
type Upload struct {
	Host       netip.AddrPort
	File       string
	Data       []byte
	Blksize    int
	Tsize      bool
	Windowsize int
	Mode       string
	NoOptions  bool
}

// Client is one real TFTP client program with its wrappers, for tests that
// run the same transfer with every client.
type Client struct {
	// Name is "curl", "tftp-hpa", "atftp" or "busybox".
	Name     string
	Download func(ctx context.Context, t testing.TB, d Download) ([]byte, error)
	Upload   func(ctx context.Context, t testing.TB, u Upload) error
}

// Clients returns the wrappers for every supported client.
func Clients() []Client {
	return []Client{
		{Name: "curl", Download: Curl, Upload: CurlUpload},
		{Name: "tftp-hpa", Download: TftpHPA, Upload: TftpHPAUpload},
		{Name: "atftp", Download: Atftp, Upload: AtftpUpload},
		{Name: "busybox", Download: Busybox, Upload: BusyboxUpload},
	}
}

// transfer is what the wrappers share between Download and Upload.
type transfer struct {
	client     string
	host       netip.AddrPort
	file       string
	blksize    int
	tsize      bool
	windowsize int
	netascii   bool
	noOptions  bool
}

func newTransfer(client string, host netip.AddrPort, file string, blksize int, tsize bool, windowsize int, mode string, noOptions bool) (transfer, error) {
	x := transfer{client: client, host: host, file: file, blksize: blksize, tsize: tsize, windowsize: windowsize, noOptions: noOptions}
	switch {
	case !host.IsValid() || host.Port() == 0:
		return x, fmt.Errorf("%s: invalid host %v", client, host)
	case file == "":
		return x, fmt.Errorf("%s: empty file name", client)
	case blksize < 0 || windowsize < 0:
		return x, fmt.Errorf("%s: negative blksize or windowsize", client)
	case noOptions && (blksize != 0 || tsize || windowsize != 0):
		return x, fmt.Errorf("%s: NoOptions with options set", client)
	}
	switch strings.ToLower(mode) {
	case "", "octet":
	case "netascii":
		x.netascii = true
	default:
		return x, fmt.Errorf("%w: %s: mode %q (only octet and netascii)", ErrUnsupported, client, mode)
	}
	return x, nil
}

func (x transfer) unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrUnsupported, x.client, fmt.Sprintf(format, args...))
}

// hostArg is the host as a command-line argument: "127.0.0.1" or "::1".
func (x transfer) hostArg() string { return x.host.Addr().String() }

func (x transfer) portArg() string { return fmt.Sprint(x.host.Port()) }

// result is a finished client run.
type result struct {
	argv           []string
	stdout, stderr []byte
	err            error // from exec: start failure, exit status, context
}

func (r result) failed(why string) error {
	return fmt.Errorf("%s: %s\nstdout: %s\nstderr: %s", strings.Join(r.argv, " "), why,
		bytes.TrimSpace(r.stdout), bytes.TrimSpace(r.stderr))
}

type netnsKey struct{}

// WithNetns returns a context under which the client wrappers run their
// client in the network namespace named ns ("ip netns exec ns CLIENT
// ...", see internal/lossnet), for downloads through a lossy link.
func WithNetns(ctx context.Context, ns string) context.Context {
	return context.WithValue(ctx, netnsKey{}, ns)
}

// run runs name with args in dir, bounded by ctx (or DefaultClientTimeout
// when ctx has no deadline), with stdin as standard input, in the network
// namespace WithNetns put in ctx, if any.
func run(ctx context.Context, dir string, stdin []byte, name string, args ...string) result {
	if ns, ok := ctx.Value(netnsKey{}).(string); ok && ns != "" {
		name, args = "ip", append([]string{"netns", "exec", ns, name}, args...)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultClientTimeout)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return result{argv: append([]string{name}, args...), stdout: stdout.Bytes(), stderr: stderr.Bytes(), err: err}
}

// workDir returns a fresh directory for a client's local files.
func workDir(t testing.TB) string {
	t.Helper()
	return t.TempDir()
}

// readOutput reads the local file a client downloaded to.
func readOutput(r result, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, r.failed(fmt.Sprintf("reading downloaded file: %v", err))
	}
	return b, nil
}

// writeInput writes the local file a client uploads from.
func writeInput(dir string, data []byte) (string, error) {
	p := filepath.Join(dir, "upload")
	return p, os.WriteFile(p, data, 0o644)
}
