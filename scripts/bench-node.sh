#!/usr/bin/env bash
# `make bench-node`: N MockModels (default 20) on a fresh one-node cluster (scripts/k8s-testbed.sh
# node-start; root, one per machine) with the operator installed from the chart; prints the time from
# `kubectl apply` to the first answered Converse through each Service's ClusterIP (p50/p99/max) and the
# RSS of the operator and server pods. A benchmark: it prints figures and asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
scripts/k8s-testbed.sh ensure >/dev/null
cargo build --release --locked -p mockmodel-server -p mockmodel-operator
venv="$(scripts/venv.sh)"
PATH="$(scripts/helm.sh):$PATH"
node="$(mktemp -d)"
trap 'scripts/k8s-testbed.sh node-stop "$node/cluster"; rm -rf "$node"' EXIT
images=$(scripts/node-images.sh "$node/images")
# shellcheck disable=SC2086 # one archive path a line
KUBECONFIG="$(scripts/k8s-testbed.sh node-start "$node/cluster" $images)"
export KUBECONFIG AWS_EC2_METADATA_DISABLED=true
export HELM_CACHE_HOME="$node/helm/cache" HELM_CONFIG_HOME="$node/helm/config" HELM_DATA_HOME="$node/helm/data"
helm install mockmodel charts/mockmodel --namespace mockmodel-system --create-namespace \
  --set image.pullPolicy=Never --wait --timeout 180s >/dev/null
"$venv/bin/python" tests/node/bench_node.py "$n"
