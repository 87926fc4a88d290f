package httporigin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/origin"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// Config configures a Handler. The zero value serves URL routes to no
// origin at all (every route is refused): set Origin or Origins.
type Config struct {
	// Origin, when set, is the URL prefix of the names the next handler
	// does not have: "http://repo/tftp/" serves "pxelinux.0" from
	// "http://repo/tftp/pxelinux.0". Its origin may also be named by
	// routes.
	Origin string
	// Origins lists other origins ("http://host[:port]" or
	// "https://host[:port]") that routes may name.
	Origins []string
	// Networks, when not empty, are the only addresses dialled (origins
	// and proxies, after name resolution); any other address fails
	// before a packet is sent, with ERROR 0.
	Networks []netip.Prefix

	// CacheDir, when set, keeps complete objects on disk (see
	// origin.Cache). It is opened by New, so it may lie outside the
	// worker's chroot; it must be writable by the worker's user.
	CacheDir string
	// CacheMaxBytes bounds the bytes of the cached objects, fills in
	// progress included, at every moment (1 GiB when zero).
	CacheMaxBytes int64
	// CacheMaxEntries bounds the number of cached objects (10000 when
	// zero); each is two files at rest.
	CacheMaxEntries int
	// CacheMaxAge serves an entry without revalidation when it was
	// validated less than this ago (0: revalidate every download with
	// ETag / Last-Modified).
	CacheMaxAge time.Duration

	// ConnectTimeout bounds the TCP connect and TLS handshake (5 s),
	// HeaderTimeout the wait for the status line (10 s) and IdleTimeout
	// any wait for body bytes (30 s).
	ConnectTimeout, HeaderTimeout, IdleTimeout time.Duration
	// MaxSize, when positive, refuses larger objects with ERROR 0.
	MaxSize int64
	// FillTimeout bounds how long a cache fill may go on after the
	// session that started it has ended (DefaultFillTimeout when zero):
	// Drain stops the fills still running then, and the worker exits.
	FillTimeout time.Duration
	// ClientHeaders sends, with every origin request, who asks:
	// X-TFTP-Client-IP, X-TFTP-Client-MAC (when the neighbour table
	// knows it), X-TFTP-Server-IP (the address the client talked to) and
	// X-TFTP-Filename (as the client sent it, percent-encoded), so that
	// an HTTP service can build per-machine content. The cache keys by
	// URL: such answers must say "Cache-Control: private" (or no-store, or
	// Vary on these headers), and are then never stored.
	ClientHeaders bool
}

// Handler serves URL routes from their origins and everything else through
// the next handler. It implements fbtftp.Handler, fbtftp.WriteHandler
// (uploads go to the next handler; a URL route is refused) and
// fbtftp.Drainer (cache fills finish before the worker exits) and
// fbtftp.OriginReporter (what it did with origins, for the metrics).
type Handler struct {
	next        fbtftp.Handler
	fillTimeout time.Duration
	prefix      *url.URL
	allowed     []prefix // where routes may go: Origin, Origins, the map rules' prefixes
	client      *origin.Client
	transport   *http.Transport
	headers     bool // Config.ClientHeaders
}

// New returns a Handler in front of next (nil: URL routes and Origin
// only). Call it before the worker's sandbox: it opens the cache directory
// and reads the system's name resolution files, which a chroot hides.
func New(next fbtftp.Handler, cfg Config) (*Handler, error) {
	h := &Handler{next: next, headers: cfg.ClientHeaders, fillTimeout: cfg.FillTimeout}
	if h.fillTimeout <= 0 {
		h.fillTimeout = DefaultFillTimeout
	}
	if cfg.Origin != "" {
		u, err := parseOrigin(cfg.Origin)
		if err != nil {
			return nil, fmt.Errorf("origin %q: %w", cfg.Origin, err)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
			if u.RawPath != "" {
				u.RawPath += "/"
			}
		}
		h.prefix = u
	}
	c := &origin.Client{
		ConnectTimeout: cfg.ConnectTimeout,
		HeaderTimeout:  cfg.HeaderTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		MaxSize:        cfg.MaxSize,
	}
	h.transport = newTransport(c.ConnectTimeout, cfg.Networks)
	c.HTTP = &http.Client{Transport: h.transport}
	h.client = c
	origins := cfg.Origins
	if h.prefix != nil {
		origins = append([]string{h.prefix.String()}, origins...)
	}
	if err := h.Allow(origins...); err != nil {
		return nil, err
	}
	if cfg.CacheDir != "" {
		c.Cache = &origin.Cache{Dir: cfg.CacheDir, MaxBytes: cfg.CacheMaxBytes, MaxEntries: cfg.CacheMaxEntries, MaxAge: cfg.CacheMaxAge}
		if err := c.Cache.OpenDir(); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	return h, nil
}

// Allow adds URL prefixes that routes may lie under (the map file's, see
// remap.Rules.URLPrefixes): "http://repo/boot/" allows the paths below
// /boot/ of that origin, a bare "http://repo" every path. Call it before
// the sandbox, like New: for an https origin it loads the system's
// certificate authorities (or SSL_CERT_FILE / SSL_CERT_DIR), which a
// chroot hides.
func (h *Handler) Allow(prefixes ...string) error {
	for _, o := range prefixes {
		u, err := parseOrigin(o)
		if err != nil {
			return fmt.Errorf("origin %q: %w", o, err)
		}
		p, err := parsePrefix(o)
		if err != nil {
			return fmt.Errorf("origin %q: %w", o, err)
		}
		h.allowed = append(h.allowed, p)
		if strings.EqualFold(u.Scheme, "https") && h.transport.TLSClientConfig == nil {
			// Parsing the roots costs milliseconds: only for https.
			roots, err := loadRoots()
			if err != nil {
				return fmt.Errorf("loading the certificate authorities for %s: %w", originKey(u), err)
			}
			h.transport.TLSClientConfig = &tls.Config{RootCAs: roots}
		}
	}
	return nil
}

// ServeTFTP serves a URL route (see fbtftp.Request.Route) from its origin,
// anything else from the next handler, and what the next handler does not
// have from Origin. A name the client sent is never fetched as a URL, even
// when it looks like one: only the map rules make routes.
func (h *Handler) ServeTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
	if route, ok := r.Route(); ok {
		return h.fetch(ctx, r, route)
	}
	if h.next != nil {
		data, err := h.next.ServeTFTP(ctx, r)
		if h.prefix == nil || err == nil {
			return data, err
		}
		if code, _ := tftp.WireError(err); code != tftp.CodeNotFound {
			return nil, err
		}
	} else if h.prefix == nil {
		return nil, tftp.ErrNotFound
	}
	u, err := h.join(r.Path)
	if err != nil {
		return nil, err
	}
	return h.open(ctx, r, u)
}

// ReceiveTFTP gives uploads to the next handler; a URL route is refused.
func (h *Handler) ReceiveTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.WriteTarget, error) {
	wh, ok := h.next.(fbtftp.WriteHandler)
	if _, route := r.Route(); route || !ok {
		return nil, &tftp.Error{Code: tftp.CodeAccessViolation, Message: "Uploads are not supported here"}
	}
	return wh.ReceiveTFTP(ctx, r)
}

// TakeOriginStats implements fbtftp.OriginReporter: the origin requests,
// failures, cache fills and evictions since the last call.
func (h *Handler) TakeOriginStats() tftp.OriginStats { return h.client.TakeStats() }

// DefaultFillTimeout is Config.FillTimeout's default: how long a cache
// fill may go on after its session. A UEFI client's size probe ends its
// session at once and its download reads the fill along from another
// worker, so the limit must let the largest object arrive at the origin's
// pace (5 minutes is 1 GiB at 3.6 MB/s).
const DefaultFillTimeout = 5 * time.Minute

// ErrFillTimeout is the cause Drain gives the fills it stops (errors.Is).
var ErrFillTimeout = origin.ErrFillTimeout

// Drain waits for the cache fills this process started (a client that
// only probed the size does not wait for them) so that the next download
// finds the object complete. It waits at most Config.FillTimeout, the one
// place that limit applies, then stops the fills still running (their
// temporary files deleted, readers in other workers failing with ERROR
// 0) and returns an error wrapping ErrFillTimeout that says how many it
// stopped: fbtftp.ServeWorker logs it. When ctx ends first (the session
// deadline, SIGTERM), it stops them too and returns ctx's cause. Either
// way it then closes the idle connections to origins.
func (h *Handler) Drain(ctx context.Context) error {
	if d, ok := h.next.(fbtftp.Drainer); ok {
		if err := d.Drain(ctx); err != nil {
			return err
		}
	}
	limit := fmt.Errorf("%w (%s after the session)", ErrFillTimeout, h.fillTimeout)
	ctx, cancel := context.WithTimeoutCause(ctx, h.fillTimeout, limit)
	defer cancel()
	// The session's connections to origins are closed with it: a worker
	// the master reuses (--sessions-per-worker) must hold no more
	// descriptors than before its first session, and keeps no
	// connection a later session could see.
	defer h.transport.CloseIdleConnections()
	if err := h.client.Wait(ctx); err != nil {
		n := h.client.Abort(err)
		return fmt.Errorf("stopped %d cache fill(s): %w", n, err)
	}
	return nil
}

// CacheCounters is what the cache did in this worker process (one
// session, and the fills it left running): fills started, published and
// stopped (by the size bound, MaxSize or FillTimeout), bytes written,
// evictions, and the usage the last reservation saw. Zero without a
// cache. See origin.CacheCounters for each field.
type CacheCounters = origin.CacheCounters

// CacheCounters returns the cache's counters for this process.
func (h *Handler) CacheCounters() CacheCounters {
	if h.client.Cache == nil {
		return CacheCounters{}
	}
	return h.client.Cache.Counters()
}

// fetch opens a route if it lies under an allowed prefix (checkRoute).
func (h *Handler) fetch(ctx context.Context, r *fbtftp.Request, route string) (fbtftp.ResponseData, error) {
	u, err := checkRoute(route, h.allowed)
	if err != nil {
		r.Logger.Warn("route outside the configured origins: refused", slog.String("route", redact(route)), slog.Any("error", err))
		return nil, &tftp.Error{Code: tftp.CodeAccessViolation, Err: err}
	}
	return h.open(ctx, r, u)
}

// open fetches u, a URL the configuration allows.
func (h *Handler) open(ctx context.Context, r *fbtftp.Request, u *url.URL) (fbtftp.ResponseData, error) {
	if h.headers {
		ctx = origin.WithHeader(ctx, clientHeader(r))
	}
	data, err := h.client.Open(ctx, u.String())
	if err != nil {
		code, _ := tftp.WireError(err)
		lvl := slog.LevelWarn
		if code != tftp.CodeUndefined {
			lvl = slog.LevelInfo // 404, 403: the origin's answer, not a failure
		}
		r.Logger.Log(ctx, lvl, "origin did not serve the object", slog.Any("error", err))
		return nil, err
	}
	size, known := data.Size()
	if !known {
		size = -1
	}
	r.Logger.Debug("serving from origin", slog.String("url", u.Redacted()), slog.Int64("size", size))
	return data, nil
}

// clientHeader describes the TFTP client to the origin (Config.ClientHeaders).
func clientHeader(r *fbtftp.Request) http.Header {
	h := http.Header{}
	if r.Peer.IsValid() {
		h.Set("X-TFTP-Client-IP", r.Peer.Addr().WithZone("").String())
	}
	if len(r.MAC) > 0 {
		h.Set("X-TFTP-Client-MAC", r.MAC.String())
	}
	if r.Local.IsValid() {
		h.Set("X-TFTP-Server-IP", r.Local.Addr().WithZone("").String())
	}
	h.Set("X-TFTP-Filename", url.PathEscape(r.Filename))
	return h
}

// join appends a file name to the Origin prefix, one escaped path segment
// per component (so '?', '#', '%' and '\\' in a name are data, never URL
// syntax); empty and "." components are dropped. ".." never reaches here
// with the stock file handler (it refuses it first); it is refused anyway.
func (h *Handler) join(name string) (*url.URL, error) {
	u := *h.prefix
	var b strings.Builder
	b.WriteString(u.EscapedPath())
	first := true
	for _, s := range strings.Split(name, "/") {
		switch s {
		case "", ".":
			continue
		case "..":
			return nil, &tftp.Error{Code: tftp.CodeAccessViolation}
		}
		if !first {
			b.WriteByte('/')
		}
		first = false
		b.WriteString(url.PathEscape(s))
	}
	p, err := url.PathUnescape(b.String())
	if err != nil {
		return nil, err
	}
	u.Path, u.RawPath = p, b.String()
	return &u, nil
}

// redact hides the password of a URL for the log.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(not a URL)"
}

// parseOrigin accepts an absolute http or https URL with a host.
func parseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if sc := strings.ToLower(u.Scheme); sc != "http" && sc != "https" {
		return nil, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return nil, errors.New("no host")
	}
	return u, nil
}

// originKey is "scheme://host[:port]" in lower case, without the scheme's
// default port.
func originKey(u *url.URL) string {
	sc := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (sc == "http" && port == "80") || (sc == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return sc + "://" + host
}

// newTransport is origin's default transport, with a dialer that refuses
// addresses outside networks and resolves names with the system
// configuration read now (before a chroot hides /etc).
func newTransport(connect time.Duration, networks []netip.Prefix) *http.Transport {
	if connect <= 0 {
		connect = origin.DefaultConnectTimeout
	}
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	if len(networks) > 0 {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			for _, n := range networks {
				if n.Contains(ap.Addr().Unmap()) {
					return nil
				}
			}
			return fmt.Errorf("address %s is outside the allowed networks (--http-allow-net)", ap.Addr())
		}
	}
	res := loadResolver(d)
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         res.dial,
		TLSHandshakeTimeout: connect,
		DisableCompression:  true,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        4,
		IdleConnTimeout:     90 * time.Second,
	}
}

// caBundles are the system bundles crypto/x509 looks for on Linux, in its
// order.
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine
}

// loadRoots returns the certificate authorities for https origins. It
// reads SSL_CERT_FILE or the system's bundle only: x509.SystemCertPool
// also parses every file of /etc/ssl/certs, which repeats the bundle on
// Debian and takes twice as long (26-38 ms against 11 ms per worker start
// here). With SSL_CERT_DIR set, or no bundle, it is SystemCertPool.
func loadRoots() (*x509.CertPool, error) {
	if os.Getenv("SSL_CERT_DIR") != "" {
		return x509.SystemCertPool()
	}
	files := caBundles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", f)
		}
		return pool, nil
	}
	return x509.SystemCertPool()
}
