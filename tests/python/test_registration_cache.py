"""The registration cache from Python (GPUMEM_REGISTRATION_CACHE, with libgpumem-memhooks
preloaded into the interpreter): numpy arrays of 48 MiB, each new one allocated where the last
was freed, move by DMA through registrations the cache makes and keeps, and every transfer is
byte-exact. Runs where pageable memory would be staged (CUDA, HIP); the rules themselves are
tests/unit/test_registration_cache.c's, the speed docs/performance.md's."""
import os
import subprocess
import sys

import pytest

CHILD = r"""
import numpy as np
import gpumem

size = 48 << 20
with gpumem.Device() as device:
    pool = device.pool(preferred_flags=gpumem.DEVICE_LOCAL, name="cache")
    buffer = pool.buffer(size)
    addresses = set()
    for round in range(5):
        array = np.random.default_rng(round).integers(0, 256, size, dtype=np.uint8)
        addresses.add(array.ctypes.data)
        for pass_ in range(2):
            buffer.write(array)
            back = np.empty_like(array)
            buffer.read_into(back)
            assert np.array_equal(back, array), "round %d pass %d" % (round, pass_)
            array[:] = np.random.default_rng(100 + round * 2 + pass_).integers(
                0, 256, size, dtype=np.uint8)
        del array, back
    print("ok", len(addresses))
"""


def test_numpy_arrays_move_through_the_cache_byte_exact(device):
    hooks = os.environ.get("GPUMEM_MEMHOOKS_LIBRARY")
    if not hooks:
        pytest.skip("GPUMEM_MEMHOOKS_LIBRARY (the path of libgpumem-memhooks) is not set")
    if device.backend not in ("cuda", "hip"):
        pytest.skip("backend %s stages no pageable memory for the cache to register"
                    % device.backend)
    if os.environ.get("LD_PRELOAD"):
        pytest.skip("LD_PRELOAD is taken (%s): the hooks must come first"
                    % os.environ["LD_PRELOAD"])
    env = dict(os.environ, LD_PRELOAD=hooks, GPUMEM_REGISTRATION_CACHE=str(1 << 30),
               GPUMEM_LOG="debug")
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.startswith("ok"), done.stdout
    paths = [line for line in done.stderr.splitlines()
             if ("write of %d bytes" % (48 << 20)) in line or
             ("read of %d bytes" % (48 << 20)) in line]
    assert len(paths) == 20, "\n".join(paths)
    staged = [line for line in paths if "registration cache" not in line]
    assert not staged, "transfers not through the cache:\n" + "\n".join(staged)
