#!/usr/bin/env bash
# Builds etcd and kube-apiserver from the Go module proxy into bin/ beside this script (git-ignored;
# WEFT_KUBE_BIN_DIR elsewhere, as for start.sh).
# tools/go.mod pins the versions: it requires k8s.io/kubernetes and replaces each k8s.io staging module
# (v0.0.0 there, a local path in its own go.mod) with the published v0.<minor>.<patch>.
# Skips the build when both binaries are newer than tools/go.mod and tools/go.sum.
# Cold Go cache (and module download): about 14 minutes on 2 shared cores, ~2.4 GB of RAM at peak;
# warm Go cache: about 15 s (relinking); nothing when the binaries are fresh.
# Progress goes to stderr: what it builds, and the time so far every 30 s (WEFT_KUBE_BUILD_PROGRESS_SECONDS)
# while go build runs, which prints nothing of its own for minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${WEFT_KUBE_BIN_DIR:-$here/bin}
every=${WEFT_KUBE_BUILD_PROGRESS_SECONDS:-30}

command -v go >/dev/null || { echo "build.sh: go (1.26 or later) is not on PATH; install Go" >&2; exit 1; }

fresh() {
  local b
  for b in "$bin/etcd" "$bin/kube-apiserver"; do
    [ -x "$b" ] || return 1
    [ "$b" -nt "$here/tools/go.mod" ] && [ "$b" -nt "$here/tools/go.sum" ] || return 1
  done
}

if [ "${1:-}" != "--force" ] && fresh; then
  echo "build.sh: bin/etcd and bin/kube-apiserver are up to date" >&2
  exit 0
fi

mkdir -p "$bin"
cd "$here/tools"
# The version the binary reports (/version, --version): the module's, since a module build has no git tree.
k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=${k8s_version#v1.}
minor=${minor%%.*}
version_flags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1"
version_flags="$version_flags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
start=$SECONDS
echo "build.sh: building etcd and kube-apiserver $k8s_version into $bin (cold Go cache ~14 min, warm ~15 s)" >&2

ticker=
trap '[ -z "$ticker" ] || kill "$ticker" 2>/dev/null || true' EXIT
# build <what> <go build arguments...>: go build under nice (the machine's cores are shared with the test
# runs and editors), with a line every $every seconds while it runs.
build() {
  local what=$1 t0=$SECONDS rc=0
  shift
  echo "build.sh: go build $what (downloads its modules first on a cold cache)" >&2
  (while sleep "$every"; do echo "build.sh: still building $what, $((SECONDS - t0))s so far" >&2; done) &
  ticker=$!
  nice -n 10 go build "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  ticker=
  if [ "$rc" -ne 0 ]; then
    echo "build.sh: go build $what failed (exit $rc, output above)" >&2
    exit "$rc"
  fi
  echo "build.sh: built $what in $((SECONDS - t0))s" >&2
}

# -trimpath and -s -w keep the binaries small; nothing here needs debug info.
build etcd -mod=readonly -trimpath -ldflags='-s -w' -o "$bin/etcd" go.etcd.io/etcd/server/v3
build kube-apiserver -mod=readonly -trimpath -ldflags="-s -w $version_flags" -o "$bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
echo "build.sh: built etcd and kube-apiserver in $((SECONDS - start))s" >&2
