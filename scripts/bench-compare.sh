#!/usr/bin/env bash
# Measures `sentinel compare` end to end on a 1,000,000-row, 10-column CSV:
# throughput in values per second and peak resident memory.
set -euo pipefail
bin=${1:-bin/sentinel}
dir=bin/bench
mkdir -p "$dir"
rows=1000000
if [ ! -s "$dir/wide.csv" ]; then
  go run ./scripts/gendata -set wide -rows "$rows" > "$dir/wide.csv"
fi
"$bin" baseline --input "$dir/wide.csv" --model wide --out "$dir/wide-baseline.json" 2>/dev/null
/usr/bin/time -f '%e %M' -o "$dir/time.txt" \
  "$bin" compare --baseline "$dir/wide-baseline.json" --input "$dir/wide.csv" --format json --fail-on never > /dev/null
read -r secs kb < "$dir/time.txt"
awk -v s="$secs" -v kb="$kb" -v n="$rows" 'BEGIN {
  printf "compare: %d rows x 10 columns in %.2f s = %.1f million values/s, peak RSS %.1f MB\n", n, s, n*10/s/1e6, kb/1024
}'
