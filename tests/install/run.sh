#!/usr/bin/env bash
# Installs gpumem into a temporary prefix and uses it as a library people already use is used:
#   1. meson setup --prefix=<tmp>/prefix, meson install;
#   2. the installed tools start with no LD_LIBRARY_PATH (their run path is $ORIGIN-relative)
#      and say their version; gpumem-info finds the installed backend modules;
#   3. tests/install/main.c built with CMake (find_package(gpumem), gpumem::gpumem) and with
#      pkg-config (tests/install/pkgconfig/Makefile), each run: 4 KiB written, read back, "OK";
#   4. the prefix moved elsewhere: the tools still start and the CMake package still works.
# Run from anywhere: bash tests/install/run.sh. Needs meson, ninja, a C compiler, cmake, make,
# pkg-config. GPUMEM_MESON_ARGS adds meson setup options; GPUMEM_INSTALL_KEEP=1 keeps the
# temporary folder (its path is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
source_dir=$PWD

work=$(mktemp -d "${TMPDIR:-/tmp}/gpumem-install.XXXXXX")
if [ "${GPUMEM_INSTALL_KEEP:-0}" = 1 ]; then
  echo "install test: keeping $work"
else
  trap 'rm -rf "$work"' EXIT
fi
prefix=$work/prefix
# Nothing may come from a library path: what is found must be found through run paths.
unset LD_LIBRARY_PATH
export GPUMEM_BACKEND=host

fail() { echo "install test: FAIL: $*" >&2; exit 1; }
say() { printf '\n--- %s\n' "$*"; }

say "meson setup and install into $prefix"
# The tests are not installed here (and need Criterion): the library, modules, tools, headers,
# pkg-config and CMake files are what an application builds against.
meson setup "$work/build" --prefix="$prefix" -Dtests=false ${GPUMEM_MESON_ARGS:-} >"$work/setup.log" \
  || { cat "$work/setup.log"; fail "meson setup"; }
meson install -C "$work/build" >"$work/install.log" \
  || { cat "$work/install.log"; fail "meson install"; }

pc=$(find "$prefix" -name gpumem.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "no gpumem.pc under $prefix"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")                 # <prefix>/<libdir>, on Debian lib/x86_64-linux-gnu
echo "libdir: ${libdir#"$prefix"/}"
[ -f "$libdir/cmake/gpumem/gpumemConfig.cmake" ] || fail "no gpumemConfig.cmake in $libdir/cmake/gpumem"
[ -f "$libdir/cmake/gpumem/gpumemConfigVersion.cmake" ] || fail "no gpumemConfigVersion.cmake"
version=$(PKG_CONFIG_PATH=$pcdir pkg-config --modversion gpumem)
echo "version: $version"

say "run paths of the installed programs and modules"
for file in "$prefix"/bin/gpumem-* "$libdir"/gpumem/libgpumem-*.so "$libdir"/libgpumem-frameworks.so; do
  runpath=$(readelf -d "$file" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
  echo "${file#"$prefix"/}: ${runpath:-none}"
  case $file in
    */bin/gpumem-conformance) ;;   # built with the tests, not installed here
    *) case $runpath in '$ORIGIN'*) ;; *) fail "$file has no \$ORIGIN run path" ;; esac ;;
  esac
done

say "the installed tools, with no LD_LIBRARY_PATH"
for tool in gpumem-info gpumem-demo gpumem-bench; do
  out=$("$prefix/bin/$tool" --version) || fail "$tool --version"
  echo "$out"
  [ "$out" = "$tool $version" ] || fail "$tool --version printed '$out', not '$tool $version'"
  "$prefix/bin/$tool" --help >/dev/null || fail "$tool --help"
done
say "the memory hooks (libgpumem-memhooks), preloaded into an installed tool"
hooks="$libdir/libgpumem-memhooks.so.0"
[ -f "$hooks" ] || fail "no $hooks"
[ -f "$prefix/include/gpumem/memhooks.h" ] || fail "no include/gpumem/memhooks.h"
LD_PRELOAD=$hooks GPUMEM_REGISTRATION_CACHE=1073741824 "$prefix/bin/gpumem-demo" >/dev/null \
  || fail "gpumem-demo with $hooks preloaded"
echo "gpumem-demo runs with ${hooks#"$prefix"/} preloaded"
info=$("$prefix/bin/gpumem-info") || { echo "$info"; fail "gpumem-info"; }
echo "$info" | sed -n '/^backends/,/^$/p'
# The module folder is found beside the installed libgpumem, not in the source tree or a build.
echo "$info" | grep -qF "module $libdir/gpumem/libgpumem-host.so" \
  || fail "gpumem-info does not show the installed host module $libdir/gpumem/libgpumem-host.so"

# Builds tests/install/main.c with CMake against prefix $1 into $2, runs it.
cmake_consumer() {
  cmake -S tests/install/cmake -B "$2" -DCMAKE_PREFIX_PATH="$1" >"$2.log" \
    || { cat "$2.log"; fail "cmake configure against $1"; }
  cmake --build "$2" >>"$2.log" || { cat "$2.log"; fail "cmake build"; }
  run_consumer "$2/consumer" "$1"
}

# Runs consumer $1, which must load libgpumem from prefix $2, and print OK.
run_consumer() {
  local loaded
  loaded=$(ldd "$1" | sed -n 's/.*libgpumem\.so\.[0-9]* => \([^ ]*\).*/\1/p')
  echo "libgpumem: $loaded"
  case $loaded in "$2"/*) ;; *) fail "$1 loads libgpumem from '$loaded', not from $2" ;; esac
  out=$("$1") || { echo "$out"; fail "$1 failed"; }
  echo "$out"
  case $out in OK*) ;; *) fail "$1 did not print OK" ;; esac
}

say "CMake consumer: find_package(gpumem), CMAKE_PREFIX_PATH=$prefix"
cmake_consumer "$prefix" "$work/cmake"

say "pkg-config consumer: PKG_CONFIG_PATH=$pcdir"
mkdir -p "$work/pkgconfig"
PKG_CONFIG_PATH=$pcdir make -s -C tests/install/pkgconfig OUT="$work/pkgconfig" \
  || fail "pkg-config consumer build"
run_consumer "$work/pkgconfig/consumer" "$prefix"
# The other two libraries link through their own pkg-config files.
for lib in gpumem-frameworks gpumem-memhooks; do
  PKG_CONFIG_PATH=$pcdir pkg-config --exists $lib || fail "no pkg-config file for $lib"
done
printf '#include <gpumem/frameworks.h>\nint main(void) { return gpumem_frameworks_configure(0) == GPUMEM_OK; }\n' \
  >"$work/frameworks.c"
cc -o "$work/frameworks" "$work/frameworks.c" $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs gpumem-frameworks) \
  -Wl,-rpath,"$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir gpumem)" \
  || fail "a program of gpumem_frameworks_configure links with pkg-config --libs gpumem-frameworks"

say "the prefix moved to $work/moved"
mv "$prefix" "$work/moved"
out=$("$work/moved/bin/gpumem-info" --version) || fail "moved gpumem-info --version"
echo "$out"
"$work/moved/bin/gpumem-info" >/dev/null || fail "moved gpumem-info"
cmake_consumer "$work/moved" "$work/cmake-moved"

cd "$source_dir"
say "install test: OK"
