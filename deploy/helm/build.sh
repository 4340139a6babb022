#!/usr/bin/env bash
# Builds Helm 4 from the Go module proxy into bin/ beside this script (git-ignored; WEFT_HELM_BIN_DIR
# elsewhere), as deploy/kubernetes/build.sh builds the apiserver: the chart's tests lint and render with it.
# Skips the build when bin/helm exists and reports the pinned version (WEFT_HELM_VERSION, default below).
# Cold Go cache: about 3 minutes of CPU (3-10 minutes of wall time on 2 busy shared cores, plus the module
# download); warm: seconds (relinking).
# Progress goes to stderr every 30 s (WEFT_HELM_BUILD_PROGRESS_SECONDS): go install prints nothing for minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${WEFT_HELM_BIN_DIR:-$here/bin}
version=${WEFT_HELM_VERSION:-v4.3.2}
every=${WEFT_HELM_BUILD_PROGRESS_SECONDS:-30}

command -v go >/dev/null || { echo "build.sh: go is not on PATH; install Go" >&2; exit 1; }

# helm version --template '{{.Version}}' prints the version the module was built at (v4.x.y).
if [ "${1:-}" != "--force" ] && [ -x "$bin/helm" ] &&
  [ "$("$bin/helm" version --template '{{.Version}}' 2>/dev/null || true)" = "$version" ]; then
  echo "build.sh: bin/helm $version is up to date" >&2
  exit 0
fi

mkdir -p "$bin"
start=$SECONDS
echo "build.sh: go install helm.sh/helm/v4/cmd/helm@$version into $bin (cold Go cache 3-10 min, warm seconds)" >&2
(while sleep "$every"; do echo "build.sh: still building helm, $((SECONDS - start))s so far" >&2; done) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
rc=0
# Nice: the machine's cores are shared with test runs. -trimpath -s -w: a smaller binary, no debug info needed.
# -X sets the version `helm version` reports (a module build has no git tree; Helm's release builds set it so),
# which the freshness check above compares.
GOBIN=$bin nice -n 10 go install -trimpath \
  -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  "helm.sh/helm/v4/cmd/helm@$version" || rc=$?
kill "$ticker" 2>/dev/null || true
if [ "$rc" -ne 0 ]; then
  echo "build.sh: go install helm failed (exit $rc, output above)" >&2
  exit "$rc"
fi
echo "build.sh: built helm $("$bin/helm" version --template '{{.Version}}') in $((SECONDS - start))s" >&2
