#!/usr/bin/env bash
# Operator cluster tests (`make test-cluster`, and the last section of `make test`). Builds Kubernetes
# once (scripts/k8s-testbed.sh ensure, cached outside the repo), then:
# 1. an apiserver + etcd on free 127.0.0.1 ports in a temp dir: the Helm chart tests (tests/cluster,
#    pytest: helm install, the operator binary as the chart's ServiceAccount, RBAC, dry-runs) on the fresh
#    cluster, then the e2e crate's ignored tests against it;
# 2. a one-node cluster (kubelet + containerd + CNI + kube-proxy; needs root, one per machine) with the
#    server, operator and agent images imported from OCI archives built here: tests/node (pytest: the
#    chart's operator pod, real rollouts, agent pods calling through the Service's ClusterIP).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/k8s-testbed.sh ensure >/dev/null
cargo build --locked -p mockmodel-server -p mockmodel-operator
# the images' binaries, as the Dockerfile builds them
cargo build --release --locked -p mockmodel-server -p mockmodel-operator
venv="$(scripts/venv.sh)"

dir="$(mktemp -d)"
node="$(mktemp -d)"
trap 'scripts/k8s-testbed.sh stop "$dir"; rm -rf "$dir"; scripts/k8s-testbed.sh node-stop "$node/cluster"; rm -rf "$node"' EXIT
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
scripts/k8s-testbed.sh stop "$dir"

echo "==> one-node cluster: images, node start"
start=$(date +%s)
images=$(scripts/node-images.sh "$node/images")
# shellcheck disable=SC2086 # one archive path a line
MOCKMODEL_NODE_KUBECONFIG="$(scripts/k8s-testbed.sh node-start "$node/cluster" $images)"
export MOCKMODEL_NODE_KUBECONFIG
echo "node up in $(($(date +%s) - start)) s"
echo "==> real pods: operator from the chart, MockModel rollouts, agent pods (pytest tests/node)"
"$venv/bin/pytest" tests/node -q -p no:cacheprovider
