#!/usr/bin/env bash
# Counts the instructions BenchmarkTwoStageCost's two paths take on one of its
# shapes (fleet unless given: wide or fleet), with cachegrind, installing
# Debian's valgrind when missing. Time on a shared machine swings by a third
# from one minute to the next; a count of instructions does not, though it
# leaves out what memory stalls add. Each path runs once in a process of its
# own, without the garbage collector (whose work depends on timing), and the
# count of a process that only builds the pipeline is subtracted.
#
#   scripts/twostage-instructions.sh [fleet|wide]
set -euo pipefail

. "$(dirname "$0")/lib/apt.sh"

shape=${1:-fleet}
case $shape in wide | fleet) ;; *) echo "$0: shape is wide or fleet, not $shape" >&2; exit 2 ;; esac
if ! command -v valgrind >/dev/null; then
	apt_install valgrind
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/pipeline.test" ./internal/pipeline

# Valgrind 3.19 does not know RDTSCP, which the Go runtime's lock runs when
# it sleeps (a run would die of SIGILL part way and still print a count):
# GODEBUG turns it off. A run that did not pass gives no count.
count() {
	local out
	out=$(GODEBUG=cpu.rdtscp=off GOGC=off GOMAXPROCS=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
		"$dir/pipeline.test" -test.run '^$' -test.bench "^BenchmarkTwoStagePath\$/^$shape\$/^$1\$" -test.benchtime 1x 2>&1) || true
	if grep -q '^PASS$' <<<"$out"; then
		sed -n 's/.*I *refs: *//p' <<<"$out" | tr -d ,
	else
		printf '%s: the %s path did not run to the end under valgrind:\n%s\n' "$0" "$1" "$(tail -n 20 <<<"$out")" >&2
	fi
}
# Two at a time: valgrind runs a process on one core.
count setup >"$dir/setup" &
count direct >"$dir/direct" &
wait
count records >"$dir/records"
setup=$(cat "$dir/setup") direct=$(cat "$dir/direct") records=$(cat "$dir/records")
for n in "$setup" "$direct" "$records"; do
	[ -n "$n" ] || { echo "$0: a count is missing (did valgrind run?)" >&2; exit 1; }
done
awk -v s="$setup" -v d="$direct" -v r="$records" -v shape="$shape" 'BEGIN {
	printf "%s: direct %.3f G instructions, records %.3f G, records extra %.1f%%\n",
		shape, (d - s) / 1e9, (r - s) / 1e9, 100 * (r - d) / (d - s)
}'
