#!/usr/bin/env bash
# Measures pageable transfers through core's staging pipeline on a CUDA machine for several
# host-copy thread counts and staging chunk sizes (GPUMEM_COPY_THREADS, GPUMEM_STAGING_CHUNK),
# two runs each, beside the raw driver copies. Run from the repository root with the build folder
# and Criterion's libraries carried as for run-gpu.sh. Prints one line per run.
set -u
build=${GPUMEM_BUILD:-build-gpu}
export LD_LIBRARY_PATH="$PWD/${GPUMEM_DEVICE_LIBS:-.device-libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GPUMEM_BACKEND=cuda
nproc
for threads in ${THREADS:-8 12 16}; do
    for chunk in ${CHUNKS:-8388608 16777216 33554432}; do
        for run in 1 2; do
            printf 'threads=%s chunk=%s run=%s: ' "$threads" "$chunk" "$run"
            GPUMEM_COPY_THREADS=$threads GPUMEM_STAGING_CHUNK=$chunk \
                "$build/tools/gpumem-bench" --section cuda 2>/dev/null |
                awk '/pageable_(gpumem|raw)/ {printf "%s %s  ", $1, $2} END {print ""}'
        done
    done
done
