#!/usr/bin/env bash
# The Debian package, end to end, on this machine (root; .ci/run runs it):
# make deb, lintian (no error, no warning), dpkg -i, a download through
# the installed binary with the packaged defaults (socket-activated by
# systemd when it is PID 1; else the unit's command line run by hand on a
# loopback port), then dpkg --purge and a check that nothing is left but
# what policy keeps (the tftp user; /srv/tftp when it has content or
# existed before).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "test-deb: $*"; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' fbtftp 2>/dev/null | grep -q 'ok installed'; then
	fail "fbtftp is already installed here; this test would remove it"
fi

make deb >/dev/null
deb=$(ls -t bin/fbtftp_*_amd64.deb | head -1)
say "built $deb ($(du -k "$deb" | cut -f1) KiB)"

if command -v lintian >/dev/null; then
	lintian --fail-on error,warning --display-info "$deb" || fail "lintian"
	say "lintian: no error, no warning"
elif [ "${CI:-}" = true ]; then
	fail "lintian is missing (apt install lintian)"
else
	say "SKIP lintian: not installed"
fi

srv_existed=no; [ -e /srv/tftp ] && srv_existed=yes
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}')

server_pid=""
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
	if dpkg-query -W -f='${Status}' fbtftp 2>/dev/null | grep -q 'ok installed'; then
		dpkg --purge fbtftp >/dev/null 2>&1 || true
	fi
	rm -f /srv/tftp/fbtftp-deb-test.bin
}
trap cleanup EXIT

dpkg -i "$deb"
getent passwd tftp >/dev/null || fail "no tftp user after install"
[ -d /srv/tftp ] && [ -d /var/cache/fbtftp ] || fail "/srv/tftp or /var/cache/fbtftp missing"
[ "$(stat -c %U /var/cache/fbtftp)" = tftp ] || fail "/var/cache/fbtftp not owned by tftp"
for page in fbtftp-master fbtftp-worker fbtftp-top; do
	man -w "$page" >/dev/null || fail "man $page: no page"
done
version=$(/usr/sbin/fbtftp-master -V)
want=$(scripts/version.sh)
case "$version" in "fbtftp-go $want "*) ;; *) fail "-V: $version, want $want" ;; esac
say "installed: $version"

head -c 300000 /dev/urandom > /srv/tftp/fbtftp-deb-test.bin
chmod 0644 /srv/tftp/fbtftp-deb-test.bin
out=$(mktemp)
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]; then
	say "systemd is PID 1: the socket-activated service on 127.0.0.1:69"
	systemctl start fbtftp.socket
	port=69
else
	say "systemd is not PID 1 (PID 1 is $(cat /proc/1/comm 2>/dev/null)): the unit's command line by hand on 127.0.0.1:6971"
	# What fbtftp.service runs, with -L instead of --systemd and a
	# loopback address; the packaged defaults otherwise.
	(
		set -a
		TFTP_USERNAME=tftp TFTP_DIRECTORY=/srv/tftp TFTP_ADDRESS=:69 TFTP_OPTIONS=--secure FBTFTP_OPTIONS=
		. /etc/default/fbtftp
		[ -e /etc/default/tftpd-hpa ] && . /etc/default/tftpd-hpa
		# shellcheck disable=SC2086
		exec /usr/sbin/fbtftp-master -L --user "$TFTP_USERNAME" --address 127.0.0.1:6971 $TFTP_OPTIONS $FBTFTP_OPTIONS \
			--metrics-addr 127.0.0.1:0 --log-format json $TFTP_DIRECTORY
	) 2>"$out" &
	server_pid=$!
	port=6971
	for _ in $(seq 100); do grep -q '"msg":"listening"' "$out" && break; sleep 0.1; done
	grep -q '"msg":"listening"' "$out" || { cat "$out"; fail "the installed master did not start"; }
fi
curl -sS --max-time 60 -o "$out.got" "tftp://127.0.0.1:$port/fbtftp-deb-test.bin" || { cat "$out"; fail "download"; }
cmp -s "$out.got" /srv/tftp/fbtftp-deb-test.bin || fail "downloaded file differs"
say "downloaded 300000 bytes through the installed binary"
# The live view, installed in /usr/bin, against the installed master.
if [ -n "$server_pid" ]; then
	maddr=$(sed -n 's/.*"msg":"metrics listening".*"address":"\([^"]*\)".*/\1/p' "$out" | head -1)
else
	maddr=127.0.0.1:9169 # FBTFTP_OPTIONS of /etc/default/fbtftp
fi
top=$(/usr/bin/fbtftp-top -b -n 1 "$maddr") || { echo "$top"; fail "fbtftp-top -b -n 1 $maddr"; }
grep -Eq 'accepted [1-9]' <<<"$top" || { echo "$top"; fail "fbtftp-top: the download is not in the master's last minute"; }
say "fbtftp-top read the installed master's /sessions at $maddr"
if [ -n "$server_pid" ]; then
	kill -TERM "$server_pid"; wait "$server_pid" || fail "the master did not exit 0 on SIGTERM"
	server_pid=""
	grep -q '"worker":"/usr/libexec/fbtftp/fbtftp-worker"' "$out" || { cat "$out"; fail "not the installed worker"; }
else
	systemctl stop fbtftp.socket fbtftp.service
fi
rm -f "$out" "$out.got" /srv/tftp/fbtftp-deb-test.bin

dpkg --purge fbtftp
left=""
for f in $files; do [ -e "$f" ] || [ -L "$f" ] && left="$left $f"; done
for p in /etc/default/fbtftp /var/cache/fbtftp /usr/libexec/fbtftp; do [ -e "$p" ] && left="$left $p"; done
[ "$srv_existed" = no ] && [ -e /srv/tftp ] && left="$left /srv/tftp"
extra=$(find /etc/systemd /var/lib/systemd /lib/systemd /usr/lib/systemd -name '*fbtftp*' 2>/dev/null || true)
[ -z "$left$extra" ] || fail "left after dpkg --purge:$left $extra"
say "dpkg --purge left nothing but the tftp user (policy keeps system users)"
say "ok in $(( $(date +%s) - t0 ))s"
