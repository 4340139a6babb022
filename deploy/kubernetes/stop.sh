#!/usr/bin/env bash
# Stops the kube-apiserver and etcd that start.sh started (by the pids it recorded) and removes the run
# folder (--keep-logs keeps it, for a failed start). Safe to run twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${WEFT_KUBE_RUN_DIR:-$here/run}
for p in kube-apiserver etcd; do
  [ -f "$run/$p.pid" ] || continue
  pid=$(cat "$run/$p.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  fi
  rm -f "$run/$p.pid"
done
if [ "${1:-}" != "--keep-logs" ]; then rm -rf "$run"; fi
