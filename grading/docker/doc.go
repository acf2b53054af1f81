// Package docker implements grading.Engine on the Docker Engine API: it builds learners' images
// with the classic builder and runs each grading in a sandbox of its own — two internal networks,
// Postgres and Redis sidecars, the Holdfast agent in front of them, and the learner's container
// under tight limits. Everything it creates carries the label holdfast.run, so that Teardown and
// the Janitor can find it again, and holdfast.namespace (Config.Namespace), so that a Janitor
// sweeps only what its own installation left.
package docker
