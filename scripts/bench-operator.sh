#!/usr/bin/env bash
# `make bench-operator`: release-builds the operator and the bench, starts a fresh kube-apiserver +
# etcd (scripts/k8s-testbed.sh) on free ports, reconciles 500 MockModels and prints the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/k8s-testbed.sh ensure >/dev/null
cargo build --locked --release -p mockmodel-operator -p e2e --bin mockmodel-operator --bin bench-operator
dir="$(mktemp -d)"
trap 'scripts/k8s-testbed.sh stop "$dir"; rm -rf "$dir"' EXIT
read -r MOCKMODEL_API_PORT MOCKMODEL_ETCD_PORT MOCKMODEL_ETCD_PEER_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
export MOCKMODEL_API_PORT MOCKMODEL_ETCD_PORT MOCKMODEL_ETCD_PEER_PORT
KUBECONFIG="$(scripts/k8s-testbed.sh start "$dir")"
export KUBECONFIG MOCKMODEL_OPERATOR_BIN="$PWD/target/release/mockmodel-operator"
target/release/bench-operator "$@"
