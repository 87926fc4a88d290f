package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// serverSpec is a server under test: a name and a command template.
type serverSpec struct {
	Name     string `json:"name"`
	Template string `json:"command"`
	NoWindow bool   `json:"no_windowsize"`
}

// parseServerSpec parses "NAME=COMMAND".
func parseServerSpec(s string) (serverSpec, error) {
	name, tmpl, ok := strings.Cut(s, "=")
	name, tmpl = strings.TrimSpace(name), strings.TrimSpace(tmpl)
	if !ok || name == "" || tmpl == "" {
		return serverSpec{}, fmt.Errorf("-server %q: want NAME=COMMAND", s)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return serverSpec{}, fmt.Errorf("-server %q: the name may hold only letters, digits and - _ . characters", s)
		}
	}
	return serverSpec{Name: name, Template: tmpl}, nil
}

// expand splits a template into an argument vector, honouring single
// quotes, double quotes and backslash escapes like a POSIX shell (no
// variables, globs or other expansions), then substitutes {addr} (the
// address to listen on), {port} and {root} in each argument, so a root
// with spaces stays one argument. The server is started directly, not
// through a shell that would count in its process tree.
func expand(tmpl string, addr netip.Addr, port int, root string) ([]string, error) {
	args, err := split(tmpl)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{addr}", addr.String(), "{port}", fmt.Sprint(port), "{root}", root)
	for i, a := range args {
		args[i] = r.Replace(a)
	}
	return args, nil
}

func split(s string) ([]string, error) {
	tmpl := s
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune(`"\$`+"`", rs[i+1]):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("command %q: trailing backslash", tmpl)
			}
			i++
			cur.WriteRune(rs[i])
			inArg = true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command %q: unterminated quote", tmpl)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("command %q: empty", tmpl)
	}
	return args, nil
}
