#!/usr/bin/env bash
# Stops the nodes start-cluster.sh started (by the pids it recorded in $run/nodes) and removes their data.
# Safe to run twice, and with some nodes already dead (a test may have killed one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${WEFT_KAFKA_CLUSTER_RUN_DIR:-$here/target/cluster}
pids=()
if [ -f "$run/nodes" ]; then
  while read -r _ pid _; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      pids+=("$pid")
    fi
  done <"$run/nodes"
fi
# All are asked at once; a node whose peers are gone may wait on them, so the wait is bounded.
for _ in $(seq 1 100); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ $alive -eq 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
done
rm -rf "$run"
