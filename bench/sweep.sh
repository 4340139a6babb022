#!/usr/bin/env bash
# The full sweep: 1k, 5k and 10k proxies, SotW (pass "delta" as $1 for delta xDS), then the chart. Per size:
# weft, floor and go-control-plane side by side in one run (endpoint, policy, burst; each single-change
# scenario is 1 cold + 200 unmeasured warm-up + 100 warm changes), then full recompute on the endpoint change
# alone with 5 warm-up and 10 warm changes (one full recompute costs seconds, so 100 would take most of an
# hour at 10k). Long: the 10k run alone takes a good part of an hour on two cores. Results accumulate in
# bench/results/<date>-<scenario>.json (one entry per N and mode).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-sotw}"
npx tsc -b bench
bench/gcp/build.sh
for n in 1000 5000 10000; do
  node bench/dist/run.js --proxies "$n" --mode "$mode" --systems weft,floor,gcp --scenarios endpoint,policy,burst --timeout-s 600 ||
    echo "run at $n proxies reported errors (see its table)" >&2
  node bench/dist/run.js --proxies "$n" --mode "$mode" --systems full --scenarios endpoint --repeats 10 --warmup 5 --timeout-s 600 ||
    echo "full recompute at $n proxies reported errors (see its table)" >&2
done
node bench/dist/chart.js --mode "$mode"
