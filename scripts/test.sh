#!/usr/bin/env bash
# Runs Tenure's whole test suite. On a fresh Debian machine it first installs
# the servers the tests start themselves (see scripts/install-test-deps.sh).
# CI runs exactly this script through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

scripts/install-test-deps.sh

# In CI a missing test server must fail the run, never skip it.
export CI="${CI:-}"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt: not formatted:" $unformatted >&2
	exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m "$@" ./...
