#!/usr/bin/env bash
# A real kube-apiserver + etcd on 127.0.0.1 for the operator's cluster tests.
#
#   scripts/k8s-testbed.sh ensure      # apt deps + build kube-apiserver once from Debian's source package
#   scripts/k8s-testbed.sh start DIR   # fresh etcd + apiserver; writes DIR/kubeconfig, waits for /readyz
#   scripts/k8s-testbed.sh stop DIR    # stops what `start DIR` started (by recorded PID)
#
# The build (~7.5 min, ~1 core) lands in ${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}/k8s-1.20.2 and is
# reused when present. No controller-manager is started: tests fake Deployment status, which the
# deployment controller would overwrite. See /work/shared/notes/k8s-testbed.md for the provenance.
set -euo pipefail

K8S_VERSION=1.20.2
DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
CACHE_ROOT="${MOCKMODEL_CACHE:-$HOME/.cache/mockmodel}"
W="$CACHE_ROOT/k8s-$K8S_VERSION"
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
  apt_install "${missing[@]}"
}

# What building needs: Debian's Go 1.19 and reflect2 1.0.2 (the vendored 1.0.1 breaks with Go >= 1.18).
install_build_deps() {
  local missing=()
  [ -x /usr/lib/go-1.19/bin/go ] || missing+=(golang-1.19-go)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || missing+=(golang-github-modern-go-reflect2-dev)
  command -v patch >/dev/null || missing+=(patch)
  command -v xz >/dev/null || missing+=(xz-utils)
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
  log "building kube-apiserver (several minutes)"
  go build -tags providerless,selinux,notest -ldflags "$ldf" -o "$APISERVER.tmp" ./cmd/kube-apiserver
  mv "$APISERVER.tmp" "$APISERVER"
  # the source tree and Go cache are only needed for the build
  rm -rf "$W/kubernetes-$K8S_VERSION" "$W/gp" "$W/gocache" "$W"/kubernetes_*
}

ensure() {
  install_run_deps
  if [ -x "$APISERVER" ]; then
    log "reusing $APISERVER"
  else
    install_build_deps
    log "building kube-apiserver $K8S_VERSION into $W"
    (build)
  fi
  [ -x "$APISERVER" ] || { log "build failed"; exit 1; }
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

case "${1:-}" in
  ensure) ensure ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 ensure | start DIR | stop DIR" >&2; exit 2 ;;
esac
