// Package health asks a Holdfast process on this host whether it is healthy, as a container's
// health check does: `app healthcheck` asks the App's GET /readyz, `runner healthcheck` the
// runner's GET /healthz. The images have neither curl nor wget, so both commands use this
// client rather than a shell one-liner.
package health
