#!/usr/bin/env bash
# README's test command: every test of the project, with nothing skipped.
#  1. checks the prerequisites (cargo with clippy and rustfmt, go, openssl, tar, sha256sum, setsid, npx)
#     and says what is missing, then the lint gate: rustfmt --check and clippy with warnings denied;
#  2. builds, or reuses from its cache, the real control plane (tests/e2e/build-tools.sh: etcd,
#     kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, kustomize-controller,
#     flux-operator, helm-controller, and the Kubernetes 1.37 programs);
#  3. runs `cargo test` with the end-to-end suite switched on (FLUXJOBS_E2E=1): unit tests, CLI and
#     golden tests on the examples, and the scenarios against the live control plane (Kubernetes
#     1.36, kustomize-controller v1.9, helm-controller v1.6, flux-operator);
#  4. runs the end-to-end suite again on Kubernetes 1.37 (FLUXJOBS_E2E_K8S=1.37).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
for tool in cargo go openssl tar sha256sum setsid npx; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "run-all: missing on PATH: ${missing[*]} (Rust >= 1.89, Go >= 1.26 with the module proxy, openssl, GNU tar, coreutils, util-linux, node >= 20 with npx)" >&2
  exit 1
fi
for component in clippy fmt; do
  if ! cargo "$component" --version >/dev/null 2>&1; then
    echo "run-all: cargo $component is missing (rustup component add ${component/fmt/rustfmt})" >&2
    exit 1
  fi
done

start=$SECONDS
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
echo "run-all: rustfmt and clippy clean after $((SECONDS - start))s" >&2
bash tests/e2e/build-tools.sh >/dev/null
FLUXJOBS_E2E_K8S=1.37 bash tests/e2e/build-tools.sh k8s >/dev/null
echo "run-all: control-plane programs ready after $((SECONDS - start))s" >&2
FLUXJOBS_E2E=1 cargo test --locked --all-targets "$@"
echo "run-all: every test passed on Kubernetes 1.36 after $((SECONDS - start))s; the end-to-end suite again on Kubernetes 1.37" >&2
FLUXJOBS_E2E=1 FLUXJOBS_E2E_K8S=1.37 cargo test --locked --test e2e "$@"
echo "run-all: all tests passed in $((SECONDS - start))s" >&2
