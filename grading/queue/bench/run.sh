#!/usr/bin/env bash
# grading/queue/bench/run.sh — run the webhook benchmark (bench_test.go, TestWebhookBench with
# HOLDFAST_BENCH=1) and print its two tables and the total wall time. It starts the App's
# Postgres (deploy/services.sh); the grading table needs Docker with deploy/bootstrap.sh's images.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
eval "$(bash ../../../deploy/services.sh)"
bin="${TMPDIR:-/tmp}/holdfast-webhook-bench.test"
go test -c -o "$bin" . # compile outside the timing
start=$(date +%s%N)
status=0
HOLDFAST_BENCH=1 "$bin" -test.run '^TestWebhookBench$' -test.v -test.count=1 -test.timeout 20m || status=$?
ms=$((($(date +%s%N) - start) / 1000000))
printf '\ntotal wall time: %d.%01d s\n' $((ms / 1000)) $((ms % 1000 / 100))
exit "$status"
