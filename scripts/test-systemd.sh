#!/usr/bin/env bash
# The Debian package under a real systemd (PID 1 of a Debian 12 container
# booted with systemd-nspawn, its own network namespace: the traffic stays
# on the container's loopback). What the CI machine cannot show, having no
# systemd as PID 1:
#   - dpkg -i enables fbtftp.socket; a download socket-activates
#     fbtftp.service (Type=notify: READY=1 from the master);
#   - SIGUSR2 (systemctl kill --kill-whom=main -s USR2) moves MainPID to
#     the new master (MAINPID= from the old main process, NotifyAccess=main),
#     the unit never leaves "active", a download held across it completes,
#     a probe every 50 ms is answered throughout, the old master exits;
#   - reload (SIGHUP) and stop reach the new master;
#   - a package upgrade (dpkg -i of a newer version) takes over the same
#     way, without a restart of the unit.
# Needs root, debootstrap and systemd-nspawn (apt install debootstrap
# systemd-container) and Debian's mirror; the container's root is cached in
# $ROOTFS (default /var/tmp/fbtftp-systemd-root: about 200 MB, 3 minutes the
# first time). Not part of make test: `make test-systemd`.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "test-systemd: $*"; }
init=""
fail() {
	echo "test-systemd: FAIL: $*" >&2
	if [ -n "$init" ]; then
		inside systemctl status --no-pager fbtftp.socket fbtftp.service >&2 || true
		inside journalctl --no-pager -n 40 -u fbtftp.service >&2 || true
	fi
	exit 1
}

ROOTFS=${ROOTFS:-/var/tmp/fbtftp-systemd-root}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || fail "needs root"
for c in debootstrap systemd-nspawn nsenter; do
	command -v "$c" >/dev/null || fail "$c is missing (apt install debootstrap systemd-container)"
done

if [ ! -x "$ROOTFS/lib/systemd/systemd" ] || [ ! -x "$ROOTFS/bin/busybox" ]; then
	say "debootstrap bookworm into $ROOTFS"
	rm -rf "$ROOTFS" "$ROOTFS.tmp"
	timeout 900 debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,tftp-hpa,busybox \
		bookworm "$ROOTFS.tmp" "$MIRROR" >/dev/null
	mv "$ROOTFS.tmp" "$ROOTFS"
fi

# Two packages of different versions: the install, then the upgrade.
rm -f bin/fbtftp_*_amd64.deb
make deb >/dev/null
v1=$(ls bin/fbtftp_*_amd64.deb)
make deb VERSION=9.9.9-systemd-test DEB_VERSION=9.9.9~systemd~test >/dev/null
v2=$(ls bin/fbtftp_9.9.9*_amd64.deb)
mkdir -p "$ROOTFS/root/debs"
cp "$v1" "$ROOTFS/root/debs/v1.deb"
cp "$v2" "$ROOTFS/root/debs/v2.deb"

log=$(mktemp)
systemd-nspawn --quiet --register=no --keep-unit --private-network -D "$ROOTFS" --boot >"$log" 2>&1 &
nspawn=$!
cleanup() {
	kill "$nspawn" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$nspawn" 2>/dev/null || true
	rm -f "$log" "$v2"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The container's PID 1: a child of systemd-nspawn (a grandchild while
# nspawn's setup helper still runs).
for _ in $(seq 100); do
	for c in $(pgrep -P "$nspawn" 2>/dev/null || true); do
		for p in "$c" $(pgrep -P "$c" 2>/dev/null || true); do
			[ "$(cat /proc/"$p"/comm 2>/dev/null)" = systemd ] && init=$p
		done
	done
	[ -n "$init" ] && break
	sleep 0.1
done
[ -n "$init" ] || { ps -ef --forest | grep -A3 "[s]ystemd-nspawn" >&2; fail "the container did not start"; }
inside() { nsenter -t "$init" -m -u -i -n -p -C -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
for _ in $(seq 300); do inside test -S /run/systemd/private 2>/dev/null && break; sleep 0.1; done
state=$(inside timeout 60 systemctl is-system-running --wait || true)
case "$state" in running | degraded) ;; *) cat "$log"; fail "systemd in the container: $state" ;; esac
say "systemd $(inside systemctl --version | head -1 | cut -d' ' -f2) is PID 1 of the container ($state)"

mainpid() { inside systemctl show -p MainPID --value fbtftp.service; }
active() { inside systemctl is-active fbtftp.service || true; }
get() { inside tftp -m binary 127.0.0.1 -c get "$1" "/tmp/got.$2" >/dev/null 2>&1 && inside cmp -s "/srv/tftp/$1" "/tmp/got.$2"; }

# A first install (the cached root may hold a package of an earlier run).
inside dpkg --purge fbtftp >/dev/null 2>&1 || true
inside dpkg -i /root/debs/v1.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i v1"; }
inside systemctl is-enabled --quiet fbtftp.socket || fail "fbtftp.socket not enabled by the package"
inside systemctl is-active --quiet fbtftp.socket || fail "fbtftp.socket not started by the package"
inside sh -c 'head -c 300000 /dev/urandom > /srv/tftp/small.bin; head -c 100000000 /dev/urandom > /srv/tftp/big.bin; chmod 0644 /srv/tftp/*.bin'
get small.bin 1 || fail "first download (socket activation)"
[ "$(active)" = active ] || fail "fbtftp.service: $(active) after a download"
pid1=$(mainpid)
[ "$(inside cat /proc/"$pid1"/comm)" = fbtftp-master ] || fail "MainPID $pid1 is not fbtftp-master"
say "socket-activated: MainPID $pid1, $(inside /usr/sbin/fbtftp-master -V | cut -d' ' -f1-2)"

# upgrade KIND CMD...: runs CMD (which makes the main process exec the
# new binary) while a slow download and a probe loop run, then checks that
# MainPID moved to a live fbtftp-master without a restart of the unit.
upgrade() {
	local kind=$1
	shift
	local before restarts
	before=$(mainpid)
	restarts=$(inside systemctl show -p NRestarts --value fbtftp.service)
	entered=$(inside systemctl show -p ActiveEnterTimestampMonotonic --value fbtftp.service)
	# A download across the upgrade (100 MB at blksize 512 takes seconds)
	# and a probe every 50 ms for 6 s; the upgrade comes 1 s in.
	inside rm -f /tmp/big.got /tmp/big.rc /tmp/probes
	inside sh -c 'tftp -m binary 127.0.0.1 -c get big.bin /tmp/big.got >/tmp/big.log 2>&1; echo $? >/tmp/big.rc' &
	local bg=$!
	inside sh -c 'n=0; f=0; end=$(($(date +%s) + 6)); while [ $(date +%s) -lt $end ]; do
		n=$((n + 1)); tftp -m binary 127.0.0.1 -c get small.bin /tmp/probe.got >/dev/null 2>&1 && cmp -s /tmp/probe.got /srv/tftp/small.bin || f=$((f + 1)); sleep 0.05
	done; echo "$n $f" >/tmp/probes' &
	local probes=$!
	sleep 1
	"$@"
	inside test -e /tmp/big.rc && fail "$kind: the download ended before the upgrade: it proves nothing"
	local after=""
	for _ in $(seq 200); do
		after=$(mainpid)
		[ -n "$after" ] && [ "$after" != 0 ] && [ "$after" != "$before" ] && break
		sleep 0.05
	done
	[ "$after" != "$before" ] && [ "$after" != 0 ] || fail "$kind: MainPID still $after"
	[ "$(inside cat /proc/"$after"/comm)" = fbtftp-master ] || fail "$kind: MainPID $after is not fbtftp-master"
	wait "$probes" || true
	wait "$bg" || true
	inside test -s /tmp/probes || fail "$kind: the probe loop left no count"
	read -r n f < <(inside cat /tmp/probes)
	[ "$f" = 0 ] && [ "$n" -ge 10 ] || fail "$kind: $f of $n probes failed"
	[ "$(inside cat /tmp/big.rc)" = 0 ] && inside cmp -s /tmp/big.got /srv/tftp/big.bin || fail "$kind: the download across it: $(inside cat /tmp/big.log)"
	[ "$(active)" = active ] || fail "$kind: fbtftp.service $(active)"
	[ "$(inside systemctl show -p NRestarts --value fbtftp.service)" = "$restarts" ] || fail "$kind: the unit restarted"
	[ "$(inside systemctl show -p ActiveEnterTimestampMonotonic --value fbtftp.service)" = "$entered" ] || fail "$kind: the unit left active"
	for _ in $(seq 200); do inside test -e /proc/"$before" || break; sleep 0.05; done
	inside test -e /proc/"$before" && fail "$kind: the old master $before is still there"
	say "$kind: MainPID $before -> $after, unit never left active, $n probes answered, a download across it byte-exact"
}

upgrade "SIGUSR2" inside systemctl kill --kill-whom=main -s USR2 fbtftp.service
pid2=$(mainpid)
inside systemctl reload fbtftp.service || fail "reload"
[ "$(mainpid)" = "$pid2" ] && [ "$(active)" = active ] || fail "reload changed MainPID or the state"
get small.bin 2 || fail "download after reload"
say "reload (SIGHUP) reached MainPID $pid2"

upgrade "dpkg -i of a newer package" inside dpkg -i /root/debs/v2.deb
v=$(inside sh -c 'fbtftp-master -V' | cut -d' ' -f2)
[ "$v" = 9.9.9-systemd-test ] || fail "installed version $v"
pid3=$(mainpid)
[ "$(inside readlink /proc/"$pid3"/exe)" = /usr/sbin/fbtftp-master ] || fail "MainPID $pid3 runs $(inside readlink /proc/"$pid3"/exe)"
get small.bin 3 || fail "download after the package upgrade"
# A policy-rc.d that forbids restarts (101) forbids the handover too.
inside sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d'
inside dpkg -i /root/debs/v2.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i under policy-rc.d"; }
inside rm -f /usr/sbin/policy-rc.d
[ "$(mainpid)" = "$pid3" ] || fail "policy-rc.d 101: MainPID moved from $pid3 to $(mainpid)"
say "policy-rc.d 101: dpkg -i left MainPID $pid3 alone"

# Stop with a download in flight, after the upgrades (a main process
# systemd did not start): the master drains it, the unit ends inactive.
inside rm -f /tmp/big.got /tmp/big.rc
inside sh -c 'tftp -m binary 127.0.0.1 -c get big.bin /tmp/big.got >/tmp/big.log 2>&1; echo $? >/tmp/big.rc' &
bg=$!
for _ in $(seq 200); do
	[ "$(inside stat -c %s /tmp/big.got 2>/dev/null || echo 0)" -gt 1000000 ] && break
	sleep 0.05
done
inside test -e /tmp/big.rc && fail "the download meant to be in flight at stop has ended already"
inside systemctl stop fbtftp.socket fbtftp.service || fail "stop"
wait "$bg" || true
[ "$(inside cat /tmp/big.rc)" = 0 ] && inside cmp -s /tmp/big.got /srv/tftp/big.bin || fail "the download in flight at stop: $(inside cat /tmp/big.log)"
[ "$(active)" = inactive ] || fail "after stop: $(active)"
inside pgrep -x fbtftp-master >/dev/null && fail "an fbtftp-master is left after stop"
inside pgrep -f fbtftp-worker >/dev/null && fail "a worker is left after stop"
say "stop: the download in flight drained byte-exact, unit inactive, no master, no worker left"

# Uploads under the unit's hardening (ProtectSystem=strict with
# ReadWritePaths, workers setuid to tftp and under Landlock), and the
# live view on the packaged metrics address.
inside sed -i 's/^TFTP_OPTIONS=.*/TFTP_OPTIONS="--secure --create"/' /etc/default/fbtftp
inside systemctl start fbtftp.socket || fail "start after the options changed"
inside sh -c 'rm -f /srv/tftp/up.bin; head -c 200000 /dev/urandom > /root/up.bin'
inside tftp -m binary 127.0.0.1 -c put /root/up.bin up.bin >/dev/null 2>&1 || fail "upload"
inside cmp -s /root/up.bin /srv/tftp/up.bin || fail "the uploaded file differs"
[ "$(inside stat -c %U /srv/tftp/up.bin)" = tftp ] || fail "the upload is owned by $(inside stat -c %U /srv/tftp/up.bin), want tftp"
inside sh -c 'ls -A /srv/tftp | grep -v "^\(small\|big\|up\)\.bin$"' && fail "files left beside the upload"
top=$(inside fbtftp-top -b -n 1) || fail "fbtftp-top: $top"
grep -Eq 'accepted [1-9]' <<<"$top" || fail "fbtftp-top: no request in the last minute: $top"
inside systemctl stop fbtftp.socket fbtftp.service || fail "stop"
say "upload under the hardened unit: byte-exact, owned by tftp, no temporary file left; fbtftp-top read 127.0.0.1:9169"

# An HTTP origin with the packaged cache directory (fbtftp-worker-http:
# network, the cache under ReadWritePaths, handed to tftp by the master).
inside sh -c 'mkdir -p /srv/origin/boot && head -c 3000000 /dev/urandom > /srv/origin/boot/vmlinuz'
inside systemd-run --unit=origin --quiet busybox httpd -f -p 127.0.0.1:8080 -h /srv/origin || fail "origin"
for _ in $(seq 100); do
	inside busybox wget -q -O /dev/null http://127.0.0.1:8080/boot/vmlinuz 2>/dev/null && break
	sleep 0.05
done
inside sed -i 's|^FBTFTP_OPTIONS=.*|FBTFTP_OPTIONS="--prefork 4 --metrics-addr 127.0.0.1:9169 --http-origin http://127.0.0.1:8080/ --http-cache /var/cache/fbtftp"|' /etc/default/fbtftp
inside systemctl start fbtftp.socket || fail "start with an HTTP origin"
for i in 1 2; do
	inside tftp -m binary 127.0.0.1 -c get boot/vmlinuz /root/vmlinuz.got >/dev/null 2>&1 || fail "download $i from the origin"
	inside cmp -s /root/vmlinuz.got /srv/origin/boot/vmlinuz || fail "download $i from the origin differs"
done
[ "$(inside stat -c %U /var/cache/fbtftp)" = tftp ] || fail "/var/cache/fbtftp not owned by tftp"
[ -n "$(inside find /var/cache/fbtftp -type f)" ] || fail "nothing in the HTTP cache"
n=$(inside journalctl --no-pager -u fbtftp.service -o cat | grep -Ec '"file":"boot/vmlinuz".*"source":"(origin|cache)"' || true)
[ "$n" -ge 2 ] || fail "$n sessions of boot/vmlinuz logged with source origin or cache, want 2"
inside systemctl stop fbtftp.socket fbtftp.service origin.service || fail "stop"
say "HTTP origin under the unit: 2 downloads byte-exact through fbtftp-worker-http, cache filled in /var/cache/fbtftp"
say "ok in $(( $(date +%s) - t0 ))s"
