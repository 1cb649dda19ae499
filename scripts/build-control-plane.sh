#!/usr/bin/env bash
# Build the test control plane (upstream kube-apiserver + an embedded-etcd runner) from Go modules.
#
# The Kubernetes version is the one pinned in tests/controlplane/go.mod. Binaries are cached OUTSIDE the
# repository, keyed by that version, so a fresh clone on the same machine reuses them:
#   ${KGUARD_CACHE:-$HOME/.cache/kguard}/controlplane-<k8s version>/{kube-apiserver,kguard-etcd}
# A rebuild happens only when the module's sources (go.mod, go.sum, *.go), this script or the Go version change.
# The first build takes many minutes on 2 cores; later runs return in about a second.
set -euo pipefail

command -v go > /dev/null || { echo "build-control-plane: 'go' is not on PATH" >&2; exit 2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/tests/controlplane"
cache_root="${KGUARD_CACHE:-$HOME/.cache/kguard}"

k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$module_dir/go.mod")"
if [[ -z "$k8s_version" ]]; then
    echo "build-control-plane: cannot find the k8s.io/kubernetes version in $module_dir/go.mod" >&2
    exit 2
fi
minor="$(echo "$k8s_version" | cut -d. -f2)"
dest="$cache_root/controlplane-$k8s_version"
binaries=(kube-apiserver kguard-etcd)

source_hash() {
    {
        go env GOVERSION
        sha256sum "$repo_root/scripts/build-control-plane.sh" | cut -d' ' -f1
        cd "$module_dir" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum
    } | sha256sum | cut -d' ' -f1
}

wanted_hash="$(source_hash)"
up_to_date=true
for binary in "${binaries[@]}"; do
    [[ -x "$dest/$binary" ]] || up_to_date=false
done
if $up_to_date && [[ "$(cat "$dest/.source-hash" 2>/dev/null)" == "$wanted_hash" ]]; then
    echo "build-control-plane: Kubernetes $k8s_version control plane is cached in $dest"
    exit 0
fi

echo "build-control-plane: building Kubernetes $k8s_version control plane into $dest (slow the first time)"
staging="$(mktemp -d "$cache_root/.controlplane-build.XXXXXX" 2>/dev/null || { mkdir -p "$cache_root" && mktemp -d "$cache_root/.controlplane-build.XXXXXX"; })"
trap 'rm -rf "$staging"' EXIT

version_pkg="k8s.io/component-base/version"
ldflags="-s -w -X $version_pkg.gitVersion=$k8s_version -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor"
ldflags+=" -X $version_pkg.gitTreeState=clean"
start="$(date +%s)"
(
    cd "$module_dir"
    export GOFLAGS="${GOFLAGS:-} -mod=mod" CGO_ENABLED=0
    go build -trimpath -ldflags "$ldflags" -o "$staging/" ./cmd/kube-apiserver ./cmd/kguard-etcd
)
echo "$wanted_hash" > "$staging/.source-hash"
chmod 755 "$staging"
rm -rf "$dest"
mv "$staging" "$dest"
trap - EXIT
echo "build-control-plane: built in $(( $(date +%s) - start ))s: $dest"
