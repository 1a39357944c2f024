#!/usr/bin/env bash
# Runs every fuzz target in the module, each for FUZZTIME (default 60s).
# Targets are discovered, not listed: every `func FuzzXxx(f *testing.F)` in
# a package's test files. Go fuzzes one target per invocation, and -fuzz is
# a regexp, so each runs as -fuzz '^Name$' (-fuzz FuzzApply alone would
# also match FuzzApplyOperation, and go test refuses to run two).
#
#   scripts/fuzz.sh                 every target
#   FUZZTIME=10s scripts/fuzz.sh    shorter
#   scripts/fuzz.sh ./scim/...      the targets of some packages
#
# A target that fails leaves its input under the package's
# testdata/fuzz/FuzzXxx/, which then runs as a seed with the tests; the run
# goes on with the other targets and fails at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

fuzztime=${FUZZTIME:-60s}
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

# Each package's directory and test files, as the go tool sees them (build
# constraints included); then the fuzz targets declared in them.
targets=()
while read -r dir files; do
  [ -n "$files" ] || continue
  for name in $(cd "$dir" && sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' $files | sort -u); do
    targets+=("$dir $name")
  done
done < <(go list -f '{{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' "${pkgs[@]}")

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets in ${pkgs[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${fuzztime} each"

failed=()
for t in "${targets[@]}"; do
  dir=${t% *} name=${t#* }
  pkg=./$(realpath --relative-to=. "$dir")
  echo "=== $pkg $name"
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime"; then
    failed+=("$pkg $name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
