#!/usr/bin/env bash
# Installs the Debian packages the tests need, if any is missing. Idempotent
# and quick when everything is present.
set -euo pipefail

# binary:package pairs; tests start these servers themselves on loopback.
need=()
want=(
  redis-server:redis-server
)

for pair in "${want[@]}"; do
  bin=${pair%%:*} pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
apt() { $sudo apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt update -qq
# Two apt runs at once can delete each other's downloads: retry once.
apt install -y -qq --no-install-recommends "${need[@]}" || apt install -y -qq --no-install-recommends "${need[@]}"
