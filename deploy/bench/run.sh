#!/usr/bin/env bash
# deploy/bench/run.sh — run the sandbox benchmark (grading/docker/bench) from the repository root
# and print its total wall time. Arguments go to the benchmark:
#
#   deploy/bench/run.sh [-runs N] [-skip-cold]
#
# Needs the images of deploy/bootstrap.sh and docker-compose (Debian: apt-get install
# docker-compose). The cold grade removes holdfast-submission:* images and their build cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v docker-compose >/dev/null ||
	{ echo "run.sh: docker-compose not found (apt-get install docker-compose)" >&2; exit 2; }
go build -o "${TMPDIR:-/tmp}/holdfast-bench" ./grading/docker/bench # compile outside the timing
start=$(date +%s%N)
status=0
"${TMPDIR:-/tmp}/holdfast-bench" "$@" || status=$?
ms=$((($(date +%s%N) - start) / 1000000))
printf '\ntotal wall time: %d.%01d s\n' $((ms / 1000)) $((ms % 1000 / 100))
exit "$status"
