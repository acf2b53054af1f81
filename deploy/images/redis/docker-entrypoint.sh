#!/bin/sh
# Entrypoint of holdfast/redis:7, as in the official redis image: `redis-server ARGS...`
# (or just `--flag ...` / `x.conf`) runs the server as user redis; anything else is exec'd.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups -- "$0" "$@"
fi

# The official image creates files private to the redis user unless told otherwise.
um=$(umask)
if [ "$um" = 0022 ]; then
	umask 0077
fi

exec "$@"
