#!/usr/bin/env bash
# deploy/compose-check.sh — proves deploy/compose.yaml and the two Dockerfiles on this machine,
# without GitHub and without an image registry:
#
#   1. `docker-compose config -q` accepts the file with dummy values, and refuses it when a
#      required variable is missing;
#   2. `docker-compose build app runner` builds both images from deploy/bootstrap.sh's images
#      (GO_IMAGE=holdfast/golang:local, RUNTIME_IMAGE=holdfast/base:bookworm, classic builder);
#   3. `docker-compose up -d app` starts postgres, waits for it to be healthy, runs `app migrate`
#      to completion, starts `app serve` with a throwaway RSA key, and GET /healthz answers "ok";
#      an unsigned webhook is refused (and counted by GET /metrics), GET /readyz answers "ready"
#      and the container's health check (`app healthcheck`) turns it healthy;
#   4. the runner's container (host network, NET_ADMIN, the engine's socket) runs
#      `runner janitor --older-than 87600h`: engine ping, host guard (iptables) and the image
#      check, removing nothing; and the App's Postgres answers on 127.0.0.1:PORT from the host's
#      network, where the runner's DATABASE_URL points;
#   5. with --with-runner, `runner work` starts, reports "runner working" and its container turns
#      healthy (`runner healthcheck`: engine, images, database) (skipped when
#      another runner's sandboxes are on the engine: its start-up janitor would judge them).
#
# Then `docker-compose down -v`, and the images it built are removed (KEEP_IMAGES=1 keeps them).
# Nothing talks to GitHub. The host guard rule, if the runner had to insert it, stays: it
# protects every runner on this host (see grading/docker/guard.go).
#
#   deploy/compose-check.sh [--with-runner]
#
# Needs root (or the docker group), docker-compose, openssl, curl, python3, and the images of
# `deploy/bootstrap.sh` (holdfast/golang:local, holdfast/base:bookworm, holdfast/postgres:15,
# holdfast/redis:7, holdfast/agent:dev).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
COMPOSE_FILE=$REPO_ROOT/deploy/compose.yaml
PROJECT=holdfast-compose-check
WITH_RUNNER=0

log() { printf 'compose-check: %s\n' "$*"; }
die() {
	printf 'compose-check: FAIL: %s\n' "$*" >&2
	exit 1
}

for arg in "$@"; do
	case "$arg" in
	--with-runner) WITH_RUNNER=1 ;;
	-h | --help)
		sed -n '2,/^[^#]/{/^#/!d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*) die "unknown argument '$arg' (usage: deploy/compose-check.sh [--with-runner])" ;;
	esac
done

for tool in docker docker-compose openssl curl python3; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
timeout 20 docker info >/dev/null 2>&1 || die "no Docker engine answers (sudo bash deploy/bootstrap.sh starts one)"
for img in holdfast/golang:local holdfast/base:bookworm holdfast/postgres:15 holdfast/redis:7 holdfast/agent:dev; do
	docker image inspect "$img" >/dev/null 2>&1 || die "image $img is missing: run deploy/bootstrap.sh"
done

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_free() { python3 -c 'import socket, sys; s = socket.socket(); s.bind(("0.0.0.0", int(sys.argv[1])))' "$1" 2>/dev/null; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/holdfast-compose-check.XXXXXX")
chmod 0755 "$WORK"

# Dummy configuration: a throwaway RSA key in GitHub's format (PKCS#1 PEM), random secrets.
openssl genrsa -traditional -out "$WORK/github-app.pem" 2048 2>/dev/null
if [ "$(id -u)" = 0 ]; then
	chown 65532:65532 "$WORK/github-app.pem" # the App's uid in its image
	chmod 0400 "$WORK/github-app.pem"
else
	chmod 0444 "$WORK/github-app.pem" # throwaway key; a real one belongs to uid 65532, mode 0400
fi
HTTP_PORT=8080
port_free "$HTTP_PORT" || HTTP_PORT=$(free_port)
DB_PORT=$(free_port)

export HOLDFAST_DB_PASSWORD
HOLDFAST_DB_PASSWORD=$(openssl rand -hex 16)
export GITHUB_APP_ID=12345
export GITHUB_WEBHOOK_SECRET
GITHUB_WEBHOOK_SECRET=$(openssl rand -hex 20)
export GITHUB_PRIVATE_KEY_PATH=$WORK/github-app.pem
export GITHUB_API_URL=https://github.invalid/api/v3 # never called; a typo'd GitHub would be
export HOLDFAST_PUBLIC_URL=http://localhost:$HTTP_PORT
export HOLDFAST_HTTP_ADDR=127.0.0.1 HOLDFAST_HTTP_PORT=$HTTP_PORT HOLDFAST_DB_PORT=$DB_PORT
export HOLDFAST_POSTGRES_IMAGE=holdfast/postgres:15 HOLDFAST_REDIS_IMAGE=holdfast/redis:7
export HOLDFAST_AGENT_IMAGE=holdfast/agent:dev HOLDFAST_GO_IMAGE=holdfast/golang:local
export HOLDFAST_BUILD_GO_IMAGE=${HOLDFAST_BUILD_GO_IMAGE:-holdfast/golang:local}
export HOLDFAST_BUILD_RUNTIME_IMAGE=${HOLDFAST_BUILD_RUNTIME_IMAGE:-holdfast/base:bookworm}
export HOLDFAST_APP_IMAGE=holdfast/app:compose-check HOLDFAST_RUNNER_IMAGE=holdfast/runner:compose-check
# docker-py's own build: the classic builder, no buildx needed.
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

dc() { docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" "$@"; }

stage_images() { docker images -q --no-trunc --filter dangling=true --filter label=holdfast.build-stage | sort -u; }
STAGES_BEFORE=$(stage_images)

cleanup() {
	local rc=$?
	set +e
	if [ "$rc" != 0 ]; then
		log "--- logs of the stack ---"
		dc logs --no-color --tail 40 2>&1 | sed 's/^/  /'
	fi
	log "docker-compose down -v"
	dc down -v --remove-orphans --timeout 20 >/dev/null 2>&1
	if [ "${KEEP_IMAGES:-0}" != 1 ]; then
		docker image rm "$HOLDFAST_APP_IMAGE" "$HOLDFAST_RUNNER_IMAGE" >/dev/null 2>&1
		# The build stages this run left untagged (labelled holdfast.build-stage); no one else's.
		comm -13 <(printf '%s\n' "$STAGES_BEFORE") <(stage_images) | xargs -r docker image rm >/dev/null 2>&1
		log "removed $HOLDFAST_APP_IMAGE, $HOLDFAST_RUNNER_IMAGE and their build stages"
	fi
	rm -rf "$WORK"
	if [ "$rc" = 0 ]; then log "PASS"; else log "FAILED (exit $rc)"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A previous interrupted run may have left its project behind.
dc down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || :

# 1. The file.
log "1. docker-compose $(docker-compose version --short) config -q (dummy values)"
dc config -q || die "docker-compose rejects deploy/compose.yaml"
if out=$(env -u GITHUB_APP_ID docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" config -q 2>&1); then
	die "config passed without GITHUB_APP_ID"
fi
[[ "$out" == *"set GITHUB_APP_ID"* ]] || die "without GITHUB_APP_ID config said: $out"
log "   ok; without GITHUB_APP_ID it refuses: ${out##*: }"

# 2. The images.
log "2. docker-compose build app runner (GO_IMAGE=$HOLDFAST_BUILD_GO_IMAGE, RUNTIME_IMAGE=$HOLDFAST_BUILD_RUNTIME_IMAGE, classic builder)"
t0=$(date +%s)
dc build app runner >"$WORK/build.log" 2>&1 || {
	tail -n 40 "$WORK/build.log" >&2
	die "build failed"
}
log "   built in $(($(date +%s) - t0)) s: $(docker image inspect --format '{{.Size}}' "$HOLDFAST_APP_IMAGE" | awk '{printf "%d MB", $1/1e6}') app, $(docker image inspect --format '{{.Size}}' "$HOLDFAST_RUNNER_IMAGE" | awk '{printf "%d MB", $1/1e6}') runner"
docker run --rm --entrypoint iptables "$HOLDFAST_RUNNER_IMAGE" --version >/dev/null || die "no iptables in the runner image"

# 3. postgres -> migrate -> app.
log "3. docker-compose up -d app (postgres healthy, migrate completed, then app serve on 127.0.0.1:$HTTP_PORT)"
t0=$(date +%s)
dc up -d --no-build app >"$WORK/up.log" 2>&1 || {
	cat "$WORK/up.log" >&2
	die "up failed"
}
migrate_id=$(dc ps -q migrate)
[ -n "$migrate_id" ] || die "no migrate container"
[ "$(docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$migrate_id")" = "exited 0" ] ||
	die "migrate did not complete: $(docker inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$migrate_id")"
body=
for _ in $(seq 1 60); do
	body=$(curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null) && break
	sleep 1
done
[ "$body" = ok ] || die "GET /healthz answered '${body:-nothing}'"
log "   migrate exited 0; GET http://localhost:$HTTP_PORT/healthz -> $body ($(($(date +%s) - t0)) s after up)"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-GitHub-Event: ping' -H 'X-GitHub-Delivery: check' \
	-d '{}' "http://127.0.0.1:$HTTP_PORT/webhooks/github")
[[ "$code" == 4* ]] || die "an unsigned webhook got $code"
log "   an unsigned webhook is refused ($code)"
ready=$(curl -sS "http://127.0.0.1:$HTTP_PORT/readyz" 2>&1) || true
[ "$ready" = ready ] || die "GET /readyz answered '$ready'"
health=
for _ in $(seq 1 60); do
	health=$(docker inspect --format '{{.State.Health.Status}}' "$(dc ps -q app)")
	[ "$health" = starting ] || break
	sleep 1
done
[ "$health" = healthy ] || die "the app's container health is '$health' (app healthcheck: GET /readyz)"
curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -q '^holdfast_webhook_deliveries_total{code="401",event="ping"} 1$' ||
	die "GET /metrics does not count the refused webhook"
log "   GET /readyz -> $ready; container healthy (app healthcheck); /metrics counts the refused webhook"

# 4. The runner's container, without grading anything.
log "4. runner container (host network, NET_ADMIN, docker.sock): runner janitor --older-than 87600h"
dc run --rm --no-deps runner janitor --older-than 87600h >"$WORK/janitor.log" 2>&1 || {
	cat "$WORK/janitor.log" >&2
	die "the runner cannot use the engine or install its host guard"
}
log "   $(tail -n 1 "$WORK/janitor.log"): engine, iptables guard and images ok"
docker run --rm --network host --entrypoint pg_isready "$HOLDFAST_POSTGRES_IMAGE" -q -h 127.0.0.1 -p "$DB_PORT" -U holdfast -d holdfast ||
	die "the App's Postgres does not answer on 127.0.0.1:$DB_PORT (the runner's DATABASE_URL)"
log "   the App's Postgres answers on 127.0.0.1:$DB_PORT from the host network"
published=$(docker port "$(dc ps -q postgres)" 5432/tcp)
[[ "$published" == 127.0.0.1:* ]] || die "Postgres is published on $published, not loopback only"
log "   Postgres is published on $published only"

# 5. Optionally, `runner work` itself.
if [ "$WITH_RUNNER" = 1 ]; then
	if [ -n "$(docker ps -aq --filter label=holdfast.run)$(docker network ls -q --filter label=holdfast.run)" ]; then
		log "5. skipped runner work: sandboxes of another runner are on this engine"
	else
		log "5. docker-compose up -d runner (runner work)"
		dc up -d --no-build runner >"$WORK/runner-up.log" 2>&1 || {
			cat "$WORK/runner-up.log" >&2
			die "up runner failed"
		}
		ok=0
		for _ in $(seq 1 60); do
			if dc logs --no-color runner 2>&1 | grep -q '"msg":"runner working"'; then
				ok=1
				break
			fi
			[ "$(docker inspect --format '{{.State.Running}}' "$(dc ps -q runner)")" = true ] || break
			sleep 1
		done
		[ "$ok" = 1 ] || die "runner work did not start: $(dc logs --no-color --tail 5 runner 2>&1)"
		health=
		for _ in $(seq 1 90); do
			health=$(docker inspect --format '{{.State.Health.Status}}' "$(dc ps -q runner)")
			[ "$health" = starting ] || break
			sleep 1
		done
		[ "$health" = healthy ] || die "the runner's container health is '$health': $(dc exec -T runner runner healthcheck 2>&1)"
		log "   runner healthy (runner healthcheck: GET /healthz on 127.0.0.1:9090)"
		log "   runner work started (River worker on the App's database); stopping it"
		dc stop --timeout 100 runner >/dev/null 2>&1
	fi
fi
