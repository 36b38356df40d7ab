#!/usr/bin/env bash
# Compares the library of a build with the library of an earlier commit, side by side in one run:
# the same gpumem-bench binary (this build's) runs against each library in turn, alternating,
# so that both see the same traces, the same machine and the same minutes. Only sections whose
# calls both libraries have can be compared (the virtual block's API is the same since the
# first commit; sections that call newer functions fail against the older library).
#
#   tools/bench-compare.sh [--build DIR] [--base COMMIT | --base-lib DIR] [--rounds N]
#                          [--section NAME] [--cpu N] [--repeats N]
#
#   --build DIR      this build (default build-release, else build); its tools/gpumem-bench runs
#   --base COMMIT    the earlier commit (default 5b8c5b2, main before the trust issue's work,
#                    when the performance issue was filed): built once, of the same meson
#                    buildtype as this build, in a git worktree under ${TMPDIR:-/tmp}
#   --base-lib DIR   a folder holding that commit's libgpumem.so.0 already built (where no git
#                    checkout is at hand, such as the lent GPU machine)
#   --rounds N       invocations of each side, alternating (default 5)
#   --section NAME   gpumem-bench section (default vblock)
#   --cpu N          pin both to this CPU with taskset (default: not pinned)
#   --repeats N      gpumem-bench --repeats (default 3)
#
# Runs and prints as tools/bench-libs.sh does, with the two libraries named base and this: for
# each result the median over the rounds of each side (each round's value is gpumem-bench's own
# median of its repeats), for times also the minimum, and base/this (above 1: this build is
# faster).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=""
base=5b8c5b2
base_lib=""
rounds=5
section=vblock
cpu=""
repeats=3
while [ $# -gt 0 ]; do
  case $1 in
    --build|--section|--rounds|--repeats|--cpu|--base|--base-lib)
      [ $# -ge 2 ] || { echo "bench-compare: $1 needs a value" >&2; exit 2; } ;;&
    --build) build=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --base-lib) base_lib=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --section) section=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-compare: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$rounds" "$repeats"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench-compare: --rounds and --repeats take a count of 1 or more, not '$n'" >&2; exit 2; }
done
if [ -z "$build" ]; then
  build=$root/build-release
  [ -x "$build/tools/gpumem-bench" ] || build=$root/build
fi
bench=$build/tools/gpumem-bench
[ -x "$bench" ] || { echo "bench-compare: no $bench (build first)" >&2; exit 2; }
this_lib=$build/lib
if [ -z "$base_lib" ]; then
  # By its hash: a name such as HEAD moves, and the build below is kept for the next run.
  base=$(git -C "$root" rev-parse --short=12 "$base^{commit}") ||
    { echo "bench-compare: '$base' is no commit here" >&2; exit 2; }
  tree=${TMPDIR:-/tmp}/gpumem-base-$base
  # Built as this build is (release, debugoptimized...): a fair comparison needs both alike.
  buildtype=$(python3 -c 'import json, sys
print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"))' \
    "$build/meson-info/intro-buildoptions.json")
  if [ ! -e "$tree/build-$buildtype/lib/libgpumem.so.0" ]; then
    [ -d "$tree" ] || git -C "$root" worktree add --detach "$tree" "$base" >/dev/null
    [ -d "$tree/build-$buildtype" ] ||
      meson setup "$tree/build-$buildtype" "$tree" -Dbuildtype="$buildtype" >/dev/null
    ninja -C "$tree/build-$buildtype" lib/libgpumem.so.0.1.0 >/dev/null
  fi
  base_lib=$tree/build-$buildtype/lib
  base="$base ($buildtype)"
else
  base="library in $base_lib"
fi
[ -e "$base_lib/libgpumem.so.0" ] || { echo "bench-compare: no $base_lib/libgpumem.so.0" >&2; exit 2; }
echo "base: $base"
# The runs and the table are bench-libs.sh's, with the two libraries as its base and this.
pin=()
[ -z "$cpu" ] || pin=(--cpu "$cpu")
exec bash "$root/tools/bench-libs.sh" --build "$build" --section "$section" --rounds "$rounds" \
  --repeats "$repeats" "${pin[@]}" base="$base_lib" this="$this_lib"
