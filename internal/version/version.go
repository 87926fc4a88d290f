// Package version is the build's version, as fbtftp-master -V, the
// fbtftp_build_info metric and the Debian package show it.
//
// `make build` sets it from `git describe` (scripts/version.sh) with
//
//	-ldflags "-X github.com/fbtftp-go/fbtftp/internal/version.version=1.2.3"
//
// A plain `go build` in a git clone gets the pseudo-version the go command
// stamps from the commit (v0.0.0-20260101120000-0123456789ab, +dirty when
// the tree has changes); anything else (a source tarball) is Fallback.
package version

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Fallback is the version of a build that says nothing about its source.
const Fallback = "0.1.0-dev"

// version is set with -ldflags -X (see the package comment).
var version string

var resolved = sync.OnceValue(func() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Fallback
	}
	return fromBuildInfo(bi)
})

// String returns the version: the stamped one, else what the go command
// recorded, else Fallback. It never returns "".
func String() string { return resolved() }

// fromBuildInfo picks the main module's version ("v" dropped), else the
// VCS revision the go command recorded, else Fallback.
func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return strings.TrimPrefix(v, "v")
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return Fallback
	}
	v := Fallback + "+g" + rev[:min(12, len(rev))]
	if dirty {
		v += ".dirty"
	}
	return v
}
