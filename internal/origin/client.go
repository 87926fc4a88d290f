package origin

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// The defaults for the Client's zero fields.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout    = 30 * time.Second
)

// copyBufSize is the buffer a cache fill copies the body through; it is
// the only per-download memory besides net/http's own buffers.
const copyBufSize = 64 << 10

// Content is what Open returns: an fbtftp.ResponseData. Its dynamic type
// is *Body (a plain stream, read sequentially), *File (a published cache
// entry) or the reader of a cache fill in progress; the last two also
// implement io.ReaderAt, which the TFTP engine then uses.
type Content interface {
	io.Reader
	io.Closer
	// Size returns the length from Content-Length (or the cache entry)
	// and true, or false when the origin did not announce it (chunked).
	Size() (int64, bool)
}

// Client fetches objects from HTTP(S) origins for TFTP downloads. Its zero
// value works: no cache, no size limit, default timeouts. A Client must
// not be copied after first use. Set the fields before the first Open.
type Client struct {
	// HTTP is the client to use. When nil, a client with its own
	// transport is built from ConnectTimeout (dial and TLS handshake)
	// and the environment's proxy settings (HTTP_PROXY, NO_PROXY...).
	// HeaderTimeout, IdleTimeout and MaxSize apply to any client.
	HTTP *http.Client
	// ConnectTimeout bounds the TCP connect and the TLS handshake of the
	// built-in transport (DefaultConnectTimeout when zero).
	ConnectTimeout time.Duration
	// IdleTimeout bounds how long one read may wait for body bytes
	// (DefaultIdleTimeout when zero). It aborts the download.
	IdleTimeout time.Duration
	// HeaderTimeout bounds the wait for the status line and headers after
	// the request is sent, redirects included (DefaultHeaderTimeout when
	// zero).
	HeaderTimeout time.Duration
	// Cache, when set, keeps complete objects on disk (see Cache).
	Cache *Cache
	// MaxSize, when positive, is the largest object served: a larger
	// Content-Length fails at once, a longer chunked body fails when the
	// limit is passed.
	MaxSize int64

	once     sync.Once
	hc       *http.Client
	counters counters // see TakeStats
}

func (c *Client) connectTimeout() time.Duration {
	return orDefault(c.ConnectTimeout, DefaultConnectTimeout)
}
func (c *Client) headerTimeout() time.Duration {
	return orDefault(c.HeaderTimeout, DefaultHeaderTimeout)
}
func (c *Client) idleTimeout() time.Duration { return orDefault(c.IdleTimeout, DefaultIdleTimeout) }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.once.Do(func() {
		d := &net.Dialer{Timeout: c.connectTimeout(), KeepAlive: 30 * time.Second}
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         d.DialContext,
			TLSHandshakeTimeout: c.connectTimeout(),
			DisableCompression:  true,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        4,
			IdleConnTimeout:     90 * time.Second,
		}}
	})
	return c.hc
}

// Open starts the download of rawURL (http or https only) and returns it
// once the origin has answered with 200 (or, with a Cache, once a cached
// copy is known to be current). ctx bounds the download of a *Body; a
// cache fill outlives it (see Cache).
//
// Errors carry a TFTP code (a TFTPError method, found with errors.As):
// 404 and 410 give 1 "File not found", 401 and 403 give 2 "Access
// violation", and any other status, a network error, a timeout, a body
// shorter than its Content-Length or an object over MaxSize give 0 "origin
// error". The status and the underlying error are in the error text only.
//
// Retransmissions never refetch: a *Body is a plain stream that the TFTP
// engine reads once, in order, keeping the blocks of the current window in
// its own ring buffer; the cached kinds are read with ReadAt.
func (c *Client) Open(ctx context.Context, rawURL string) (Content, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if c.Cache != nil {
		return c.openCached(ctx, u)
	}
	return c.openDirect(ctx, u)
}

// parseURL accepts absolute http and https URLs with a host.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, wrap(errOrigin, "<bad url>", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return nil, wrap(errOrigin, u.Redacted(), fmt.Errorf("unsupported scheme %q", u.Scheme))
	}
	if u.Host == "" {
		return nil, wrap(errOrigin, u.Redacted(), fmt.Errorf("no host"))
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// newRequest builds a GET that asks for the bytes as stored: with an
// explicit Accept-Encoding, net/http does not decompress transparently
// (which would drop Content-Length).
func newRequest(ctx context.Context, u *url.URL) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, wrap(errOrigin, u.Redacted(), err)
	}
	if h, _ := ctx.Value(headerKey{}).(http.Header); h != nil {
		for k, vs := range h {
			req.Header[http.CanonicalHeaderKey(k)] = vs
		}
	}
	req.Header.Set("Accept-Encoding", "identity")
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "fbtftp-go")
	}
	return req, nil
}

type headerKey struct{}

// WithHeader returns a context whose Opens send h with their requests
// (revalidations included), for example the TFTP client's address for an
// origin that builds per-machine content. The cache keys entries by URL
// only: an origin whose answer depends on these headers must mark it
// "Cache-Control: private" (or no-store, or Vary on them), and such
// answers are streamed, never stored. Accept-Encoding and the validators
// are the package's own.
func WithHeader(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, headerKey{}, h)
}

// storable reports whether a 200 may go into a cache shared by every
// client (RFC 9111 §3, §5.2.2.5 private, §5.2.2.3 no-store, §4.1 Vary):
// not when the origin forbids it, nor when it varies on any request
// header but Accept-Encoding (the cache keys by URL alone).
func storable(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			name, _, _ := strings.Cut(d, "=")
			if name == "no-store" || name == "private" {
				return false
			}
		}
	}
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "Accept-Encoding") {
				return false
			}
		}
	}
	return true
}

// do sends req and waits for its headers at most HeaderTimeout. On success
// the returned cancel function ends the request; the caller calls it with
// the body's lifetime.
func (c *Client) do(ctx context.Context, req *http.Request, u *url.URL) (*http.Response, context.CancelCauseFunc, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.headerTimeout(), func() { cancel(ErrHeaderTimeout) })
	t0 := time.Now()
	resp, err := c.httpClient().Do(req.WithContext(ctx))
	if !timer.Stop() && err == nil {
		// The timer fired as the headers arrived: the body is dead.
		resp.Body.Close()
		err = ErrHeaderTimeout
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		cancel(nil)
		c.counters.request(0, err)
		return nil, nil, wrap(errOrigin, u.Redacted(), err)
	}
	c.counters.request(time.Since(t0), nil)
	return resp, cancel, nil
}

// checkSize applies MaxSize to an announced length.
func (c *Client) checkSize(u *url.URL, n int64) error {
	if c.MaxSize > 0 && n > c.MaxSize {
		c.counters.fail(ErrTooLarge, stats.OriginTooLarge)
		return wrap(errOrigin, u.Redacted(), fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, n, c.MaxSize))
	}
	return nil
}

// openDirect fetches without a cache.
func (c *Client) openDirect(ctx context.Context, u *url.URL) (Content, error) {
	req, err := newRequest(ctx, u)
	if err != nil {
		return nil, err
	}
	resp, cancel, err := c.do(ctx, req, u)
	if err != nil {
		return nil, err
	}
	return c.bodyOf(resp, cancel, u)
}

// bodyOf turns a response into a *Body, or an error for a status other
// than 200. It owns resp and cancel.
func (c *Client) bodyOf(resp *http.Response, cancel context.CancelCauseFunc, u *url.URL) (*Body, error) {
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel(nil)
		err := statusError(u.Redacted(), resp)
		c.counters.fail(err, stats.OriginStatusOther)
		return nil, err
	}
	if err := c.checkSize(u, resp.ContentLength); err != nil {
		resp.Body.Close()
		cancel(nil)
		return nil, err
	}
	return newBody(resp, cancel, c.idleTimeout(), c.MaxSize, u.Redacted(), &c.counters), nil
}
