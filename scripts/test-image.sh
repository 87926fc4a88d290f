#!/usr/bin/env bash
# The container image, end to end (.ci/run runs it): make image, then the
# tools module's tests on it: configuration and contents, and, where
# podman works, a container serving a download on its UDP port 69.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
make image
ls -l bin/image/image.tar
(cd tools && FBTFTP_IMAGE_TAR="$PWD/../bin/image/image.tar" go test -count=1 -v ./imagebuild) | grep -E '^(=== RUN|--- |\s+image_test|PASS|FAIL|ok)'
echo "test-image: ok in $(( $(date +%s) - t0 ))s"
