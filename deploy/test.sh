#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, then runs every test for real —
# Docker sandboxes, Postgres and Redis sidecars, the kill matrix. Extra arguments go to go test.
#
# It keeps both cores busy: set-up steps that wait on different things (Debian's mirror, the Go
# module proxy, the CPU) run side by side, and so do the platform's packages and the challenges'
# kill matrices, whose sandboxes are told apart by namespace (docker.Config.Namespace). Logs of
# what runs in the background are in $logs.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
logs=${TMPDIR:-/tmp}/holdfast-test
mkdir -p "$logs"
runner=$logs/runner
started=$SECONDS
say() { printf 'test: [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || :' EXIT # a failing step stops what runs beside it
# waitfor PID LOG WHAT — waits for a background step; on failure shows its log and stops.
waitfor() {
	if ! wait "$1"; then
		tail -n 60 "$2" >&2
		say "$3 failed (full log: $2)" >&2
		exit 1
	fi
}

# 1. Set-up. Compiling (the runner, go vet) begins at once; the engine comes first among the
# Debian packages, then Chromium installs while the images build.
say "compiling the runner and go vet (log: $logs/vet.log)"
(go build -o "$runner" ./cmd/runner && go vet ./...) >"$logs/vet.log" 2>&1 &
vet=$!
pids+=("$vet")
bash deploy/bootstrap.sh --engine-only
bash deploy/chromium.sh >"$logs/chromium.log" 2>&1 & # the reviewer pages are tested in headless Chromium
chromium=$!
pids+=("$chromium")
bash deploy/bootstrap.sh
eval "$(bash deploy/services.sh)"
waitfor "$vet" "$logs/vet.log" "go build ./cmd/runner or go vet"
say "go vet passed"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
if [ "${CI:-}" = "true" ]; then
	# CI owns this engine: sandboxes of sessions killed before it ran are not live gradings.
	"$runner" janitor --every-namespace --older-than 0s
fi

# 2. Every challenge's submissions (kill-matrix rows, second references, starters) are built,
# two at a time, while the platform's tests run; the challenge packages then find each image
# built (the tag is the build context's hash) and start when the last is done.
# shellcheck disable=SC2046 # one argument per directory
"$runner" build --jobs 2 $(ls -d scenarios/*/testdata/*/Dockerfile templates/*/starter/*/Dockerfile | xargs -n1 dirname) >"$logs/prebuild.log" 2>&1 &
prebuild=$!
pids+=("$prebuild")
say "building every challenge's submissions (log: $logs/prebuild.log)"
waitfor "$chromium" "$logs/chromium.log" "installing Chromium"
export HOLDFAST_REQUIRE_DOCKER=1 HOLDFAST_REQUIRE_SERVICES=1 HOLDFAST_REQUIRE_BROWSER=1
export HOLDFAST_ARTIFACTS=${HOLDFAST_ARTIFACTS:-$PWD/artifacts} # browser screenshots

# 3. The platform (real Docker, Postgres and Chromium), two packages at a time; its output is
# printed when it ends.
say "go test, the platform (log: $logs/platform.log)"
# shellcheck disable=SC2046 # one argument per package
go test -p 2 -count=1 -timeout 25m "$@" $(go list ./... | grep -v '/scenarios\(/\|$\)') >"$logs/platform.log" 2>&1 &
platform=$!
pids+=("$platform")

# 4. The scenarios and every challenge's kill matrix, three packages at a time beside the
# platform: a grading mostly waits on purpose (windows, leases, cooldowns; the CPU was a third
# busy at two packages), and the stability tests repeat the timing-sensitive scenarios under
# this load.
waitfor "$prebuild" "$logs/prebuild.log" "building the challenges' submissions"
say "built every challenge's submission: $(grep -c ' built in ' "$logs/prebuild.log") built, $(grep -c 'already built' "$logs/prebuild.log") already built"
say "go test, the scenarios and every challenge's kill matrix"
status=0
go test -p 3 -count=1 -timeout 25m "$@" ./scenarios/... || status=1
say "the scenarios ended; the platform's output follows"
if ! wait "$platform"; then status=1; fi
cat "$logs/platform.log"
say "done (exit $status)"
exit $status
