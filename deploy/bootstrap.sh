#!/usr/bin/env bash
# deploy/bootstrap.sh — get a Docker engine and the images Holdfast grades with onto this
# machine. Idempotent and cached: a second run only rebuilds the agent if its binary changed.
#
#   deploy/bootstrap.sh [--force] [--engine-only]
#
#   HOLDFAST_IMAGES=local     (default) build holdfast/{base,postgres,redis,golang,node,python} from
#                             Debian packages, for machines that reach no image registry;
#   HOLDFAST_IMAGES=official  use postgres:16, redis:7, golang:1.26-bookworm, node:20-bookworm-slim,
#                             python:3.11-slim-bookworm from a registry
#                             (the engine pulls them); only the agent image is built.
#   HOLDFAST_DEBIAN_MIRROR    Debian mirror for the base image (default: apt's own, else
#                             http://deb.debian.org/debian).
#   HOLDFAST_DEBIAN_SECURITY_MIRROR  security archive (default: apt's own, else
#                             http://deb.debian.org/debian-security; "none" to leave it out).
#   HOLDFAST_RUNTIME          runsc (default): install gVisor's runsc (Debian trixie's 2024 build,
#                             from trixie's suite on the same mirror, pinned so nothing else comes
#                             from it) and register it with the engine as runtime "runsc", merged
#                             into /etc/docker/daemon.json and loaded with SIGHUP (no restart).
#                             runc: leave gVisor out (the runner then needs HOLDFAST_RUNTIME=runc too).
#   --force                   rebuild every image of the mode even if its inputs are unchanged.
#   --engine-only             only install Debian's docker.io (and debootstrap), start the engine
#                             and register runsc; no images. deploy/test.sh does this first, so
#                             that other set-up can use apt while the images build.
#
# See deploy/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
IMAGES_DIR=$SCRIPT_DIR/images
DOCKERD_LOG=/var/log/holdfast-dockerd.log
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
LABEL=holdfast.inputs
export DOCKER_BUILDKIT=0

START_NS=$(date +%s%N)
FORCE=0
ENGINE_ONLY=0

log() { printf 'bootstrap: %s\n' "$*"; }
die() {
	printf 'bootstrap: error: %s\n' "$*" >&2
	exit 1
}
elapsed() { # NS_SINCE -> "12.3s"
	local ms=$((($(date +%s%N) - $1) / 1000000))
	printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

usage() {
	sed -n '2,/^[^#]/{/^#/!d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while [ "$#" -gt 0 ]; do
	case "$1" in
	--force) FORCE=1 ;;
	--engine-only) ENGINE_ONLY=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument '$1' (usage: deploy/bootstrap.sh [--force] [--engine-only])" ;;
	esac
	shift
done

MODE=${HOLDFAST_IMAGES:-local}
case "$MODE" in
local | official) ;;
*) die "HOLDFAST_IMAGES must be 'local' or 'official', not '$MODE'" ;;
esac
RUNTIME=${HOLDFAST_RUNTIME:-runsc}
case "$RUNTIME" in
runsc | runc) ;;
*) die "HOLDFAST_RUNTIME must be 'runsc' (gVisor, the default) or 'runc', not '$RUNTIME'" ;;
esac

[ -f "$REPO_ROOT/go.mod" ] && [ -d "$REPO_ROOT/cmd/agent" ] ||
	die "can't find the repository root (expected go.mod and cmd/agent in $REPO_ROOT)"

# Build logs survive the run (they are what to read when a build fails).
LOG_DIR=${TMPDIR:-/tmp}/holdfast-bootstrap-logs
mkdir -p "$LOG_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/holdfast-bootstrap.XXXXXX")

# Removes a directory tree, first unmounting anything left mounted inside it (a failed
# debootstrap can leave proc/sys mounted in its target).
remove_tree() {
	local dir=$1 m
	[ -e "$dir" ] || return 0
	awk -v r="$dir/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || :
	done
	rm -rf --one-file-system "$dir"
}
BUILDS=() # in_parallel's builds, stopped if this run stops early (not dockerd, which stays)
cleanup() {
	[ ${#BUILDS[@]} = 0 ] || kill "${BUILDS[@]}" 2>/dev/null || :
	remove_tree "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_parallel FUNC... — runs each FUNC in a subshell of its own, side by side, and waits for
# all of them (a failing one has already said why); stops if any failed.
in_parallel() {
	local i failed=()
	for i in "$@"; do
		"$i" &
		BUILDS+=($!)
	done
	for i in "${!BUILDS[@]}"; do
		wait "${BUILDS[$i]}" || failed+=("${*:i+1:1}")
	done
	BUILDS=()
	[ ${#failed[@]} = 0 ] || die "${failed[*]} failed (above)"
}

# run_logged NAME CMD... — runs CMD with its output in $LOG_DIR/NAME.log; on failure shows
# the end of the log and stops.
run_logged() {
	local name=$1 logf="$LOG_DIR/$1.log"
	shift
	if ! "$@" >"$logf" 2>&1; then
		printf 'bootstrap: --- last lines of %s ---\n' "$logf" >&2
		tail -n 40 "$logf" >&2
		die "$name failed (full log: $logf)"
	fi
}

need_root() {
	[ "$(id -u)" = 0 ] ||
		die "$1 needs root: run 'sudo deploy/bootstrap.sh', or do it by hand as root: $2"
}

apt_install() {
	need_root "installing $*" "apt-get update && apt-get install -y $*"
	log "installing $* with apt-get …"
	run_logged apt-get bash "$SCRIPT_DIR/apt-install.sh" "$@"
}

# shellcheck source=close-fds.sh
source "$SCRIPT_DIR/close-fds.sh"

# ---------------------------------------------------------------------------- engine

engine_up() { timeout 20 docker info >/dev/null 2>&1; }

ensure_engine() {
	if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
		engine_up && return 0 # a remote DOCKER_HOST, say
		local pkgs=(docker.io)
		# The base image's debootstrap too, in the same apt run, when it will be needed.
		[ "$MODE" = official ] || command -v debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap debian-archive-keyring)
		apt_install "${pkgs[@]}"
	fi
	engine_up && return 0

	local err
	err=$(timeout 20 docker info 2>&1 >/dev/null || true)
	if [[ "$err" == *"permission denied"* ]]; then
		die "the Docker engine runs but $(id -un) may not use its socket: run as root, or add $(id -un) to the docker group"
	fi
	if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix:///var/run/docker.sock}" = "$DOCKER_HOST" ]; then
		die "the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'"
	fi
	local pid=
	[ -r /var/run/docker.pid ] && pid=$(cat /var/run/docker.pid 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		log "dockerd (pid $pid) is running but not answering yet; waiting …"
	else
		need_root "starting dockerd" "dockerd >$DOCKERD_LOG 2>&1 &"
		log "starting dockerd (log: $DOCKERD_LOG) …"
		# setsid + nohup: the engine outlives this script and its terminal; without our other
		# descriptors: it would hold a caller's lock or pipe open for as long as it runs.
		(
			close_fds
			exec setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null
		) &
		pid=$!
	fi
	for _ in $(seq 1 60); do
		engine_up && {
			log "docker engine up ($(docker version --format '{{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null))"
			return 0
		}
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 1
	done
	printf 'bootstrap: --- last lines of %s ---\n' "$DOCKERD_LOG" >&2
	tail -n 20 "$DOCKERD_LOG" >&2 || :
	die "the Docker engine did not come up within 60 s (see $DOCKERD_LOG)"
}

# ---------------------------------------------------------------------------- gVisor

DAEMON_JSON=/etc/docker/daemon.json
RUNSC_MIN=20240101 # trixie's build is 0.0~20240729; bookworm's (20221219) is too old

# runsc_date — the build date (YYYYMMDD) of the runsc on PATH, empty without one.
runsc_date() {
	command -v runsc >/dev/null 2>&1 || return 0
	runsc --version 2>/dev/null | head -n 1 | grep -o '[0-9]\{8\}' | head -n 1 || :
}

engine_runtimes() { timeout 20 docker info --format '{{range $k, $v := .Runtimes}}{{println $k}}{{end}}' 2>/dev/null || :; }

# add_trixie_source — Debian trixie's suite on bookworm's mirror, pinned at 100: apt takes a
# package from it only when asked by name (runsc/trixie), never as an upgrade.
add_trixie_source() {
	[ -z "$(apt_uri_for_suite trixie)" ] || return 0
	local mirror
	mirror=${HOLDFAST_DEBIAN_MIRROR:-$(apt_uri_for_suite bookworm)}
	mirror=${mirror:-http://deb.debian.org/debian}
	log "adding Debian trixie (${mirror%/}) to apt's sources, pinned below bookworm, for runsc"
	cat >/etc/apt/sources.list.d/holdfast-trixie.sources <<-EOF
		# Added by Holdfast's deploy/bootstrap.sh for gVisor's runsc; pinned in
		# /etc/apt/preferences.d/holdfast-trixie so that nothing else comes from trixie.
		Types: deb
		URIs: ${mirror%/}
		Suites: trixie
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >/etc/apt/preferences.d/holdfast-trixie
	rm -f /var/lib/holdfast/apt-updated # deploy/apt-install.sh then reads the new suite's lists
}

# register_runsc FILE — adds runtime "runsc" to the engine configuration FILE, keeping all else
# in it; one already there is left as it is (an operator's own flags). --network=host: gVisor
# uses the network namespace Docker made for the container (its internal networks, aliases and
# the host guard still apply) instead of its own network stack, which cannot run when this
# host is itself a container.
register_runsc() {
	local file=$1 tmp
	[ -s "$file" ] || echo '{}' >"$file"
	jq -e 'type == "object"' "$file" >/dev/null 2>&1 ||
		die "$file is not a JSON object: fix it (dockerd reads it too), then run again"
	jq -e '.runtimes.runsc' "$file" >/dev/null 2>&1 && return 0
	cp "$file" "$file.before-runsc"
	tmp=$(mktemp "$file.XXXXXX")
	jq --arg path "$(command -v runsc)" '.runtimes.runsc = {path: $path, runtimeArgs: ["--network=host"]}' "$file" >"$tmp"
	chmod 644 "$tmp"
	mv "$tmp" "$file"
	log "added runtime runsc to $file (before: $file.before-runsc)"
}

# ensure_runsc — gVisor installed and the engine knowing it as "runsc", without a restart:
# the runner refuses to start without it (unless HOLDFAST_RUNTIME=runc).
ensure_runsc() {
	if [ "$RUNTIME" != runsc ]; then
		log "HOLDFAST_RUNTIME=$RUNTIME: gVisor left out; the runner needs HOLDFAST_RUNTIME=$RUNTIME too"
		return 0
	fi
	local d pkgs=()
	d=$(runsc_date)
	# Registered already (on a remote engine, runsc need not be on this machine), and not
	# bookworm's old build here: nothing to do.
	if engine_runtimes | grep -qx runsc && { [ -z "$d" ] || [ "$d" -ge "$RUNSC_MIN" ]; }; then
		log "runsc${d:+ ($d)} registered with the engine"
		return 0
	fi
	if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix:///var/run/docker.sock}" = "$DOCKER_HOST" ]; then
		engine_runtimes | grep -qx runsc && { log "runsc registered with the engine at DOCKER_HOST=$DOCKER_HOST"; return 0; }
		die "the engine at DOCKER_HOST=$DOCKER_HOST has no runtime runsc: register gVisor on that machine, or set HOLDFAST_RUNTIME=runc"
	fi
	if [ -z "$d" ] || [ "$d" -lt "$RUNSC_MIN" ]; then
		need_root "installing gVisor (runsc)" "add Debian trixie to apt's sources, then apt-get install runsc/trixie"
		add_trixie_source
		pkgs+=(runsc/trixie)
	fi
	command -v jq >/dev/null 2>&1 || pkgs+=(jq)
	[ ${#pkgs[@]} = 0 ] || apt_install "${pkgs[@]}"
	d=$(runsc_date)
	[ -n "$d" ] && [ "$d" -ge "$RUNSC_MIN" ] ||
		die "runsc is from ${d:-nowhere}, older than trixie's 2024 build: apt-get install runsc/trixie"
	if engine_runtimes | grep -qx runsc; then
		log "runsc ($d) registered with the engine"
		return 0
	fi
	need_root "registering runsc with the engine" "add runsc to $DAEMON_JSON's \"runtimes\", then kill -HUP \$(cat /var/run/docker.pid)"
	mkdir -p "$(dirname "$DAEMON_JSON")"
	register_runsc "$DAEMON_JSON"
	local pid
	pid=$(cat /var/run/docker.pid 2>/dev/null || true)
	[ -n "$pid" ] && kill -HUP "$pid" 2>/dev/null ||
		die "can't signal dockerd (pid '${pid:-none}' from /var/run/docker.pid) to reload $DAEMON_JSON"
	for _ in $(seq 1 20); do
		if engine_runtimes | grep -qx runsc; then
			log "registered runsc ($d) with the engine (SIGHUP, no restart)"
			return 0
		fi
		sleep 0.5
	done
	tail -n 5 "$DOCKERD_LOG" >&2 2>/dev/null || :
	die "dockerd did not take runtime runsc from $DAEMON_JSON after SIGHUP (see $DOCKERD_LOG)"
}

# verify_runsc — a container runs under runsc on the engine, read-only with a tmpfs as the
# sandbox runs an app, and sees gVisor's kernel, not this host's.
verify_runsc() {
	[ "$RUNTIME" = runsc ] || return 0
	local out
	out=$(docker run --rm --runtime=runsc --read-only --tmpfs /tmp:mode=1777 -u 65534:65534 \
		holdfast/base:bookworm sh -c 'touch /tmp/x && cat /proc/version' 2>&1) ||
		die "a container does not run under runsc: $out"
	[ "$out" != "$(cat /proc/version)" ] || die "a container under runsc sees this host's kernel: is runsc really gVisor?"
	log "runsc runs containers (kernel inside: ${out:0:40}…)"
}

# ---------------------------------------------------------------------------- images

image_label() { docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# up_to_date TAG HASH — true (and says so) when TAG exists with label HASH and no --force.
up_to_date() {
	if [ "$FORCE" = 0 ] && [ "$(image_label "$1")" = "$2" ]; then
		log "$1 up to date"
		return 0
	fi
	return 1
}

# inputs_hash DIR [EXTRA...] — sha256 over every file under DIR (path and content) and EXTRA.
inputs_hash() {
	local dir=$1
	shift
	{
		(cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
		printf '%s\n' "$@"
	} | sha256sum | cut -d' ' -f1
}

# docker_build TAG HASH LOGNAME TAR-ARGS... — builds TAG from the tar stream of TAR-ARGS as
# the context (so the context holds exactly those files), labelled with HASH.
docker_build() {
	local tag=$1 hash=$2 name=$3
	shift 3
	local t0
	t0=$(date +%s%N)
	log "building $tag …"
	run_logged "$name" bash -o pipefail -c \
		'tar -c "${@:3}" | docker build --label "$1" -t "$2" -' _ "$LABEL=$hash" "$tag" "$@"
	touch "$WORK/built"
	log "built $tag in $(elapsed "$t0")"
}

# First http(s) URI that apt's sources give for SUITE (deb822 and one-line formats).
apt_uri_for_suite() {
	local suite=$1 out f
	out=$(
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -r "$f" ] || continue
			awk -v suite="$suite" '
				BEGIN { RS = ""; FS = "\n" }
				{
					types = ""; uris = ""; suites = ""; enabled = "yes"
					for (i = 1; i <= NF; i++) {
						line = $i
						if (line ~ /^#/ || !match(line, /^[A-Za-z-]+:/)) continue
						key = tolower(substr(line, 1, RLENGTH - 1)); val = substr(line, RLENGTH + 1)
						gsub(/^[ \t]+|[ \t]+$/, "", val)
						if (key == "types") types = val
						else if (key == "uris") uris = val
						else if (key == "suites") suites = val
						else if (key == "enabled") enabled = tolower(val)
					}
					if (enabled == "no" || index(" " types " ", " deb ") == 0) next
					if (index(" " suites " ", " " suite " ") == 0) next
					n = split(uris, u, /[ \t]+/)
					for (j = 1; j <= n; j++) if (u[j] ~ /^https?:\/\//) print u[j]
				}' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -r "$f" ] || continue
			sed -e 's/\[[^]]*\]//' "$f" |
				awk -v suite="$suite" '$1 == "deb" && $3 == suite && $2 ~ /^https?:\/\// { print $2 }'
		done
	) || true
	out=${out%%$'\n'*}
	printf '%s' "${out%/}"
}

build_base() {
	local tag=holdfast/base:bookworm
	local mirror security
	mirror=${HOLDFAST_DEBIAN_MIRROR:-$(apt_uri_for_suite bookworm)}
	mirror=${mirror:-http://deb.debian.org/debian}
	security=${HOLDFAST_DEBIAN_SECURITY_MIRROR:-$(apt_uri_for_suite bookworm-security)}
	security=${security:-http://deb.debian.org/debian-security}
	[ -r "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE (install Debian's ca-certificates)"

	local hash
	hash=$(inputs_hash "$IMAGES_DIR/base" "mirror=${mirror%/}" "security=${security%/}" \
		"ca=$(sha256sum <"$CA_BUNDLE" | cut -d' ' -f1)")
	up_to_date "$tag" "$hash" && return 0

	need_root "building $tag with debootstrap" "apt-get install -y debootstrap"
	command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap debian-archive-keyring
	local t0 rootfs=$WORK/rootfs
	t0=$(date +%s%N)
	log "building $tag (debootstrap from ${mirror%/}) …"
	run_logged base-debootstrap bash "$IMAGES_DIR/base/build-rootfs.sh" \
		"$rootfs" "${mirror%/}" "${security%/}" "$CA_BUNDLE"
	run_logged base-import bash -o pipefail -c \
		'tar --numeric-owner -C "$1" -c . | docker import \
			--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			--change "ENV LANG=C.UTF-8" \
			--change "CMD [\"bash\"]" \
			--change "LABEL $2" \
			--message "holdfast/base: debootstrap --variant=minbase bookworm" - "$3"' \
		_ "$rootfs" "$LABEL=$hash" "$tag"
	remove_tree "$rootfs"
	touch "$WORK/built"
	log "built $tag in $(elapsed "$t0") ($(image_size "$tag"))"
}

image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%d MB", $1 / 1000000 }'; }

build_postgres() {
	local tag=holdfast/postgres:15 hash
	hash=$(inputs_hash "$IMAGES_DIR/postgres" "base=$(image_id holdfast/base:bookworm)")
	up_to_date "$tag" "$hash" && return 0
	docker_build "$tag" "$hash" postgres -C "$IMAGES_DIR/postgres" .
	smoke_postgres "$tag"
}

build_redis() {
	local tag=holdfast/redis:7 hash
	hash=$(inputs_hash "$IMAGES_DIR/redis" "base=$(image_id holdfast/base:bookworm)")
	up_to_date "$tag" "$hash" && return 0
	docker_build "$tag" "$hash" redis -C "$IMAGES_DIR/redis" .
	smoke_redis "$tag"
}

build_golang() {
	local goroot version minor tag hash warm=$WORK/gowarm
	goroot=$("$GO" env GOROOT)
	version=$("$GO" env GOVERSION) # go1.26.8
	minor=$(printf '%s' "${version#go}" | cut -d. -f1,2)
	tag=holdfast/golang:$minor
	# The Go starters' go.mod and go.sum: the image comes with their modules downloaded and
	# compiled, so a learner's first build (and every kill-matrix row) compiles only its own code.
	# Each distinct set of requirements once, named by its content, the module's own name left
	# out: a new challenge whose starter needs what another's does changes neither the image nor
	# (its ID being every Go submission's base) the ~120 Go submissions built on it.
	local gomod
	mkdir -p "$warm/warm"
	for gomod in "$REPO_ROOT"/templates/*/starter/go/go.mod; do
		local reqs key
		reqs=$WORK/gowarm.mod
		sed 's/^module .*/module warm/' "$gomod" >"$reqs"
		key=$(cat "$reqs" "${gomod%.mod}.sum" 2>/dev/null | sha256sum | cut -c1-16)
		[ ! -d "$warm/warm/$key" ] || continue
		mkdir -p "$warm/warm/$key"
		mv "$reqs" "$warm/warm/$key/go.mod"
		[ ! -f "${gomod%.mod}.sum" ] || cp "${gomod%.mod}.sum" "$warm/warm/$key/"
	done
	hash=$(inputs_hash "$IMAGES_DIR/golang" "go=$version" \
		"goenv=$(sha256sum <"$goroot/go.env" 2>/dev/null | cut -d' ' -f1)" \
		"base=$(image_id holdfast/base:bookworm)" "warm=$(inputs_hash "$warm/warm")")
	if ! up_to_date "$tag" "$hash"; then
		# Context: the Dockerfile, the starters' modules as ./warm, and the Go tree, renamed to
		# ./go whatever its directory is called.
		local parent base
		parent=$(dirname "$goroot") base=$(basename "$goroot")
		local xform=()
		[ "$base" = go ] || xform=(--transform "s|^$base|go|S")
		docker_build "$tag" "$hash" golang -C "$IMAGES_DIR/golang" Dockerfile -C "$warm" warm \
			-C "$parent" "${xform[@]}" --exclude "$base/pkg/obj" "$base"
		verify_golang "$tag" "$version"
	fi
	# The grader's default GO_IMAGE: a name that does not change with the host's Go version.
	docker tag "$tag" holdfast/golang:local
}

# A just-built image that fails its check is removed, so the next run builds it again.
reject() {
	docker image rm -f "$1" >/dev/null 2>&1 || :
	die "$2"
}

smoke_postgres() {
	local tag=$1 cid
	cid=$(docker run -d -e POSTGRES_USER=holdfast -e POSTGRES_PASSWORD=check \
		-e POSTGRES_DB=check "$tag" postgres -c fsync=off)
	for _ in $(seq 1 100); do
		[[ "$(docker logs "$cid" 2>&1)" == *"database system is ready to accept connections"* ]] && break
		sleep 0.2
	done
	if ! docker exec "$cid" psql -h 127.0.0.1 -U holdfast -d check -Atc 'select 1' >/dev/null 2>&1; then
		docker logs "$cid" >"$LOG_DIR/postgres-smoke.log" 2>&1 || :
		docker rm -f "$cid" >/dev/null 2>&1 || :
		reject "$tag" "$tag does not start (container log: $LOG_DIR/postgres-smoke.log)"
	fi
	docker rm -f "$cid" >/dev/null 2>&1 || :
}

smoke_redis() {
	local tag=$1
	docker run --rm "$tag" redis-server --version >/dev/null 2>&1 || reject "$tag" "redis-server does not run in $tag"
}

# go version, and a module with a dependency fetched over TLS from the module proxy.
verify_golang() {
	local tag=$1 version=$2 dir=$WORK/gocheck
	mkdir -p "$dir"
	cat >"$dir/go.mod" <<-'EOF'
		module holdfast.local/gocheck

		go 1.21

		require github.com/google/uuid v1.6.0
	EOF
	cat >"$dir/main.go" <<-'EOF'
		package main

		import (
			"fmt"

			"github.com/google/uuid"
		)

		func main() { fmt.Println("gocheck", uuid.NewSHA1(uuid.NameSpaceURL, []byte("holdfast"))) }
	EOF
	log "checking $tag: go version, go mod download over TLS, go build …"
	if ! docker run --rm -v "$dir:/src" -w /src "$tag" sh -ec \
		'go version; go mod download github.com/google/uuid; go mod tidy; CGO_ENABLED=0 go build -trimpath -o /tmp/gocheck .; /tmp/gocheck' \
		>"$LOG_DIR/golang-check.log" 2>&1 ||
		! grep -q "go version $version" "$LOG_DIR/golang-check.log" ||
		! grep -q '^gocheck ' "$LOG_DIR/golang-check.log"; then
		tail -n 20 "$LOG_DIR/golang-check.log" >&2
		reject "$tag" "$tag can't build a module with a dependency (log: $LOG_DIR/golang-check.log);" \
			"if TLS fails, check that $CA_BUNDLE has the egress proxy's CA"
	fi
}

# version_tag TAG REPO CMD... — also tags TAG as REPO:<version>, the version that CMD prints
# when run in TAG (holdfast/node:20, say), unless TAG's image already carries a REPO:<digit…>
# tag. A warm run only inspects the image; a rebuilt one gets the tag moved to it.
version_tag() {
	local tag=$1 repo=$2 have version
	shift 2
	have=$(docker image inspect --format '{{range .RepoTags}}{{println .}}{{end}}' "$tag" |
		grep -E "^$repo:[0-9]" | head -n 1 || true)
	if [ -z "$have" ]; then
		version=$(docker run --rm "$tag" "$@" 2>/dev/null | tr -d '[:space:]') || version=
		[[ "$version" =~ ^[0-9][0-9.]*$ ]] || reject "$tag" "$tag does not report its version ('$*' printed '$version')"
		have=$repo:$version
		docker tag "$tag" "$have"
	fi
	log "$tag is $have"
}

# holdfast/node:<major> — Debian's nodejs and npm, taken from trixie (Node.js 20, the major of
# the starters' node:20-bookworm-slim; bookworm's is 18), for learners' NODE_IMAGE builds. Built,
# checked and cached under holdfast/node:local (the grader's default NODE_IMAGE); the major
# tag follows the Node version inside (20).
build_node() {
	local tag=holdfast/node:local hash
	hash=$(inputs_hash "$IMAGES_DIR/node" "base=$(image_id holdfast/base:bookworm)")
	if ! up_to_date "$tag" "$hash"; then
		docker_build "$tag" "$hash" node -C "$IMAGES_DIR/node" .
		verify_node "$tag"
	fi
	version_tag "$tag" holdfast/node node -p 'process.versions.node.split(".")[0]'
}

# node -e runs, and npm installs a package with a dependency tree (pg) from the npm registry
# over TLS (through the egress proxy's CA, which NODE_EXTRA_CA_CERTS points at), as user node.
verify_node() {
	local tag=$1 logf=$LOG_DIR/node-check.log t0
	t0=$(date +%s%N)
	log "checking $tag: node -e, npm install pg over TLS …"
	if ! docker run --rm -u node -w /tmp "$tag" sh -ec '
		node --version
		npm --version
		mkdir /tmp/npmcheck
		cd /tmp/npmcheck
		npm init -y >/dev/null
		npm install --no-audit --no-fund pg
		node -e "const { Pool } = require(\"pg\"); console.log(\"nodecheck\", process.version, typeof Pool)"
	' >"$logf" 2>&1 || ! grep -q '^nodecheck v[0-9].* function$' "$logf"; then
		tail -n 20 "$logf" >&2
		reject "$tag" "$tag can't install an npm package (log: $logf);" \
			"if TLS fails, check that $CA_BUNDLE has the egress proxy's CA"
	fi
	log "checked $tag in $(elapsed "$t0")"
}

# holdfast/python:<major.minor> — Debian's python3 with psycopg2, psycopg and redis, for
# learners' PYTHON_IMAGE builds (PyPI is not reachable). Cached under holdfast/python:local
# (the grader's default PYTHON_IMAGE); the version tag follows the Python inside (3.11).
build_python() {
	local tag=holdfast/python:local hash
	hash=$(inputs_hash "$IMAGES_DIR/python" "base=$(image_id holdfast/base:bookworm)")
	if ! up_to_date "$tag" "$hash"; then
		docker_build "$tag" "$hash" python -C "$IMAGES_DIR/python" .
		verify_python "$tag"
	fi
	version_tag "$tag" holdfast/python python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

# The drivers import, and a venv works, as nobody on a read-only root with a writable /tmp
# (how the sandbox runs a learner's service).
verify_python() {
	local tag=$1 logf=$LOG_DIR/python-check.log
	log "checking $tag: python3, import psycopg2/psycopg/redis, venv …"
	if ! docker run --rm -u 65534:65534 --read-only --tmpfs /tmp "$tag" sh -ec '
		python3 --version
		python3 -m venv --system-site-packages /tmp/venv
		/tmp/venv/bin/python -c "import psycopg2, psycopg, redis; print(\"pycheck\", psycopg2.__version__.split()[0])"
	' >"$logf" 2>&1 || ! grep -q '^pycheck [0-9]' "$logf"; then
		tail -n 20 "$logf" >&2
		reject "$tag" "$tag can't import psycopg2 (log: $logf)"
	fi
}

# In official mode the learners' Node and Python images come from the registry too.
note_official_toolchains() {
	local img
	for img in node:20-bookworm-slim python:3.11-slim-bookworm; do
		if [ -n "$(image_id "$img")" ]; then
			log "$img present"
		else
			log "$img not present locally: the engine pulls it when first used"
		fi
	done
}

build_agent() {
	local tag=holdfast/agent:dev dir=$WORK/agent hash t0
	mkdir -p "$dir"
	t0=$(date +%s%N)
	if ! (cd "$REPO_ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -o "$dir/agent" ./cmd/agent) \
		>"$LOG_DIR/agent-go-build.log" 2>&1; then
		cat "$LOG_DIR/agent-go-build.log" >&2
		die "go build ./cmd/agent failed (see above)"
	fi
	hash=$(sha256sum <"$dir/agent" | cut -d' ' -f1)
	up_to_date "$tag" "$hash" && return 0
	cp "$IMAGES_DIR/agent/Dockerfile" "$dir/Dockerfile"
	docker_build "$tag" "$hash" agent -C "$dir" Dockerfile agent
}

# ---------------------------------------------------------------------------- main

ensure_engine
ensure_runsc
if [ "$ENGINE_ONLY" = 1 ]; then
	command -v debootstrap >/dev/null 2>&1 || [ "$MODE" = official ] || apt_install debootstrap debian-archive-keyring
	log "engine ready in $(elapsed "$START_NS")"
	exit 0
fi

GO=$(command -v go || true)
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } ||
	die "no Go toolchain: put go on PATH (expected /usr/local/go/bin/go)"

if [ "$MODE" = local ]; then
	build_base
	# The others need only the base and wait mostly on Debian's mirror or on one core: built side
	# by side they take about as long as the slowest of them.
	in_parallel build_postgres build_redis build_golang build_node build_python build_agent
	verify_runsc
else
	for img in postgres:16 redis:7 golang:1.26-bookworm; do
		if [ -n "$(image_id "$img")" ]; then
			log "$img present"
		else
			log "$img not present locally: the engine pulls it when first used"
		fi
	done
	note_official_toolchains
	build_agent
fi

if [ -e "$WORK/built" ]; then
	# Superseded builds of our images (now untagged) go; nothing else is touched.
	docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || :
fi
log "done in $(elapsed "$START_NS") (HOLDFAST_IMAGES=$MODE)"
