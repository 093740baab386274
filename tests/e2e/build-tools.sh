#!/usr/bin/env bash
# Builds the real control-plane programs the end-to-end tests run (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok, kustomize-controller, flux-operator,
# helm-controller) from the Go module
# proxy, using the wrapper go.mod files under tests/e2e/tools/; and krew with its manifest validator.
#
# Binaries are cached outside the repository, one directory per component keyed by its version and
# a digest of its wrapper go.mod/go.sum, so a second run builds nothing:
#   ${FLUXJOBS_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-fluxjobs-e2e}/bin/<component>-<version>-<digest>/
#
# Prints `NAME=/abs/path/to/binary` lines on stdout (the harness reads them); progress on stderr.
# Usage: tests/e2e/build-tools.sh [component ...]   (default: all but flux, built on request)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools="$here/tools"
cache="${FLUXJOBS_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-fluxjobs-e2e}"
mkdir -p "$cache/bin"

if ! command -v go >/dev/null 2>&1; then
  echo "build-tools: 'go' is not on PATH; the end-to-end tests need Go >= 1.26 and the Go module proxy" >&2
  exit 1
fi
# A wrapper asking for a newer Go must fail loudly rather than fetch a toolchain.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -modcacherw"

log() { echo "build-tools: $*" >&2; }

# module_version DIR MODULE -> the version DIR's go.mod requires for MODULE
module_version() {
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# cache_dir COMPONENT VERSION WRAPPER_DIR -> the cache directory for that build
cache_dir() {
  local digest
  digest=$(cat "$3/go.mod" "$3/go.sum" | sha256sum | cut -c1-12)
  echo "$cache/bin/$1-$2-$digest"
}

# build COMPONENT WRAPPER_DIR VERSION LDFLAGS OUTPUT_NAMES PACKAGES...
# Builds all PACKAGES of one wrapper in one `go build` (they share compilation), into a temporary
# directory that is renamed into place only when every binary is there.
build() {
  local component=$1 wrapper=$2 version=$3 ldflags=$4 names=$5
  shift 5
  local dir
  dir=$(cache_dir "$component" "$version" "$wrapper")
  local missing=0
  for n in $names; do [ -x "$dir/$n" ] || missing=1; done
  if [ "$missing" = 0 ]; then
    log "$component $version: cached in $dir"
  else
    local tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    log "$component $version: building (cold builds take minutes; see CONTRIBUTING.md 'End-to-end tests')"
    local start=$SECONDS
    (cd "$wrapper" && go build -trimpath -ldflags="$ldflags" -o "$tmp/" "$@")
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "$component $version: built in $((SECONDS - start))s"
  fi
  for n in $names; do echo "$(echo "$n" | tr 'a-z-' 'A-Z_')=$dir/$n"; done
}

# FLUXJOBS_E2E_K8S=1.37 selects the Kubernetes 1.37 wrapper (tools/k8s-1.37) instead of 1.36.
k8s_tools="$tools/k8s${FLUXJOBS_E2E_K8S:+-$FLUXJOBS_E2E_K8S}"

build_k8s() {
  local v minor ldf cv=k8s.io/component-base/version cg=k8s.io/client-go/pkg/version
  [ -d "$k8s_tools" ] || { echo "build-tools: no wrapper $k8s_tools for FLUXJOBS_E2E_K8S=$FLUXJOBS_E2E_K8S" >&2; exit 2; }
  v=$(module_version "$k8s_tools" k8s.io/kubernetes)
  minor=$(echo "$v" | cut -d. -f2)
  # Stamp the real version: unstamped binaries report v0.0.0-master, which shifts feature gates
  # and confuses version checks (kubernetes hack/lib/version.sh).
  ldf="-s -w -X $cv.gitVersion=$v -X $cv.gitMajor=1 -X $cv.gitMinor=$minor -X $cv.gitTreeState=clean"
  ldf="$ldf -X $cv.gitCommit=0000000000000000000000000000000000000000 -X $cv.buildDate=1970-01-01T00:00:00Z"
  ldf="$ldf -X $cg.gitVersion=$v -X $cg.gitMajor=1 -X $cg.gitMinor=$minor -X $cg.gitTreeState=clean"
  build k8s "$k8s_tools" "$v" "$ldf" "kube-apiserver kube-controller-manager kube-scheduler kubectl" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local v
  v=$(module_version "$tools/etcd" go.etcd.io/etcd/server/v3)
  # The main package is the module root, which go would name "v3"; -o dir/ needs the real name.
  local dir
  dir=$(cache_dir etcd "$v" "$tools/etcd")
  if [ ! -x "$dir/etcd" ]; then
    log "etcd $v: building"
    local start=$SECONDS tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    (cd "$tools/etcd" && go build -trimpath -ldflags="-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "etcd $v: built in $((SECONDS - start))s"
  else
    log "etcd $v: cached in $dir"
  fi
  echo "ETCD=$dir/etcd"
}

build_kwok() {
  local v
  v=$(module_version "$tools/kwok" sigs.k8s.io/kwok)
  build kwok "$tools/kwok" "$v" "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$v" kwok sigs.k8s.io/kwok/cmd/kwok
  # Stage definitions ship inside the kwok module; the harness reads them from the module cache.
  echo "KWOK_MODULE_DIR=$(cd "$tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
}

build_kustomize_controller() {
  local v
  v=$(module_version "$tools/kustomize-controller" github.com/fluxcd/kustomize-controller)
  local dir
  dir=$(cache_dir kustomize-controller "$v" "$tools/kustomize-controller")
  if [ ! -x "$dir/kustomize-controller" ]; then
    log "kustomize-controller $v: building"
    local start=$SECONDS tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    (cd "$tools/kustomize-controller" &&
      go build -trimpath -ldflags="-s -w" -o "$tmp/kustomize-controller" github.com/fluxcd/kustomize-controller)
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "kustomize-controller $v: built in $((SECONDS - start))s"
  else
    log "kustomize-controller $v: cached in $dir"
  fi
  echo "KUSTOMIZE_CONTROLLER=$dir/kustomize-controller"
  # CRDs are read from the module cache: Kustomization from kustomize-controller's module, the
  # source kinds from the source-controller module pinned in tools/flux-crds.
  echo "KUSTOMIZATION_CRDS=$(cd "$tools/kustomize-controller" && go list -m -f '{{.Dir}}' github.com/fluxcd/kustomize-controller)/config/crd/bases"
  (cd "$tools/flux-crds" && go mod download github.com/fluxcd/source-controller)
  echo "SOURCE_CRDS=$(cd "$tools/flux-crds" && go list -m -f '{{.Dir}}' github.com/fluxcd/source-controller)/config/crd/bases"
}

build_krew() {
  local v
  v=$(module_version "$tools/krew" sigs.k8s.io/krew)
  # krew and its manifest validator, to install the plugin the way users do (issue: krew packaging).
  build krew "$tools/krew" "$v" "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$v" \
    "krew validate-krew-manifest" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest
}

build_flux() {
  local v src dir
  v=$(module_version "$tools/flux" github.com/fluxcd/flux2/v2)
  dir=$(cache_dir flux "$v" "$tools/flux")
  if [ -x "$dir/flux" ]; then
    log "flux $v: cached in $dir"
  else
    log "flux $v: building (the benchmark, and the plugin-install test)"
    local start=$SECONDS tmp="$dir.tmp.$$"
    src=$(cd "$tools/flux" && go mod download -json github.com/fluxcd/flux2/v2 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    rm -rf "$tmp" && mkdir -p "$tmp/src" && cp -r "$src/." "$tmp/src/" && chmod -R u+w "$tmp/src"
    # cmd/flux embeds manifests/*.yaml, generated by a release step (fluxcd/flux2#1187).
    mkdir -p "$tmp/src/cmd/flux/manifests"
    printf '# placeholder: flux install is not used here\n' >"$tmp/src/cmd/flux/manifests/placeholder.yaml"
    (cd "$tmp/src" && go build -trimpath -ldflags="-s -w -X main.VERSION=${v#v}" -o "$tmp/flux" ./cmd/flux)
    rm -rf "$tmp/src" "$dir" && mv "$tmp" "$dir"
    log "flux $v: built in $((SECONDS - start))s"
  fi
  echo "FLUX=$dir/flux"
}

build_flux_operator() {
  # Go 1.27 is required (flux-operator's go.mod): the approved go1.27.3, fetched from the module
  # proxy for this one build; the cache is keyed by it too.
  local toolchain=go1.27.3
  local v src dir go127=(env GOTOOLCHAIN=$toolchain)
  v=$(cd "$tools/flux-operator" && "${go127[@]}" go list -m -f '{{.Version}}' github.com/controlplaneio-fluxcd/flux-operator)
  dir=$(cache_dir flux-operator "$v-$toolchain" "$tools/flux-operator")
  if [ -x "$dir/flux-operator" ]; then
    log "flux-operator $v: cached in $dir"
  else
    log "flux-operator $v: building (Go 1.27)"
    local start=$SECONDS tmp="$dir.tmp.$$"
    src=$(cd "$tools/flux-operator" && "${go127[@]}" go mod download -json github.com/controlplaneio-fluxcd/flux-operator |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    rm -rf "$tmp" && mkdir -p "$tmp/src" && cp -r "$src/." "$tmp/src/" && chmod -R u+w "$tmp/src"
    # web/embed.go embeds web/dist/*, built by a release step and not in the module zip.
    mkdir -p "$tmp/src/web/dist"
    printf '<!-- placeholder: the web UI is not used here -->\n' >"$tmp/src/web/dist/index.html"
    # The go-containerregistry pseudo-version v0.59.0 pins for authn/kubernetes is refused by the
    # module proxy here; the one before it is served and compiles.
    (cd "$tmp/src" && "${go127[@]}" go mod edit \
      -replace=github.com/google/go-containerregistry/pkg/authn/kubernetes=github.com/google/go-containerregistry/pkg/authn/kubernetes@v0.0.0-20260224031529-85f2bf5f7303)
    (cd "$tmp/src" && "${go127[@]}" go build -trimpath -ldflags="-s -w" -o "$tmp/flux-operator" ./cmd/operator)
    mkdir -p "$tmp/crds" && cp "$tmp/src/config/crd/bases/"*.yaml "$tmp/crds/"
    rm -rf "$tmp/src" "$dir" && mv "$tmp" "$dir"
    log "flux-operator $v: built in $((SECONDS - start))s"
  fi
  echo "FLUX_OPERATOR=$dir/flux-operator"
  echo "FLUX_OPERATOR_CRDS=$dir/crds"
}

build_helm_controller() {
  local v src dir tmp start
  v=$(sed -n 's|^require github.com/fluxcd/helm-controller \(v[^ ]*\)$|\1|p' "$tools/helm-controller/go.mod")
  dir=$(cache_dir helm-controller "$v" "$tools/helm-controller")
  if [ -x "$dir/helm-controller" ]; then
    log "helm-controller $v: cached in $dir"
  else
    log "helm-controller $v: building"
    start=$SECONDS tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp/wrapper" && cp "$tools/helm-controller/go.mod" "$tools/helm-controller/go.sum" "$tmp/wrapper/"
    # Where the module proxy refuses the module, its unchanged source (../shared/go-sources, which
    # .ci/run names in FLUXJOBS_GO_SOURCES) replaces it.
    src="${FLUXJOBS_GO_SOURCES:-}/github.com/fluxcd/helm-controller@$v"
    if [ -n "${FLUXJOBS_GO_SOURCES:-}" ] && [ -f "$src/go.mod" ]; then
      (cd "$tmp/wrapper" && go mod edit -replace "github.com/fluxcd/helm-controller=$src")
    fi
    (cd "$tmp/wrapper" && go build -trimpath -ldflags="-s -w" -o "$tmp/helm-controller" github.com/fluxcd/helm-controller)
    src=$(cd "$tmp/wrapper" && go list -m -f '{{if .Replace}}{{.Replace.Dir}}{{else}}{{.Dir}}{{end}}' github.com/fluxcd/helm-controller)
    mkdir -p "$tmp/crds" && cp "$src/config/crd/bases/"*.yaml "$tmp/crds/"
    rm -rf "$tmp/wrapper" "$dir" && mv "$tmp" "$dir"
    log "helm-controller $v: built in $((SECONDS - start))s"
  fi
  echo "HELM_CONTROLLER=$dir/helm-controller"
  echo "HELM_CONTROLLER_CRDS=$dir/crds"
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd k8s kwok kustomize-controller flux-operator helm-controller krew flux)
for c in "${components[@]}"; do
  case "$c" in
    etcd) build_etcd ;;
    k8s) build_k8s ;;
    kwok) build_kwok ;;
    kustomize-controller) build_kustomize_controller ;;
    krew) build_krew ;;
    flux) build_flux ;;
    flux-operator) build_flux_operator ;;
    helm-controller) build_helm_controller ;;
    *) echo "build-tools: unknown component '$c' (etcd, k8s, kwok, kustomize-controller, krew, flux, flux-operator, helm-controller)" >&2; exit 2 ;;
  esac
done
