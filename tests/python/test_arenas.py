"""Pools with arenas from Python: threads create, fill and read back buffers in one pool whose
arenas spread them; the pool's stats and the device's summary cover every arena."""
import threading

import pytest

import gpumem

THREADS = 4
ROUNDS = 60


def churn(pool, seed, failures):
    try:
        live = []
        for round_ in range(ROUNDS):
            size = 1 + (seed * 7919 + round_ * 104729) % 20000
            data = bytes((seed + round_ + i) & 0xFF for i in range(size))
            buffer = pool.buffer(size)
            buffer.write(data)
            live.append((buffer, data))
            if len(live) > 5:
                old, old_data = live.pop(0)
                assert old.read() == old_data, "an older buffer changed"
                old.destroy()
        for buffer, data in live:
            assert buffer.read() == data
            buffer.destroy()
    except Exception as error:  # reported on the test's own thread
        failures.append("thread %d: %r" % (seed, error))


def test_threads_share_a_pool_of_arenas(device):
    pool = device.pool(page_size=1 << 20, arena_count=THREADS, name="arenas")
    failures = []
    threads = [threading.Thread(target=churn, args=(pool, seed, failures))
               for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    stats = pool.stats
    assert stats.allocation_count == 0 and stats.used_bytes == 0
    # The threads took the pool's arenas in turn, one each, and each arena keeps its empty
    # page.
    assert stats.page_count == THREADS, stats
    assert "pool 'arenas'" in device.summary() and "4 arenas" in device.summary()
    pool.trim()
    assert pool.stats.page_count == 0


def test_arena_count_is_checked(device):
    with pytest.raises(gpumem.GpumemError) as caught:
        device.pool(arena_count=gpumem.POOL_MAX_ARENAS + 1)
    assert caught.value.code == gpumem.errors.INVALID_ARGUMENT
    assert "arena_count" in str(caught.value)
    with pytest.raises(ValueError):
        device.pool(arena_count=-1)
    pool = device.pool(arena_count=gpumem.POOL_MAX_ARENAS)
    assert pool.buffer(100).info.size == 100
