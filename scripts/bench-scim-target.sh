#!/usr/bin/env bash
# Benchmarks the outbound SCIM target against a downstream Tenure, in one
# run:
#  1. a downstream `tenure serve` (no targets): its own POST /Users rate,
#     measured with tenure-load;
#  2. an upstream `tenure serve` without targets, seeded with USERS users;
#  3. the upstream restarted on the same file with a scim target pointed at
#     the downstream, and `tenure reconcile --target app`: the time until
#     every user is downstream gives the outbound rate, from the restart;
#  4. for reference, the whole chain: USERS more users POSTed to the
#     upstream while it provisions them (tenure-load -converge-url); the two
#     servers then share the machine's cores for SCIM intake on both sides.
#
# With PIN=1 (and 2+ cores) the downstream runs on CPU 0 and everything
# else (the upstream, its Redis, tenure-load) on the others, as if the app
# ran on a machine of its own; otherwise all share every core, and the
# ratio measures the machine rather than the client.
#
# UPSTREAM=redis keeps the upstream's store and queue in a private
# redis-server (appendonly, appendfsync everysec) instead of a bbolt file.
#
# CHAIN=0 skips step 4. The downstream's own rate is measured again at the
# end and the two are averaged: this disk's fsync rate drifts by up to 2x
# from one minute to the next.
#
# WORKERS is the upstream's engine.workers: 128 by default here, the
# setting for a fast app close by (the config's default is 64); the
# downstream's own rate is measured with CONCURRENCY clients.
#
#   USERS=6000 CONCURRENCY=16 [WORKERS=128] [UPSTREAM=redis] [PIN=1] [CHAIN=0] scripts/bench-scim-target.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
USERS=${USERS:-6000} CONCURRENCY=${CONCURRENCY:-16} DURATION=${DURATION:-10s}
DOWN=${DOWN:-127.0.0.1:18181} UP=${UP:-127.0.0.1:18182} WORKERS=${WORKERS:-128}
UPSTREAM=${UPSTREAM:-embedded} REDIS_PORT=${REDIS_PORT:-16399}
down_cpu=() rest_cpu=()
if [ -n "${PIN:-}" ] && [ "$(nproc)" -ge 2 ]; then
  down_cpu=(taskset -c 0) rest_cpu=(taskset -c "1-$(($(nproc) - 1))")
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/tenure" ./cmd/tenure
go build -o "$work/tenure-load" ./cmd/tenure-load

export TENURE_SCIM_TOKEN=bench-down-token TENURE_ADMIN_TOKEN=bench-admin-token
cat >"$work/down.yaml" <<YAML
store: {kind: embedded, embedded: {path: $work/down/tenure.db}}
sources: [{name: hr, token: {env: TENURE_SCIM_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
log: {level: warn}
YAML
if [ "$UPSTREAM" = redis ]; then
  mkdir -p "$work/redis"
  "${rest_cpu[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync everysec \
    --save "" --auto-aof-rewrite-min-size 1gb --daemonize no >"$work/redis.log" 2>&1 & pids+=($!)
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  upstore="{kind: redis, redis: {url: redis://127.0.0.1:$REDIS_PORT/0}}"
else
  upstore="{kind: embedded, embedded: {path: $work/up/tenure.db}}"
fi
cat >"$work/up-base.yaml" <<YAML
store: $upstore
sources: [{name: hr, token: {env: TENURE_UP_TOKEN}}]
admin: {token: {env: TENURE_ADMIN_TOKEN}}
log: {level: warn}
engine: {workers: $WORKERS}
lifecycle: {prehire_lead: 0s}
YAML
cp "$work/up-base.yaml" "$work/up.yaml"
cat >>"$work/up.yaml" <<YAML
targets:
  - name: app
    kind: scim
    scim:
      base_url: http://$DOWN/scim/v2
      auth: {bearer: {token: {env: TENURE_SCIM_TOKEN}}}
      rate_limit: 100000
      burst: 1000
    attributes:
      userName: user.userName
      name.givenName: user.name.givenName
      name.familyName: user.name.familyName
      title: user.title
      'emails[type eq "work"].value': user.emails[0].value
YAML
export TENURE_UP_TOKEN=bench-up-token

wait_ready() { for _ in $(seq 100); do curl -sf "http://$1/readyz" >/dev/null && return; sleep 0.1; done; echo "no $1" >&2; exit 1; }
"${down_cpu[@]}" "$work/tenure" serve --config "$work/down.yaml" --listen "$DOWN" 2>"$work/down.log" & pids+=($!)
wait_ready "$DOWN"

echo "# $(date -u +%FT%TZ) $(go version | cut -d' ' -f3) $(nproc) cores; users=$USERS concurrency=$CONCURRENCY workers=$WORKERS upstream=$UPSTREAM pinned=${PIN:-no}"
echo "## downstream's own POST rate"
"${rest_cpu[@]}" "$work/tenure-load" -url "http://$DOWN/scim/v2" -users 0 -concurrency "$CONCURRENCY" -duration "$DURATION" -ops post \
  | tee "$work/down.out"

"${rest_cpu[@]}" "$work/tenure" serve --config "$work/up-base.yaml" --listen "$UP" 2>"$work/up0.log" & up0=$!
wait_ready "$UP"
echo "## upstream without targets: seed $USERS users"
"${rest_cpu[@]}" "$work/tenure-load" -url "http://$UP/scim/v2" -token "$TENURE_UP_TOKEN" -users "$USERS" -seed-concurrency "$CONCURRENCY" \
  -ops "" -prefix seeded
kill "$up0"; wait "$up0" 2>/dev/null || true

# The unfiltered count is read off an index; a filter would scan every user
# downstream on each poll and take the downstream's CPU from the benchmark.
count() {
  curl -sf -H "Authorization: Bearer $TENURE_SCIM_TOKEN" \
    "http://$DOWN/scim/v2/Users?count=0" | grep -o '"totalResults":[0-9]*' | cut -d: -f2
}
base=$(count)
echo "## upstream with the scim target: reconcile, wait for $USERS users downstream"
"${rest_cpu[@]}" "$work/tenure" serve --config "$work/up.yaml" --listen "$UP" 2>"$work/up.log" & pids+=($!)
wait_ready "$UP"
# orphans=none: the orphan report would first list every user downstream.
t0=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer $TENURE_ADMIN_TOKEN" "http://$UP/admin/v1/reconcile/app?orphans=none" >/dev/null
echo "reconcile scheduled $USERS in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s"
until [ "$(count)" -ge "$((base + USERS))" ]; do sleep 0.05; done
t1=$(date +%s.%N)
out=$(awk -v n="$USERS" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}')
if [ -n "${METRICS:-}" ]; then
  curl -sf "http://$UP/metrics" | grep -E '^(process_cpu_seconds_total|tenure_[a-z_]*_(sum|count)|tenure_queue_claims_total|tenure_store_redis_tx_conflicts_total)' || true
  curl -sf "http://$DOWN/metrics" | grep -E '^(process_cpu_seconds_total|tenure_scim_request_duration_seconds_(sum|count))' || true
fi
echo "outbound  $USERS users in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s  $out users/s"

if [ "${CHAIN:-1}" = 1 ]; then
  echo "## the whole chain: $USERS users POSTed upstream while it provisions them"
  "${rest_cpu[@]}" "$work/tenure-load" -url "http://$UP/scim/v2" -token "$TENURE_UP_TOKEN" -users "$USERS" -seed-concurrency "$CONCURRENCY" \
    -ops "" -prefix chain -converge-url "http://$DOWN/scim/v2" -converge-token "$TENURE_SCIM_TOKEN"
fi

echo "## downstream's own POST rate, again: this disk's fsync rate drifts, so the two are averaged"
"${rest_cpu[@]}" "$work/tenure-load" -url "http://$DOWN/scim/v2" -users 0 -concurrency "$CONCURRENCY" -duration "$DURATION" -ops post \
  | tee -a "$work/down.out"

down=$(awk '$1=="post"{for(i=1;i<=NF;i++) if($i=="req/s") {s+=$(i-1); n++}} END{print s/n}' "$work/down.out")
awk -v d="$down" -v c="$out" 'BEGIN{printf "outbound %.0f users/s vs the downstream'"'"'s own POST %.0f/s (mean of both): %.1f%%\n", c, d, 100*c/d}'
if grep -q '"level":"\(ERROR\|WARN\)"' "$work/up.log"; then echo "upstream logged:"; grep '"level":"\(ERROR\|WARN\)"' "$work/up.log" | cut -c1-400 | sort | uniq -c | sort -rn | head -8; fi
