// Command httpbacked is a custom worker that serves every file from an HTTP
// origin, with nothing in the TFTP root, and routes names in code before
// the origin is asked:
//
//   - only names under the site's prefixes (pxelinux.0, ldlinux.c32,
//     pxelinux.cfg/, images/) reach the origin; anything else gets
//     ERROR 2 without a connection;
//   - "pxelinux.cfg/01-<mac>", the per-machine name PXELINUX asks for
//     first, is fetched from the origin's per-machine object
//     "hosts/<mac>/pxelinux.cfg";
//   - every other allowed name is fetched as is: origin URL + name.
//
// The origin (and the optional cache) come from the master's own flags,
// which fbtftp-master passes to any worker through the environment;
// httporigin.FromEnv reads them. Build it and point the master at it:
//
//	CGO_ENABLED=0 go build -o bin/ ./cmd/fbtftp-master ./examples/httpbacked
//	bin/fbtftp-master -L -a 127.0.0.1:6969 -s /srv/tftp --worker bin/httpbacked \
//		--http-origin http://repo.example/tftp/ [--http-cache /var/cache/fbtftp]
//
// -s is still needed (the worker chroots there), but the directory may be
// empty. The origin's answers map to TFTP errors as in package httporigin:
// 404 is ERROR 1, 403 is ERROR 2, anything else ERROR 0.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/httporigin"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// router applies the site's naming rules, then hands the request to the
// origin handler.
type router struct {
	prefixes []string            // names allowed to reach the origin
	origin   *httporigin.Handler // serves Request.Path from the origin
}

// ServeTFTP refuses names outside the prefixes, rewrites the per-machine
// PXELINUX name and asks the origin.
func (rt *router) ServeTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
	name := strings.TrimLeft(r.Path, "/") // a leading "/" is the client's habit
	if !rt.allowed(name) {
		r.Logger.Info("name outside the served prefixes: refused")
		return nil, tftp.ErrAccessViolation // ERROR 2, the origin is not contacted
	}
	if mac, ok := pxelinuxMAC(name); ok {
		name = "hosts/" + mac + "/pxelinux.cfg"
	}
	// Serve a copy: the Request belongs to the worker, and Filename (what
	// the client asked for) stays in the logs.
	routed := *r
	routed.Path = name
	if name != r.Path {
		r.Logger.Debug("routed", slog.String("path", name))
	}
	return rt.origin.ServeTFTP(ctx, &routed)
}

// Unwrap returns the origin handler, so that the worker finds its
// optional interfaces: its Drain lets the cache fills this session started
// finish before the process exits (fbtftp.Handler documents the
// convention).
func (rt *router) Unwrap() fbtftp.Handler { return rt.origin }

// allowed reports whether name lies under one of the prefixes. ".."
// components need no check here: httporigin refuses them with ERROR 2.
func (rt *router) allowed(name string) bool {
	for _, p := range rt.prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// pxelinuxMAC returns the MAC address (lower case, dash-separated) of
// "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", the name PXELINUX tries first: "01"
// is the ARP hardware type of Ethernet.
func pxelinuxMAC(name string) (string, bool) {
	s, ok := strings.CutPrefix(name, "pxelinux.cfg/01-")
	if !ok {
		return "", false
	}
	mac, err := net.ParseMAC(strings.ReplaceAll(s, "-", ":"))
	if err != nil || len(mac) != 6 {
		return "", false // not a MAC: asked for as is, most likely a 404
	}
	return strings.ReplaceAll(mac.String(), ":", "-"), true
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "httpbacked:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if os.Getenv(httporigin.EnvOrigin) == "" {
		return fmt.Errorf("no HTTP origin: run fbtftp-master with --http-origin URL")
	}
	w, err := fbtftp.Connect()
	if err != nil {
		return err
	}
	// FromEnv runs between Connect and Serve, that is before the sandbox:
	// it opens the cache directory and reads /etc/hosts and
	// /etc/resolv.conf, which the chroot hides. The next handler is nil:
	// no local files, every allowed name goes to the origin.
	origin, err := httporigin.FromEnv(nil, os.Getenv)
	if err != nil {
		return err
	}
	// The master's map rules may route names to their prefixes.
	if err := origin.Allow(w.RoutePrefixes()...); err != nil {
		return err
	}
	h := &router{
		prefixes: []string{"pxelinux.0", "ldlinux.c32", "pxelinux.cfg/", "images/"},
		origin:   origin,
	}
	return w.Serve(ctx, h, fbtftp.WorkerConfig{})
}
