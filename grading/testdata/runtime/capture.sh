#!/bin/sh
# Re-records the traces under testdata/runtime from real programs, run with the grader's local
# toolchain images as the starters' Dockerfiles run them (Go in /src, with and without
# -trimpath; TypeScript compiled by tsc with source maps into /app/dist; Python in /app).
# Usage: TSC=path/to/tsc sh capture.sh   (from this directory; needs Docker; tsc 5.9 with
# @types/node, e.g. templates/idempotent-payments/starter/ts/node_modules/.bin/tsc after npm ci)
set -eu
here=$(pwd)
docker run --rm -e GOTOOLCHAIN=local -v "$here/go/src:/src" -v "$here/go:/out" holdfast/golang:local sh -c '
	cd /src && CGO_ENABLED=0 go build -trimpath -o /tmp/app-trim . && CGO_ENABLED=0 go build -o /tmp/app-full .
	for m in served goroutine main custom mapwrites; do
		/tmp/app-trim $m > /out/go-trimpath-$m.log 2>&1 || true
		/tmp/app-full $m > /out/go-fullpath-$m.log 2>&1 || true
	done
	go version > /out/go-version.txt'
"${TSC:-tsc}" -p node/app/tsconfig.json
"${TSC:-tsc}" -p node/app/tsconfig.json --sourceMap false --inlineSourceMap true --outDir node/app/dist-inline
docker run --rm -v "$here/node/app:/app" -v "$here/node:/out" holdfast/node:local sh -c '
	cd /app && node --version > /out/node-version.txt
	for m in uncaught caught rejection; do
		node dist/index.js $m > /out/node-$m.log 2>&1 || true
		node --enable-source-maps dist/index.js $m > /out/node-sourcemapped-$m.log 2>&1 || true
	done
	node dist-inline/index.js uncaught > /out/node-inline-uncaught.log 2>&1 || true'
docker run --rm -e PYTHONDONTWRITEBYTECODE=1 -v "$here/python/app:/app" -v "$here/python:/out" holdfast/python:local sh -c '
	cd /app && python3 --version > /out/python-version.txt
	for m in handler logged chained startup; do python3 app.py $m > /out/python-$m.log 2>&1 || true; done'
