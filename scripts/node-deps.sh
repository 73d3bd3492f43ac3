#!/usr/bin/env bash
# Installs (once) and prints the node_modules directory holding the JavaScript client libraries the wire
# tests drive (tests/js/package.json, locked by its package-lock.json). Cached outside the repo, keyed by
# the lock file's hash, so a second run is instant.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lock="$root/tests/js/package-lock.json"
cache="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
dir="$cache/node-$(sha256sum "$lock" | cut -c1-12)"
# The marker is written last, so an interrupted install is redone rather than half-used.
if [ ! -f "$dir/.complete" ]; then
  echo "node-deps.sh: installing into $dir (first run only)" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$root/tests/js/package.json" "$lock" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
  touch "$dir/.complete"
fi
echo "$dir/node_modules"
