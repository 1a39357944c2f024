#!/usr/bin/env bash
# Benchmarks the SCIM server with cmd/tenure-load on the quickstart config:
# builds both binaries, starts a fresh server, seeds USERS users, runs the
# GET / filter / POST / PATCH phases at CONCURRENCY for DURATION each, and
# prints the server's RSS (current and peak). Server and load generator share
# the machine, so the numbers are a floor, not a ceiling.
#
#   USERS=100000 CONCURRENCY=16 DURATION=20s scripts/bench-scim.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
USERS=${USERS:-1000} CONCURRENCY=${CONCURRENCY:-16} DURATION=${DURATION:-10s}
SEED_CONCURRENCY=${SEED_CONCURRENCY:-64} ADDR=${ADDR:-127.0.0.1:18080}

bin=$(mktemp -d)
export TENURE_DATA_DIR=$(mktemp -d) TENURE_SCIM_TOKEN=bench-token TENURE_ADMIN_TOKEN=bench-admin
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$bin" "$TENURE_DATA_DIR"' EXIT
go build -o "$bin/tenure" ./cmd/tenure
go build -o "$bin/tenure-load" ./cmd/tenure-load
"$bin/tenure" serve --config configs/quickstart.yaml --listen "$ADDR" 2>"$TENURE_DATA_DIR/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://$ADDR/readyz" >/dev/null && break; sleep 0.1; done

echo "# $(date -u +%FT%TZ) $(go version | cut -d' ' -f3) $(nproc) cores; users=$USERS concurrency=$CONCURRENCY duration=$DURATION"
"$bin/tenure-load" -url "http://$ADDR/scim/v2" -users "$USERS" -seed-concurrency "$SEED_CONCURRENCY" \
  -concurrency "$CONCURRENCY" -duration "$DURATION" -ops "${OPS:-get,filter,post,patch}"
grep -E '^Vm(RSS|HWM)' /proc/$pid/status | tr -s ' ' | sed 's/^/server /'
ls -l "$TENURE_DATA_DIR/tenure.db" | awk '{printf "database file %.1f MiB\n", $5/1048576}'
