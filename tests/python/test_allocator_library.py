"""libgpumem-frameworks as the frameworks load it, on any machine: its entry points exist with
the frameworks' signatures, its configuration refuses bad values with the code, an allocation
without a CUDA device fails with NULL (and says why on stderr) instead of crashing, and the
statistics of a device nothing was allocated on are NOT_FOUND. The allocators at work, with
PyTorch and CuPy, run on the GPU machine (tests/device/frameworks.py)."""
import ctypes
import os
import subprocess
import sys

import pytest

import gpumem
from gpumem import frameworks


def test_the_entry_points_are_exported():
    library = frameworks.library()
    for name in ("gpumem_frameworks_torch_alloc", "gpumem_frameworks_torch_free",
                 "gpumem_frameworks_cupy_malloc", "gpumem_frameworks_cupy_free",
                 "gpumem_frameworks_configure", "gpumem_frameworks_stats",
                 "gpumem_frameworks_trim", "gpumem_frameworks_last_error"):
        assert getattr(library, name), name


def test_configuration_refuses_bad_values():
    with pytest.raises(ValueError):
        frameworks.configure(pool="cached")
    with pytest.raises(ValueError):
        frameworks.configure(backend="vulkan")
    raw = frameworks.Config(b"opencl", 0, 0, 0)
    assert frameworks.library().gpumem_frameworks_configure(ctypes.byref(raw)) == \
        gpumem.errors.INVALID_ARGUMENT
    raw = frameworks.Config(None, 7, 0, 0)
    assert frameworks.library().gpumem_frameworks_configure(ctypes.byref(raw)) == \
        gpumem.errors.INVALID_ARGUMENT
    for size in (-1, 1 << 64, 2.5, True, (1 << 62) + 1, 1 << 63):
        with pytest.raises(ValueError):
            frameworks.configure(pool="paged", page_size=size)
    frameworks.configure(pool="paged", page_size=64 << 20)  # before any allocation: accepted


def test_stats_of_an_unused_device_are_not_found():
    """With the allocator's own message: no gpumem call failed, so gpumem's last error (here a
    failed open of another device) is not the reason."""
    with pytest.raises(gpumem.GpumemError):
        gpumem.Device(backend="no-such-backend")
    with pytest.raises(gpumem.GpumemError) as caught:
        frameworks.stats(3)
    assert caught.value.code == gpumem.errors.NOT_FOUND
    assert "framework allocator" in str(caught.value), str(caught.value)
    with pytest.raises(gpumem.GpumemError) as caught:
        frameworks.release(-1)
    assert "framework allocator" in str(caught.value), str(caught.value)


@pytest.mark.skipif(os.environ.get("GPUMEM_BACKEND") == "cuda",
                    reason="with a CUDA device the allocation succeeds (tests/device)")
def test_an_allocation_without_a_device_fails_cleanly():
    # In a process of its own: a failed open leaves nothing behind, but keep it apart anyway.
    code = (
        "from gpumem import frameworks\n"
        "import gpumem\n"
        "lib = frameworks.library()\n"
        "assert frameworks.last_error() == ''\n"
        "assert lib.gpumem_frameworks_torch_alloc(4096, 0, None) is None\n"
        "first = frameworks.last_error()\n"
        "assert first.startswith('an allocation of 4096 bytes on device 0 failed: '), first\n"
        "assert lib.gpumem_frameworks_torch_alloc(0, 0, None) is None\n"
        "assert frameworks.last_error() == first\n"
        # gpumem's own last error is left from another call: the allocator's is its own.
        "try:\n"
        "    gpumem.Device(backend='no-such-backend')\n"
        "except gpumem.GpumemError:\n"
        "    pass\n"
        "assert lib.gpumem_frameworks_torch_alloc(4096, 64, None) is None\n"
        "assert frameworks.last_error() == 'an allocation of 4096 bytes on device 64 failed: '"
        " 'the device ordinal is outside 0-63', frameworks.last_error()\n"
        "assert lib.gpumem_frameworks_torch_alloc(4096, -1, None) is None\n"
        "lib.gpumem_frameworks_torch_free(None, 0, 0, None)\n"
        "print('ok')\n")
    env = dict(os.environ, GPUMEM_LOG="error")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert "gpumem-frameworks: an allocation of 4096 bytes on device 0 failed" in done.stderr
