#!/bin/bash
# Measures what starting each stock worker costs: N execs of each binary
# run by hand (it finds no master and exits at once with status 2), so the
# time is exec + Go runtime start + package initialisation, the part of
# every session that does not depend on the transfer. Interleaved rounds,
# since the machine is noisy.
#   scripts/worker-start.sh [N] [ROUNDS]      (after `make build`)
set -eu
n=${1:-300}
rounds=${2:-3}
bin=${BIN:-bin}
for ((r = 1; r <= rounds; r++)); do
	for w in fbtftp-worker fbtftp-worker-http; do
		s=$(date +%s%N)
		for ((i = 0; i < n; i++)); do "$bin/$w" 2>/dev/null || true; done
		e=$(date +%s%N)
		printf 'round %d  %-20s %6d us/start  (%s bytes)\n' "$r" "$w" $(((e - s) / n / 1000)) "$(stat -c %s "$bin/$w")"
	done
done
