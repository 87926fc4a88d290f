package httporigin

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp"
)

// The environment through which fbtftp-master configures
// fbtftp-worker-http (see Config.Environ and FromEnv).
const (
	EnvOrigin         = "FBTFTP_HTTP_ORIGIN"          // Config.Origin
	EnvOrigins        = "FBTFTP_HTTP_ORIGINS"         // Config.Origins, comma-separated
	EnvNetworks       = "FBTFTP_HTTP_ALLOW_NET"       // Config.Networks, comma-separated prefixes
	EnvCacheDir       = "FBTFTP_HTTP_CACHE"           // Config.CacheDir
	EnvCacheMaxBytes  = "FBTFTP_HTTP_CACHE_SIZE"      // Config.CacheMaxBytes, bytes
	EnvCacheEntries   = "FBTFTP_HTTP_CACHE_ENTRIES"   // Config.CacheMaxEntries
	EnvCacheMaxAge    = "FBTFTP_HTTP_CACHE_MAX_AGE"   // Config.CacheMaxAge, a Go duration
	EnvConnectTimeout = "FBTFTP_HTTP_CONNECT_TIMEOUT" // Config.ConnectTimeout
	EnvHeaderTimeout  = "FBTFTP_HTTP_HEADER_TIMEOUT"  // Config.HeaderTimeout
	EnvIdleTimeout    = "FBTFTP_HTTP_IDLE_TIMEOUT"    // Config.IdleTimeout
	EnvMaxSize        = "FBTFTP_HTTP_MAX_SIZE"        // Config.MaxSize, bytes
	EnvClientHeaders  = "FBTFTP_HTTP_CLIENT_HEADERS"  // Config.ClientHeaders, "1"
	EnvFillTimeout    = "FBTFTP_HTTP_FILL_TIMEOUT"    // Config.FillTimeout
)

// Environ encodes c for a worker's environment ("NAME=value" entries for
// the fields that are set).
func (c Config) Environ() []string {
	var env []string
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	dur := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	num := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	nets := make([]string, len(c.Networks))
	for i, n := range c.Networks {
		nets[i] = n.String()
	}
	add(EnvOrigin, c.Origin)
	add(EnvOrigins, strings.Join(c.Origins, ","))
	add(EnvNetworks, strings.Join(nets, ","))
	add(EnvCacheDir, c.CacheDir)
	add(EnvCacheMaxBytes, num(c.CacheMaxBytes))
	add(EnvCacheEntries, num(int64(c.CacheMaxEntries)))
	add(EnvCacheMaxAge, dur(c.CacheMaxAge))
	add(EnvConnectTimeout, dur(c.ConnectTimeout))
	add(EnvHeaderTimeout, dur(c.HeaderTimeout))
	add(EnvIdleTimeout, dur(c.IdleTimeout))
	add(EnvMaxSize, num(c.MaxSize))
	add(EnvFillTimeout, dur(c.FillTimeout))
	if c.ClientHeaders {
		add(EnvClientHeaders, "1")
	}
	return env
}

// ConfigFromEnv decodes what Environ encoded.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	var errs []string
	dur := func(k string, d *time.Duration) {
		if v := getenv(k); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < 0 {
				errs = append(errs, k+": invalid duration "+strconv.Quote(v))
			}
			*d = x
		}
	}
	num := func(k string, n *int64) {
		if v := getenv(k); v != "" {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil || x < 0 {
				errs = append(errs, k+": invalid number "+strconv.Quote(v))
			}
			*n = x
		}
	}
	c.Origin = getenv(EnvOrigin)
	if v := getenv(EnvOrigins); v != "" {
		c.Origins = strings.Split(v, ",")
	}
	if v := getenv(EnvNetworks); v != "" {
		for _, s := range strings.Split(v, ",") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				errs = append(errs, EnvNetworks+": "+err.Error())
				continue
			}
			c.Networks = append(c.Networks, p.Masked())
		}
	}
	c.CacheDir = getenv(EnvCacheDir)
	num(EnvCacheMaxBytes, &c.CacheMaxBytes)
	var entries int64
	num(EnvCacheEntries, &entries)
	if entries > 1<<31-1 {
		errs = append(errs, EnvCacheEntries+": too large")
	}
	c.CacheMaxEntries = int(entries)
	dur(EnvCacheMaxAge, &c.CacheMaxAge)
	dur(EnvConnectTimeout, &c.ConnectTimeout)
	dur(EnvHeaderTimeout, &c.HeaderTimeout)
	dur(EnvIdleTimeout, &c.IdleTimeout)
	num(EnvMaxSize, &c.MaxSize)
	dur(EnvFillTimeout, &c.FillTimeout)
	switch v := getenv(EnvClientHeaders); v {
	case "", "0":
	case "1":
		c.ClientHeaders = true
	default:
		errs = append(errs, EnvClientHeaders+": want 1 or 0, not "+strconv.Quote(v))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

// FromEnv builds a Handler from the master's --http-* options (the
// environment every worker inherits): fbtftp-worker-http is FromEnv over the
// stock file server (package fileserver), followed by Allow with the URL
// prefixes of the master's map rules (fbtftp.Worker.RoutePrefixes). A
// custom worker can use the same flags with its own next handler, or nil
// to serve only from the origin (examples/httpbacked). Call it before the
// sandbox (fbtftp.Worker.Serve): it opens the cache directory.
func FromEnv(next fbtftp.Handler, getenv func(string) string) (*Handler, error) {
	c, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return New(next, c)
}
