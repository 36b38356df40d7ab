"""How far a paged pool grows past its live bytes under a training-like sequence: activations
made in a forward pass and freed in reverse in a backward pass, with temporaries and gradients
between them. Peak reserved bytes come from the pool's info log (each page allocated and freed
says what the pool reserves), which changes nothing; gpumem_pool_stats_get would give back
destroyed buffers' ranges early and change what is measured.

Before pools placed buffers in their oldest page first and gave large destroyed ranges back at
once, these sequences peaked at 1.32-1.51x their live bytes on the host backend; now at
1.13-1.24x. The PyTorch training step these stand in for is replayed on the GPU machine
(tests/device/replay_trace.py)."""
import ctypes
import random
import re

import pytest

import gpumem
from gpumem._library import lib

LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
PAGE = 8 << 20


class PeakReserved:
    """The largest reserved bytes the pool named `name` reported in its log."""

    def __init__(self, name):
        self.pattern = re.compile(rb"pool '" + name.encode() + rb"': page .* the pool reserves "
                                  rb"(\d+) bytes")
        self.peak = 0
        self.callback = LOG_FN(self.on_log)

    def on_log(self, user, level, message):
        found = self.pattern.search(message)
        if found:
            self.peak = max(self.peak, int(found.group(1)))

    def __enter__(self):
        lib.gpumem_log_set_callback.argtypes = [LOG_FN, ctypes.c_void_p]
        lib.gpumem_log_set_callback(self.callback, None)
        return self

    def __exit__(self, *exception):
        lib.gpumem_log_set_callback(LOG_FN(), None)


def training_like(pool, seed, stream=None):
    """The peak live bytes of a forward/backward sequence of 20 steps over 40 layers."""
    rng = random.Random(seed)
    layers = [rng.choice([PAGE // 5, PAGE // 7, PAGE // 11, PAGE // 3, 4096, 65536])
              for _ in range(40)]
    weights = [pool.buffer(65536, stream=stream) for _ in range(20)]
    used = peak = 20 * 65536
    for _ in range(20):
        activations = []
        for size in layers:
            activations.append(pool.buffer(size, alignment=512, stream=stream))
            used += size
            peak = max(peak, used)
            pool.buffer(size // 2 + 512, alignment=512, stream=stream).destroy(stream=stream)
        for activation, size in zip(reversed(activations), reversed(layers)):
            gradient = pool.buffer(size, alignment=512, stream=stream)
            peak = max(peak, used + size)
            activation.destroy(stream=stream)
            gradient.destroy(stream=stream)
            used -= size
    for weight in weights:
        weight.destroy(stream=stream)
    return peak


@pytest.mark.parametrize("ordered", [False, True], ids=["plain", "stream-ordered"])
def test_a_training_like_sequence_reserves_little_beyond_its_live_bytes(device, ordered):
    ratios = []
    for seed in range(1, 7):
        with PeakReserved("growth") as reserved:
            pool = device.pool(preferred_flags=gpumem.DEVICE_LOCAL, page_size=PAGE,
                               name="growth")
            stream = device.stream() if ordered else None
            live = training_like(pool, seed, stream)
            pool.destroy()
        assert reserved.peak, "the pool logged no page"
        ratios.append(reserved.peak / live)
    # A seed's ratio moves in steps of a page (about 0.18 of these live bytes): on the host
    # backend the mean is 1.145; with simgpu's byte alignment (buffers at any byte, pages at odd
    # multiples of 4) two seeds take one page more, a mean of 1.206. The placement before read
    # 1.32-1.51 (above).
    assert max(ratios) <= 1.3 and sum(ratios) / len(ratios) <= 1.25, \
        "peak reserved / peak live bytes per seed: " + ", ".join("%.3f" % r for r in ratios)
