#!/usr/bin/env bash
# Compares several builds of libgpumem side by side in one run: one gpumem-bench binary runs
# against each library in turn, round after round, so that all see the same traces, the same
# machine and the same minutes (tools/bench-compare.sh does the same for two, building the base
# itself). Use it to choose between variants of a change.
#
#   tools/bench-libs.sh [--build DIR] [--section NAME] [--rounds N] [--repeats N] [--cpu N]
#                       [--seeds] NAME=LIBDIR...
#
#   --build DIR     the build whose tools/gpumem-bench runs (default build-release, else build)
#   --section NAME  gpumem-bench section (default vblock)
#   --rounds N      invocations of each library, interleaved, each round starting with the
#                   next library in turn (default 9)
#   --repeats N     gpumem-bench --repeats (default 5)
#   --cpu N         pin every run to this CPU with taskset (default: not pinned)
#   --seeds         round N runs every library on the traces of gpumem-bench --seed N, so that
#                   results measured once at a trace's end (span over used) are compared over
#                   as many traces as rounds, not on one
#   NAME=LIBDIR     a name for the table and a folder holding that build's libgpumem.so.0; the
#                   first is the reference of the ratios
#
# Prints, for each result, each library's median over the rounds (each round's value is
# gpumem-bench's own median of its repeats); for times also the minimum, and the first
# library's median and minimum over each library's (above 1: faster than the first), and the
# median and middle half of the first library's value over each library's inside each round
# (which holds better where the machine's speed changes between rounds); with --seeds, for
# other results also the mean and standard deviation over the rounds, and each
# library's differences from the first, round by round: their mean, its standard error, and
# how many were above, at and below zero.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=""
section=vblock
rounds=9
repeats=5
cpu=""
seeds=0
names=()
libs=()
while [ $# -gt 0 ]; do
  case $1 in
    --build|--section|--rounds|--repeats|--cpu)
      [ $# -ge 2 ] || { echo "bench-libs: $1 needs a value" >&2; exit 2; } ;;&
    --build) build=$2; shift 2 ;;
    --section) section=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --seeds) seeds=1; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) names+=("${1%%=*}"); libs+=("${1#*=}"); shift ;;
    *) echo "bench-libs: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#libs[@]} -ge 2 ] || { echo "bench-libs: give at least two NAME=LIBDIR" >&2; exit 2; }
for n in "$rounds" "$repeats"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench-libs: --rounds and --repeats take a count of 1 or more, not '$n'" >&2; exit 2; }
done
if [ -z "$build" ]; then
  build=$root/build-release
  [ -x "$build/tools/gpumem-bench" ] || build=$root/build
fi
bench=$build/tools/gpumem-bench
[ -x "$bench" ] || { echo "bench-libs: no $bench (build first)" >&2; exit 2; }
for lib in "${libs[@]}"; do
  [ -e "$lib/libgpumem.so.0" ] || { echo "bench-libs: no $lib/libgpumem.so.0" >&2; exit 2; }
done
pin=()
[ -z "$cpu" ] || pin=(taskset -c "$cpu")

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
  seed=()
  [ "$seeds" = 0 ] || seed=(--seed "$round")
  # Each round starts with the next library in turn, so that none always runs first or last:
  # on a shared machine a load that comes and goes should not fall on one library's turn.
  for i in "${!libs[@]}"; do
    k=$(( (i + round - 1) % ${#libs[@]} ))
    # LD_LIBRARY_PATH comes before the binary's RUNPATH: each run loads its library.
    GPUMEM_BACKEND=${GPUMEM_BACKEND:-host} LD_LIBRARY_PATH=${libs[$k]} "${pin[@]}" \
      "$bench" --json --section "$section" --repeats "$repeats" ${seed[@]+"${seed[@]}"} \
      >"$out/$k.$round" 2>"$out/$k.err" ||
      { echo "bench-libs: ${names[$k]} failed (round $round):" >&2; cat "$out/$k.err" >&2; exit 1; }
  done
  echo "round $round of $rounds done" >&2
done

python3 - "$out" "$rounds" "$seeds" "${names[@]}" <<'EOF'
import json, math, statistics, sys
out, rounds, seeds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
# values[(library, result)][round], from gpumem-bench's JSON: six significant digits (spans to
# 1e-5), where its text lines keep three decimals. "Equal" below is equal at that precision.
values, units, order = {}, {}, []
for k in range(len(names)):
    for r in range(1, rounds + 1):
        with open("%s/%d.%d" % (out, k, r)) as f:
            report = json.load(f)
        for result in report["results"]:
            name = result["section"] + "/" + result["name"]
            if name not in units:
                order.append(name)
            units[name] = result["unit"]
            if result["value"] is not None:
                values.setdefault((k, name), {})[r] = result["value"]
print("medians of %d rounds%s; for times also the minimum and %s/each" %
      (rounds, " on the traces of seeds 1 to %d" % rounds if seeds else "", names[0]))
print("%-40s" % "result" + "".join("%12s" % n for n in names))
# Cells of 12 characters, and a space before any longer one so that cells never run together.
row = lambda label, cells: print("%-40s" % label +
                                 "".join("%12s" % c if len(c) < 12 else " " + c for c in cells))

def quartiles(xs):
    """The first quartile, the median and the third of a non-empty list."""
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    return tuple(statistics.quantiles(xs, n=4, method="inclusive"))

for name in order:
    got = [values.get((k, name)) for k in range(len(names))]
    if not all(got):
        continue
    med = [statistics.median(v.values()) for v in got]
    print("%-40s" % name + "".join("%12.4g" % m for m in med) + "  " + units[name])
    if units[name].startswith("ns"):
        low = [min(v.values()) for v in got]
        row("  min", ["%.4g" % m for m in low])
        row("  %s/each, medians" % names[0], ["%.3f" % (med[0] / m) for m in med])
        row("  %s/each, minimums" % names[0], ["%.3f" % (low[0] / m) for m in low])
        # Round by round: the libraries of one round ran within seconds of each other, so where
        # the machine's speed changes between rounds (hosts whose cores flip between full and
        # half speed), a round's ratio compares them in one state, as far as the state held for
        # the round. Their median, and the middle half of them (the quartiles' range).
        per_round = [[got[0][r] / v[r] for r in sorted(v) if r in got[0] and v[r]] for v in got]
        row("  %s/each, rounds' median" % names[0],
            ["%.3f" % quartiles(q)[1] if q else "-" for q in per_round])
        row("    middle half", ["%.3f-%.3f" % quartiles(q)[::2] if q else "-" for q in per_round])
    elif seeds:
        # A spread needs two values; "-" where there are fewer.
        spread = lambda xs: "%.5f" % statistics.stdev(xs) if len(xs) > 1 else "-"
        row("  mean", ["%.5f" % statistics.mean(v.values()) for v in got])
        row("  standard deviation", [spread(list(v.values())) for v in got])
        # Round by round, each round's trace the same for every library: the differences
        # from the first library (in the rounds both have), their mean and its standard error,
        # and their signs.
        diffs = [[v[r] - got[0][r] for r in sorted(v) if r in got[0]] for v in got]
        row("  each-%s, mean" % names[0],
            ["%+.5f" % statistics.mean(d) if d else "-" for d in diffs])
        row("    its standard error",
            ["%.5f" % (statistics.stdev(d) / math.sqrt(len(d))) if len(d) > 1 else "-"
             for d in diffs])
        row("    rounds higher/equal/lower",
            ["%d/%d/%d" % (sum(x > 0 for x in d), sum(x == 0 for x in d), sum(x < 0 for x in d))
             for d in diffs])
EOF
