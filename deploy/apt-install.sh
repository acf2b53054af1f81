#!/usr/bin/env bash
# deploy/apt-install.sh PACKAGE... — installs Debian packages, one apt client at a time. The
# test command's set-up steps run side by side (deploy/bootstrap.sh, deploy/chromium.sh,
# deploy/services.sh) and apt refuses a second client, so each waits here for the others.
# The package lists are refreshed once an hour at most.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: deploy/apt-install.sh PACKAGE..." >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
	echo "apt-install: installing $* needs root: run as root: apt-get update && apt-get install -y $*" >&2
	exit 1
fi
mkdir -p /var/lib/holdfast
exec 9>/var/lib/holdfast/apt.lock
flock -w 900 9 || { echo "apt-install: another apt client held the lock for 15 minutes" >&2; exit 1; }
stamp=/var/lib/holdfast/apt-updated
if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
	apt-get update
	touch "$stamp"
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
