#!/usr/bin/env bash
# gpumem quick start: installs what the build needs (Debian 12 or Ubuntu, with apt-get), builds
# into build/, and runs gpumem-info and a short demo on the default backend.
#   ./quickstart.sh                 then: meson test -C build --print-errorlogs
# Environment: GPUMEM_MESON_ARGS adds meson setup options (e.g. "-Dvulkan=disabled");
# GPUMEM_SKIP_DEPS=1 skips the package installation.
set -euo pipefail
cd "$(dirname "$0")"

packages=(
  build-essential pkg-config meson ninja-build   # the build
  libcriterion-dev                               # the tests
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslc   # Vulkan + lavapipe
  libamdhip64-dev                                # ROCm HIP headers and runtime
  python3 python3-numpy python3-pytest           # the Python package's tests
)

install_deps() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  local missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return
  echo "quickstart: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

[ "${GPUMEM_SKIP_DEPS:-0}" = 1 ] || install_deps
# CI builds with warnings as errors; a user's newer compiler should not break the build.
werror=false
[ "${CI:-}" = true ] && werror=true
# A setup that failed leaves build/ without build.ninja: set up again, not compile nothing. Set
# GPUMEM_MESON_ARGS again on a configured build/ and they are applied to it.
if [ ! -f build/build.ninja ]; then
  rm -rf build
  meson setup build -Dwerror=$werror ${GPUMEM_MESON_ARGS:-}
elif [ -n "${GPUMEM_MESON_ARGS:-}" ]; then
  meson configure build ${GPUMEM_MESON_ARGS}
fi
meson compile -C build
echo
build/tools/gpumem-info
echo
build/tools/gpumem-demo
