#!/usr/bin/env bash
# Kubernetes for the cluster tests, built once from Debian's `kubernetes` source package.
#
#   scripts/k8s-testbed.sh ensure      # apt deps + build kube-apiserver, kube-controller-manager,
#                                      # kube-scheduler, kubelet, kube-proxy and pause once
#   scripts/k8s-testbed.sh start DIR   # fresh etcd + apiserver on 127.0.0.1; writes DIR/kubeconfig, waits for /readyz
#   scripts/k8s-testbed.sh stop DIR    # stops what `start DIR` started (by recorded PID)
#   scripts/k8s-testbed.sh node-start DIR [IMAGE.oci.tar...]
#                                      # a one-node cluster (root; one per machine): control plane,
#                                      # containerd + runc, CNI, kubelet, kube-proxy; imports the images;
#                                      # prints DIR/kubeconfig once the node is Ready
#   scripts/k8s-testbed.sh node-stop [DIR]   # stops it and restores the machine (see node_stop)
#
# The build (~6.5 min, ~1 core) lands in ${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}/k8s-node-1.20.2 and
# is reused when present. `start` runs no controller-manager: those tests fake Deployment status, which
# the deployment controller would overwrite. `node-start` runs everything for real. The facts behind
# both are in the shared notes k8s-testbed.md and k8s-node.md.
set -euo pipefail

K8S_VERSION=1.20.2
DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
CACHE_ROOT="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
W="$CACHE_ROOT/k8s-node-$K8S_VERSION"
# built from the Debian source tree (kubectl comes with helm, scripts/helm.sh)
COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"
APISERVER="$W/bin/kube-apiserver"
ETCD_PORT="${MOCKMODEL_ETCD_PORT:-12379}"
ETCD_PEER_PORT="${MOCKMODEL_ETCD_PEER_PORT:-12380}"
API_PORT="${MOCKMODEL_API_PORT:-16443}"
TOKEN=test-admin-token

log() { echo "k8s-testbed: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  if [ "$#" -gt 0 ]; then
    log "installing $*"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}

# What running needs (etcd, certificates, readiness polling).
install_run_deps() {
  local missing=()
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  # the node: CRI runtime, OCI runtime, CNI plugins, kube-proxy's iptables
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v ip >/dev/null || missing+=(iproute2)
  apt_install "${missing[@]}"
}

# What building needs: Debian's Go 1.19 and reflect2 1.0.2 (the vendored 1.0.1 breaks with Go >= 1.18).
install_build_deps() {
  local missing=()
  [ -x /usr/lib/go-1.19/bin/go ] || missing+=(golang-1.19-go)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || missing+=(golang-github-modern-go-reflect2-dev)
  command -v patch >/dev/null || missing+=(patch)
  command -v xz >/dev/null || missing+=(xz-utils)
  command -v gcc >/dev/null || missing+=(gcc)
  [ -f /usr/include/stdio.h ] || missing+=(libc6-dev)
  apt_install "${missing[@]}"
}

build() {
  mkdir -p "$W/apt/lists/partial" "$W/apt/sources.list.d" "$W/bin"
  printf 'deb-src http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian-security bookworm-security main\n' \
    > "$W/apt/sources.list"
  local aptopt=(-o "Dir::Etc::SourceList=$W/apt/sources.list" -o "Dir::Etc::SourceParts=$W/apt/sources.list.d"
    -o "Dir::State::Lists=$W/apt/lists")
  apt-get "${aptopt[@]}" update -qq
  (cd "$W" && apt-get "${aptopt[@]}" source --download-only "kubernetes=$DEB_VERSION" >/dev/null)
  rm -rf "$W/kubernetes-$K8S_VERSION"
  (cd "$W" && tar xzf "kubernetes_1.20.5+really$K8S_VERSION.orig.tar.gz")
  cd "$W/kubernetes-$K8S_VERSION"
  tar xJf ../kubernetes_*deb12u1.debian.tar.xz
  local p
  for p in $(cat debian/patches/series); do patch -p1 -s < "debian/patches/$p"; done
  # vendored reflect2 v1.0.1 is broken with Go >= 1.18; use Debian's 1.0.2
  rm -rf vendor/github.com/modern-go/reflect2 && mkdir vendor/github.com/modern-go/reflect2
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.{go,s} vendor/github.com/modern-go/reflect2/
  export GOPATH="$W/gp"
  mkdir -p "$GOPATH/src/k8s.io"
  ln -sfn "$W/kubernetes-$K8S_VERSION" "$GOPATH/src/k8s.io/kubernetes"
  cd "$GOPATH/src/k8s.io/kubernetes"
  export PATH=/usr/lib/go-1.19/bin:$PATH GOCACHE="$W/gocache" CGO_ENABLED=0 GO111MODULE=off GOPROXY=off GOFLAGS=
  log "generating openapi"
  go build -o "$W/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  local dirs
  dirs=$(find -H . -not \( \( -path ./_\* -o -path ./.\* -o -path ./vendor \) -prune \) -type f -name '*.go' \
    | sed 's|^./staging/src|vendor|; s|^\./||' | xargs grep -l '^// *+k8s:' \
    | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
    | sed 's|^vendor/k8s.io/|staging/src/k8s.io/|' | xargs grep -l '+k8s:openapi-gen=' \
    | sed 's|^staging/src/|vendor/|' | xargs -n1 dirname | LC_ALL=C sort -u)
  mkdir -p _output
  "$W/openapi-gen" -i "$(echo "$dirs" | sed 's|^|k8s.io/kubernetes/|' | paste -sd,)" \
    -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r _output/violations.report
  local x="gitVersion=v$K8S_VERSION gitMajor=1 gitMinor=20 gitTreeState=clean buildDate=2021-01-13T00:00:00Z gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56"
  local ldf="-s -w" kv pkg
  for kv in $x; do
    for pkg in component-base/version client-go/pkg/version; do
      ldf="$ldf -X k8s.io/kubernetes/vendor/k8s.io/$pkg.$kv"
    done
  done
  # NETWORK SAFETY: kubelet 1.20 links the legacy cloud credential providers even with `providerless`,
  # and the AWS one probes the EC2 metadata address at start. Compile them out.
  sed -i '/_ "k8s.io\/kubernetes\/pkg\/credentialprovider\/\(aws\|azure\|gcp\)"/d' cmd/kubelet/app/plugins.go
  if grep -q 'credentialprovider/\(aws\|azure\|gcp\)' cmd/kubelet/app/plugins.go; then
    log "could not strip the kubelet's cloud credential providers"; exit 1
  fi
  local c
  for c in $COMPONENTS; do
    log "building $c"
    go build -tags providerless,dockerless,selinux,notest -ldflags "$ldf" -o "$W/bin/$c.tmp" "./cmd/$c"
    mv "$W/bin/$c.tmp" "$W/bin/$c"
  done
  # the pod sandbox ("pause") image's one binary, from the same tree
  gcc -Os -static -DVERSION=3.4.1 -o "$W/bin/pause.tmp" build/pause/linux/pause.c
  mv "$W/bin/pause.tmp" "$W/bin/pause"
  # the source tree and Go cache are only needed for the build
  rm -rf "$W/kubernetes-$K8S_VERSION" "$W/gp" "$W/gocache" "$W"/kubernetes_*
}

built() {
  local c
  for c in $COMPONENTS pause; do [ -x "$W/bin/$c" ] || return 1; done
}

ensure() {
  install_run_deps
  if built; then
    log "reusing $W/bin"
  else
    install_build_deps
    log "building Kubernetes $K8S_VERSION ($COMPONENTS, pause) into $W"
    (build)
  fi
  built || { log "build failed"; exit 1; }
  echo "$APISERVER"
}

certs() {
  local d=$1
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=test-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver 2>/dev/null
    printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" > san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 3650 \
      -extfile san.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    echo "$TOKEN,admin,admin-uid,system:masters" > tokens.csv
  )
}

start() {
  local d=${1:?usage: start DIR}
  [ -x "$APISERVER" ] || { log "run '$0 ensure' first"; exit 1; }
  mkdir -p "$d"
  d=$(cd "$d" && pwd)
  rm -rf "$d/etcd-data"
  certs "$d"
  etcd --name test --data-dir "$d/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "test=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync > "$d/etcd.log" 2>&1 &
  echo $! > "$d/etcd.pid"
  "$APISERVER" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$API_PORT" --tls-cert-file="$d/server.crt" --tls-private-key-file="$d/server.key" \
    --token-auth-file="$d/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range=10.96.0.0/16 \
    --endpoint-reconciler-type=none --disable-admission-plugins=ServiceAccount --allow-privileged=true \
    --profiling=false > "$d/apiserver.log" 2>&1 &
  echo $! > "$d/apiserver.pid"
  cat > "$d/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 < "$d/ca.crt")
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: testbed
  context:
    cluster: testbed
    user: admin
    namespace: default
current-context: testbed
EOF
  local i
  for i in $(seq 1 120); do
    if [ "$(curl -s --cacert "$d/ca.crt" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null)" = ok ]; then
      log "ready after ~$((i / 4)) s; KUBECONFIG=$d/kubeconfig"
      echo "$d/kubeconfig"
      return 0
    fi
    if ! kill -0 "$(cat "$d/apiserver.pid")" 2>/dev/null; then
      log "kube-apiserver exited"; tail -20 "$d/apiserver.log" >&2; stop "$d"; exit 1
    fi
    sleep 0.25
  done
  log "apiserver not ready after 30 s"; tail -20 "$d/apiserver.log" >&2; stop "$d"; exit 1
}

stop() {
  local d=${1:?usage: stop DIR} f pid
  for f in apiserver etcd; do
    [ -f "$d/$f.pid" ] || continue
    pid=$(cat "$d/$f.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$d/$f.pid"
  done
}

# ---------------------------------------------------------------------------------------------------
# The one-node cluster: etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kubelet
# (CRI -> containerd -> runc) + CNI (bridge, host-local, loopback, portmap) + kube-proxy (iptables).
#
# NETWORK SAFETY (no packet may leave this machine):
# - the control plane listens on NODE_IP, held by a port-less bridge (NODE_BRIDGE); the Service CIDR is
#   routed into that bridge too, so a packet to an unassigned ClusterIP dies there instead of taking
#   the default route;
# - pods live on POD_BRIDGE in POD_CIDR; the iptables chain GUARD_CHAIN, first in FORWARD, accepts
#   pod <-> pod and drops everything else to or from the pod bridge or the pod CIDR;
# - pods get routes to NODE_IP and the Service CIDR only (no default route), and a resolv.conf without
#   a nameserver (there is no cluster DNS);
# - the kubelet is built without its cloud credential providers and runs with
#   AWS_EC2_METADATA_DISABLED=true; containerd's registry traffic goes to a closed port on loopback,
#   and every image is imported beforehand (tests use imagePullPolicy Never/IfNotPresent).
# One such node per machine (global iptables chains, shared host paths). NODE_RECORD (in /run, so a
# caller's `rm -rf DIR` cannot lose it) holds the state DIR and what `node-stop` must restore.
NODE_NAME=mockmodel-node
NODE_IP=10.213.0.1
NODE_BRIDGE=mmnode0
SVC_CIDR=10.213.1.0/24
SVC_API_IP=10.213.1.1
POD_CIDR=10.213.2.0/24
POD_BRIDGE=mmcni0
GUARD_CHAIN=MOCKMODEL-GUARD
CGROUP_ROOT=mockmodel
NODE_RECORD=/run/mockmodel-node
NODE_MARKER=$NODE_RECORD/dir
PAUSE_IMAGE=localhost/pause:3.4.1
# sysctls the setup or the kubelet/kube-proxy change: recorded at start, restored at stop
SYSCTLS="net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet
  vm.overcommit_memory kernel.panic kernel.panic_on_oops"
# host paths the components create whatever their flags say: removed at stop if they were absent
HOST_PATHS="/var/log/pods /var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd
  /usr/libexec/kubernetes /var/run/kubernetes /opt/containerd"

node_certs() {
  local d=$1
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=test-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver 2>/dev/null
    printf '%s\n' "subjectAltName=IP:$NODE_IP,IP:$SVC_API_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
      "extendedKeyUsage=serverAuth" > san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 3650 \
      -extfile san.ext 2>/dev/null
    # the apiserver's client certificate for the kubelet (logs, exec)
    openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr \
      -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt \
      -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    printf '%s\n' "$TOKEN,admin,admin-uid,system:masters" \
      "node-token-$NODE_NAME,system:node:$NODE_NAME,node-uid,system:nodes" > tokens.csv
  )
}

kubeconfig() { # FILE TOKEN
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: node
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $(base64 -w0 < "$(dirname "$1")/ca.crt")
users:
- name: user
  user:
    token: $2
contexts:
- name: node
  context:
    cluster: node
    user: user
    namespace: default
current-context: node
EOF
}

api_get() { # DIR PATH
  curl -s --cacert "$1/ca.crt" -H "Authorization: Bearer $TOKEN" "https://$NODE_IP:6443$2" 2>/dev/null
}

wait_for() { # DIR WHAT SECONDS COMMAND...
  local d=$1 what=$2 secs=$3 i
  shift 3
  for i in $(seq 1 $((secs * 4))); do
    if "$@" >/dev/null 2>&1; then log "$what after ~$((i / 4)) s"; return 0; fi
    sleep 0.25
  done
  log "$what: not within $secs s; see the logs in $d"
  node_stop "$d"
  exit 1
}

bg() { # DIR NAME COMMAND... : starts a component in the background; its log and PID go to DIR
  local d=$1 name=$2
  shift 2
  "$@" > "$d/$name.log" 2>&1 &
  echo $! > "$d/$name.pid"
}

cgroup_dirs() { # the kubelet's cgroup root in every cgroup v1 hierarchy
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -f "$h/cgroup.procs" ] || continue
    echo "$h$CGROUP_ROOT"
  done
}

node_start() {
  local d=${1:?usage: node-start DIR [IMAGE.oci.tar...]}
  shift
  built || { log "run '$0 ensure' first"; exit 1; }
  [ "$(id -u)" = 0 ] || { log "node-start needs root (network devices, iptables, cgroups, mounts)"; exit 1; }
  if [ -f "$NODE_MARKER" ]; then
    local other
    other=$(cat "$NODE_MARKER")
    if [ -f "$other/kube-apiserver.pid" ] && kill -0 "$(cat "$other/kube-apiserver.pid")" 2>/dev/null; then
      log "a node is already running (state in $other): one per machine; '$0 node-stop $other' first"
      exit 1
    fi
    log "cleaning up what a previous node left ($other)"
    node_stop "$other"
  fi
  mkdir -p "$d" "$NODE_RECORD"
  d=$(cd "$d" && pwd)
  echo "$d" > "$NODE_MARKER"
  local s p
  for s in $SYSCTLS; do echo "$s=$(sysctl -n "$s")"; done > "$NODE_RECORD/sysctls.orig"
  for p in $HOST_PATHS; do [ -e "$p" ] || echo "$p"; done > "$NODE_RECORD/host-paths.created"
  { ls /run/netns 2>/dev/null || true; } | sort > "$NODE_RECORD/netns.before"

  # network: the node address and the Service CIDR on a port-less bridge; the guard chain
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  ip route add "$SVC_CIDR" dev "$NODE_BRIDGE"
  iptables -w -N "$GUARD_CHAIN"
  iptables -w -A "$GUARD_CHAIN" -i "$POD_BRIDGE" -o "$POD_BRIDGE" -j ACCEPT
  iptables -w -A "$GUARD_CHAIN" -i "$POD_BRIDGE" -j DROP
  iptables -w -A "$GUARD_CHAIN" -o "$POD_BRIDGE" -j DROP
  iptables -w -A "$GUARD_CHAIN" -s "$POD_CIDR" -j DROP
  iptables -w -A "$GUARD_CHAIN" -d "$POD_CIDR" -j DROP
  iptables -w -I FORWARD 1 -j "$GUARD_CHAIN"
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  printf 'options ndots:1\n' > "$d/resolv.conf"

  node_certs "$d"
  kubeconfig "$d/kubeconfig" "$TOKEN"
  kubeconfig "$d/kubelet.kubeconfig" "node-token-$NODE_NAME"

  bg "$d" etcd etcd --name node --data-dir "$d/etcd-data" \
    --listen-client-urls "http://$NODE_IP:2379" --advertise-client-urls "http://$NODE_IP:2379" \
    --listen-peer-urls "http://$NODE_IP:2380" --initial-advertise-peer-urls "http://$NODE_IP:2380" \
    --initial-cluster "node=http://$NODE_IP:2380" --unsafe-no-fsync
  bg "$d" kube-apiserver "$W/bin/kube-apiserver" --etcd-servers="http://$NODE_IP:2379" \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
    --tls-cert-file="$d/server.crt" --tls-private-key-file="$d/server.key" --client-ca-file="$d/ca.crt" \
    --token-auth-file="$d/tokens.csv" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$d/kubelet-client.crt" --kubelet-client-key="$d/kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range="$SVC_CIDR" \
    --allow-privileged=true --profiling=false
  wait_for "$d" "apiserver ready" 60 eval '[ "$(api_get "$d" /readyz)" = ok ]'

  # kube-controller-manager exits if the apiserver is not healthy within 10 s: started after /readyz
  bg "$d" kube-controller-manager "$W/bin/kube-controller-manager" --kubeconfig="$d/kubeconfig" \
    --leader-elect=false --port=0 --secure-port=0 --service-account-private-key-file="$d/sa.key" \
    --root-ca-file="$d/ca.crt" --use-service-account-credentials=false \
    --controllers='*,-nodeipam,-cloud-node-lifecycle,-route,-service,-bootstrapsigner,-tokencleaner,-csrsigning,-csrapproving,-csrcleaner'
  mkdir -p "$d/scheduler"
  bg "$d" kube-scheduler "$W/bin/kube-scheduler" --kubeconfig="$d/kubeconfig" --leader-elect=false \
    --port=0 --bind-address="$NODE_IP" --cert-dir="$d/scheduler" \
    --authentication-kubeconfig="$d/kubeconfig" --authorization-kubeconfig="$d/kubeconfig"

  # containerd: own socket, root, state and runc root; CNI from Debian's plugins
  mkdir -p "$d/containerd" "$d/cni/net.d" "$d/certs.d"
  cat > "$d/containerd/config.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
[grpc]
  address = "$d/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$d/certs.d"
EOF
  local reg
  for reg in docker.io ghcr.io localhost registry.k8s.io k8s.gcr.io; do
    mkdir -p "$d/certs.d/$reg"
    printf 'server = "http://127.0.0.1:9"\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n' \
      > "$d/certs.d/$reg/hosts.toml"
  done
  cat > "$d/cni/net.d/10-mockmodel.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "mockmodel", "plugins": [
  {"type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "dataDir": "$d/cni/ipam",
            "routes": [{"dst": "$NODE_IP/32"}, {"dst": "$SVC_CIDR"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  # should anything still try a registry, it gets a closed port on loopback
  bg "$d" containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
    containerd --config "$d/containerd/config.toml"
  wait_for "$d" "containerd up" 30 ctr --address "$d/containerd.sock" version
  local pause_tar="$d/pause.oci.tar" img
  python3 "$(dirname "$0")/oci-image.py" "$pause_tar" "$PAUSE_IMAGE" --config '{"Entrypoint": ["/pause"]}' \
    "/pause=$W/bin/pause"
  for img in "$pause_tar" "$@"; do
    ctr --address "$d/containerd.sock" -n k8s.io images import "$img" >/dev/null \
      || { log "importing $img failed"; node_stop "$d"; exit 1; }
  done
  log "images: $(ctr --address "$d/containerd.sock" -n k8s.io images ls -q | grep -v '^sha256:' | paste -sd' ')"

  # the kubelet's cgroup root in every v1 hierarchy (cpuset needs its cpus and mems copied)
  local cg
  for cg in $(cgroup_dirs); do
    mkdir -p "$cg"
    if [ -f "$cg/cpuset.cpus" ]; then
      cat "$(dirname "$cg")/cpuset.cpus" > "$cg/cpuset.cpus"
      cat "$(dirname "$cg")/cpuset.mems" > "$cg/cpuset.mems"
    fi
  done
  cat > "$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: $NODE_IP
healthzPort: 10248
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
failSwapOn: false
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
resolvConf: $d/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
volumePluginDir: $d/kubelet-plugins
serializeImagePulls: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $d/ca.crt}
authorization: {mode: Webhook}
EOF
  bg "$d" kubelet env AWS_EC2_METADATA_DISABLED=true "$W/bin/kubelet" --config="$d/kubelet.yaml" \
    --kubeconfig="$d/kubelet.kubeconfig" --root-dir="$d/kubelet" --cert-dir="$d/kubelet/pki" \
    --container-runtime=remote --container-runtime-endpoint="unix://$d/containerd.sock" \
    --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" --seccomp-profile-root="$d/kubelet/seccomp"
  cat > "$d/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $d/kubeconfig}
mode: iptables
bindAddress: $NODE_IP
healthzBindAddress: $NODE_IP:10256
metricsBindAddress: $NODE_IP:10249
hostnameOverride: $NODE_NAME
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  bg "$d" kube-proxy "$W/bin/kube-proxy" --config="$d/kube-proxy.yaml"

  wait_for "$d" "node Ready" 90 eval "api_get '$d' /api/v1/nodes/$NODE_NAME | tr -d ' \n' | grep -q '\"type\":\"Ready\",\"status\":\"True\"'"
  wait_for "$d" "default ServiceAccount token" 60 eval "api_get '$d' /api/v1/namespaces/default/serviceaccounts/default | grep -q '\"secrets\"'"
  # kube-proxy prepends its own FORWARD rules: put the guard back in first place
  wait_for "$d" "kube-proxy rules" 30 eval "iptables -w -S FORWARD | grep -q KUBE-FORWARD"
  iptables -w -D FORWARD -j "$GUARD_CHAIN"
  iptables -w -I FORWARD 1 -j "$GUARD_CHAIN"
  echo "$d/kubeconfig"
}

node_kill() { # DIR NAME: stops one recorded component
  local pid
  [ -f "$1/$2.pid" ] || return 0
  pid=$(cat "$1/$2.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1/$2.pid"
}

our_chains() { # TABLE: the chains the node created (kube-proxy's, CNI plugins', the guard)
  iptables -w -t "$1" -S 2>/dev/null | awk -v g="$GUARD_CHAIN" '$1 == "-N" && ($2 ~ /^(KUBE-|CNI-)/ || $2 == g) {print $2}'
}

node_stop() {
  local d=${1:-$(cat "$NODE_MARKER" 2>/dev/null || true)} c pid s p m ns cg t chain rule
  if [ -z "$d" ] || [ ! -d "$d" ]; then
    [ -d "$NODE_RECORD" ] || { log "no node state to stop"; return 0; }
    mkdir -p "$d" # the caller removed DIR: still undo what the record says
  fi
  # should the PID files be gone, the components are still found by their state paths in DIR
  for pid in $(pgrep -f -- "[= ]$d/[a-z]" || true); do
    case "$pid" in "$$" | "$PPID") continue ;; esac
    [ -f "$d/$(ps -o comm= -p "$pid" 2>/dev/null).pid" ] || echo "$pid" > "$d/stray-$pid.pid"
  done
  for c in kube-proxy kubelet kube-scheduler kube-controller-manager "$d"/stray-*.pid; do
    [ -f "$c" ] && c=$(basename "$c" .pid)
    node_kill "$d" "$c"
  done
  # every container and sandbox process lives under the kubelet's cgroup root
  for cg in $(cgroup_dirs); do
    [ -d "$cg" ] || continue
    for pid in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  # the shims of our containerd (matched by its socket path, which lives in DIR)
  for pid in $(pgrep -f -- "-address $d/containerd.sock" || true); do kill -9 "$pid" 2>/dev/null || true; done
  node_kill "$d" containerd
  node_kill "$d" kube-apiserver # before etcd, else its graceful shutdown hangs
  node_kill "$d" etcd
  # mounts: network namespaces made during our run, container rootfs, pod volumes, shm
  if [ -f "$NODE_RECORD/netns.before" ]; then
    for ns in $({ ls /run/netns 2>/dev/null || true; } | sort | comm -13 "$NODE_RECORD/netns.before" - | grep '^cni-' || true); do
      umount "/run/netns/$ns" 2>/dev/null || true
      rm -f "/run/netns/$ns"
    done
  fi
  for m in $(awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  for cg in $(cgroup_dirs); do
    if [ -d "$cg" ]; then find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  done
  # iptables: kube-proxy's chains, CNI chains, the guard (unhook, flush, delete)
  if [ -x "$W/bin/kube-proxy" ]; then "$W/bin/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  for t in filter nat mangle; do
    for chain in $(our_chains "$t"); do
      { iptables -w -t "$t" -S 2>/dev/null | grep -E -- "-j $chain( |\$)" || true; } | sed 's/^-A /-D /' |
        while read -r rule; do eval "iptables -w -t $t $rule" 2>/dev/null || true; done
    done
    for chain in $(our_chains "$t"); do iptables -w -t "$t" -F "$chain" 2>/dev/null || true; done
    for chain in $(our_chains "$t"); do iptables -w -t "$t" -X "$chain" 2>/dev/null || true; done
  done
  ip link del "$POD_BRIDGE" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  if [ -f "$NODE_RECORD/sysctls.orig" ]; then
    while IFS= read -r s; do sysctl -qw "$s" 2>/dev/null || true; done < "$NODE_RECORD/sysctls.orig"
  fi
  if [ -f "$NODE_RECORD/host-paths.created" ]; then
    while IFS= read -r p; do rm -rf "$p"; done < "$NODE_RECORD/host-paths.created"
  fi
  rm -rf "$NODE_RECORD"
  log "node stopped ($d)"
}


case "${1:-}" in
  ensure) ensure ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  node-start) shift; node_start "$@" ;;
  node-stop) shift; node_stop "$@" ;;
  *) echo "usage: $0 ensure | start DIR | stop DIR | node-start DIR [IMAGE.oci.tar...] | node-stop [DIR]" >&2; exit 2 ;;
esac
