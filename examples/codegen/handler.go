package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// defaultKernelURL is chained by ipxe/boot.ipxe when the master sets no
// "kernel-url".
const defaultKernelURL = "http://boot.example/linux/vmlinuz"

// handler builds every file in code. It has no state: each worker process
// serves one session.
type handler struct{}

// ServeTFTP answers downloads (RRQ). r.Path is the name after the master's
// remap rules; a leading "/" is ignored, as by the stock worker.
func (handler) ServeTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
	switch strings.TrimLeft(r.Path, "/") {
	case "hello.txt":
		return fbtftp.BytesResponse(hello(r)), nil
	case "ipxe/boot.ipxe":
		script, err := bootScript(r)
		if err != nil {
			return nil, err // ERROR 0 "server error"; the details go to the log
		}
		return fbtftp.BytesResponse(script), nil
	case "uptime.txt":
		return stream(writeUptime), nil
	}
	return nil, tftp.ErrNotFound // ERROR 1 File not found
}

// hello greets the client by its address and names the server address it
// talked to.
func hello(r *fbtftp.Request) []byte {
	return fmt.Appendf(nil, "Hello %s, this is %s.\n", r.Peer.Addr(), r.Local.Addr())
}

// bootScript is an iPXE script that chains the kernel at the "kernel-url"
// setting, telling the boot server which client asks: its IP address, and
// its MAC address, which iPXE itself fills in for ${net0/mac}.
func bootScript(r *fbtftp.Request) ([]byte, error) {
	base := r.Extra["kernel-url"]
	if base == "" {
		base = defaultKernelURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("kernel-url: %w", err)
	}
	if !u.IsAbs() {
		return nil, fmt.Errorf("kernel-url %q is not an absolute URL", base)
	}
	q := u.Query()
	q.Set("ip", r.Peer.Addr().String())
	u.RawQuery = q.Encode() + "&mac=${net0/mac}"

	var b bytes.Buffer
	fmt.Fprintf(&b, "#!ipxe\n")
	fmt.Fprintf(&b, "echo fbtftp-go: booting %s\n", r.Peer.Addr())
	fmt.Fprintf(&b, "chain %s\n", u)
	return b.Bytes(), nil
}
