# Sourced by deploy/demo.sh and deploy/test.sh: puts Go on PATH and enters the repository.
# They then run deploy/bootstrap.sh, which installs the Docker engine and builds Holdfast's
# images when missing (a second run takes seconds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		export PATH=/usr/local/go/bin:$PATH
	else
		echo "Go is not installed: install Go 1.26.8 or newer (go.mod) (https://go.dev/dl/) and run this again." >&2
		exit 1
	fi
fi
