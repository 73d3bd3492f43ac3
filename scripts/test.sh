#!/usr/bin/env bash
# The one test command (`make test`): Rust unit + in-process tests, then the real client libraries
# (Python venv created and cached by scripts/venv.sh) against the built server binary, the packaged
# wheel and npm tarballs (scripts/test-package.sh), then the operator against a local apiserver.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test --workspace"
cargo test --workspace --locked

echo "==> building mockmodel-server for the client tests"
cargo build --locked -p mockmodel-server
# The container images' binaries (Dockerfile): tests/python/test_images.py checks they run and link
# only what distroless/cc ships.
echo "==> release build of the image binaries"
cargo build --release --locked -p mockmodel-server -p mockmodel-operator
venv="$(scripts/venv.sh)"

echo "==> real-client tests (pytest, $venv)"
MOCKMODEL_SERVER_BIN="$PWD/target/debug/mockmodel-server" "$venv/bin/pytest" tests/python -q -p no:cacheprovider "$@"

# The pip and npm packages as users install them: wheel in a fresh venv (pytest -n 2 with only the
# plugin), tarballs in a scratch npm project (node --test).
echo "==> packages (scripts/test-package.sh)"
scripts/test-package.sh

echo "==> cluster tests: a real kube-apiserver + etcd, then real pods on a one-node cluster (scripts/test-cluster.sh)"
scripts/test-cluster.sh
