#!/usr/bin/env bash
# Runs several copies of an example program at once, round after round, and fails at the first
# copy that does not exit 0 (a crash included), printing that copy's output.
#
# What it is for: a program that shares its Vulkan queue with gpumem hands work back and forth
# on the device and then closes gpumem. Whatever gpumem destroys at close must already have
# been let go by the driver's threads, not only reported done; when several processes full of
# lavapipe's threads share the CPUs, those threads run late, which is when a close that
# destroys too early shows: before the fix in backends/vulkan/device.c, 3 copies of
# gpumem-vulkan-image at once on 2 cores crashed lavapipe's queue thread within 11 rounds in
# each of 6 tries, while one copy alone on an idle machine crashed in none of 300 runs, and
# one copy beside busy loops in one of five tries of 30 runs.
#
# Usage: repeat-under-load.sh ROUNDS COPIES PROGRAM [ARGS...]
set -uo pipefail

if [ $# -lt 3 ]; then
  echo "usage: repeat-under-load.sh ROUNDS COPIES PROGRAM [ARGS...]" >&2
  exit 2
fi
rounds=$1
copies=$2
shift 2

outputs=$(mktemp -d)
trap 'rm -rf "$outputs"' EXIT
for ((round = 1; round <= rounds; round++)); do
  pids=()
  for ((copy = 0; copy < copies; copy++)); do
    "$@" >"$outputs/$copy" 2>&1 &
    pids+=($!)
  done
  failed=0
  for ((copy = 0; copy < copies; copy++)); do
    wait "${pids[$copy]}"
    status=$?
    [ $status = 0 ] && continue
    failed=1
    if [ $status -gt 128 ]; then
      echo "round $round, copy $copy: killed by signal $((status - 128))" >&2
    else
      echo "round $round, copy $copy: exit status $status" >&2
    fi
    cat "$outputs/$copy" >&2
  done
  [ $failed = 0 ] || exit 1
done
echo "$rounds rounds of $copies copies at once: every copy exited 0; the last printed:"
cat "$outputs/0"
