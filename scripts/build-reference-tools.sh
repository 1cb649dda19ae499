#!/usr/bin/env bash
# Build kguard's Go reference tools (tools/reference: kguard-pss-reference, kguard-yaml-reference) from Go modules.
#
# They are the upstream side of the differential tests (docs/differential-testing.md), pinned by
# tools/reference/go.mod to the Kubernetes release of tests/controlplane/go.mod. Binaries are cached OUTSIDE the
# repository, keyed by a hash of the module's sources (go.mod, go.sum, *.go), this script and the Go version:
#   ${KGUARD_CACHE:-$HOME/.cache/kguard}/reference-<hash>/{kguard-pss-reference,kguard-yaml-reference}
# and linked into ${KGUARD_CACHE:-$HOME/.cache/kguard}/bin/ (builds of older sources are removed). A cached run
# returns in well under a second; a rebuild with a warm Go build cache takes seconds, a cold one minutes.
set -euo pipefail

command -v go > /dev/null || { echo "build-reference-tools: 'go' is not on PATH" >&2; exit 2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/tools/reference"
cache_root="${KGUARD_CACHE:-$HOME/.cache/kguard}"
binaries=(kguard-pss-reference kguard-yaml-reference)

source_hash() {
    {
        go env GOVERSION
        sha256sum "$repo_root/scripts/build-reference-tools.sh" | cut -d' ' -f1
        cd "$module_dir" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum
    } | sha256sum | cut -d' ' -f1
}

link_binaries() {
    mkdir -p "$cache_root/bin"
    for binary in "${binaries[@]}"; do
        ln -sfn "$1/$binary" "$cache_root/bin/$binary"
    done
}

wanted_hash="$(source_hash)"
dest="$cache_root/reference-${wanted_hash:0:16}"
up_to_date=true
for binary in "${binaries[@]}"; do
    [[ -x "$dest/$binary" ]] || up_to_date=false
done
if $up_to_date && [[ "$(cat "$dest/.source-hash" 2>/dev/null)" == "$wanted_hash" ]]; then
    link_binaries "$dest"
    echo "build-reference-tools: cached in $dest"
    exit 0
fi

echo "build-reference-tools: building ${binaries[*]} into $dest"
mkdir -p "$cache_root"
staging="$(mktemp -d "$cache_root/.reference-build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
start="$(date +%s)"
(
    cd "$module_dir"
    export GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0
    go build -trimpath -ldflags "-s -w" -o "$staging/" ./cmd/kguard-pss-reference ./cmd/kguard-yaml-reference
)
echo "$wanted_hash" > "$staging/.source-hash"
chmod 755 "$staging"
rm -rf "$dest"
mv "$staging" "$dest"
trap - EXIT
link_binaries "$dest"
for stale in "$cache_root"/reference-*; do
    [[ "$stale" == "$dest" ]] || rm -rf "$stale"  # builds of older sources: the links now point here
done
echo "build-reference-tools: built in $(( $(date +%s) - start ))s: $dest"
