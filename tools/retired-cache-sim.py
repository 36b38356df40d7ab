#!/usr/bin/env python3
"""How often a cache of recently destroyed buffers' ranges could serve the next create.

A model, not gpumem code: it replays the trace of gpumem-bench's cuda section (256 live
buffers, each step destroys a random one and creates one of a random size from 256 B to 1 MiB;
the same xorshift generator and seed as tools/bench_cuda.c), sizes rounded up to 256 bytes as a
pool rounds them, and keeps the last K destroyed ranges. A create "hits" when a kept range is of
the request's own suballocator class (32 classes per power of two, as core/tlsf_inline.h) and
at least the request's size, which is what the suballocator's own-class short path would accept.
It prints the share of creates that hit for each K.

    python3 tools/retired-cache-sim.py [K ...]      (default: 16 64 256 1024)

docs/performance.md ("Eleventh session") quotes its output.
"""
import collections
import sys

MASK = (1 << 64) - 1
LIVE = 256
STEPS = 200000
UNIT = 256


class Xorshift:
    def __init__(self):
        self.state = 0x9E3779B97F4A7C15

    def next(self):
        s = self.state
        s ^= (s << 13) & MASK
        s ^= s >> 7
        s ^= (s << 17) & MASK
        self.state = s
        return s


def random_size(rng):
    r = rng.next()
    bits = 8 + r % 12
    return (1 << bits) + (r >> 32) % (1 << bits)


def class_of(size):
    top = (size | 32).bit_length() - 1
    shift = top - 5
    return (shift << 5) + (size >> shift)


def rounded(size):
    return (size + UNIT - 1) // UNIT * UNIT


def hit_rate(kept):
    rng = Xorshift()
    live = [rounded(random_size(rng)) for _ in range(LIVE)]
    order = collections.deque()  # ids of kept ranges, oldest first
    by_class = collections.defaultdict(dict)  # class -> {id: size}
    where = {}  # id -> class, for kept ranges
    next_id = 0
    hits = 0
    for _ in range(STEPS):
        victim = rng.next() % LIVE
        want = rounded(random_size(rng))
        size = live[victim]
        c = class_of(size)
        by_class[c][next_id] = size
        where[next_id] = c
        order.append(next_id)
        next_id += 1
        while len(where) > kept:
            old = order.popleft()
            if old in where:
                del by_class[where.pop(old)][old]
        mine = by_class.get(class_of(want), {})
        found = next((i for i, s in mine.items() if s >= want), None)
        if found is not None:
            hits += 1
            del mine[found]
            del where[found]
        live[victim] = want
    return hits / STEPS


def kept_counts(args):
    """The K arguments, each a whole number of ranges from 0 up; None (said why) otherwise."""
    counts = []
    for a in args:
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        try:
            k = int(a, 10)
        except ValueError:
            k = -1
        if k < 0:
            print("retired-cache-sim: K must be a whole number from 0 up, not %r" % a,
                  file=sys.stderr)
            return None
        counts.append(k)
    return counts or [16, 64, 256, 1024]


if __name__ == "__main__":
    counts = kept_counts(sys.argv[1:])
    if counts is None:
        sys.exit(2)
    for k in counts:
        print("kept %5d: %.1f%% of creates hit" % (k, 100 * hit_rate(k)))
