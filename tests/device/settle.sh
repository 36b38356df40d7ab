#!/usr/bin/env bash
# Waits until the machine's CPU times steadily before benchmarks are read. The GPU machines'
# cores run at about half speed at times: an H100's host read gpumem's pool pair at 130 ns for
# the first minute after it started, then flipped between 130 and 83 ns from one process to the
# next for a while, then held 72-85 (docs/performance.md, "Forty-eighth session"); rounds read
# in the slow state compare nothing.
#
#   tests/device/settle.sh GPUMEM_BENCH [CPU] [MAX_SECONDS]
#
# Touches 32 GiB of memory once (numpy; skipped without it), then, about once a second, runs
# `GPUMEM_BENCH --section pool` pinned to CPU (default 3) on the host backend, until at least
# 40 s have passed and the pair's last 8 readings lie within 8% of each other and within 10% of
# the fastest reading so far (its second-lowest, so that one odd reading does not count), or
# until MAX_SECONDS (default 150, counted from the start) have passed. With GPUMEM_SETTLE_CEILING_NS
# set, the readings must also be at most that (a machine slow from its start to its end has no
# fast reading to compare with: a known quiet figure catches it). Prints every reading and how
# it ended. Exit status: 0 settled; 1 not settled (the rounds after it are suspect); 2 no reading
# (the benchmark failed, or the CPU does not exist).
set -u
bench=${1:?usage: settle.sh GPUMEM_BENCH [CPU] [MAX_SECONDS]}
cpu=${2:-3}
max=${3:-150}
ceiling=${GPUMEM_SETTLE_CEILING_NS:-0}
start=$SECONDS
python3 -c 'import numpy; a = numpy.ones(4 << 30); print("touched", a.nbytes >> 30, "GiB")' \
    2>/dev/null || echo "settle: memory not touched (no numpy); going on"
readings=()
while [ $((SECONDS - start)) -lt "$max" ]; do
    ns=$(GPUMEM_BACKEND=host taskset -c "$cpu" "$bench" --section pool --repeats 5 |
        awk '/^pool\/create_destroy_pair:/ {print $2}')
    [ -n "$ns" ] || { echo "settle: no reading from $bench on CPU $cpu"; exit 2; }
    readings+=("$ns")
    echo "after $((SECONDS - start)) s: pool pair $ns ns"
    if [ "$((SECONDS - start))" -ge 40 ] && [ "${#readings[@]}" -ge 8 ] &&
        printf '%s\n' "${readings[@]}" | awk -v n="${#readings[@]}" -v ceiling="$ceiling" '
            {all[NR] = $1}
            NR > n - 8 && (lo == "" || $1 < lo) {lo = $1}
            NR > n - 8 && (hi == "" || $1 > hi) {hi = $1}
            END {
                # the second-lowest reading of all
                first = second = ""
                for (i = 1; i <= n; i++) {
                    if (first == "" || all[i] < first) { second = first; first = all[i] }
                    else if (second == "" || all[i] < second) second = all[i]
                }
                exit !(hi <= 1.08 * lo && hi <= 1.10 * second && (ceiling == 0 || hi <= ceiling))
            }'; then
        echo "settled after $((SECONDS - start)) s: the last 8 readings within 8%, near the fastest"
        exit 0
    fi
    sleep 1
done
echo "did not settle in $max s: the rounds that follow are suspect"
exit 1
