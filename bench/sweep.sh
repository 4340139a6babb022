#!/usr/bin/env bash
# The full sweep: 1k, 5k and 10k proxies, every system, SotW (pass "delta" as $1 for delta xDS), then the
# chart. Long: the 10k run alone takes a good part of an hour on two cores. Results accumulate in
# bench/results/<date>-<scenario>.json (one entry per N and mode).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-sotw}"
npx tsc -b bench
bench/gcp/build.sh
for n in 1000 5000 10000; do
  node bench/dist/run.js --proxies "$n" --mode "$mode" --timeout-s 600 || echo "run at $n proxies reported errors (see its table)" >&2
done
node bench/dist/chart.js --mode "$mode"
