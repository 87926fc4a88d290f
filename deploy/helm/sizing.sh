#!/bin/sh
# Measures what the Helm chart's resource requests are sized from: the
# master's resident memory and each worker's PSS, idle and under load, with
# the master run the way the chart runs it: an HTTP origin and cache (so
# fbtftp-worker-http), --prefork 4, --read-only, and its capabilities
# bounded to the chart's set (setpriv), which also checks that set suffices.
#
#   make build && deploy/helm/sizing.sh [CLIENTS] [SECONDS] [FILE_MIB]
#
# Run as root (the master chroots and drops its workers to nobody). Traffic
# stays on 127.0.0.1; everything is removed at the end. Prints one line per
# phase; see deploy/helm/fbtftp/README.md for the figures and how the
# requests follow from them.
set -eu

clients=${1:-200}
seconds=${2:-20}
mib=${3:-8}
bin=$(cd "$(dirname "$0")/../.." && pwd)/bin
tftp_port=6971
metrics_port=9171

[ "$(id -u)" = 0 ] || { echo "sizing.sh: run as root" >&2; exit 1; }
for b in fbtftp-master fbtftp-worker-http fbtftp-bench; do
	[ -x "$bin/$b" ] || { echo "sizing.sh: $bin/$b missing: make build" >&2; exit 1; }
done
command -v setpriv >/dev/null || { echo "sizing.sh: setpriv (util-linux) missing" >&2; exit 1; }

dir=$(mktemp -d)
chmod 755 "$dir"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
mkdir -p "$dir/root" "$dir/origin/boot"
# The cache directory exists, as the chart's volume mount does (an emptyDir
# is 0777): workers open it as root before they drop to nobody, and the
# chart grants no DAC capability, so it must not be 0700.
mkdir -m 755 "$dir/cache"
head -c $((mib << 20)) /dev/urandom >"$dir/origin/boot/image.bin"
chmod -R a+rX "$dir/root" "$dir/origin"

# The origin: python's http.server on a free loopback port.
python3 -u -m http.server --bind 127.0.0.1 --directory "$dir/origin" 0 >"$dir/origin.log" 2>&1 &
pids="$pids $!"
origin_port=""
for _ in $(seq 100); do
	origin_port=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$dir/origin.log" | head -1)
	[ -n "$origin_port" ] && break
	sleep 0.1
done
[ -n "$origin_port" ] || { echo "sizing.sh: origin did not start" >&2; cat "$dir/origin.log" >&2; exit 1; }

# The chart's capabilities: NET_BIND_SERVICE SETUID SETGID SYS_CHROOT KILL
# CHOWN, nothing inheritable, no_new_privs (allowPrivilegeEscalation: false).
setpriv --bounding-set=-all,+net_bind_service,+setuid,+setgid,+sys_chroot,+kill,+chown \
	--inh-caps=-all --no-new-privs \
	"$bin/fbtftp-master" -L -a "127.0.0.1:$tftp_port" -s "$dir/root" -u nobody --read-only \
	--prefork 4 --max-workers 1024 --drain-timeout 30s \
	--metrics-addr "127.0.0.1:$metrics_port" --log-format json \
	--http-origin "http://127.0.0.1:$origin_port/" --http-cache "$dir/cache" --http-cache-size 1G \
	>"$dir/master.log" 2>&1 &
master=$!
pids="$master $pids"
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$metrics_port/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$metrics_port/healthz" >/dev/null || { echo "sizing.sh: master not healthy" >&2; cat "$dir/master.log" >&2; exit 1; }
echo "master capabilities: $(grep CapEff /proc/$master/status)"

# kib FIELD FILE: a "Name: N kB" field of a /proc file, 0 when gone.
kib() { awk -v f="$1:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "$2" 2>/dev/null || echo 0; }

# sample: master RSS and HWM, number of workers, their summed PSS (KiB).
sample() {
	n=0 sum=0
	for c in $(pgrep -P "$master"); do
		p=$(kib Pss "/proc/$c/smaps_rollup")
		[ "$p" -gt 0 ] || continue
		n=$((n + 1)) sum=$((sum + p))
	done
	echo "$(kib VmRSS /proc/$master/status) $(kib VmHWM /proc/$master/status) $n $sum"
}

# Idle: the master and its --prefork 4 pool.
sleep 1
set -- $(sample)
echo "idle: master RSS ${1} KiB; $3 idle workers, PSS ${4} KiB in all"

# Load: CLIENTS concurrent downloads of FILE_MIB MiB (blksize 512, lockstep:
# long enough sessions that CLIENTS workers live at once), first from the
# origin, then from the cache.
"$bin/fbtftp-bench" load -server "127.0.0.1:$tftp_port" -file boot/image.bin \
	-c "$clients" -duration "${seconds}s" -timeout 2s >"$dir/load.json" 2>"$dir/load.err" &
load=$!
pids="$load $pids"
max_n=0 max_sum=0 max_rss=0
while kill -0 "$load" 2>/dev/null; do
	set -- $(sample)
	[ "$1" -gt "$max_rss" ] && max_rss=$1
	if [ "$3" -gt 0 ] && [ "$4" -gt "$max_sum" ]; then max_sum=$4 max_n=$3; fi
	sleep 0.5
done
wait "$load" || { echo "sizing.sh: load failed" >&2; cat "$dir/load.err" >&2; tail -5 "$dir/master.log" >&2; }
set -- $(sample)
echo "load: $clients clients, ${seconds}s, ${mib} MiB file: master RSS peak ${max_rss} KiB (VmHWM $2 KiB);" \
	"peak $max_n workers with PSS ${max_sum} KiB in all, $((max_sum / (max_n > 0 ? max_n : 1))) KiB each"
echo "load result: $(tr -d '\n' <"$dir/load.json" | head -c 400)"
