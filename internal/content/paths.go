package content

import (
	"strings"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// Messages of in.tftpd's non-secure (no -s) path checks, sent with ERROR 2.
const (
	MsgOnlyAbsolute = "Only absolute filenames allowed"
	MsgForbiddenDir = "Forbidden directory"
)

// Resolve picks the root directory a requested filename is served from and
// the path relative to it, as in.tftpd decides which requests to accept.
//
// In secure mode (in.tftpd -s) there is one root, roots[0] (after the
// worker's chroot, usually "/"): the name is taken relative to it, a
// leading "/" included, and a ".." component is refused.
//
// Otherwise the roots are the absolute directories listed on the command
// line and the name must be an absolute path inside one of them:
//
//   - a name not starting with "/" gets "Only absolute filenames allowed";
//   - a name with a ".." component gets "Reverse path not allowed" (in.tftpd
//     refuses "/../" anywhere; a trailing "/.." is refused here too, where
//     in.tftpd would open the parent directory and fail);
//   - a name under none of the roots gets "Forbidden directory".
//
// Unlike in.tftpd, which compares the raw name with each directory as a
// string prefix, the comparison is by whole path components after dropping
// empty and "." components: with the root "/srv/tftp", "/srv/tftp//a" and
// "/srv/tftp/./a" are accepted as in.tftpd does, "//srv/tftp/a" is accepted
// too (in.tftpd says "Forbidden directory"), and "/srv/tftpX/a" is refused
// (in.tftpd looks it up outside the directory). The first root that
// contains the name wins, in command-line order. All refusals are
// *tftp.Error values with code 2 (access violation).
//
// rel is "." when the name is the root itself; the caller opens rel under
// root (content.FileStore confines the lookup, symbolic links included).
func Resolve(name string, roots []string, secure bool) (root, rel string, err error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", "", accessError(MsgBadFilename)
	}
	if secure {
		if len(roots) == 0 {
			return "", "", accessError(MsgForbiddenDir)
		}
		rel, err := Clean(name)
		if err != nil {
			return "", "", err
		}
		return roots[0], rel, nil
	}
	if !strings.HasPrefix(name, "/") {
		return "", "", accessError(MsgOnlyAbsolute)
	}
	parts, ok := components(name)
	if !ok {
		return "", "", accessError(MsgReversePath)
	}
	for _, r := range roots {
		rp, ok := components(r)
		if !ok || !strings.HasPrefix(r, "/") || len(rp) > len(parts) {
			continue
		}
		if !equalParts(rp, parts[:len(rp)]) {
			continue
		}
		rest := parts[len(rp):]
		if len(rest) == 0 {
			return r, ".", nil
		}
		return r, strings.Join(rest, "/"), nil
	}
	return "", "", accessError(MsgForbiddenDir)
}

// components splits a slash-separated path into its components, dropping
// empty ones and "."; ok is false if one is "..".
func components(p string) (parts []string, ok bool) {
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return nil, false
		}
		parts = append(parts, c)
	}
	return parts, true
}

func equalParts(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func accessError(msg string) error {
	return &tftp.Error{Code: tftp.CodeAccessViolation, Message: msg}
}
