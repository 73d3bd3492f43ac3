#!/usr/bin/env bash
# `make package`: the mockmodel Python wheel (target/wheels/) and npm tarballs (target/npm/) for the
# current platform. maturin comes from PyPI into a cached venv; nothing is published.
#   target/wheels/mockmodel-<version>-py3-none-<platform>.whl   (mockmodel-server + the Python API/plugin)
#   target/npm/mockmodel-<version>.tgz                          (JS API, picks the platform package)
#   target/npm/mockmodel-<platform>-<version>.tgz               (@mockmodel/<platform>: the binary)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cache="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
target="${CARGO_TARGET_DIR:-$root/target}"
maturin_version=1.16.0

tools="$cache/maturin-$maturin_version"
if [ ! -f "$tools/.complete" ]; then
  echo "package.sh: installing maturin $maturin_version into $tools (first run only)" >&2
  rm -rf "$tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin==$maturin_version"
  touch "$tools/.complete"
fi

version="$(cargo metadata --no-deps --format-version 1 --locked \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "mockmodel-server"))')"

echo "==> wheel (maturin, bindings = bin) -> $target/wheels"
mkdir -p "$target/wheels"
rm -f "$target/wheels"/mockmodel-*.whl
(cd packaging/python && CARGO_TARGET_DIR="$target" "$tools/bin/maturin" build --release --locked -o "$target/wheels")
wheel="$(ls "$target/wheels"/mockmodel-"$version"-*.whl)"

echo "==> npm tarballs -> $target/npm"
stage="$target/npm/stage"
rm -rf "$stage" "$target/npm"/*.tgz
mkdir -p "$stage/main" "$stage/platform/bin"
# The binary that went into the wheel (built and stripped by maturin), so both registries ship one build.
python3 - "$wheel" "$stage/platform/bin" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.split("/")[-1] in ("mockmodel-server", "mockmodel-server.exe") and ".data/scripts/" in n)
    out = os.path.join(dest, os.path.basename(name))
    with z.open(name) as src, open(out, "wb") as dst:
        dst.write(src.read())
    os.chmod(out, 0o755)
PY
cp -R packaging/npm/mockmodel/. "$stage/main/"
cp LICENSE "$stage/main/"
cp LICENSE "$stage/platform/"
node - "$stage" "$version" <<'JS'
const fs = require("node:fs");
const path = require("node:path");
const [stage, version] = process.argv.slice(2);
const { PLATFORMS, platformKey } = require(path.join(stage, "main", "platforms.js"));
const key = platformKey();
const name = PLATFORMS[key];
if (!name) throw new Error(`no npm platform package is defined for ${key} (packaging/npm/mockmodel/platforms.js)`);
const main = JSON.parse(fs.readFileSync(path.join(stage, "main", "package.json"), "utf8"));
main.version = version;
// Only the platform packages actually built are listed; a release build lists every one it built.
main.optionalDependencies = { [name]: version };
fs.writeFileSync(path.join(stage, "main", "package.json"), JSON.stringify(main, null, 2) + "\n");
const [os_, cpu, abi] = key.split("-");
const platform = {
  name,
  version,
  description: `The mockmodel-server binary for ${key} (installed by the mockmodel package; use that one)`,
  license: main.license,
  homepage: main.homepage,
  repository: main.repository,
  os: [os_],
  cpu: [cpu],
  ...(abi && os_ === "linux" ? { libc: [abi === "musl" ? "musl" : "glibc"] } : {}),
  files: ["bin/", "README.md", "LICENSE"],
  preferUnplugged: true,
};
fs.writeFileSync(path.join(stage, "platform", "package.json"), JSON.stringify(platform, null, 2) + "\n");
fs.writeFileSync(
  path.join(stage, "platform", "README.md"),
  `# ${name}\n\nThe native \`mockmodel-server\` executable for ${key}. Install [\`mockmodel\`](https://www.npmjs.com/package/mockmodel) instead: it depends on this package optionally and npm picks the one for your platform.\n`,
);
JS
(cd "$stage/platform" && npm pack --silent --pack-destination "$target/npm" >/dev/null)
(cd "$stage/main" && npm pack --silent --pack-destination "$target/npm" >/dev/null)
ls -1 "$wheel" "$target/npm"/*.tgz
