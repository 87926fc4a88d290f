#!/usr/bin/env bash
# Runs every native fuzz target in the module for a short while each.
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 3000x: a count, not a
# duration; time-based runs of Go 1.26's fuzzer sometimes end in a spurious
# "context deadline exceeded", golang/go#75804)
# A crasher is written by go test under the package's testdata/fuzz/ and the
# run fails: commit that file as a regression test once the bug is fixed.
set -euo pipefail
fuzztime=${1:-3000x}
cd "$(dirname "$0")/.."
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
  for t in $targets; do
    echo "fuzz $pkg $t ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1; then
      cat /tmp/fuzz.$$.log
      status=1
    fi
  done
done
rm -f /tmp/fuzz.$$.log
exit $status
