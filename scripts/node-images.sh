#!/usr/bin/env bash
# The test node's images, as OCI archives for `scripts/k8s-testbed.sh node-start DIR IMAGES...`.
# No registry and no Docker engine: scripts/oci-image.py writes each image layout from local files.
#
#   scripts/node-images.sh OUTDIR   # prints the archive paths, one a line
#
# - mockmodel-server and mockmodel-operator: the release binaries (target/release, build them first)
#   under the names and tag the chart and the operator use (ghcr.io/mockmodel/...:<appVersion>), with
#   the glibc libraries they link, the entrypoint, env, port and user of the Dockerfile's stages
#   (the production Dockerfile itself is unchanged);
# - localhost/mockmodel-agent: an empty root (pause as its process, merged-/usr symlinks) for the pod
#   that runs the real Python clients; the test mounts the host's /usr and the cached venv read-only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${1:?usage: node-images.sh OUTDIR}
mkdir -p "$out"
tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/mockmodel/Chart.yaml")
# the pause binary is built with Kubernetes, beside kube-apiserver (whose path `ensure` prints)
pause="$(dirname "$("$root/scripts/k8s-testbed.sh" ensure 2>/dev/null)")/pause"
oci="$root/scripts/oci-image.py"
for b in mockmodel-server mockmodel-operator; do
  [ -x "$root/target/release/$b" ] || { echo "node-images.sh: build target/release/$b first" >&2; exit 1; }
done

python3 "$oci" "$out/server.oci.tar" "ghcr.io/mockmodel/mockmodel-server:$tag" \
  --config '{"Entrypoint": ["/usr/local/bin/mockmodel-server"], "User": "65532:65532",
             "Env": ["MOCKMODEL_HOST=0.0.0.0", "MOCKMODEL_PORT=8080"], "ExposedPorts": {"8080/tcp": {}}}' \
  --lib "$root/target/release/mockmodel-server" \
  "/usr/local/bin/mockmodel-server=$root/target/release/mockmodel-server"
python3 "$oci" "$out/operator.oci.tar" "ghcr.io/mockmodel/mockmodel-operator:$tag" \
  --config '{"Entrypoint": ["/usr/local/bin/mockmodel-operator"], "User": "65532:65532",
             "ExposedPorts": {"8081/tcp": {}}}' \
  --lib "$root/target/release/mockmodel-operator" \
  "/usr/local/bin/mockmodel-operator=$root/target/release/mockmodel-operator"
python3 "$oci" "$out/agent.oci.tar" "localhost/mockmodel-agent:test" \
  --config '{"Entrypoint": ["/pause"], "User": "65532:65532"}' \
  "/pause=$pause" "/bin->usr/bin" "/lib->usr/lib" "/lib64->usr/lib64" "/sbin->usr/sbin"
printf '%s\n' "$out/server.oci.tar" "$out/operator.oci.tar" "$out/agent.oci.tar"
