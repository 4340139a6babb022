#!/usr/bin/env bash
# Stops the broker start.sh started (by the pid it recorded) and removes its data. Safe to run twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${WEFT_KAFKA_RUN_DIR:-$here/target/run}
if [ -f "$run/pid" ]; then
  pid=$(cat "$run/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  fi
fi
rm -rf "$run"
