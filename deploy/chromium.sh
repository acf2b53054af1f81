#!/usr/bin/env bash
# Installs Debian's chromium when it is missing, for the reviewer pages' browser tests
# (grading/app/browser_test.go drives it headless over the DevTools protocol). Idempotent.
#
#   bash deploy/chromium.sh && export HOLDFAST_REQUIRE_BROWSER=1
set -euo pipefail
log() { printf 'chromium: %s\n' "$*" >&2; }
for b in chromium chromium-browser; do
	if command -v "$b" >/dev/null 2>&1; then
		log "found $(command -v "$b")"
		exit 0
	fi
done
[ "$(id -u)" = 0 ] || { log "not installed; run as root: apt-get install -y chromium"; exit 1; }
log "installing Debian's chromium"
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" chromium >/dev/null
log "installed $(command -v chromium)"
