#!/usr/bin/env bash
# Starts the App's Postgres (its tables and River's queue) on loopback when none answers, and
# prints the DATABASE_URL to use. Idempotent: a running cluster is reused.
#
#   eval "$(bash deploy/services.sh)"    # exports HOLDFAST_TEST_DATABASE_URL
#
# HOLDFAST_PG_PORT (default 54329) and HOLDFAST_PG_DIR (default /var/lib/holdfast/pg) choose where.
set -euo pipefail
PORT=${HOLDFAST_PG_PORT:-54329}
DIR=${HOLDFAST_PG_DIR:-/var/lib/holdfast/pg}
URL="postgres://holdfast@127.0.0.1:$PORT/holdfast?sslmode=disable"
log() { printf 'services: %s\n' "$*" >&2; }
# shellcheck source=close-fds.sh
source "$(dirname "${BASH_SOURCE[0]}")/close-fds.sh"

bin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bin=$d; done
if [ -z "$bin" ]; then
	[ "$(id -u)" = 0 ] || { log "PostgreSQL is not installed; run as root: apt-get install -y postgresql"; exit 1; }
	log "installing Debian's postgresql"
	bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" postgresql >/dev/null
	for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bin=$d; done
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
	if [ ! -s "$DIR/PG_VERSION" ]; then
		log "creating a cluster in $DIR"
		mkdir -p "$DIR"
		[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
		as_pg "$bin/initdb" -D "$DIR" -U holdfast --auth=trust --no-sync >/dev/null
	fi
	log "starting postgres on 127.0.0.1:$PORT"
	# Loopback only: sandboxes must never reach the App's database (see grading/docker/guard.go).
	# With none of our descriptors beyond 0-2: postgres would keep a caller's lock or pipe open
	# for as long as it runs (this script's stdout is often a $(...) that waits for EOF).
	(
		close_fds
		as_pg "$bin/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 30 \
			-o "-h 127.0.0.1 -p $PORT -k /tmp -c fsync=off -c max_connections=200" start >/dev/null </dev/null
	)
fi
"$bin/psql" -q -h 127.0.0.1 -p "$PORT" -U holdfast -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='holdfast'" | grep -q 1 ||
	"$bin/createdb" -h 127.0.0.1 -p "$PORT" -U holdfast holdfast
log "postgres ready at $URL"
echo "export HOLDFAST_TEST_DATABASE_URL='$URL'"
