package remap

import "strings"

// URLOrigins returns the origins ("scheme://host[:port]", scheme and host
// in lower case) that the replacements of the file's "r" rules spell out
// literally: a replacement that begins with http:// or https:// followed by
// an authority free of escapes (no backslash before the first '/').
//
// A route to an HTTP origin is only safe when the operator wrote its host:
// a replacement such as "http://\1/" would let a client pick the host.
// Callers that fetch URLs produced by the rules use this list as the set of
// origins the rules may reach; URLPrefixes narrows it to the paths.
func (r *Rules) URLOrigins() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range r.URLPrefixes() {
		o, _ := literalOrigin(p)
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}

// URLPrefixes returns, for each "r" rule whose replacement starts with a
// literal origin (see URLOrigins), the replacement's text up to its first
// escape: "http://repo/boot/\1" gives "http://repo/boot/". That is the
// part of a URL the operator wrote; whatever a client's name contributes
// comes after it. A caller that fetches the URLs the rules produce keeps
// them under these prefixes, so that a client cannot steer a route to
// another path of the same origin ("\1" = "../admin"). The text is as
// written (no case change); duplicates are dropped.
func (r *Rules) URLPrefixes() []string {
	if r == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, ru := range r.rules {
		if ru.flags&flagRewrite == 0 {
			continue
		}
		if _, ok := literalOrigin(ru.pattern); !ok {
			continue
		}
		p := ru.pattern
		if i := strings.IndexByte(p, '\\'); i >= 0 {
			p = p[:i]
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// literalOrigin returns the origin a replacement pattern starts with, when
// it starts with one written without escapes.
func literalOrigin(p string) (string, bool) {
	lp := strings.ToLower(p)
	var scheme string
	switch {
	case strings.HasPrefix(lp, "http://"):
		scheme = "http://"
	case strings.HasPrefix(lp, "https://"):
		scheme = "https://"
	default:
		return "", false
	}
	auth := lp[len(scheme):]
	if i := strings.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
	}
	// An escape anywhere before the path could move the host: "\1@repo/"
	// with "evil/" for \1 reaches evil.
	if strings.ContainsAny(auth, "\\ ") {
		return "", false
	}
	auth = auth[strings.LastIndexByte(auth, '@')+1:] // user info is not part of the origin
	if auth == "" {
		return "", false
	}
	return scheme + auth, true
}
