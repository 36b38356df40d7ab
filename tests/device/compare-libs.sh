#!/usr/bin/env bash
# Several builds of libgpumem side by side on the GPU machine's host, after it settles: waits for
# the host's CPU to time steadily (tests/device/settle.sh), then runs tools/bench-libs.sh on one
# section, pinned to core 3 (CPU), on each backend asked for. Used to choose between variants of a
# change, or to read what a change moved, where the 2-core VM is too noisy
# (docs/performance.md, "Fifty-seventh session").
#
#   OUT=DIR [BACKENDS="host cuda"] [SECTION=pool] [ROUNDS=21] [SETTLE_SECONDS=150] [CPU=3] \
#     tests/device/compare-libs.sh BUILD NAME=LIBDIR...
#
# BUILD is the build whose tools/gpumem-bench runs; each LIBDIR holds a libgpumem.so.0 (and, for
# the cuda backend, that build's modules in LIBDIR/gpumem). Writes $OUT/compare-settle.txt and
# $OUT/compare-<section>-<backend>.txt, and prints them. Exit status 0 when the host settled (or
# the wait was skipped) and every comparison ran; 1 otherwise; 2 for a bad setting.
# SETTLE_SECONDS=0 skips the wait and its file (settle.sh touches 32 GiB: not for small
# machines). Run from the repository root.
set -u
build=${1:?usage: compare-libs.sh BUILD NAME=LIBDIR...}
shift
out=${OUT:-compare-out}
section=${SECTION:-pool}
rounds=${ROUNDS:-21}
cpu=${CPU:-3}
mkdir -p "$out"
status=0
settle=${SETTLE_SECONDS:-150}
for setting in "$settle" "$rounds" "$cpu"; do
    case $setting in
    '' | *[!0-9]*)
        echo "compare-libs.sh: SETTLE_SECONDS, ROUNDS and CPU take whole numbers, not '$setting'" >&2
        exit 2
        ;;
    esac
done
if [ "$settle" -gt 0 ]; then
    bash tests/device/settle.sh "$build/tools/gpumem-bench" "$cpu" "$settle" \
        >"$out/compare-settle.txt" 2>&1 || status=1
    tail -n 3 "$out/compare-settle.txt"
fi
for backend in ${BACKENDS:-host cuda}; do
    log="$out/compare-$section-$backend.txt"
    echo "== $section on $backend, $rounds rounds" | tee "$log"
    GPUMEM_BACKEND=$backend tools/bench-libs.sh --build "$build" --section "$section" \
        --rounds "$rounds" --repeats 3 --cpu "$cpu" "$@" 2>&1 | grep -v '^round ' | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
exit $status
