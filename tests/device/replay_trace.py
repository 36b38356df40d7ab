#!/usr/bin/env python3
"""Replays an allocation trace of a PyTorch workload (tests/device/frameworks.py --trace FILE
[--config NAME]: the caching allocator's, or libgpumem-frameworks' own) through a gpumem paged
pool, as libgpumem-frameworks allocates: buffers created and destroyed in the order of one
stream, 512-byte aligned. Prints the pool's peak reserved bytes against the caching
allocator's own peak (in its trace's header). Runs on any backend (the host's is the
default): reserved bytes are core's placement decisions, the same on every backend.

    PYTHONPATH=build/python python3 tests/device/replay_trace.py TRACE[.gz] [PAGE_SIZE_MIB...]
"""
import ctypes
import gzip
import re
import sys

import gpumem
from gpumem._library import lib

# The pool's reserved bytes come from its info log ("... the pool reserves N bytes"), which
# changes nothing; gpumem_pool_stats_get would give back destroyed buffers' ranges early and so
# change what it measures.
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
RESERVES = re.compile(rb"pool 'replay': page .* the pool reserves (\d+) bytes")


def read_trace(path):
    opener = gzip.open if path.endswith(".gz") else open
    header, events = {}, []
    with opener(path, "rt") as lines:
        for line in lines:
            if line.startswith("# max_memory_reserved"):
                words = line.split()
                header = {words[i]: int(words[i + 1]) for i in range(1, len(words) - 1, 2)}
            elif line[0] in "af":  # "a|f ADDRESS SIZE" (+ " DEVICE STREAM" from gpumem's)
                words = line.split()
                events.append((words[0] == "a", int(words[1]), int(words[2])))
    return header, events


def replay(events, page_size):
    """Peak reserved bytes and the pages at the end."""
    peak = [0]

    def on_log(user, level, message):
        found = RESERVES.search(message)
        if found:
            peak[0] = max(peak[0], int(found.group(1)))

    callback = LOG_FN(on_log)
    lib.gpumem_log_set_callback.argtypes = [LOG_FN, ctypes.c_void_p]
    lib.gpumem_log_set_callback(callback, None)
    with gpumem.Device() as device:
        stream = device.stream()
        pool = device.pool(preferred_flags=gpumem.DEVICE_LOCAL, page_size=page_size,
                           name="replay")
        live = {}
        for allocate, address, size in events:
            if allocate:
                live[address] = pool.buffer(size, alignment=512, stream=stream)
            elif address in live:  # frees of blocks allocated before the trace began: skipped
                live.pop(address).destroy(stream=stream)
        pages = pool.stats.page_count
    lib.gpumem_log_set_callback(LOG_FN(), None)
    return peak[0], pages


def main(args):
    header, events = read_trace(args[0])
    sizes = [int(a) << 20 for a in args[1:]] or [1 << 30, 512 << 20, 256 << 20]
    base = header.get("max_memory_reserved", 0)
    print("trace: %d events; caching allocator peak reserved %.3f GiB, peak allocated %.3f GiB"
          % (len(events), base / 2**30, header.get("max_memory_allocated", 0) / 2**30))
    for page_size in sizes:
        reserved, pages = replay(events, page_size)
        print("pages of %5d MiB: peak reserved %.3f GiB (%.3fx), %d pages at the end"
              % (page_size >> 20, reserved / 2**30, reserved / base if base else 0, pages))


if __name__ == "__main__":
    main(sys.argv[1:])
