#!/usr/bin/env bash
# Entrypoint of holdfast/postgres:15, compatible with the official postgres image's contract:
#
#   env   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#         (default postgres), POSTGRES_DB (default $POSTGRES_USER), POSTGRES_HOST_AUTH_METHOD
#         (default scram-sha-256), POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR, PGDATA, and the
#         *_FILE variants of PASSWORD/USER/DB/INITDB_ARGS;
#   args  `postgres ARGS...` (or just `-c ...`) runs the PostgreSQL 15 server with ARGS as user
#         postgres; anything else is exec'd as is (`bash`, `psql ...`);
#   init  only when $PGDATA holds no initialised cluster; *.sh, *.sql, *.sql.gz/xz/zst in
#         /docker-entrypoint-initdb.d run once, against a temporary socket-only server.
#
# The fast path: the image carries a cluster initialised at build time (marker file
# $PGDATA/.holdfast-template). On the first start it is configured from the environment in a
# single single-user backend (rename the bootstrap superuser, set its password, create the
# database) instead of running initdb. An empty $PGDATA (a bind mount, say) or
# POSTGRES_INITDB_ARGS/POSTGRES_INITDB_WALDIR get a real initdb, as in the official image.
set -Eeuo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
TEMPLATE_MARK=.holdfast-template
SPARE_DB=holdfast_spare # in the baked cluster: becomes $POSTGRES_DB at the first start
INITDB_DEFAULTS=(--encoding=UTF8 --locale=C.UTF-8 --no-sync)

log() { printf '%s\n' "holdfast-entrypoint: $*"; }
die() { printf '%s\n' "holdfast-entrypoint: error: $*" >&2; exit 1; }

# file_env VAR [DEFAULT]: VAR, or the contents of the file named by VAR_FILE, or DEFAULT.
file_env() {
	local var=$1 file_var="${1}_FILE" def=${2:-} val
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		die "both $var and $file_var are set (but are exclusive)"
	fi
	val=$def
	if [ -n "${!var:-}" ]; then
		val=${!var}
	elif [ -n "${!file_var:-}" ]; then
		val=$(<"${!file_var}")
	fi
	export "$var=$val"
	unset "$file_var"
}

sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }
sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }

# As root: own the directories, then re-run this script as postgres.
prepare_dirs_as_root() {
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 3777 /var/run/postgresql
	# The baked cluster is postgres's already: skip the walk over its ~1000 files (~80 ms).
	if [ ! -e "$PGDATA/$TEMPLATE_MARK" ] || [ "$(stat -c %U "$PGDATA")" != postgres ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
		chmod 0700 "$PGDATA" 2>/dev/null || :
	fi
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres:postgres '{}' +
		chmod 0700 "$POSTGRES_INITDB_WALDIR"
	fi
}

# Build time: initialise the template cluster baked into the image.
bake() {
	if [ "$(id -u)" = 0 ]; then
		prepare_dirs_as_root
		exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" holdfast-bake
	fi
	"$PG_BIN/initdb" -D "$PGDATA" --username=postgres --auth=trust "${INITDB_DEFAULTS[@]}"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	# A database made now and renamed at start costs nothing then; CREATE DATABASE would
	# copy template1 and checkpoint twice (~100-200 ms).
	printf '%s\n\n' "CREATE DATABASE $SPARE_DB;" | single_user
	: >"$PGDATA/$TEMPLATE_MARK"
}

# Runs SQL (statements end with ";" + blank line) in a single-user backend as the bootstrap
# superuser; any error aborts the container.
single_user() {
	local out
	if ! out=$("$PG_BIN/postgres" --single -j -F -D "$PGDATA" \
		-c exit_on_error=on -c log_min_messages=warning "$@" postgres 2>&1 >/dev/null); then
		printf '%s\n' "$out" >&2
		die "configuring the cluster failed"
	fi
}

first_start() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
		cat >&2 <<-'EOM'
			Error: Database is uninitialized and superuser password is not specified.
			       You must specify POSTGRES_PASSWORD to a non-empty value for the
			       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

			       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
			       connections without a password. This is *not* recommended.
		EOM
		exit 1
	fi
	if [ "$auth" = trust ]; then
		log "warning: POSTGRES_HOST_AUTH_METHOD=trust: every host may connect without a password"
	fi

	local baked=0
	if [ -e "$PGDATA/$TEMPLATE_MARK" ]; then
		if [ -n "$POSTGRES_INITDB_ARGS" ] || [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
			# Custom initdb options: throw the baked cluster away and do it for real.
			find "$PGDATA" -mindepth 1 -delete
		else
			baked=1
		fi
	fi

	local sql=()
	if [ "$baked" = 0 ]; then
		local args=(-D "$PGDATA" --username="$POSTGRES_USER" "${INITDB_DEFAULTS[@]}")
		[ -n "${POSTGRES_INITDB_WALDIR:-}" ] && args+=(--waldir="$POSTGRES_INITDB_WALDIR")
		# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is word-split, as in the official image
		if [ -n "$POSTGRES_PASSWORD" ]; then
			"$PG_BIN/initdb" "${args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS >/dev/null
		else
			"$PG_BIN/initdb" "${args[@]}" $POSTGRES_INITDB_ARGS >/dev/null
		fi
		printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
	else
		# The bootstrap superuser (oid 10) can't ALTER ROLE ... RENAME itself: edit the catalog.
		if [ "$POSTGRES_USER" != postgres ]; then
			sql+=("UPDATE pg_catalog.pg_authid SET rolname = $(sql_literal "$POSTGRES_USER") WHERE oid = 10;")
		fi
		if [ -n "$POSTGRES_PASSWORD" ]; then
			sql+=("ALTER ROLE $(sql_ident "$POSTGRES_USER") WITH PASSWORD $(sql_literal "$POSTGRES_PASSWORD");")
		fi
	fi
	if [ "$baked" = 1 ]; then
		# The spare database is owned by oid 10, i.e. by $POSTGRES_USER now.
		if [ "$POSTGRES_DB" = postgres ]; then
			sql+=("DROP DATABASE $SPARE_DB;")
		elif [ "$POSTGRES_DB" != "$SPARE_DB" ]; then
			sql+=("ALTER DATABASE $SPARE_DB RENAME TO $(sql_ident "$POSTGRES_DB");")
		fi
	elif [ "$POSTGRES_DB" != postgres ]; then
		sql+=("CREATE DATABASE $(sql_ident "$POSTGRES_DB") STRATEGY = FILE_COPY;")
	fi
	if [ "${#sql[@]}" -gt 0 ]; then
		local enc=()
		[ "$auth" = md5 ] && enc=(-c password_encryption=md5)
		printf '%s\n\n' "${sql[@]}" | single_user "${enc[@]}"
	fi
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	run_initdb_d
	rm -f "$PGDATA/$TEMPLATE_MARK"
}

# /docker-entrypoint-initdb.d, as in the official image (only started when there is work).
run_initdb_d() {
	local f
	shopt -s nullglob
	local files=(/docker-entrypoint-initdb.d/*)
	shopt -u nullglob
	[ "${#files[@]}" -gt 0 ] || return 0

	"$PG_BIN/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start
	export PGHOST=/var/run/postgresql PGPORT=5432 PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB
	local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password)
	for f in "${files[@]}"; do
		case "$f" in
		*.sh)
			# shellcheck disable=SC1090
			if [ -x "$f" ]; then log "running $f"; "$f"; else log "sourcing $f"; . "$f"; fi ;;
		*.sql) log "running $f"; "${psql[@]}" -f "$f" ;;
		*.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" ;;
		*.sql.xz) log "running $f"; xzcat "$f" | "${psql[@]}" ;;
		*.sql.zst) log "running $f"; zstd -dc "$f" | "${psql[@]}" ;;
		*) log "ignoring $f" ;;
		esac
	done
	"$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop
	unset PGHOST PGPORT PGUSER PGDATABASE
	log "PostgreSQL init process complete; ready for start up."
}

main() {
	if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
		set -- postgres "$@"
	fi
	case "$1" in
	holdfast-bake) bake; return ;;
	postgres | "$PG_BIN/postgres") shift ;;
	*) exec "$@" ;;
	esac

	if [ "$(id -u)" = 0 ]; then
		prepare_dirs_as_root
		exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" postgres "$@"
	fi

	if [ ! -s "$PGDATA/PG_VERSION" ] || [ -e "$PGDATA/$TEMPLATE_MARK" ]; then
		first_start
	fi
	exec "$PG_BIN/postgres" "$@"
}

main "$@"
