#!/bin/sh
# Prints the version of the source tree, for -ldflags -X (see
# internal/version): `git describe` of the newest vN.N.N tag ("1.2.3",
# "1.2.3-4-g0123456789ab", "-dirty" with local changes); in a clone without
# such a tag "0.1.0-dev+g0123456789ab"; outside git "0.1.0-dev".
# With --deb, the same in a form Debian versions sort right:
# "1.2.3+4.g0123456789ab", "0.1.0~dev+g0123456789ab".
set -eu
cd "$(dirname "$0")/.."
fallback=0.1.0-dev
v=""
if git rev-parse --git-dir >/dev/null 2>&1; then
	v=$(git describe --tags --match 'v[0-9]*' --dirty --abbrev=12 2>/dev/null | sed 's/^v//') || v=""
	if [ -z "$v" ]; then
		rev=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
		if [ -n "$rev" ]; then
			v="$fallback+g$rev"
			git diff-index --quiet HEAD -- 2>/dev/null || v="$v.dirty"
		fi
	fi
fi
[ -n "$v" ] || v=$fallback
if [ "${1:-}" = "--deb" ]; then
	# ~ sorts before anything: 0.1.0~dev < 0.1.0 and 1.0.0~rc1 < 1.0.0.
	# The first remaining '-' (commits after the tag) becomes '+', the
	# others '.': Debian reads '-' as the start of the package revision.
	v=$(printf '%s\n' "$v" | sed -e 's/-\(dev\|rc\|alpha\|beta\)/~\1/' -e 's/-/+/' -e 's/-/./g')
fi
printf '%s\n' "$v"
