#!/usr/bin/env bash
# The packages as users get them (issue 17): builds them (scripts/package.sh), installs the wheel into
# a fresh venv and runs the sample suite tests/package/python with pytest -n 2 (pytest-xdist), then
# npm-installs the tarballs into a scratch project and runs tests/package/js with node --test, Vitest
# and Jest (and tsc over the types).
# The Python client libraries are cached under $MOCKMODEL_CACHE (a venv keyed by the requirements'
# hash); npm uses its own cache, as scripts/node-deps.sh does.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cache="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
target="${CARGO_TARGET_DIR:-$root/target}"
work="$target/package-test"
unset MOCKMODEL_SERVER_BIN  # the packages must find their own binary
start=$SECONDS
step() { echo "==> [$((SECONDS - start)) s] $*"; }

scripts/package.sh
wheel="$(ls "$target"/wheels/mockmodel-*.whl)"

step "Python: $(basename "$wheel") into a fresh venv"
# The client libraries the sample suite drives (pytest, xdist, boto3, openai, strands) live in a venv
# cached by the requirements' hash; the fresh venv sees them through a .pth file and gets nothing
# else but the wheel, installed by pip. (Reinstalling strands' tree every run would add ~30 s.)
req=tests/package/python/requirements.txt
deps="$cache/package-test-deps-$( (python3 -VV; cat "$req") | sha256sum | cut -c1-12)"
# The marker is written last, so an interrupted install is redone rather than half-used.
if [ ! -f "$deps/.complete" ]; then
  echo "test-package.sh: installing the sample suite's client libraries into $deps (first run only)" >&2
  rm -rf "$deps"
  python3 -m venv "$deps"
  "$deps/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  touch "$deps/.complete"
fi
venv="$work/venv"
rm -rf "$venv"
mkdir -p "$work"
python3 -m venv --without-pip "$venv"
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
purelib "$deps/bin/python" > "$(purelib "$venv/bin/python")/_mockmodel_test_deps.pth"
"$deps/bin/pip" --python "$venv/bin/python" install --quiet --disable-pip-version-check --no-deps "$wheel"

step "Python: sample suite with only the mockmodel pytest plugin, pytest -n 2"
(cd tests/package/python && MOCKMODEL_EXPECT_XDIST=1 "$venv/bin/python" -m pytest -n 2 -p no:cacheprovider -q "$@")

step "Node: npm install the tarballs into a scratch project"
# The last run's project (tens of thousands of files) is deleted in the background, not waited for.
if [ -d "$work/node" ]; then mv "$work/node" "$work/node.old.$$"; fi
rm -rf "$work"/node.old.* &
mkdir -p "$work/node"
cp tests/package/js/package.json tests/package/js/mockmodel.* tests/package/js/types.check.ts "$work/node/"
(cd "$work/node" && npm install --no-audit --no-fund --prefer-offline --loglevel=error "$target"/npm/*.tgz)

step "Node: node --test"
(cd "$work/node" && node --test mockmodel.test.mjs)
step "Node: vitest, jest, tsc over the types"
(cd "$work/node" && node_modules/.bin/vitest run mockmodel.vitest.spec.mjs)
(cd "$work/node" && node_modules/.bin/jest --ci --testMatch '**/mockmodel.jest.test.cjs')
(cd "$work/node" && node_modules/.bin/tsc --noEmit --strict --target es2022 --module nodenext \
  --moduleResolution nodenext --skipLibCheck types.check.ts && echo "tsc: index.d.ts OK")
wait
echo "test-package.sh: packages built and tested in $((SECONDS - start)) s"
