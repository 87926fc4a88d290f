package fbtftp

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// Request is one client request, as a Handler sees it.
type Request struct {
	// SessionID is unique among the master's sessions and appears in
	// every log line about the session.
	SessionID string
	// Op is tftp.OpRRQ (download) or tftp.OpWRQ (upload).
	Op tftp.Opcode
	// Filename is the name the client asked for, unchanged.
	Filename string
	// Path is the name after the master's remap rules (-m), which the
	// stock handler serves; it equals Filename when there are no rules.
	Path string
	// Mode is "octet" or "netascii" (lower case).
	Mode string
	// Options are the client's options in its order, with its spelling.
	Options []tftp.Option
	// Peer is the client's address and port (IPv4 addresses unmapped).
	Peer netip.AddrPort
	// MAC is the client's link-layer address from the kernel's neighbour
	// table (read only; the client is never probed); nil when unknown, as
	// for a client behind a router.
	MAC net.HardwareAddr
	// Local is the server address the client talked to and the session
	// socket's port: replies come from here.
	Local netip.AddrPort
	// Extra holds free-form settings from the master, for custom workers
	// and content sources (fbtftp-master --set KEY=VALUE, or
	// server.Server's Settings.Extra).
	Extra map[string]string
	// Settings is the master's configuration for this session.
	Settings *Settings
	// Logger is the session's logger (fields session_id, peer, file).
	Logger *slog.Logger
}

// Route returns the URL the map rules routed the request to: Path, when it
// is an http:// or https:// URL and differs from Filename. A name the
// client sent is never a route, whatever it looks like: with no rule, or a
// rule that passes it through unchanged, a Path such as
// "http://host/admin" is only a file name. Package httporigin fetches
// routes, and only under the prefixes the configuration names.
func (r *Request) Route() (string, bool) {
	if r.Path == r.Filename || !IsURL(r.Path) {
		return "", false
	}
	return r.Path, true
}

// Option returns the value of the first option named name, any case.
func (r *Request) Option(name string) (string, bool) {
	for _, o := range r.Options {
		if strings.EqualFold(o.Name, name) {
			return o.Value, true
		}
	}
	return "", false
}

// IsURL reports whether s starts with http:// or https:// (any case). See
// Request.Route for when a request's Path is a route to an HTTP origin.
func IsURL(s string) bool {
	return hasPrefixFold(s, "http://") || hasPrefixFold(s, "https://")
}

func hasPrefixFold(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
