#!/usr/bin/env bash
# Runs gpumem's CUDA checks on a machine with an NVIDIA GPU, in one go, well inside 10 minutes:
# the GPU and driver, gpumem-info, the CUDA tests, the conformance suite on CUDA (plain, with the
# registration cache on, on an externally synchronized device, and under compute-sanitizer
# memcheck), the random-operation fuzzer, transfer sizes against copy threads and the thread
# stress programs on CUDA, the Python package with PyTorch, CuPy and Numba, and gpumem-bench's
# JSON report. Logs and the report go
# to $OUT (a log or two for each part asked for, with gpumem-info's and the summary); a summary
# ends the output. Exit status 0 when every step passed.
#
# Run from the repository root, with the build folder (built elsewhere, e.g.
#   meson setup build-gpu -Dvulkan=disabled -Dhip=disabled && meson compile -C build-gpu)
# and the Criterion runtime libraries beside it (any folder of the .so files Criterion needs:
# `ldd build-gpu/tests/cuda/test_cuda` lists them; copy those that machine lacks into .device-libs).
# Meson's build folders find their own libraries through $ORIGIN-relative run paths, so the
# folder only has to keep its layout. Nothing here needs meson, Criterion's headers or a network.
#
# Environment: GPUMEM_BUILD (default build-gpu), GPUMEM_DEVICE_LIBS (default .device-libs),
# OUT (default ./gpu-out), RUN_GPU_DEADLINE (seconds for the whole script, default 540),
# RUN_GPU_PARTS (which parts run, default "tests trust python bench memcheck"; "long" adds a run of 1e8
# fuzzer operations, "locks" core's lock, epoch and reclaim unit tests on the host's cores,
# "threads" tools/probes/pool_threads against its controls without gpumem (malloc, arithmetic)
# on 1-8 threads, pinned and not,
# "held" tools/probes/destroys_beside_a_call with 1 to 16 long calls held (GPUMEM_THREADS_VARIANT_LIB
# beside, as for "threads"),
# "capture" gpumem's calls beside and inside CUDA graph capture (tools/probes/capture_beside),
# "pair" the pool's create+destroy pair against GPUMEM_PREV_LIB (and GPUMEM_PAIR_LIBS), the
# pool's trace against cuMemAllocAsync (the cuda section, pinned) and the suballocator against
# the base,
# "cpu" what the host's CPU charges for core's hot paths (tools/probes/cpu_costs.c, sections pinned),
# "frameworks" gpumem as PyTorch's and CuPy's allocator with its benchmarks
# (tests/device/frameworks.py, about 4 minutes; GPUMEM_FRAMEWORKS_CONFIGS picks configurations
# and GPUMEM_FRAMEWORKS_VARIANTS adds other builds', as that script says), then what "trace"
# does alone: the caching allocator's allocations and frees on that script's PyTorch workload
# (torch-trace.txt.gz, about a minute, for tests/device/replay_trace.py on any machine),
# "scale" the scaling figures and the suballocator against an earlier library (GPUMEM_BASE_LIB),
# "compare" this build's library against the previous main's (GPUMEM_PREV_LIB) and the base,
# "bound" the cuda section in a process bound to 1, 2, 3, 4 and 8 cores, "copiers" one copy
# thread against two on two cores; the machine's description and gpumem-info always run), so
# that a lease's 10-minute commands can split them.
set -u

root=$(pwd)
build=${GPUMEM_BUILD:-build-gpu}
libs=${GPUMEM_DEVICE_LIBS:-.device-libs}
out=${OUT:-$root/gpu-out}
deadline=$((SECONDS + ${RUN_GPU_DEADLINE:-540}))
mkdir -p "$out"
export LD_LIBRARY_PATH="$root/$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GPUMEM_LOG=warning
parts=" ${RUN_GPU_PARTS:-tests trust python bench memcheck} "
summary="$out/summary.txt"
: >"$summary"
failures=0

wanted() {
    case "$parts" in *" $1 "*) return 0 ;; esac
    return 1
}

note() {
    echo "$*" | tee -a "$summary"
}

# The verdict line of a Criterion run ("Synthesis: Tested: 42 | Passing: 42 | ...") or of
# pytest ("35 passed, 1 skipped in 10.01s") in LOG after its first SKIP bytes, if any.
synthesis() {
    tail -c +$(($2 + 1)) "$1" 2>/dev/null |
        grep -a -E 'Synthesis:|^=+ .*(passed|failed|error).* =+$' | tail -n 1 |
        sed -E 's/.*Synthesis: //; s/^=+ (.*) =+$/\1/'
}

# step NAME LOG BUDGET COMMAND...: runs COMMAND with at most BUDGET seconds (less when the
# script's deadline is nearer), output appended to LOG; notes the result in the summary.
step() {
    local name=$1 log=$2 budget=$3
    shift 3
    local left=$((deadline - SECONDS - 10))
    if [ "$left" -le 5 ]; then
        note "SKIP    $name: no time left before the deadline"
        failures=$((failures + 1))
        return
    fi
    [ "$budget" -gt "$left" ] && budget=$left
    local logged
    logged=$(stat -c %s "$log" 2>/dev/null || echo 0)
    echo "=== $name (at most ${budget}s): $*" >>"$log"
    local start=$SECONDS
    timeout -k 5 "$budget" "$@" >>"$log" 2>&1
    local rc=$? took=$((SECONDS - start)) verdict=PASS
    case $rc in
    0) ;;
    77) verdict=SKIPPED ;; # every test skipped: no CUDA device
    124 | 137) verdict=TIMEOUT ;;
    *) verdict=FAIL ;;
    esac
    [ "$verdict" = PASS ] || failures=$((failures + 1))
    echo "=== $name: exit $rc after ${took}s" >>"$log"
    note "$(printf '%-7s %s (exit %s, %ss) %s' "$verdict" "$name" "$rc" "$took" "$(synthesis "$log" "$logged")")"
}

tool() {
    echo "$root/$build/$1"
}

if [ ! -x "$(tool tools/gpumem-info)" ]; then
    echo "run-gpu.sh: no build in $root/$build (GPUMEM_BUILD names another folder)" >&2
    exit 2
fi

# --- the machine ---
{
    echo "=== nvidia-smi -L"
    nvidia-smi -L 2>&1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    echo "=== gpumem-info"
} >"$out/gpumem-info.txt"
step "gpumem-info" "$out/gpumem-info.txt" 30 "$(tool tools/gpumem-info)"
GPUMEM_BACKEND=cuda step "gpumem-info --json (cuda)" "$out/gpumem-info.txt" 30 \
    "$(tool tools/gpumem-info)" --json

# --- tests on CUDA: each test in a process of its own, four at a time ---
export GPUMEM_BACKEND=cuda
if wanted tests; then
step "test_cuda" "$out/test-cuda.log" 150 \
    "$(tool tests/cuda/test_cuda)" --jobs 4 --verbose --full-stats
GPUMEM_STAGING=always GPUMEM_STAGING_CHUNK=65536 step "test_cuda staging=always" \
    "$out/test-cuda.log" 90 "$(tool tests/cuda/test_cuda)" --filter 'cuda/pageable*' --verbose
step "conformance (cuda)" "$out/conformance-cuda.log" 120 \
    "$(tool tests/conformance/gpumem-conformance)" --jobs 4 --verbose --full-stats
GPUMEM_STAGING=always GPUMEM_STAGING_CHUNK=65536 step "conformance (cuda, staging=always)" \
    "$out/conformance-cuda.log" 120 "$(tool tests/conformance/gpumem-conformance)" --jobs 4 --full-stats
GPUMEM_CONFORMANCE_EXTERNALLY_SYNCHRONIZED=1 step "conformance (cuda, externally synchronized)" \
    "$out/conformance-cuda.log" 120 "$(tool tests/conformance/gpumem-conformance)" --jobs 4 --full-stats
# The registration cache on (libgpumem-memhooks preloaded): large synchronous transfers keep
# their memory registered, and the runtime copies it, and other memory on its pages, by DMA.
LD_PRELOAD="$root/$build/memhooks/libgpumem-memhooks.so.0" GPUMEM_REGISTRATION_CACHE=1073741824 \
    step "conformance (cuda, registration cache on)" "$out/conformance-cuda.log" 120 \
    "$(tool tests/conformance/gpumem-conformance)" --jobs 4 --full-stats
fi

# --- the trust checks on CUDA: the fuzzer against its shadow model (staging from 8 MiB on
# pageable memory, native pools, real streams), every transfer path at every boundary size with
# 1 to 17 copy threads, and threads racing destroys of what others use ---
if wanted trust; then
step "fuzzer (cuda)" "$out/trust-cuda.log" 120 \
    "$(tool tests/fuzz/gpumem-fuzz)" --seed 8008 --ops 200000
GPUMEM_STAGING=always GPUMEM_STAGING_CHUNK=65536 step "fuzzer (cuda, staging=always)" \
    "$out/trust-cuda.log" 90 "$(tool tests/fuzz/gpumem-fuzz)" --seed 9009 --ops 100000
step "transfer sizes x copy threads (cuda)" "$out/trust-cuda.log" 150 \
    "$(tool tests/transfer/transfer_sizes)" --all-threads
for program in pool destroy map handles images; do
    step "stress_$program (cuda)" "$out/trust-cuda.log" 60 "$(tool tests/stress/stress_$program)"
done
step "stress_pool --arenas (cuda)" "$out/trust-cuda.log" 60 "$(tool tests/stress/stress_pool)" \
    --arenas
step "stress_pool --late (cuda)" "$out/trust-cuda.log" 60 "$(tool tests/stress/stress_pool)" \
    --late
# Each of stress_close's rounds opens and closes a CUDA context (about 0.2 s): a tenth of them.
GPUMEM_STRESS_SCALE=0.1 step "stress_close (cuda)" "$out/trust-cuda.log" 60 \
    "$(tool tests/stress/stress_close)"
fi

# --- core's lock, epochs and reclaims on the host's 16 cores (not in the default parts): their
# unit tests race threads that join a lone thread, take locks other threads own, come and go
# while objects are reclaimed, and take handles during calls beside churning writers, with more
# threads truly running at once than on a 2-core machine ---
if wanted locks; then
for unit in lock epoch reclaim; do
    GPUMEM_BACKEND=host step "unit $unit (host cores)" "$out/locks.log" 120 \
        "$(tool tests/unit/test_$unit)" --verbose
done
fi

# --- threads in pools of their own against the machine (not in the default parts): the probe's
# own-pool loop and its controls, the same loop on malloc(3) and on its arithmetic alone, on 1
# to 8 threads unpinned and pinned, and own pools on twice and four times as many threads as
# the machine has CPUs, 5 interleaved rounds (docs/performance.md, "Thirty-fourth session").
# GPUMEM_THREADS_VARIANT_LIB names a folder with another libgpumem.so whose own-pool rows run
# beside, in each round. The probe is compiled here and finds each library by LD_LIBRARY_PATH ---
if wanted threads; then
probe="$out/pool_threads"
variant_lib=${GPUMEM_THREADS_VARIANT_LIB:-}
medians() { # LABEL: of "row|ns" lines on stdin, the median of each row over the rounds
    sort -t'|' -k1,1V -k2,2n |
        awk -F'|' -v label="$1" '{ v[$1, ++n[$1]] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++keys] = $1 } }
            END { for (k = 1; k <= keys; k++) printf "%smedian of %d: %s: %s ns a pair each\n", label,
                  n[order[k]], order[k], v[order[k], int((n[order[k]] + 1) / 2)] }' | tee -a "$summary"
}
threads_medians() { # LOG LABEL: the probe's rows in LOG, each over the rounds
    grep -a ' ns a pair each' "$1" |
        sed -E 's/^([0-9]+) threads( \(pinned\))?, (.*): ([0-9.]+) ns a pair each.*/\3, \1 threads\2|\4/' |
        medians "$2"
}
if cc -O2 -pthread -I"$root/include" -I"$root/$build/include" "$root/tools/probes/pool_threads.c" \
    -L"$root/$build/lib" -lgpumem -o "$probe" >>"$out/threads.log" 2>&1; then
    cpus=$(nproc)
    for round in 1 2 3 4 5; do
        for mode in own malloc spin; do
            pairs=1000000
            [ $mode = spin ] && pairs=20000000
            for threads in $(printf '%s\n' 1 2 4 8 $((2 * cpus)) $((4 * cpus)) | sort -nu); do
                [ $threads -gt 8 ] && [ $mode != own ] && continue
                [ $threads -gt 8 ] && pairs=200000
                for pin in "" pin; do
                    [ -n "$pin" ] && [ $threads -gt $((cpus - 1)) ] && continue
                    # With a variant, odd rounds run this build's row first, even rounds the
                    # variant's: neither gains from always following the other.
                    rows="this variant"
                    [ $((round % 2)) = 0 ] && rows="variant this"
                    for which in $rows; do
                        if [ $which = this ]; then
                            LD_LIBRARY_PATH="$root/$build/lib:$LD_LIBRARY_PATH" GPUMEM_BACKEND=host \
                                step "pool_threads $threads $mode $pin, round $round" \
                                "$out/threads.log" 30 "$probe" $threads $pairs $mode $pin
                        elif [ -n "$variant_lib" ] && [ $mode = own ]; then
                            LD_LIBRARY_PATH="$variant_lib:$LD_LIBRARY_PATH" GPUMEM_BACKEND=host \
                                step "pool_threads $threads $mode $pin (variant), round $round" \
                                "$out/threads-variant.log" 30 "$probe" $threads $pairs $mode $pin
                        fi
                    done
                done
            done
        done
    done
    # The same loop in as many processes of one thread each, at once: what the machine does
    # to that many copies of gpumem's work that share nothing at all.
    for round in 1 2 3 4 5; do
        for processes in 1 2 4 8; do
            LD_LIBRARY_PATH="$root/$build/lib:$LD_LIBRARY_PATH" GPUMEM_BACKEND=host step \
                "pool_threads 1 own in $processes processes at once, round $round" \
                "$out/threads-processes.log" 30 bash -c 'for ((i = 0; i < $1; i++)); do "$2" 1 1000000 own & done; wait' \
                _ $processes "$probe"
            grep -a ' ns a pair each' "$out/threads-processes.log" | tail -n $processes |
                sed -E "s/^1 threads, pools of their own: ([0-9.]+) ns.*/own pools, one thread in each of $processes processes at once|\1/" \
                >>"$out/threads-processes.rows"
        done
    done
    medians "" <"$out/threads-processes.rows"
    threads_medians "$out/threads.log" ""
    [ -n "$variant_lib" ] && threads_medians "$out/threads-variant.log" "variant: "
else
    note "FAIL    pool_threads: the probe did not compile (threads.log)"
    failures=$((failures + 1))
fi
fi

# --- destroys beside long calls (not in the default parts): 400,000 buffers made before K calls
# held on other threads, destroyed during them, then as many pairs; K = 1, 4, 5, 8 and 16, three
# interleaved rounds, with GPUMEM_THREADS_VARIANT_LIB's library beside (docs/performance.md,
# "Thirty-sixth session") ---
if wanted held; then
probe="$out/destroys_beside_a_call"
variant_lib=${GPUMEM_THREADS_VARIANT_LIB:-}
if cc -O2 -pthread -I"$root/include" -I"$root/$build/include" \
    "$root/tools/probes/destroys_beside_a_call.c" -L"$root/$build/lib" -lgpumem -o "$probe" \
    >>"$out/held.log" 2>&1; then
    for round in 1 2 3; do
        for calls in 1 4 5 8 16; do
            for which in this variant; do
                lib="$root/$build/lib"
                [ $which = variant ] && lib=$variant_lib
                [ -n "$lib" ] || continue
                LD_LIBRARY_PATH="$lib:$LD_LIBRARY_PATH" GPUMEM_BACKEND=host \
                    step "destroys beside $calls calls ($which), round $round" "$out/held.log" 60 \
                    "$probe" 400000 $calls
                grep -a ' ns each' "$out/held.log" | tail -n 1 | sed "s/^/$which: /" >>"$out/held.rows"
            done
        done
    done
    sort -V "$out/held.rows" | tee -a "$summary"
else
    note "FAIL    destroys_beside_a_call: the probe did not compile (held.log)"
    failures=$((failures + 1))
fi
fi

# --- gpumem beside CUDA graph capture (not in the default parts): tools/probes/capture_beside,
# which of gpumem's calls leave another thread's capture intact (global, thread-local and
# relaxed modes), and which of them can be captured on a stream the application wrapped. It
# records what the driver does; its table goes to the summary ---
if wanted capture; then
probe="$out/capture_beside"
cuda_home=${CUDA_HOME:-/usr/local/cuda}
if cc -O2 -pthread -I"$root/include" -I"$root/$build/include" -I"$cuda_home/include" \
    "$root/tools/probes/capture_beside.c" -L"$root/$build/lib" -lgpumem \
    -L"$cuda_home/lib64/stubs" -lcuda -o "$probe" >>"$out/capture.log" 2>&1; then
    LD_LIBRARY_PATH="$root/$build/lib:$LD_LIBRARY_PATH" \
        LD_PRELOAD="$root/$build/memhooks/libgpumem-memhooks.so.0" \
        GPUMEM_REGISTRATION_CACHE=1073741824 step "capture beside and inside" \
        "$out/capture.log" 120 "$probe"
    grep -a -E '^(situation|beside|inside) \|' "$out/capture.log" | tee -a "$summary"
else
    note "FAIL    capture_beside: the probe did not compile (capture.log)"
    failures=$((failures + 1))
fi
fi

# --- a long fuzzer run over the machine's cores (not in the default parts): 1e8 operations on
# host in 16 processes, and 4e6 on CUDA in 4 (each about 4,800 operations a second when four
# share the GPU), each process with its own seed ---
if wanted long; then
GPUMEM_BACKEND=host step "fuzzer 1e8 ops (host, 16 processes)" "$out/long.log" 200 \
    bash "$root/tests/fuzz/fuzz-parallel.sh" "$(tool tests/fuzz/gpumem-fuzz)" 100000000 16 30000
step "fuzzer 4e6 ops (cuda, 4 processes)" "$out/long.log" 380 \
    bash "$root/tests/fuzz/fuzz-parallel.sh" "$(tool tests/fuzz/gpumem-fuzz)" 4000000 4 40000
fi

# --- the Python package on CUDA (tests/python): its suite, and buffers shared with PyTorch,
# CuPy and Numba through DLPack and __cuda_array_interface__ (test_frameworks.py) ---
if wanted python; then
GPUMEM_LIBRARY="$root/$build/lib/libgpumem.so.0" PYTHONPATH="$root/$build/python" \
    GPUMEM_MEMHOOKS_LIBRARY="$root/$build/memhooks/libgpumem-memhooks.so.0" \
    step "python tests (cuda)" "$out/test-cuda.log" 240 \
    python3 "$root/tests/python/run_pytest.py" -v
fi

# --- gpumem as PyTorch's and CuPy's allocator: checks and benchmarks against the frameworks'
# own allocators (tests/device/frameworks.py), one process per allocator ---
if wanted frameworks; then
GPUMEM_LIBRARY="$root/$build/lib/libgpumem.so.0" PYTHONPATH="$root/$build/python" \
    step "frameworks: gpumem as PyTorch's and CuPy's allocator" "$out/frameworks.log" 420 \
    python3 "$root/tests/device/frameworks.py" --json "$out/frameworks.json" \
    ${GPUMEM_FRAMEWORKS_CONFIGS:+--configs "$GPUMEM_FRAMEWORKS_CONFIGS"}
fi
# The caching allocator's allocations and frees on the same workload, compressed, for
# tests/device/replay_trace.py on any machine (docs/performance.md, "Peak reserved bytes").
if wanted frameworks || wanted trace; then
GPUMEM_LIBRARY="$root/$build/lib/libgpumem.so.0" PYTHONPATH="$root/$build/python" \
    step "frameworks: the caching allocator's trace" "$out/frameworks.log" 120 \
    bash -c 'python3 "$1" --trace "$2" && gzip -f "$2"' trace \
    "$root/tests/device/frameworks.py" "$out/torch-trace.txt"
fi

# --- gpumem-bench: every section on the CUDA device, one JSON document ---
wanted bench && step "gpumem-bench --json" "$out/bench-cuda.log" 150 \
    bash -c "'$(tool tools/gpumem-bench)' --json >'$out/bench-cuda.json'"

# The suballocator against the base library (GPUMEM_BASE_LIB, default build-base/lib), side by
# side, pinned to core 3; its log goes to LOG ($1). Used by the parts scale and compare.
compare_suballocator() {
    local base_lib=${GPUMEM_BASE_LIB:-$root/build-base/lib}
    if [ -e "$base_lib/libgpumem.so.0" ]; then
        GPUMEM_BACKEND=host step "suballocator against the base library (bench-compare)" \
            "$1" 200 bash "$root/tools/bench-compare.sh" --build "$root/$build" \
            --base-lib "$base_lib" --rounds "${GPUMEM_SUBALLOCATOR_ROUNDS:-5}" --section vblock \
            --cpu 3
    else
        note "SKIP    bench-compare: no base library in $base_lib"
    fi
}

# --- scale (not in the default parts): gpumem-bench --section scale on host and on CUDA (costs
# from 1k to 1M live allocations; 1-8 threads on one pool and in pools of their own), the CUDA
# transfers with the registration cache on, then the
# suballocator against an earlier commit's library, side by side (tools/bench-compare.sh; the
# earlier library built elsewhere and carried in GPUMEM_BASE_LIB, default build-base/lib) ---
if wanted scale; then
GPUMEM_BACKEND=host step "gpumem-bench --section scale (host)" "$out/scale.log" 150 \
    "$(tool tools/gpumem-bench)" --section scale --repeats 3
step "gpumem-bench --section scale (cuda)" "$out/scale.log" 150 \
    "$(tool tools/gpumem-bench)" --section scale --repeats 3
# The registration cache on (libgpumem-memhooks preloaded): the pageable rows are then the
# transfers after the first, which registered the memory.
LD_PRELOAD="$root/$build/memhooks/libgpumem-memhooks.so.0" GPUMEM_REGISTRATION_CACHE=4294967296 \
    step "gpumem-bench --section cuda, registration cache on" "$out/scale.log" 150 \
    "$(tool tools/gpumem-bench)" --section cuda --repeats 5
compare_suballocator "$out/scale.log"
fi

# settle_host LOG: tests/device/settle.sh before benchmark rounds, on core 3, for at most
# GPUMEM_SETTLE_SECONDS (default 100). The GPU machines' cores run at about half speed at times;
# when the host did not settle, the summary says that the rounds after it are suspect.
settle_host() {
    local before=$failures seconds=${GPUMEM_SETTLE_SECONDS:-100}
    step "settle the machine's CPU" "$1" $((seconds + 30)) \
        bash "$root/tests/device/settle.sh" "$(tool tools/gpumem-bench)" 3 "$seconds"
    [ "$failures" -eq "$before" ] ||
        note "NOTE    the host did not settle (or gave no reading): the rounds after it in $(basename "$1") are suspect"
}

# --- pair (not in the default parts): goal 2's and goal 3's figures on the host's quieter CPU.
# The paged pool's create+destroy pair (gpumem-bench --section pool) of this build's library beside
# GPUMEM_PREV_LIB's (default build-head/lib) and any further builds named in GPUMEM_PAIR_LIBS
# ("NAME=LIBDIR ...", e.g. a variant of a change and a second copy of one library as a control;
# each LIBDIR with its gpumem/ modules for the CUDA rows), interleaved rounds pinned to core 3 on
# the host backend (GPUMEM_PAIR_ROUNDS, default 9) and on CUDA (GPUMEM_PAIR_CUDA_ROUNDS, default 7; its
# create_destroy_pair_native row is gpumem's native pool, cuMemAllocFromPoolAsync on a pool of its
# own with a stream synchronize after each host create, not the bare call); then the ratio goal 2
# asks for: the cuda section, pinned, times a paged pool and cuMemAllocAsync + cuMemFreeAsync side
# by side on a trace like the pool section's (alloc_speedup_vs_async; its transfers at 16 MiB, to
# keep it short, are a bound process's and not goal 1's figures); then the suballocator against the
# base library (GPUMEM_BASE_LIB), as in scale (GPUMEM_SUBALLOCATOR_ROUNDS, default 5). Run it on a
# release build (GPUMEM_BUILD=build-rel). First the host settles (settle_host). At worst the part
# takes about 720 s: give it RUN_GPU_DEADLINE=590 alone in a call (steps that do not fit are
# skipped and counted). These hosts' cores flip between full speed and about half of it: read
# the minimums beside the medians (docs/performance.md, "Forty-eighth session") ---
if wanted pair; then
settle_host "$out/pair.log"
prev_lib=${GPUMEM_PREV_LIB:-$root/build-head/lib}
read -r -a pair_libs <<<"${GPUMEM_PAIR_LIBS:-}"
if [ -e "$prev_lib/libgpumem.so.0" ]; then
    for backend_rounds in host:${GPUMEM_PAIR_ROUNDS:-9} cuda:${GPUMEM_PAIR_CUDA_ROUNDS:-7}; do
        GPUMEM_BACKEND=${backend_rounds%:*} step \
            "pool pair against the previous library, ${backend_rounds%:*} (bench-libs)" \
            "$out/pair.log" $((75 * (2 + ${#pair_libs[@]}))) bash "$root/tools/bench-libs.sh" \
            --build "$root/$build" --section pool --rounds "${backend_rounds#*:}" --cpu 3 \
            this="$root/$build/lib" previous="$prev_lib" ${pair_libs[@]+"${pair_libs[@]}"}
    done
else
    note "SKIP    pool pair: no previous library in $prev_lib"
fi
GPUMEM_BACKEND=cuda step "the pool's trace against cuMemAllocAsync, pinned (cuda section)" \
    "$out/pair.log" 90 taskset -c 3 "$(tool tools/gpumem-bench)" --section cuda --repeats 5 \
    --size 16M
compare_suballocator "$out/pair.log"
fi

# --- cpu (not in the default parts): what the host's CPU charges for core's hot paths, once it
# times steadily (settle_host): tools/probes/cpu_costs.c (whether membarrier works; a fence, locked
# instructions, a store forwarded to a load that depends on it, calls), then gpumem-bench's pool
# section as the library runs and with GPUMEM_MEMBARRIER=0 and GPUMEM_LONE_THREAD=0, and its call
# and vblock sections, each pinned to core 3 on the host backend. Run it on a release build ---
if wanted cpu; then
settle_host "$out/cpu.log"
step "what the CPU charges (tools/probes/cpu_costs.c)" "$out/cpu.log" 90 bash -c \
    'cc -O2 -o "$1" "$2" && taskset -c 3 "$1"' _ "$out/cpu_costs" "$root/tools/probes/cpu_costs.c"
# GPUMEM_LOG=warning is the script's own setting: the section as the library runs.
for setting in GPUMEM_LOG=warning GPUMEM_MEMBARRIER=0 GPUMEM_LONE_THREAD=0; do
    step "pool section pinned, $setting" "$out/cpu.log" 60 env GPUMEM_BACKEND=host "$setting" \
        taskset -c 3 "$(tool tools/gpumem-bench)" --section pool --repeats 5
done
for section in call vblock; do
    GPUMEM_BACKEND=host step "$section section pinned" "$out/cpu.log" 60 \
        taskset -c 3 "$(tool tools/gpumem-bench)" --section $section --repeats 5
done
fi

# --- bound (not in the default parts): the cuda section in a process bound to 1, 2, 3, 4 and 8 of
# the machine's last cores (taskset), as MPI launchers and container cpusets bind processes,
# each also with GPUMEM_STAGING=never (pageable memory then goes to the driver's own copy): the
# pageable rows' ratios say from how many cores staging pays. 64 MiB, 3 repeats ---
if wanted bound; then
cores=$(nproc)
for bound in 1 2 3 4 8; do
    if [ "$bound" -gt "$cores" ]; then
        note "SKIP    cuda section bound to $bound cores: the machine has $cores"
        continue
    fi
    cpus="$((cores - bound))-$((cores - 1))"
    for staging in auto never; do
        GPUMEM_STAGING=$staging step \
            "cuda section bound to $bound cores ($cpus), GPUMEM_STAGING=$staging" "$out/bound.log" \
            60 taskset -c "$cpus" "$(tool tools/gpumem-bench)" --section cuda --repeats 3 --size 64M
    done
done
fi

# --- copiers (not in the default parts): whether a second copy thread pays on two cores. The
# cuda section in a process bound to the machine's last two cores, every transfer staged
# (GPUMEM_STAGING=always, so the host copies carry the pageable rows), with GPUMEM_COPY_THREADS
# 1 (the default on two CPUs before 8d0cc58) and 2, in turn, three rounds. 64 MiB, 3 repeats ---
if wanted copiers; then
cpus="$(($(nproc) - 2))-$(($(nproc) - 1))"
for round in 1 2 3; do
    for copiers in 1 2; do
        GPUMEM_STAGING=always GPUMEM_COPY_THREADS=$copiers step \
            "cuda section bound to 2 cores ($cpus), staged, $copiers copiers, round $round" \
            "$out/copiers.log" 60 taskset -c "$cpus" "$(tool tools/gpumem-bench)" --section cuda \
            --repeats 3 --size 64M
    done
done
fi

# --- compare (not in the default parts): this build's library against the previous main's,
# side by side (tools/bench-compare.sh): the pool's create+destroy pair, the call section and the
# suballocator on host, the pair on CUDA, pinned to one core, the scale section on host and the
# cuda section (transfers and allocations) unpinned; then the suballocator against the
# base library as in scale. The previous library is built elsewhere and carried in
# GPUMEM_PREV_LIB (default build-head/lib, with its gpumem/ folder of backend modules for the
# CUDA rows) ---
if wanted compare; then
prev_lib=${GPUMEM_PREV_LIB:-$root/build-head/lib}
if [ -e "$prev_lib/libgpumem.so.0" ]; then
    for section in pool call vblock; do
        GPUMEM_BACKEND=host step "$section against the previous library, host (bench-compare)" \
            "$out/compare.log" 120 bash "$root/tools/bench-compare.sh" --build "$root/$build" \
            --base-lib "$prev_lib" --rounds 5 --section $section --cpu 3
    done
    GPUMEM_BACKEND=cuda step "pool against the previous library, cuda (bench-compare)" \
        "$out/compare.log" 120 bash "$root/tools/bench-compare.sh" --build "$root/$build" \
        --base-lib "$prev_lib" --rounds 5 --section pool --cpu 3
    # Live counts and threads (1-8 on one pool, in pools of their own, over arenas), unpinned.
    GPUMEM_BACKEND=host step "scale against the previous library, host (bench-compare)" \
        "$out/compare.log" 400 bash "$root/tools/bench-compare.sh" --build "$root/$build" \
        --base-lib "$prev_lib" --rounds 3 --repeats 1 --section scale
    # Transfers, unpinned: the staging pipeline's host copies run on several threads.
    GPUMEM_BACKEND=cuda step "cuda section against the previous library (bench-compare)" \
        "$out/compare.log" 150 bash "$root/tools/bench-compare.sh" --build "$root/$build" \
        --base-lib "$prev_lib" --rounds 4 --section cuda
else
    note "SKIP    compare: no previous library in $prev_lib"
fi
compare_suballocator "$out/compare.log"
fi

# --- the conformance suite under compute-sanitizer memcheck: one test at a time (each in a
# process of its own, which --target-processes all follows), device leaks counted too. Two
# tests register a range themselves so that the runtime refuses core's registration of it: that
# refusal is their point, and memcheck reports every refused call as an error, so they run in a
# step of their own that still checks memory and leaks but not the runtime's answers ---
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1)
refused='a_transfer_@(whose_later_piece_the_runtime_refuses|refused_a_piece_whose_copies_then_fail)*'
if ! wanted memcheck; then
    :
elif [ -n "$sanitizer" ]; then
    # memcheck NAME BUDGET FILTER [SANITIZER OPTION...]: the tests FILTER names, under memcheck.
    memcheck() {
        local name=$1 budget=$2 filter=$3
        shift 3
        step "$name" "$out/memcheck.log" "$budget" \
            "$sanitizer" --tool memcheck --target-processes all --leak-check full \
            --error-exitcode 99 --print-limit 100 "$@" \
            "$(tool tests/conformance/gpumem-conformance)" --jobs 1 --full-stats \
            --filter "conformance/$filter"
    }
    memcheck "conformance under compute-sanitizer memcheck" 360 "!($refused)"
    logged=$(stat -c %s "$out/memcheck.log")
    memcheck "conformance under memcheck, the runtime's refusals expected" 60 "$refused" \
        --report-api-errors no
    # A renamed test would leave this step running nothing, and passing.
    if ! synthesis "$out/memcheck.log" "$logged" | grep -q 'Tested: 2 '; then
        note "FAIL    the refused-registration tests did not both run under memcheck: rename \$refused"
        failures=$((failures + 1))
    fi
    grep -a -E '^========= (ERROR SUMMARY|LEAK SUMMARY)' "$out/memcheck.log" | sort | uniq -c |
        sed 's/^/        /' | tee -a "$summary"
else
    note "SKIP    compute-sanitizer: not found on this machine"
fi

# --- summary: the bench's key numbers, then the verdict ---
if [ -s "$out/bench-cuda.json" ] && command -v python3 >/dev/null; then
    python3 - "$out/bench-cuda.json" <<'EOF' | tee -a "$summary"
import json, sys
report = json.load(open(sys.argv[1]))
print("bench: %s on %s" % (report.get("backend"), report.get("device")))
for r in report.get("results", []):
    if r["section"] in ("cuda", "transfer", "pool"):
        print("  %-10s %-32s %12.3f %s" % (r["section"], r["name"], r["value"], r["unit"]))
EOF
fi
# Logs over the 16 MiB a returned file may have keep their end, where the verdicts are.
for f in "$out"/*.log; do
    [ "$(stat -c %s "$f")" -gt 15000000 ] && tail -c 15000000 "$f" >"$f.tail" && mv "$f.tail" "$f"
done
note "run-gpu.sh: $failures step(s) not passed; logs in $out: $(cd "$out" && echo *)"
[ "$failures" -eq 0 ]
