#!/usr/bin/env bash
# Builds the release archive of kubectl-fluxjobs for one platform and renders the krew manifest
# (plugin-manifest/fluxjobs.yaml) and the flux CLI's plugin manifest (plugin-manifest/
# flux-fluxjobs.yaml) with the real sha256 of every archive in the output directory; platforms
# without an archive there are left out of the rendered manifests.
#
# Usage: scripts/package.sh [--target TRIPLE] [--binary PATH] [--out DIR] [--render-only]
#   --target       a Rust target triple (default: this machine); the archive is named for its os/arch
#   --binary       package this already-built binary instead of running `cargo build --release`
#   --out          output directory (default: dist/)
#   --render-only  build nothing; render the manifest from the archives already in --out (the
#                  release workflow does this once every platform's archive is there)
# Prints the archive and manifest paths on stdout.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/dist"
target=""
binary=""
render_only=false
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --render-only) render_only=true; shift ;;
    *) echo "package: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)

# os/arch as krew names them.
if [ -z "$target" ]; then
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "package: unsupported machine $(uname -m)" >&2; exit 1 ;;
  esac
else
  case "$target" in
    x86_64-*-linux-*) os=linux arch=amd64 ;;
    aarch64-*-linux-*) os=linux arch=arm64 ;;
    x86_64-apple-darwin) os=darwin arch=amd64 ;;
    aarch64-apple-darwin) os=darwin arch=arm64 ;;
    x86_64-pc-windows-*) os=windows arch=amd64 ;;
    *) echo "package: no krew platform for target $target" >&2; exit 1 ;;
  esac
fi
exe=kubectl-fluxjobs
[ "$os" = windows ] && exe=kubectl-fluxjobs.exe

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# Archive the binary with LICENSE and README.md; prints the archive path.
build_archive() {
  if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release --locked ${target:+--target "$target"} >&2)
    binary="$root/target/${target:+$target/}release/$exe"
  fi
  [ -x "$binary" ] || { echo "package: $binary is not an executable" >&2; exit 1; }
  mkdir -p "$out"
  local stage name archive
  stage=$(mktemp -d)
  cp "$binary" "$stage/$exe"
  cp "$root/LICENSE" "$root/README.md" "$stage/"
  name="kubectl-fluxjobs-$version-$os-$arch"
  if [ "$os" = windows ]; then
    archive="$out/$name.zip"
    rm -f "$archive"
    if command -v zip >/dev/null 2>&1; then
      (cd "$stage" && zip -q -X "$archive" "$exe" LICENSE README.md)
    else
      (cd "$stage" && 7z a -tzip -bd "$archive" "$exe" LICENSE README.md >/dev/null)
    fi
  else
    archive="$out/$name.tar.gz"
    # Reproducible: fixed order, owner and times (GNU tar; gtar on macOS).
    local tar=tar
    command -v gtar >/dev/null 2>&1 && tar=gtar
    "$tar" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf - "$exe" LICENSE README.md |
      gzip -n >"$archive"
  fi
  rm -rf "$stage"
  echo "$archive"
}

[ "$render_only" = true ] || build_archive

# Render the manifest from every archive present in $out.
subst=(-v version="$version")
for platform in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64 windows-amd64; do
  file=$(ls "$out/kubectl-fluxjobs-$version-$platform".* 2>/dev/null | head -n 1 || true)
  sum=""
  [ -n "$file" ] && sum=$(sha256 "$file")
  subst+=(-v "sha_${platform/-/_}=$sum")
done
# Renders TEMPLATE into OUT: ${VERSION} replaced, each platform block (starting at a line that
# matches START) kept with its ${SHA256_os_arch} replaced when that archive exists, else dropped.
render() {
  local template=$1 out=$2 start=$3 sha_prefix=$4
  awk "${subst[@]}" -v start="$start" -v prefix="$sha_prefix" '
    function flush() {
      if (block == "") return
      key = block; sub(/.*\$\{SHA256_/, "", key); sub(/\}.*/, "", key)
      sum = ""
      if (key == "linux_amd64") sum = sha_linux_amd64
      if (key == "linux_arm64") sum = sha_linux_arm64
      if (key == "darwin_amd64") sum = sha_darwin_amd64
      if (key == "darwin_arm64") sum = sha_darwin_arm64
      if (key == "windows_amd64") sum = sha_windows_amd64
      if (sum != "") { gsub(/\$\{SHA256_[a-z0-9_]+\}/, sum, block); printf "%s", block }
      block = ""
    }
    /^#/ && !started { next }
    { started = 1; gsub(/\$\{VERSION\}/, version) }
    $0 ~ start { flush(); inblock = 1 }
    inblock { block = block $0 "\n"; next }
    { print }
    END { flush() }
  ' "$template" >"$out"
  grep -q "$sha_prefix[0-9a-f]\{64\}" "$out" || { echo "package: no archive in $out to render the manifest from" >&2; exit 1; }
  echo "$out"
}
# krew's manifest, and the flux CLI's plugin manifest (checksums as `sha256:<hex>`).
render "$root/plugin-manifest/fluxjobs.yaml" "$out/fluxjobs.yaml" '^  - selector:' 'sha256: '
render "$root/plugin-manifest/flux-fluxjobs.yaml" "$out/flux-fluxjobs.yaml" '^  - os:' 'checksum: sha256:'
