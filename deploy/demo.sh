#!/usr/bin/env bash
# The demo: grade the idempotent-payments reference solution (it passes, 100/100) and one broken
# variant (it fails the concurrency scenario) end to end, installing whatever is missing first.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash deploy/bootstrap.sh
go build -o /tmp/holdfast-runner ./cmd/runner
status=0
for sub in reference broken-check-then-insert; do
	echo
	echo "=== runner grade --challenge idempotent-payments scenarios/idempotentpayments/testdata/$sub"
	set +e
	/tmp/holdfast-runner grade --challenge idempotent-payments "scenarios/idempotentpayments/testdata/$sub"
	code=$?
	set -e
	case "$sub:$code" in
	reference:0 | broken-*:1) echo "=== exit $code, as expected" ;;
	*)
		echo "=== exit $code, NOT as expected" >&2
		status=1
		;;
	esac
done
exit $status
