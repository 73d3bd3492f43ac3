#!/usr/bin/env bash
# The packages as users get them (issue 17): builds them (scripts/package.sh), installs the wheel into
# a fresh venv and runs the sample suite tests/package/python with pytest -n 2 (pytest-xdist), then
# npm-installs the tarballs into a scratch project and runs tests/package/js with node --test.
# Third-party wheels are cached under $MOCKMODEL_CACHE (a wheelhouse keyed by the requirements'
# hash); npm uses its own cache, as scripts/node-deps.sh does.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cache="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
target="${CARGO_TARGET_DIR:-$root/target}"
work="$target/package-test"
unset MOCKMODEL_SERVER_BIN  # the packages must find their own binary
start=$SECONDS

scripts/package.sh
wheel="$(ls "$target"/wheels/mockmodel-*.whl)"

echo "==> Python: $(basename "$wheel") into a fresh venv"
rm -rf "$work/venv"
mkdir -p "$work"
python3 -m venv "$work/venv"
pip=("$work/venv/bin/pip" --disable-pip-version-check --quiet)
req=tests/package/python/requirements.txt
wheelhouse="$cache/wheelhouse-$(sha256sum "$req" | cut -c1-12)"
# The marker is written last, so an interrupted download is redone rather than half-used.
if [ ! -f "$wheelhouse/.complete" ]; then
  echo "test-package.sh: filling $wheelhouse (first run only)" >&2
  rm -rf "$wheelhouse"
  "${pip[@]}" wheel --wheel-dir "$wheelhouse" -r "$req"
  touch "$wheelhouse/.complete"
fi
"${pip[@]}" install --no-index --find-links "$wheelhouse" -r "$req" "$wheel"

echo "==> Python: sample suite with only the mockmodel pytest plugin, pytest -n 2"
(cd tests/package/python && MOCKMODEL_EXPECT_XDIST=1 "$work/venv/bin/pytest" -n 2 -p no:cacheprovider -q "$@")

echo "==> Node: npm install the tarballs into a scratch project"
rm -rf "$work/node"
mkdir -p "$work/node"
cp tests/package/js/package.json tests/package/js/*.test.mjs tests/package/js/types.check.ts "$work/node/"
(cd "$work/node" && npm install --no-audit --no-fund --prefer-offline --loglevel=error "$target"/npm/*.tgz)

echo "==> Node: node --test, tsc over the types"
(cd "$work/node" && node --test ./*.test.mjs)
(cd "$work/node" && node_modules/.bin/tsc --noEmit --strict --target es2022 --module nodenext \
  --moduleResolution nodenext --skipLibCheck types.check.ts && echo "tsc: index.d.ts OK")
echo "test-package.sh: packages built and tested in $((SECONDS - start)) s"
