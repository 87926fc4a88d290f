#!/usr/bin/env bash
# get-tftpd-hpa.sh [DIR] - fetch Debian's tftpd-hpa in.tftpd without installing it.
#
# Installing the tftpd-hpa package would run its maintainer scripts and start a
# daemon on port 69, so instead we `apt-get download` the .deb and unpack it with
# `dpkg -x` into DIR (default: <repo>/.cache/tftpd-hpa). The binary ends up in
# DIR/usr/sbin/in.tftpd; its path is printed on stdout.
#
# in.tftpd links against libwrap.so.0 (package libwrap0), which a fresh system may
# lack. Shared libraries the system cannot resolve are downloaded and unpacked
# into DIR as well; in that case the binary must be run with
#   LD_LIBRARY_PATH=DIR/usr/lib/<triplet>:DIR/lib/<triplet>
# (test/testenv does this automatically, and a note is printed on stderr).
#
# Idempotent: when DIR/usr/sbin/in.tftpd already exists nothing is downloaded.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-"$repo_root/.cache/tftpd-hpa"}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin="$dir/usr/sbin/in.tftpd"

log() { echo "get-tftpd-hpa: $*" >&2; }

# Shared library soname -> Debian 12 package providing it, for the libraries
# in.tftpd needs beyond libc (libwrap0 and its dependency chain).
declare -A lib_pkg=(
	[libwrap.so.0]=libwrap0
	[libnsl.so.2]=libnsl2
	[libtirpc.so.3]=libtirpc3
	[libgssapi_krb5.so.2]=libgssapi-krb5-2
	[libkrb5.so.3]=libkrb5-3
	[libk5crypto.so.3]=libk5crypto3
	[libkrb5support.so.0]=libkrb5support0
	[libkeyutils.so.1]=libkeyutils1
	[libcom_err.so.2]=libcom-err2
)

# fetch PKG...: apt-get download + dpkg -x into $dir, in a scratch directory
# (apt-get download writes to the current directory).
fetch() {
	local tmp
	tmp=$(mktemp -d)
	# As root, apt drops to user _apt for downloading, which cannot write to
	# the private temp dir; download as root instead (no warning either).
	local sandbox=()
	[ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
	if ! (cd "$tmp" && apt-get download -q ${sandbox[@]+"${sandbox[@]}"} "$@" >&2); then
		rm -rf "$tmp"
		log "apt-get download $* failed (package lists missing? run apt-get update)"
		return 1
	fi
	local deb
	for deb in "$tmp"/*.deb; do
		dpkg -x "$deb" "$dir"
	done
	rm -rf "$tmp"
}

lib_path() {
	local p="" d
	for d in "$dir"/usr/lib/*-linux-gnu "$dir"/lib/*-linux-gnu; do
		[ -d "$d" ] && p="${p:+$p:}$d"
	done
	echo "$p"
}

if [ -x "$bin" ]; then
	log "already present: $bin"
else
	command -v apt-get >/dev/null || { log "apt-get not found (Debian/Ubuntu only)"; exit 1; }
	command -v dpkg >/dev/null || { log "dpkg not found"; exit 1; }
	log "downloading tftpd-hpa into $dir"
	fetch tftpd-hpa
	[ -x "$bin" ] || { log "package did not contain usr/sbin/in.tftpd"; exit 1; }
fi

# Resolve missing shared libraries, at most a few rounds (each round may reveal
# the dependencies of the libraries fetched in the previous one).
for _ in 1 2 3 4; do
	missing=$(LD_LIBRARY_PATH=$(lib_path) ldd "$bin" 2>/dev/null | awk '/not found/ {print $1}' | sort -u)
	[ -n "$missing" ] || break
	pkgs=()
	for so in $missing; do
		pkg=${lib_pkg[$so]:-}
		[ -n "$pkg" ] || { log "missing library $so and no known package for it"; exit 1; }
		pkgs+=("$pkg")
	done
	log "system lacks ${missing//$'\n'/ }; unpacking ${pkgs[*]} into $dir"
	fetch "${pkgs[@]}"
done

ldpath=""
if LD_LIBRARY_PATH= ldd "$bin" 2>/dev/null | grep -q 'not found'; then
	ldpath=$(lib_path)
	log "note: run it with LD_LIBRARY_PATH=$ldpath (or apt-get install libwrap0)"
fi

if ! version=$(LD_LIBRARY_PATH=$ldpath "$bin" -V 2>&1); then
	log "$bin -V failed: $version"
	exit 1
fi
log "$(echo "$version" | head -n1)"

gitignore="$repo_root/.gitignore"
if [ -z "${1:-}" ] && [ ! -e "$gitignore" ]; then
	echo ".cache/" >"$gitignore"
	log "created $gitignore with .cache/"
fi

echo "$bin"
