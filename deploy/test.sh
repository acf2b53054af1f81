#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, then runs every test for real —
# Docker sandboxes, Postgres and Redis sidecars, the kill matrix. Extra arguments go to go test.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
eval "$(bash deploy/services.sh)"
if [ "${CI:-}" = "true" ]; then
	# CI owns this engine: sandboxes of sessions killed before it ran are not live gradings, and the
	# tests check that gradings leave nothing behind.
	go run ./cmd/runner janitor --older-than 0s
fi
echo "test: go vet and gofmt"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
echo "test: go test (real Docker and Postgres required)"
# -p 1: packages run one at a time, so timing-sensitive scenarios never share the two cores
# with another package's image build, and leftover checks see only their own sandboxes.
HOLDFAST_REQUIRE_DOCKER=1 HOLDFAST_REQUIRE_SERVICES=1 go test -p 1 -count=1 -timeout 25m "$@" ./...
