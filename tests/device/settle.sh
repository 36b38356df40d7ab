#!/usr/bin/env bash
# Waits until the machine's CPU times steadily before benchmarks are read: a GPU machine just
# started ran gpumem's pool pair at 130 ns for its first minute or so, then flipped between 130
# and 83 ns from one process to the next for a while, then held 72-83 (an H100's host,
# docs/performance.md "Forty-eighth session"); rounds read in that time compare nothing.
#
#   tests/device/settle.sh GPUMEM_BENCH [CPU] [MAX_SECONDS]
#
# Touches 32 GiB of memory once, then runs `GPUMEM_BENCH --section pool` pinned to CPU (default
# 3) on the host backend until the pair's last 8 readings lie within 8% of each other and of the
# fastest reading so far (a plateau at the slow speed is not settled), or MAX_SECONDS (default
# 150) have passed. Prints every reading and how it ended; exit status 0
# when the readings settled, 1 when they did not (the rounds after it are then suspect).
set -u
bench=$1
cpu=${2:-3}
max=${3:-150}
python3 -c 'import numpy; a = numpy.ones(4 << 30); print("touched", a.nbytes >> 30, "GiB")' ||
    echo "settle: could not touch memory (numpy missing?); going on"
readings=()
start=$SECONDS
while [ $((SECONDS - start)) -lt "$max" ]; do
    ns=$(GPUMEM_BACKEND=host taskset -c "$cpu" "$bench" --section pool --repeats 5 |
        awk '/^pool\/create_destroy_pair:/ {print $2}')
    [ -n "$ns" ] || { echo "settle: no reading from $bench"; exit 1; }
    readings+=("$ns")
    echo "after $((SECONDS - start)) s: pool pair $ns ns"
    n=${#readings[@]}
    # The last 8 within 8% of each other, and at most 10% above the fastest reading yet: a
    # plateau at the slow speed is not settled.
    if [ "$n" -ge 8 ] && printf '%s\n' "${readings[@]}" | awk -v n="$n" '
        NR == 1 || $1 < best {best = $1}
        NR > n - 8 && (lo == "" || $1 < lo) {lo = $1}
        NR > n - 8 && (hi == "" || $1 > hi) {hi = $1}
        END {exit !(hi <= 1.08 * lo && hi <= 1.10 * best)}'; then
        echo "settled after $((SECONDS - start)) s: the last 8 readings within 8%, near the fastest"
        exit 0
    fi
done
echo "did not settle in $max s: the rounds that follow are suspect"
exit 1
