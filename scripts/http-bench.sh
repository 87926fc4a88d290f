#!/bin/bash
# Sessions per second for a 4 KiB file served three ways by fbtftp-go, in
# interleaved rounds: from the root (fbtftp-worker), streamed from an HTTP
# origin (fbtftp-worker-http, no cache) and from the HTTP cache (hits).
# The origin is python3's http.server on 127.0.0.1:18080. Loopback only.
#   scripts/http-bench.sh [ROUNDS] [DURATION]       (after `make build`)
set -eu
rounds=${1:-3}
dur=${2:-5s}
bin=$(cd "${BIN:-bin}" && pwd)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root" "$tmp/empty" "$tmp/cache"
head -c 4096 /dev/urandom >"$tmp/root/f4k"
chmod -R a+rX "$tmp"
(cd "$tmp/root" && exec python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1) &
sleep 1
run() {
	name=$1
	shift
	"$bin/fbtftp-master" -L -a 127.0.0.1:16969 --prefork 4 --log-format json "$@" 2>/dev/null &
	pid=$!
	sleep 1
	printf '%-12s ' "$name"
	"$bin/fbtftp-bench" load -server 127.0.0.1:16969 -file f4k -c 16 -duration "$dur" |
		tr -d '\n ' | sed 's/.*"failures":\([0-9]*\).*"sessions_per_s":\([0-9.]*\).*"first_packet_p50_ms":\([0-9.]*\).*/failures=\1 sessions\/s=\2 first_packet_p50_ms=\3/'
	echo
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}
for ((r = 1; r <= rounds; r++)); do
	run local -s "$tmp/root" --worker "$bin/fbtftp-worker"
	run http-stream -s "$tmp/empty" --http-origin http://127.0.0.1:18080/
	run http-cache -s "$tmp/empty" --http-origin http://127.0.0.1:18080/ --http-cache "$tmp/cache" --http-cache-max-age 1h
done
