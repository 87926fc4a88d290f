package httporigin

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// A prefix is a URL prefix the configuration spells out: --http-origin,
// --http-allow-origin, or the literal start of a map rule's replacement
// (remap.Rules.URLPrefixes). A route is fetched only when it lies under
// one of them (see under).
type prefix struct {
	origin string // originKey: "scheme://host[:port]", lower case
	user   string // the user info written in the prefix ("" when none)
	path   string // escaped path the route's path must start with ("" for any)
	query  string // raw query the route's query must start with, when hasQuery
	// hasQuery: the prefix ends inside a query ("http://h/get?file="), so
	// the client's part of the route is a query value.
	hasQuery bool
}

// parsePrefix reads a prefix. A bare origin ("http://h:8080") allows every
// path of that origin.
func parsePrefix(s string) (prefix, error) {
	u, err := parseOrigin(s)
	if err != nil {
		return prefix{}, err
	}
	if u.Fragment != "" {
		return prefix{}, errors.New("a prefix has no fragment")
	}
	p := prefix{origin: originKey(u), path: u.EscapedPath()}
	if u.User != nil {
		p.user = u.User.String()
	}
	if u.ForceQuery || u.RawQuery != "" {
		p.hasQuery, p.query = true, u.RawQuery
	}
	return p, nil
}

// errRoute says why a route was refused; it stays in the worker's log.
type errRoute struct{ why string }

func (e *errRoute) Error() string { return "route refused: " + e.why }

func refuseRoute(format string, args ...any) error {
	return &errRoute{why: fmt.Sprintf(format, args...)}
}

// checkRoute parses a route and accepts it only when it lies under one of
// the prefixes after normalisation: same scheme, host and port; the same
// user info as the prefix (none unless the operator wrote one); a path that
// starts with the prefix's path and has no dot segment, plain or
// percent-encoded, nor an encoded '/' or '\'; no query unless the prefix
// has one, and then no '&', ';' or ".." in the part after it; no fragment.
// This keeps a client's name, which map rules copy into routes with \1,
// inside what the operator configured (RFC 3986 §5.2.4 is what an origin
// would apply to "..": it never gets the chance).
func checkRoute(raw string, prefixes []prefix) (*url.URL, error) {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f || c == '\\' || c == '#' {
			return nil, refuseRoute("byte %q in the URL", c)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refuseRoute("not a URL: %v", err)
	}
	if sc := strings.ToLower(u.Scheme); (sc != "http" && sc != "https") || u.Host == "" || u.Opaque != "" {
		return nil, refuseRoute("not an http or https URL with a host")
	}
	path := u.EscapedPath()
	for _, seg := range strings.Split(path, "/") {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return nil, refuseRoute("bad escape in the path")
		}
		if dec == "." || dec == ".." || strings.ContainsAny(dec, "/\\") {
			return nil, refuseRoute("dot segment or encoded separator in the path")
		}
	}
	key, user := originKey(u), ""
	if u.User != nil {
		user = u.User.String()
	}
	hasQuery := u.ForceQuery || u.RawQuery != ""
	for _, p := range prefixes {
		if p.origin != key || p.user != user {
			continue
		}
		if !p.hasQuery {
			if !hasQuery && strings.HasPrefix(path, p.path) {
				return u, nil
			}
			continue
		}
		// The client's part is inside the query: the path is the
		// operator's alone, and the query may only extend theirs as one
		// value (no new parameters, no traversal in a value).
		rest, ok := strings.CutPrefix(u.RawQuery, p.query)
		if !hasQuery || path != p.path || !ok {
			continue
		}
		dec, err := url.QueryUnescape(rest)
		if err != nil || strings.ContainsAny(rest, "&;") || strings.ContainsAny(dec, "&;") || strings.Contains(dec, "..") {
			return nil, refuseRoute("query value with a separator or \"..\"")
		}
		return u, nil
	}
	return nil, refuseRoute("not under a configured origin prefix")
}
