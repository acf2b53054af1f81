#!/usr/bin/env bash
# grading/app/jobs/bench/run.sh — run the App's benchmarks (tests gated by HOLDFAST_BENCH=1) and print
# their tables and the total wall time. It starts the App's Postgres (deploy/services.sh).
#
#   bash grading/app/jobs/bench/run.sh           # all three tables
#   bash grading/app/jobs/bench/run.sh webhook   # bench_test.go, TestWebhookBench: burst and push
#                                             # tables; the push one needs Docker with
#                                             # deploy/bootstrap.sh's images
#   bash grading/app/jobs/bench/run.sh push [-pushes 7] [-pool 1]
#                                             # push_test.go, TestPushBench: K pushes of the payments
#                                             # reference, one at a time → completed check runs,
#                                             # p50/p90/max and where each push's time went
#   bash grading/app/jobs/bench/run.sh throughput [-m 12] [-levels 1,2,3,4] [-pool 1]
#                                             # throughput_test.go, TestThroughputBench: M pushes of
#                                             # mixed challenges at each RUNNER_CONCURRENCY level:
#                                             # gradings/minute, the knee, verdicts as expected
#   bash grading/app/jobs/bench/run.sh intake    # intake_test.go, TestIntakeBench: 1000 pushes while
#                                             # GitHub is healthy, rate-limits, fails or hangs; each
#                                             # row twice, a transaction per delivery (before) and
#                                             # group commit, interleaved
#   bash grading/app/jobs/bench/run.sh profile   # trace_test.go, TestIntakeProfile: where one
#                                             # delivery's time goes, statement by statement
set -euo pipefail
case "${1:-all}" in
all) run='^(TestWebhookBench|TestIntakeBench)$' ;;
webhook) run='^TestWebhookBench$' ;;
push) run='^TestPushBench$' ;;
throughput) run='^TestThroughputBench$' ;;
intake) run='^TestIntakeBench$' ;;
profile) run='^TestIntakeProfile$' ;;
*)
	echo "usage: $0 [all|webhook|intake|profile|push|throughput] [benchmark flags]" >&2
	exit 2
	;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")"
eval "$(bash ../../../../deploy/services.sh)"
bin=$(mktemp "${TMPDIR:-/tmp}/holdfast-app-bench.XXXXXX") # one per run: others may bench beside it
trap 'rm -f "$bin"' EXIT
go test -c -o "$bin" . # compile outside the timing
start=$(date +%s%N)
status=0
HOLDFAST_BENCH=1 "$bin" -test.run "$run" -test.v -test.count=1 -test.timeout 30m "${@:2}" || status=$?
ms=$((($(date +%s%N) - start) / 1000000))
printf '\ntotal wall time: %d.%01d s\n' $((ms / 1000)) $((ms % 1000 / 100))
exit "$status"
