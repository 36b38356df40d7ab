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
#   --rounds N      invocations of each library, interleaved (default 9)
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
# library's median and minimum over each library's (above 1: faster than the first); with
# --seeds, for other results also the mean over the rounds, and each library's mean difference
# from the first with the number of rounds in which it was higher.
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
    --build) build=$2; shift 2 ;;
    --section) section=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --seeds) seeds=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) names+=("${1%%=*}"); libs+=("${1#*=}"); shift ;;
    *) echo "bench-libs: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#libs[@]} -ge 2 ] || { echo "bench-libs: give at least two NAME=LIBDIR" >&2; exit 2; }
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
  for k in "${!libs[@]}"; do
    # LD_LIBRARY_PATH comes before the binary's RUNPATH: each run loads its library.
    GPUMEM_BACKEND=${GPUMEM_BACKEND:-host} LD_LIBRARY_PATH=${libs[$k]} "${pin[@]}" \
      "$bench" --section "$section" --repeats "$repeats" ${seed[@]+"${seed[@]}"} \
      >"$out/$k.$round" 2>"$out/$k.err" ||
      { echo "bench-libs: ${names[$k]} failed (round $round):" >&2; cat "$out/$k.err" >&2; exit 1; }
  done
  echo "round $round of $rounds done" >&2
done

python3 - "$out" "$rounds" "$seeds" "${names[@]}" <<'EOF'
import re, statistics, sys
out, rounds, seeds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
line = re.compile(r"^(\S+): ([0-9.]+) (\S+)")
values, units, order = {}, {}, []
for k in range(len(names)):
    for r in range(1, rounds + 1):
        for text in open("%s/%d.%d" % (out, k, r)):
            m = line.match(text)
            if not m:
                continue
            name, value, unit = m.group(1), float(m.group(2)), m.group(3)
            if name not in units:
                order.append(name)
            units[name] = unit
            values.setdefault((k, name), []).append(value)
print("medians of %d rounds%s; for times also the minimum and %s/each" %
      (rounds, " on the traces of seeds 1 to %d" % rounds if seeds else "", names[0]))
print("%-40s" % "result" + "".join("%12s" % n for n in names))
for name in order:
    got = [values.get((k, name)) for k in range(len(names))]
    if not all(got):
        continue
    med = [statistics.median(v) for v in got]
    print("%-40s" % name + "".join("%12.4g" % m for m in med) + "  " + units[name])
    if units[name].startswith("ns"):
        low = [min(v) for v in got]
        print("%-40s" % "  min" + "".join("%12.4g" % m for m in low))
        print("%-40s" % ("  %s/each, medians" % names[0]) +
              "".join("%12.3f" % (med[0] / m) for m in med))
        print("%-40s" % ("  %s/each, minimums" % names[0]) +
              "".join("%12.3f" % (low[0] / m) for m in low))
    elif seeds:
        print("%-40s" % "  mean" + "".join("%12.5g" % statistics.mean(v) for v in got))
        # Round by round: the same trace for every library.
        print("%-40s" % ("  each-%s, mean" % names[0]) +
              "".join("%12.5f" % statistics.mean(a - b for a, b in zip(v, got[0])) for v in got))
        print("%-40s" % ("  rounds higher than %s" % names[0]) +
              "".join("%12s" % ("%d/%d" % (sum(a > b for a, b in zip(v, got[0])), len(v)))
                      for v in got))
EOF
