#!/usr/bin/env bash
# Creates (once) and prints the path of the Python venv holding the real client libraries the wire
# tests drive. Cached outside the repo, keyed by the requirements file's hash, so a second run is instant.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/tests/python/requirements.txt"
cache="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
venv="$cache/venv-$(sha256sum "$req" | cut -c1-12)"
# The marker is written last, so an interrupted install is redone rather than half-used.
if [ ! -f "$venv/.complete" ]; then
  echo "venv.sh: creating $venv (first run only)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv"
