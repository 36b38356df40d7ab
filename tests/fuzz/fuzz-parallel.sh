#!/usr/bin/env bash
# Runs the random-operation fuzzer in several processes at once, each with its own seed, for a
# long run spread over a machine's cores:
#   tests/fuzz/fuzz-parallel.sh FUZZER TOTAL_OPS JOBS FIRST_SEED
# Process i runs TOTAL_OPS / JOBS operations with seed FIRST_SEED + i on the backend that
# GPUMEM_BACKEND names. Each process's summary line is printed with its seed; a failing process
# also gets the tail of its log. Exit status 0 only when every process passed.
set -u

if [ $# -ne 4 ]; then
    echo "usage: $0 FUZZER TOTAL_OPS JOBS FIRST_SEED" >&2
    exit 2
fi
fuzzer=$1 total=$2 jobs=$3 first_seed=$4
if [ "$jobs" -lt 1 ] || [ "$total" -lt "$jobs" ]; then
    echo "$0: JOBS must be at least 1 and TOTAL_OPS at least JOBS" >&2
    exit 2
fi
per_job=$((total / jobs))
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

pids=()
for ((i = 0; i < jobs; i++)); do
    "$fuzzer" --seed $((first_seed + i)) --ops "$per_job" >"$logs/$i.log" 2>&1 &
    pids+=($!)
done

failed=0
for ((i = 0; i < jobs; i++)); do
    if wait "${pids[$i]}"; then
        grep -a -m 1 'ops in' "$logs/$i.log"
    else
        failed=$((failed + 1))
        echo "FAILED: seed $((first_seed + i)), last lines of its log:"
        tail -n 20 "$logs/$i.log"
    fi
done
echo "fuzz-parallel: $jobs processes x $per_job ops on ${GPUMEM_BACKEND:-the default backend}, $failed failed"
[ "$failed" -eq 0 ]
