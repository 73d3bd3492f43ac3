#!/usr/bin/env bash
# Operator cluster tests (`make test-cluster`, and the last section of `make test`): builds the
# kube-apiserver once (scripts/k8s-testbed.sh ensure, cached outside the repo), starts it with etcd on
# free 127.0.0.1 ports in a temp dir, runs the Helm chart tests (tests/cluster, pytest: helm install,
# the operator binary as the chart's ServiceAccount, RBAC, dry-runs) on the fresh cluster, then the e2e
# crate's ignored tests against it, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/k8s-testbed.sh ensure >/dev/null
cargo build --locked -p mockmodel-server -p mockmodel-operator
venv="$(scripts/venv.sh)"

dir="$(mktemp -d)"
trap 'scripts/k8s-testbed.sh stop "$dir"; rm -rf "$dir"' EXIT
# free ports: the machine may be shared with other testbeds
read -r MOCKMODEL_API_PORT MOCKMODEL_ETCD_PORT MOCKMODEL_ETCD_PEER_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
export MOCKMODEL_API_PORT MOCKMODEL_ETCD_PORT MOCKMODEL_ETCD_PEER_PORT
KUBECONFIG="$(scripts/k8s-testbed.sh start "$dir")"
export KUBECONFIG MOCKMODEL_VENV="$venv" MOCKMODEL_SERVER_BIN="$PWD/target/debug/mockmodel-server"

# first: they need a cluster without the CRD (it must come from the chart's crds/)
echo "==> Helm chart cluster tests (pytest tests/cluster)"
"$venv/bin/pytest" tests/cluster -q -p no:cacheprovider

echo "==> operator cluster tests (kube-apiserver on 127.0.0.1:$MOCKMODEL_API_PORT)"
cargo test --locked -p e2e -- --ignored --test-threads=1 "$@"
