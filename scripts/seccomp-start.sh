#!/bin/bash
# Measures what the seccomp filter adds to a worker's start: the master's
# fbtftp_worker_start_seconds (from the worker's exec to its Hello, which
# it sends once sandboxed: chroot, user, no_new_privs, Landlock, seccomp)
# over N sessions of a 1-byte file, one at a time, without the warm pool,
# for the default (filter on) and --no-seccomp, in interleaved rounds.
#   scripts/seccomp-start.sh [N] [ROUNDS] [WORKER]   (after `make build`; as root
#   the workers also chroot and switch to nobody)
set -eu
n=${1:-300}
rounds=${2:-3}
worker=${3:-fbtftp-worker}
bin=${BIN:-bin}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
printf x >"$root/f"
chmod 644 "$root/f"
user=()
[ "$(id -u)" = 0 ] && user=(-u nobody)
port=$((20000 + RANDOM % 20000))
for ((r = 1; r <= rounds; r++)); do
	for mode in seccomp no-seccomp; do
		extra=()
		[ "$mode" = no-seccomp ] && extra=(--no-seccomp)
		"$bin/fbtftp-master" -L -a "127.0.0.1:$port" -s "$root" "${user[@]}" --worker "$bin/$worker" \
			--metrics-addr "127.0.0.1:$((port + 1))" --log-format json "${extra[@]}" 2>/dev/null &
		pid=$!
		up=0
		for ((i = 0; i < 200; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			curl -sf "http://127.0.0.1:$((port + 1))/metrics" >/dev/null && up=1 && break
			sleep 0.05
		done
		if [ "$up" = 0 ]; then
			echo "round $r $mode: the master did not start on port $port (in use?); next port" >&2
			kill "$pid" 2>/dev/null || true
			port=$((port + 2))
			continue
		fi
		timeout 600 "$bin/fbtftp-bench" load -server "127.0.0.1:$port" -file f -n "$n" -c 1 >/dev/null
		m=$(curl -sf "http://127.0.0.1:$((port + 1))/metrics")
		kill "$pid"
		wait "$pid" || true
		sum=$(awk '/^fbtftp_worker_start_seconds_sum/ {print $2}' <<<"$m")
		cnt=$(awk '/^fbtftp_worker_start_seconds_count/ {print $2}' <<<"$m")
		awk -v r="$r" -v mode="$mode" -v s="$sum" -v c="$cnt" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" \
			'BEGIN { printf "round %d  %-11s %7.0f us/start over %d starts  (load %s)\n", r, mode, s / c * 1e6, c, l }'
		port=$((port + 2))
	done
done
