#!/usr/bin/env bash
# Measures `sentinel replay` end to end, as a process timed from start to its
# summary with the recording on disk, on the traffic shapes of issue #17:
#
#   shape  one model of 12 numeric (six decimals) and 8 categorical features,
#          a request id on every event (so the label join holds each one),
#          1,500 events a minute, 180,000 events;
#   fleet  100 models of 40 numeric and 10 categorical features at 50 events
#          per model per one-minute window, 100,000 events (replay --config).
#
# Beside each it times the yardstick of the shape: decoding the same file into
# map[string]any per line with bytedance/sonic (scripts/jsonmaps, a module of
# its own), and reports replay's rate as a multiple of it. Runs alternate,
# one core each (GOMAXPROCS=1), and the medians are reported, by wall clock
# and by CPU time (user + system), which on a shared machine says more.
set -euo pipefail
bin=${1:-bin/sentinel}
rounds=${ROUNDS:-5}
dir=bin/bench
mkdir -p "$dir/fleet"
gen() { go run ./scripts/gendata "$@"; }

if [ ! -s "$dir/shape.jsonl" ]; then
  gen -set shape-contract > "$dir/shape.yaml"
  gen -set shape-train -rows 20000 > "$dir/shape-train.csv"
  gen -set shape-events -rows 180000 > "$dir/shape.jsonl"
fi
"$bin" baseline --contract "$dir/shape.yaml" --input "$dir/shape-train.csv" --out "$dir/shape-baseline.json" >/dev/null

if [ ! -s "$dir/fleet/events.jsonl" ]; then
  gen -set shape-train -numeric 40 -categorical 10 -rows 2000 > "$dir/fleet/train.csv"
  gen -set shape-contract -model fleet-000 -numeric 40 -categorical 10 > "$dir/fleet/fleet-000.yaml"
  "$bin" baseline --contract "$dir/fleet/fleet-000.yaml" --input "$dir/fleet/train.csv" --out "$dir/fleet/fleet-000.json" >/dev/null
  {
    # replay reads only the models and check settings; Kafka and ClickHouse
    # must be named but are not reached.
    printf 'kafka:\n  brokers: ["127.0.0.1:9"]\n  topics: {events: events}\n'
    printf 'clickhouse:\n  dsn: clickhouse://127.0.0.1:9/default\nmodels:\n'
    for i in $(seq -f '%03g' 0 99); do
      if [ "$i" != 000 ]; then
        gen -set shape-contract -model "fleet-$i" -numeric 40 -categorical 10 > "$dir/fleet/fleet-$i.yaml"
        sed "s/\"model\": \"fleet-000\"/\"model\": \"fleet-$i\"/" "$dir/fleet/fleet-000.json" > "$dir/fleet/fleet-$i.json"
      fi
      printf '  - {contract: fleet-%s.yaml, baseline: fleet-%s.json}\n' "$i" "$i"
    done
  } > "$dir/fleet/sentinel.yaml"
  gen -set shape-events -model fleet -models 100 -numeric 40 -categorical 10 -per-window 50 -rows 100000 > "$dir/fleet/events.jsonl"
fi

(cd scripts/jsonmaps && go build -o ../../"$dir"/jsonmaps .)

# run NAME COMMAND...: one timed run, appending "wall cpu" to $dir/NAME.times.
run() {
  local name=$1
  shift
  GOMAXPROCS=1 /usr/bin/time -f '%e %U %S' -o "$dir/time.txt" "$@" >/dev/null
  awk '{print $1, $2 + $3}' "$dir/time.txt" >> "$dir/$name.times"
}

# median FILE COLUMN
median() { sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

report() {
  local what=$1 events=$2 replay=$3 yard=$4
  for col in 1 2; do
    local r y
    r=$(median "$dir/$replay.times" $col)
    y=$(median "$dir/$yard.times" $col)
    awk -v w="$what" -v n="$events" -v r="$r" -v y="$y" -v c="$col" 'BEGIN {
      printf "%s, by %s: replay %.0f events/s, sonic into maps %.0f lines/s: %.2fx\n",
        w, (c == 1 ? "wall clock" : "CPU time"), n / r, n / y, y / r }'
  done
}

rm -f "$dir"/*.times
for _ in $(seq "$rounds"); do
  run shape-replay "$bin" replay --input "$dir/shape.jsonl" --contract "$dir/shape.yaml" \
    --baseline "$dir/shape-baseline.json" --output /dev/null
  run shape-maps "$dir/jsonmaps" "$dir/shape.jsonl"
  run fleet-replay "$bin" replay --input "$dir/fleet/events.jsonl" --config "$dir/fleet/sentinel.yaml" --output /dev/null
  run fleet-maps "$dir/jsonmaps" "$dir/fleet/events.jsonl"
done
echo "replay end to end, one core, medians of $rounds alternating runs:"
report "shape (1 model, 20 features, 1,500 events/window)" 180000 shape-replay shape-maps
report "fleet (100 models x 50 features, 50 events/window)" 100000 fleet-replay fleet-maps
