#!/usr/bin/env bash
# Runs gpumem's conformance suite on the simulated discrete GPU (simgpu), in several
# configurations, the way an out-of-tree backend is built and tested:
#
#   1. installs the gpumem build (default build/) into a staging folder (meson install --destdir),
#   2. builds examples/simulated-gpu against that installation only (pkg-config finds gpumem.pc),
#   3. runs the build's conformance program once per configuration, with
#      GPUMEM_PLUGIN_PATH=<the module's build folder> GPUMEM_BACKEND=simgpu and the
#      configuration's variables, and prints one summary line per configuration.
#
# Usage, from anywhere, after `meson setup build && meson compile -C build`:
#   examples/simulated-gpu/run-conformance.sh              every configuration
#   examples/simulated-gpu/run-conformance.sh NAME...      only these (see --list)
#   examples/simulated-gpu/run-conformance.sh --list       the configurations and their variables
# Environment: GPUMEM_BUILD_DIR (default build), SIMGPU_WORK_DIR (default build-simgpu: the
# staged installation, the module's build and one log per configuration), SIMGPU_TIMEOUT
# (seconds per run, default 300), SIMGPU_CONFORMANCE_ARGS (default --jobs=2), SIMGPU_FUZZ_OPS
# (ops of the build's random-operation fuzzer, tests/fuzz, run after the suite in each
# configuration with a seed of its own; default 20000, 0: none), SIMGPU_PYTHON (a Python with
# pytest and numpy: the Python package's tests run in each configuration too; unset: not run),
# SIMGPU_PYTHON_CONFIGS (the configurations, by name and separated by spaces, in which they run;
# default: all) and SIMGPU_PYTHON_PRELOAD (the AddressSanitizer runtime, for a sanitized build).
# Exit status: 0 when every configuration passed, 1 when one failed, 2 on a setup error.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

# name | what it exercises | variables
configurations=(
  "default|discrete GPU: device-local memory staged through coherent host memory (on one usable CPU, synchronous transfers and reads go to the backend's direct copies); async streams, events|"
  "noncoherent|a third memory type, host-visible and cached but not coherent (tests that walk every type use it)|SIMGPU_NONCOHERENT=1"
  "noncoherent-only|the only host-visible type is not coherent: mappings, staging chunks and guard margins all need flush and invalidate|SIMGPU_NONCOHERENT=only"
  "large-atom|non-coherent atoms of 1 KiB, above the device's min_alignment: buffers must not share one; no host copies or fill, so core writes and fills every size through mappings|SIMGPU_NONCOHERENT=only SIMGPU_ATOM_SIZE=1024 SIMGPU_NO_HOST_COPIES=1 SIMGPU_NO_FILL=1"
  "no-host-copies|no copy_host_to_page, copy_page_to_host or fill: core maps or stages every transfer and fill (200 us per queued operation)|SIMGPU_NO_HOST_COPIES=1 SIMGPU_NO_FILL=1 SIMGPU_STREAM_DELAY_US=200"
  "staging-always|every transfer through core's staging pipeline, in 64 KiB chunks (200 us per queued operation)|GPUMEM_STAGING=always GPUMEM_STAGING_CHUNK=65536 SIMGPU_STREAM_DELAY_US=200"
  "slow-streams|2 ms before each queued operation: work lands long after the call that queued it|SIMGPU_STREAM_DELAY_US=2000"
  "no-events|no event operations: core waits for whole streams to reuse staging chunks (all transfers staged, 200 us per queued operation)|SIMGPU_NO_EVENTS=1 GPUMEM_STAGING=always GPUMEM_STAGING_CHUNK=65536 SIMGPU_STREAM_DELAY_US=200"
  "no-streams|no streams: a synchronous device whose memory the host cannot map, staged without streams or events|SIMGPU_NO_STREAMS=1 SIMGPU_NO_HOST_COPIES=1"
  "no-addresses|pages without addresses (as Vulkan's memory objects): offsets aligned, a native object per buffer|SIMGPU_NO_ADDRESSES=1"
  "byte-alignment|min_alignment 1 and pages at odd multiples of 4 bytes: buffers at any byte, addresses aligned by core alone|SIMGPU_MIN_ALIGNMENT=1 SIMGPU_PAGE_ALIGNMENT=4"
  "registration-cache|the registration cache on, libgpumem-memhooks preloaded (the build's): large synchronous transfers register their memory and keep it registered, registered memory is reported pinned (so large transfers of it go by DMA, as on CUDA), and queued work that uses it is checked to find it registered when it runs (200 us per queued operation)|GPUMEM_REGISTRATION_CACHE=1073741824 LD_PRELOAD=@MEMHOOKS@ SIMGPU_REPORTS_PINNED=1 SIMGPU_STREAM_DELAY_US=200"
)

field() { # field N "a|b|c"
  local IFS='|'
  local -a parts
  read -r -a parts <<<"$2|"
  printf '%s' "${parts[$1]:-}"
}

if [ "${1:-}" = "--list" ] || [ "${1:-}" = "-l" ]; then
  for c in "${configurations[@]}"; do
    printf '%-17s %s\n%-17s   %s\n' "$(field 0 "$c")" "$(field 2 "$c")" "" "$(field 1 "$c")"
  done
  exit 0
fi

# The configuration called NAME (its whole line), or an exit with status 2 naming WHERE it was
# asked for: a misspelt name must not run nothing.
configuration_named() { # configuration_named NAME WHERE
  local c
  for c in "${configurations[@]}"; do
    if [ "$(field 0 "$c")" = "$1" ]; then
      printf '%s' "$c"
      return
    fi
  done
  echo "run-conformance.sh: unknown configuration '$1'$2 (--list shows them)" >&2
  exit 2
}

# The configurations to run: all, or those named.
selected=()
if [ $# -eq 0 ]; then
  selected=("${configurations[@]}")
else
  for name in "$@"; do
    found="$(configuration_named "$name" "")" || exit 2
    selected+=("$found")
  done
fi
# Those the Python tests run in.
for name in ${SIMGPU_PYTHON_CONFIGS:-}; do
  configuration_named "$name" " in SIMGPU_PYTHON_CONFIGS" >/dev/null || exit 2
done

build="${GPUMEM_BUILD_DIR:-build}"
work="${SIMGPU_WORK_DIR:-build-simgpu}"
case "$work" in /*) ;; *) work="$root/$work" ;; esac
case "$build" in /*) ;; *) build="$root/$build" ;; esac
stage="$work/stage"
module_build="$work/module"
logs="$work/logs"

fail_setup() {
  echo "run-conformance.sh: $*" >&2
  exit 2
}

[ -f "$build/build.ninja" ] ||
  fail_setup "no gpumem build in $build (run: meson setup build && meson compile -C build)"

# 1. gpumem, installed as a user would install it, into a folder of its own. As it is built:
# under meson test other tests load this build's library meanwhile, and a rebuild (sources
# edited since the suite began) would rewrite it under them.
rm -rf "$stage"
mkdir -p "$work" "$logs"
meson install -C "$build" --no-rebuild --destdir "$stage" --quiet >"$logs/install.log" 2>&1 ||
  { cat "$logs/install.log" >&2; fail_setup "meson install -C $build failed"; }
pc="$(find "$stage" -name gpumem.pc -path '*/pkgconfig/*' | head -n 1)"
[ -n "$pc" ] || fail_setup "the installation in $stage has no gpumem.pc"
# The .pc file names the prefix it was configured for; the sysroot puts the staging folder in
# front of every path it gives (-I, -L).
export PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_SYSROOT_DIR="$stage"

# 2. The module, from nothing but that installation.
werror=false
[ "${CI:-}" = true ] && werror=true
rm -rf "$module_build"
{
  meson setup "$module_build" "$here" -Dwerror="$werror" &&
    meson compile -C "$module_build"
} >"$logs/module-build.log" 2>&1 ||
  { cat "$logs/module-build.log" >&2; fail_setup "building examples/simulated-gpu failed"; }
[ -f "$module_build/libgpumem-simgpu.so" ] || fail_setup "the build made no libgpumem-simgpu.so"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# 3. The conformance program: the build's (its name changed from `conformance` to
# `gpumem-conformance`), or an installed one.
conformance=""
for candidate in "$build/tests/conformance/gpumem-conformance" \
                 "$build/tests/conformance/conformance" \
                 "$(find "$stage" -path '*/bin/gpumem-conformance' | head -n 1)"; do
  if [ -x "$candidate" ] && [ -f "$candidate" ]; then
    conformance="$candidate"
    break
  fi
done
[ -n "$conformance" ] ||
  fail_setup "no conformance program in $build/tests/conformance (was gpumem configured with -Dtests=false?)"

# Nothing of the caller's gpumem or simgpu settings may leak into a configuration.
clean_env=()
while IFS= read -r name; do
  clean_env+=(-u "$name")
done < <(compgen -e | grep -E '^(GPUMEM|SIMGPU)_' || true)

timeout_s="${SIMGPU_TIMEOUT:-300}"
fuzz_ops="${SIMGPU_FUZZ_OPS:-20000}"
fuzzer="$build/tests/fuzz/gpumem-fuzz"
if [ "$fuzz_ops" != 0 ] && [ ! -x "$fuzzer" ]; then
  fail_setup "no fuzzer at $fuzzer (SIMGPU_FUZZ_OPS=0 runs without it)"
fi
read -r -a conformance_args <<<"${SIMGPU_CONFORMANCE_ARGS:---jobs=2}"

echo "simgpu conformance: $conformance, module $module_build/libgpumem-simgpu.so"
passed=0
failed_names=()
seed=0
for c in "${selected[@]}"; do
  seed=$((seed + 1))
  name="$(field 0 "$c")"
  read -r -a variables <<<"$(field 2 "$c")"
  # @MEMHOOKS@: the build's libgpumem-memhooks (a configuration that preloads it).
  variables=("${variables[@]//@MEMHOOKS@/$build/memhooks/libgpumem-memhooks.so.0}")
  log="$logs/$name.log"
  {
    echo "configuration $name: $(field 1 "$c")"
    echo "variables: ${variables[*]:-(none)}"
    echo "program: $conformance ${conformance_args[*]}"
    echo
  } >"$log"
  start=$(date +%s%N)
  set +e
  env "${clean_env[@]}" \
    GPUMEM_LOG=warning \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    GPUMEM_PLUGIN_PATH="$module_build" GPUMEM_BACKEND=simgpu "${variables[@]}" \
    timeout "$timeout_s" "$conformance" "${conformance_args[@]}" >>"$log" 2>&1
  rc=$?
  fuzz_rc=0
  if [ "$fuzz_ops" != 0 ]; then
    echo "fuzzer: $fuzzer --seed $seed --ops $fuzz_ops" >>"$log"
    env "${clean_env[@]}" \
      GPUMEM_LOG=warning \
      ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
      UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
      GPUMEM_PLUGIN_PATH="$module_build" GPUMEM_BACKEND=simgpu "${variables[@]}" \
      timeout "$timeout_s" "$fuzzer" --seed "$seed" --ops "$fuzz_ops" >>"$log" 2>&1
    fuzz_rc=$?
  fi
  python_rc=0
  python_here=""
  if [ -n "${SIMGPU_PYTHON:-}" ] && [ -d "$build/python/gpumem" ] &&
     { [ -z "${SIMGPU_PYTHON_CONFIGS:-}" ] || [[ " $SIMGPU_PYTHON_CONFIGS " == *" $name "* ]]; }; then
    python_here=1
    # The Python package's tests (tests/python) on this configuration too; under
    # AddressSanitizer SIMGPU_PYTHON_PRELOAD names its runtime, which Python must load first.
    python_env=(GPUMEM_LOG=warning PYTHONPATH="$build/python" PYTHONDONTWRITEBYTECODE=1)
    if [ -n "${SIMGPU_PYTHON_PRELOAD:-}" ]; then
      python_env+=(LD_PRELOAD="$SIMGPU_PYTHON_PRELOAD" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1)
    fi
    echo "python: $SIMGPU_PYTHON tests/python/run_pytest.py" >>"$log"
    env "${clean_env[@]}" "${python_env[@]}" \
      GPUMEM_PLUGIN_PATH="$module_build" GPUMEM_BACKEND=simgpu "${variables[@]}" \
      timeout "$timeout_s" "$SIMGPU_PYTHON" "$root/tests/python/run_pytest.py" >>"$log" 2>&1
    python_rc=$?
  fi
  set -e
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  seconds="$((elapsed / 1000)).$(printf '%01d' $(( (elapsed % 1000) / 100 )))"
  # Criterion's last line: "Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N".
  synthesis="$(grep -a 'Synthesis:' "$log" | tail -n 1 | sed 's/.*Synthesis: //' || true)"
  counts="$(printf '%s' "$synthesis" | sed -E 's/Tested: ([0-9]+) \| Passing: ([0-9]+) \| Failing: ([0-9]+) \| Crashing: ([0-9]+).*/\1 tested, \2 passed, \3 failed, \4 crashed/')"
  [ -n "$counts" ] || counts="no summary from the suite"
  if [ "$fuzz_ops" != 0 ]; then
    if [ $fuzz_rc -eq 0 ]; then
      counts="$counts; fuzzer seed $seed, $fuzz_ops ops: ok"
    else
      counts="$counts; fuzzer seed $seed, $fuzz_ops ops: FAILED (exit $fuzz_rc)"
      [ $rc -ne 0 ] || rc=$fuzz_rc
    fi
  fi
  if [ -n "$python_here" ]; then
    case $python_rc in
      0) counts="$counts; python: ok" ;;
      77) # every test skipped: nothing of the Python package ran on this configuration
        counts="$counts; python: FAILED, every test skipped ($(grep -a -m 1 '^SKIP' "$log" | cut -c1-80 || true))"
        [ $rc -ne 0 ] || rc=1
        ;;
      *)
        counts="$counts; python: FAILED (exit $python_rc)"
        [ $rc -ne 0 ] || rc=$python_rc
        ;;
    esac
  fi
  if [ $rc -eq 0 ]; then
    verdict=PASS
    passed=$((passed + 1))
  else
    case $rc in
      77) verdict="FAIL (every test skipped: simgpu unavailable)" ;;
      124) verdict="FAIL (timed out after ${timeout_s} s)" ;;
      *) verdict="FAIL (exit $rc)" ;;
    esac
    failed_names+=("$name")
  fi
  printf 'simgpu conformance %-17s %-4s %s (%s s)\n' "$name" "$verdict" "$counts" "$seconds"
  if [ $rc -eq 77 ]; then
    grep -a -m 1 -E '^\[SKIP\]' "$log" | sed 's/^/    /' || true
  elif [ $rc -ne 0 ]; then
    grep -a -E '^\[FAIL\]|^simgpu: core broke the backend contract|^gpumem-fuzz: FAILED' "$log" | sort -u |
      sed 's/^/    /' | head -n 20 || true
  fi
  [ $rc -eq 0 ] || echo "    log: $log"
done

total=${#selected[@]}
if [ ${#failed_names[@]} -eq 0 ]; then
  echo "simgpu conformance: all $total configurations passed"
  exit 0
fi
echo "simgpu conformance: $passed of $total configurations passed; failed: ${failed_names[*]}"
exit 1
