#!/usr/bin/env bash
# Installs the Debian packages the tests need, if any is missing. Idempotent
# and quick when everything is present.
set -euo pipefail

# what:package pairs; tests start these servers themselves on loopback. A
# "what" is a binary looked up in PATH and /usr/sbin, or, when it starts with
# "/", a path that must exist (for packages that ship data, not a binary).
need=()
want=(
  redis-server:redis-server
  slapd:slapd
  ldapsearch:ldap-utils
  samba:samba-ad-dc
  # Only a Recommends of samba-ad-dc, but samba-tool domain provision needs
  # its setup files.
  /usr/share/samba/setup:samba-ad-provision
  # Checks configs/prometheus/tenure-alerts.yaml (check rules, test rules).
  # The whole Prometheus package, because Debian has no smaller one with
  # promtool: bookworm ships /usr/bin/promtool only inside prometheus
  # (apt-cache search promtool finds no package of its own), and the
  # alternatives are no smaller (upstream's tarball holds the server too;
  # go install .../cmd/promtool builds every service discovery). The
  # --no-install-recommends below leaves out the node exporter. The package
  # starts a Prometheus server on :9090 where systemd runs:
  # `sudo systemctl disable --now prometheus` if you do not want it.
  promtool:prometheus
  # The console's browser tests (console/browser_test.go) drive Debian's
  # Chromium headless through chromedp; no browser is downloaded.
  chromium:chromium
)

for pair in "${want[@]}"; do
  what=${pair%%:*} pkg=${pair#*:}
  if [[ $what == /* ]]; then
    [ -e "$what" ] || need+=("$pkg")
  else
    command -v "$what" >/dev/null 2>&1 || [ -x "/usr/sbin/$what" ] || need+=("$pkg")
  fi
done
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
apt() { $sudo apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt update -qq
# Two apt runs at once can delete each other's downloads: retry once.
apt install -y -qq --no-install-recommends "${need[@]}" || apt install -y -qq --no-install-recommends "${need[@]}"
