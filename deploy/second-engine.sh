#!/usr/bin/env bash
# deploy/second-engine.sh — a second Docker engine on this machine, beside the one
# deploy/bootstrap.sh starts, standing in for a second grading host: the multi-host and chaos
# tests (grading/chaos) run one `runner work` per engine. Idempotent.
#
#   eval "$(bash deploy/second-engine.sh start)"   # exports HOLDFAST_SECOND_DOCKER_HOST
#   bash deploy/second-engine.sh daemon           # start's daemon only, without copying images
#   DOCKER_HOST=$HOLDFAST_SECOND_DOCKER_HOST docker ps
#   bash deploy/second-engine.sh stop      # SIGTERM: a host shutting down (its containers stop)
#   bash deploy/second-engine.sh kill      # SIGKILL: a host's engine crashing (its containers
#                                          # run on, orphaned, until the next start stops them)
#   bash deploy/second-engine.sh status    # exit 0 when it answers
#
# start starts dockerd when its socket does not answer, with everything two daemons must not
# share of its own: data root, exec root (and so its own containerd), socket, pidfile, config
# file, default bridge and address pool. The daemon manages no iptables rules (--iptables=false):
# two daemons managing iptables overwrite each other's rules, and the first engine's must stay as
# they are. One rule of the script's own, in DOCKER-USER (the chain Docker leaves to its users),
# accepts traffic within the second engine's address pool: the first engine's FORWARD policy is
# DROP and bridged traffic passes through it (br_netfilter), so without it the containers of a
# sandbox on the second engine could not reach each other. Sandbox networks stay internal (no
# route out), and the runner's host guard (an INPUT rule on every hfsb* bridge,
# grading/docker/guard.go) covers both engines' sandboxes.
# Then it copies from the first engine, with docker save | docker load, the images a runner
# refuses to start without (grading/docker/health.go, RequiredImages: the sidecars, the agent
# and the holdfast/ toolchain images learners' Dockerfiles build FROM), where the second engine
# lacks them or has another image under the name. No registry is needed. It prints the
# DOCKER_HOST of the second engine on stdout, as an export; progress goes to stderr.
#
#   HOLDFAST_ENGINE2_ROOT  data root (default /var/lib/holdfast/docker2; kept, so images are
#                          copied once per machine)
#   HOLDFAST_ENGINE2_RUN   socket, pidfile and exec root (default /run/holdfast-docker2)
#   HOLDFAST_ENGINE2_POOL  address pool of its networks (default 10.213.0.0/16, /24 each); its
#                          bridge hfdocker2 gets HOLDFAST_ENGINE2_BRIDGE_IP (10.214.0.1/24)
#   HOLDFAST_POSTGRES_IMAGE, HOLDFAST_REDIS_IMAGE, HOLDFAST_AGENT_IMAGE, HOLDFAST_GO_IMAGE,
#   HOLDFAST_NODE_IMAGE, HOLDFAST_PYTHON_IMAGE   the images to copy, as the runner reads them
set -euo pipefail
# shellcheck source=close-fds.sh
source "$(dirname "${BASH_SOURCE[0]}")/close-fds.sh"

ROOT=${HOLDFAST_ENGINE2_ROOT:-/var/lib/holdfast/docker2}
RUN=${HOLDFAST_ENGINE2_RUN:-/run/holdfast-docker2}
POOL=${HOLDFAST_ENGINE2_POOL:-10.213.0.0/16}
BRIDGE=hfdocker2
BRIDGE_IP=${HOLDFAST_ENGINE2_BRIDGE_IP:-10.214.0.1/24}
SOCK=$RUN/docker.sock
PIDFILE=$RUN/docker.pid
LOG=/var/log/holdfast-dockerd2.log
HOST=unix://$SOCK

log() { printf 'second-engine: %s\n' "$*" >&2; }
die() {
	printf 'second-engine: error: %s\n' "$*" >&2
	exit 1
}

usage() { sed -n '2,/^[^#]/{/^#/!d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; }

first() { docker "$@"; }                      # the first engine: the caller's DOCKER_HOST or the local socket
second() { DOCKER_HOST=$HOST docker "$@"; }
answers() { timeout 10 docker -H "$HOST" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
pid() { [ -r "$PIDFILE" ] && cat "$PIDFILE" 2>/dev/null || true; }
alive() { local p; p=$(pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# wait_exit SECONDS — waits for the daemon in the pidfile to exit; false if it did not.
wait_exit() {
	local p i
	p=$(pid)
	[ -n "$p" ] || return 0
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# A daemon killed outright leaves its containerd's pidfile; the next one clears stale ones itself,
# but its own pidfile must go, or dockerd refuses to start ("pid file found, ensure docker is not
# running").
clear_stale() {
	if ! alive; then rm -f "$PIDFILE"; fi
}

ensure_bridge() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add name "$BRIDGE" type bridge
		ip addr add "$BRIDGE_IP" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
}

# allow_bridged accepts forwarded traffic within the pool (see above); idempotent.
allow_bridged() {
	command -v iptables >/dev/null 2>&1 || return 0
	local chain=DOCKER-USER
	iptables -w -n -L "$chain" >/dev/null 2>&1 || chain=FORWARD # no first engine managing iptables
	iptables -w -C "$chain" -s "$POOL" -d "$POOL" -j ACCEPT 2>/dev/null ||
		iptables -w -I "$chain" -s "$POOL" -d "$POOL" -j ACCEPT
}

# A second dockerd deletes the host's docker0 as it starts (seen every time on 20.10, with its
# own --bridge): the first engine's default bridge, which learners' build steps use. docker0 is
# noted before and put back, with the same address, right after; its veths come back as the
# first engine starts containers (start the second engine before builds run, as test.sh does).
docker0_addr=
note_docker0() { docker0_addr=$(ip -o -4 addr show dev docker0 2>/dev/null | awk '{print $4; exit}'); }
keep_docker0() {
	local i
	[ -n "$docker0_addr" ] || return 0
	for ((i = 0; i < 30; i++)); do # the deletion may come a moment after the daemon answers
		if ! ip link show docker0 >/dev/null 2>&1; then
			ip link add name docker0 type bridge &&
				ip addr add "$docker0_addr" dev docker0 &&
				ip link set docker0 up &&
				log "put back the first engine's docker0 ($docker0_addr), which the second dockerd removed"
			return 0
		fi
		sleep 0.1
	done
}

# add_runsc — gVisor's runsc in this engine's configuration, as deploy/bootstrap.sh registers
# it with the first (a runner grades learner apps under runsc unless HOLDFAST_RUNTIME=runc).
# Without runsc installed, nothing: the runner then says what is missing.
add_runsc() {
	command -v runsc >/dev/null 2>&1 || return 0
	command -v jq >/dev/null 2>&1 || die "no jq to add runsc to $RUN/daemon.json: run 'bash deploy/bootstrap.sh --engine-only' first"
	jq -e '.runtimes.runsc' "$RUN/daemon.json" >/dev/null 2>&1 && return 0
	jq --arg path "$(command -v runsc)" '.runtimes.runsc = {path: $path, runtimeArgs: ["--network=host"]}' \
		"$RUN/daemon.json" >"$RUN/daemon.json.new"
	mv "$RUN/daemon.json.new" "$RUN/daemon.json"
}

# has_runsc — the second engine knows runtime runsc.
has_runsc() { second info --format '{{range $k, $v := .Runtimes}}{{println $k}}{{end}}' 2>/dev/null | grep -qx runsc; }

# ensure_runsc — a running engine started before runsc was installed reloads its configuration
# (SIGHUP, no restart) to learn it.
ensure_runsc() {
	command -v runsc >/dev/null 2>&1 || return 0
	has_runsc && return 0
	add_runsc
	kill -HUP "$(pid)" 2>/dev/null || die "can't signal the second dockerd (pid '$(pid)') to reload $RUN/daemon.json"
	local i
	for ((i = 0; i < 20; i++)); do
		if has_runsc; then
			log "registered runsc with the second engine (SIGHUP)"
			return 0
		fi
		sleep 0.5
	done
	die "the second dockerd did not take runtime runsc from $RUN/daemon.json (log: $LOG)"
}

start_daemon() {
	note_docker0
	[ "$(id -u)" = 0 ] || die "starting a second dockerd needs root (run as root, as deploy/bootstrap.sh does)"
	command -v dockerd >/dev/null 2>&1 || die "no dockerd: run 'bash deploy/bootstrap.sh --engine-only' first"
	mkdir -p "$ROOT" "$RUN"
	ensure_bridge
	clear_stale
	[ -s "$RUN/daemon.json" ] || echo '{}' >"$RUN/daemon.json" # not /etc/docker/daemon.json: the first engine's
	add_runsc
	log "starting dockerd at $HOST (data root $ROOT, log $LOG)"
	# setsid + nohup, and no descriptor of ours beyond 0-2 (closed below): the engine outlives
	# this script, and a caller waiting for this script's output (a test's exec, a $(...)) is not
	# held open by a daemon that inherited the pipe.
	(
		close_fds
		exec setsid nohup dockerd \
			--host "$HOST" --pidfile "$PIDFILE" --data-root "$ROOT" --exec-root "$RUN/exec" \
			--config-file "$RUN/daemon.json" --bridge "$BRIDGE" \
			--iptables=false --ip-masq=false --ip-forward=false \
			--default-address-pool "base=$POOL,size=24" \
			>>"$LOG" 2>&1 </dev/null
	) &
	local i
	for ((i = 0; i < 600; i++)); do
		if answers; then
			log "dockerd up ($(second version --format '{{.Server.Version}}'), pid $(pid))"
			keep_docker0
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$LOG" >&2 || :
	die "the second dockerd did not answer within 60 s (log: $LOG)"
}

# The images the runner requires (RequiredImages), with the runner's defaults: the sidecars, the
# agent, and the toolchain images that are ours (an official one, such as golang:1.26-bookworm,
# the builder pulls itself).
required_images() {
	local img
	{
		printf '%s\n' "${HOLDFAST_POSTGRES_IMAGE:-holdfast/postgres:15}" "${HOLDFAST_REDIS_IMAGE:-holdfast/redis:7}" \
			"${HOLDFAST_AGENT_IMAGE:-holdfast/agent:dev}"
		for img in "${HOLDFAST_GO_IMAGE:-holdfast/golang:local}" "${HOLDFAST_NODE_IMAGE:-holdfast/node:local}" \
			"${HOLDFAST_PYTHON_IMAGE:-holdfast/python:local}"; do
			case $img in holdfast/*) printf '%s\n' "$img" ;; esac
		done
	} | awk '!seen[$0]++'
}

copy_images() {
	local img want have missing=()
	while read -r img; do
		want=$(first image inspect --format '{{.Id}}' "$img" 2>/dev/null) ||
			die "the first engine has no $img: build the images first (bash deploy/bootstrap.sh)"
		have=$(second image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)
		[ "$want" = "$have" ] || missing+=("$img")
	done < <(required_images)
	if [ ${#missing[@]} = 0 ]; then
		log "images up to date"
		return 0
	fi
	local t0=$SECONDS
	log "copying ${missing[*]} from the first engine …"
	# One stream: layers the images share (the base) are sent once.
	first save "${missing[@]}" | second load >/dev/null
	log "copied in $((SECONDS - t0)) s"
}

cmd_start() {
	mkdir -p "$(dirname "$RUN")"
	exec 9>"$RUN.lock"
	flock -w 300 9 || die "another start holds $RUN.lock"
	if ! answers; then
		local i=0
		while alive && ! answers && [ $((i += 1)) -le 30 ]; do # starting: give it a start's time
			sleep 1
		done
		answers || start_daemon
	fi
	ensure_runsc
	allow_bridged
	[ "${1:-}" = daemon-only ] || copy_images
	exec 9>&-
	echo "export HOLDFAST_SECOND_DOCKER_HOST='$HOST'"
}

cmd_stop() {
	if ! alive; then
		clear_stale
		log "not running"
		return 0
	fi
	kill -TERM "$(pid)"
	# dockerd gives its containers 10 s to stop, then kills them.
	if ! wait_exit 40; then
		log "dockerd did not stop within 40 s: killing it"
		kill -KILL "$(pid)" 2>/dev/null || :
		wait_exit 10 || die "dockerd (pid $(pid)) does not exit"
	fi
	clear_stale
	log "stopped"
}

cmd_kill() {
	if ! alive; then
		clear_stale
		log "not running"
		return 0
	fi
	kill -KILL "$(pid)"
	wait_exit 10 || die "dockerd (pid $(pid)) does not exit after SIGKILL"
	clear_stale
	log "killed (its containers run on until the next start stops them)"
}

case "${1:-}" in
start) cmd_start ;;
daemon) cmd_start daemon-only ;; # the daemon alone: test.sh starts it before any build runs
stop) cmd_stop ;;
kill) cmd_kill ;;
status)
	if answers; then
		log "answers at $HOST (pid $(pid))"
	else
		log "does not answer at $HOST"
		exit 1
	fi
	;;
-h | --help) usage ;;
*)
	usage
	exit 2
	;;
esac
