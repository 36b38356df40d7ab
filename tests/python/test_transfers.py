"""Bytes in and out of buffers: every kind of Python object, and random operations checked
against a model of every buffer's bytes."""
import os
import random

import numpy as np
import pytest

import gpumem
from gpumem import errors

# Sizes around the boundaries of the transfer paths: tiny, 4-byte units, 4096, 64 KiB.
BOUNDARY_SIZES = [1, 3, 4, 5, 4095, 4096, 4097, 65533, 65536, 65539]


def test_write_and_read_every_kind_of_object(device_pool):
    buffer = device_pool.buffer(4096)
    payloads = [bytes(range(256)) * 2, bytearray(b"\x5a" * 300), memoryview(b"abcdefgh"),
                np.arange(100, dtype=np.int32), np.arange(64, dtype=np.float64)[::2],
                np.arange(12, dtype=np.uint16).reshape(3, 4).T]
    for offset, payload in zip([0, 512, 1000, 1200, 2000, 3000], payloads):
        expected = memoryview(payload).tobytes() if not isinstance(payload, np.ndarray) \
            else np.ascontiguousarray(payload).tobytes()
        buffer.write(payload, offset)
        assert buffer.read(len(expected), offset) == expected
        out = np.zeros(len(expected), dtype=np.uint8)
        buffer.read_into(out, offset)
        assert out.tobytes() == expected


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_at_boundary_sizes(device_pool, size):
    buffer = device_pool.buffer(size + 8)
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8)
    for offset in (0, 1, 3, 8):
        if offset + size > buffer.size:
            continue
        buffer.write(b"\x11" * buffer.size)
        buffer.write(data, offset)
        whole = np.frombuffer(buffer.read(), dtype=np.uint8)
        assert (whole[offset:offset + size] == data).all()
        assert (whole[:offset] == 0x11).all() and (whole[offset + size:] == 0x11).all()


def test_random_operations_against_a_model(device):
    seed = int(os.environ.get("GPUMEM_PY_SEED", "20261130"))
    rng = random.Random(seed)
    pools = [device.pool(required_flags=gpumem.HOST_VISIBLE),
             device.pool(preferred_flags=gpumem.DEVICE_LOCAL)]
    buffers, model = [], []
    for size in rng.sample(BOUNDARY_SIZES, 6):
        buffer = rng.choice(pools).buffer(size)
        buffer.write(bytes(size))
        buffers.append(buffer)
        model.append(bytearray(size))
    stream = device.stream()

    def pick_range(size):
        # Mostly inside the buffer, sometimes past its end.
        length = rng.choice([1, 2, 3, 4, 7, 64, rng.randint(1, size + 4)])
        offset = rng.randint(0, size + 2)
        return offset, length

    for step in range(600):
        index = rng.randrange(len(buffers))
        buffer, bytes_ = buffers[index], model[index]
        offset, length = pick_range(buffer.size)
        inside = offset + length <= buffer.size
        operation = rng.choice(["write", "read", "fill", "copy", "mapped", "stream"])
        context = "seed %d, step %d: %s of %d bytes at %d in a buffer of %d" % (
            seed, step, operation, length, offset, buffer.size)
        try:
            if operation == "write":
                data = bytes(rng.getrandbits(8) for _ in range(length))
                buffer.write(data, offset)
                bytes_[offset:offset + length] = data
            elif operation == "read":
                assert buffer.read(length, offset) == bytes(bytes_[offset:offset + length]), \
                    context
            elif operation == "fill":
                offset, length = offset // 4 * 4, max(length // 4 * 4, 4)
                inside = offset + length <= buffer.size
                pattern = rng.getrandbits(32)
                buffer.fill(pattern, offset, length)
                bytes_[offset:offset + length] = pattern.to_bytes(4, "little") * (length // 4)
            elif operation == "copy":
                target = rng.randrange(len(buffers))
                if target == index:
                    continue
                destination = rng.randint(0, buffers[target].size)
                inside = inside and destination + length <= buffers[target].size
                buffer.copy_to(buffers[target], length, offset, destination)
                model[target][destination:destination + length] = bytes_[offset:offset + length]
            elif operation == "mapped":
                if not buffer.memory_flags & gpumem.HOST_VISIBLE:
                    continue
                with buffer.map() as mapping:
                    mapping.invalidate()  # the host's copy of the atoms written in part
                    array = mapping.array()
                    inside = True
                    offset = min(offset, buffer.size - 1)
                    length = min(length, buffer.size - offset)
                    value = rng.getrandbits(8)
                    array[offset:offset + length] = value
                    mapping.flush(offset, length)
                    bytes_[offset:offset + length] = bytes([value]) * length
                    assert array.tobytes() == bytes(bytes_), context
            else:
                data = bytes(rng.getrandbits(8) for _ in range(length))
                stream.write(buffer, data, offset)
                out = bytearray(length)
                stream.read_into(buffer, out, offset)
                stream.synchronize()
                bytes_[offset:offset + length] = data
                assert out == data, context
        except gpumem.GpumemError as error:
            assert not inside, "%s: %s" % (context, error)
            assert error.code == errors.OUT_OF_RANGE, "%s: %s" % (context, error)
        else:
            assert inside, "%s: succeeded past the end" % context
    for buffer, bytes_ in zip(buffers, model):
        assert buffer.read() == bytes(bytes_)


def test_stream_transfers_are_done_after_synchronize(device_pool):
    source, destination = device_pool.buffer(1 << 20), device_pool.buffer(1 << 20)
    data = np.random.default_rng(1).integers(0, 256, 1 << 20, dtype=np.uint8)
    out = np.zeros_like(data)
    stream = device_pool.device.stream()
    stream.write(source, data)
    stream.copy(source, destination, 1 << 20)
    stream.fill(source, 0xABABABAB)
    stream.read_into(destination, out)
    stream.synchronize()
    assert (out == data).all()
    assert source.read(4) == b"\xab" * 4
    default = device_pool.device.default_stream
    default.write(destination, b"xyz", 5)
    default.synchronize()
    assert destination.read(3, 5) == b"xyz"


def test_events_order_streams_and_the_host(device_pool):
    device = device_pool.device
    producer, consumer = device.stream(), device.stream()
    data, copy = device_pool.buffer(1 << 20), device_pool.buffer(1 << 20)
    with device.event() as written:
        for round_ in range(4):
            source = np.random.default_rng(round_).integers(0, 256, 1 << 20, dtype=np.uint8)
            producer.write(data, source)
            written.record(producer)
            consumer.wait_event(written)
            consumer.copy(data, copy, 1 << 20)
            seen = np.zeros_like(source)
            consumer.read_into(copy, seen)
            with device.event() as done:
                done.record(consumer)
                done.synchronize()
            assert (seen == source).all(), "round %d" % round_
        native = written.native
        if device.backend == "host":
            assert native == (0, 0)
        elif device.backend in ("cuda", "hip", "vulkan"):
            assert native.handle != 0
    with pytest.raises(gpumem.GpumemError) as caught:
        written.record(producer)
    assert caught.value.code == gpumem.errors.DESTROYED


def test_a_wrapped_stream_orders_with_the_native_one(device_pool):
    device = device_pool.device
    owner = device.stream()
    try:
        wrapped = gpumem.Stream.wrap(device, owner.native)
    except gpumem.GpumemError as error:
        if error.code != gpumem.errors.UNSUPPORTED:
            raise
        pytest.skip(str(error))
    assert wrapped.native == owner.native
    buffer = device_pool.buffer(1 << 16)
    data = bytes(range(256)) * 256
    out = bytearray(len(data))
    wrapped.write(buffer, data)
    owner.read_into(buffer, out)
    owner.synchronize()
    assert out == data
    wrapped.destroy()
    owner.write(buffer, b"still works")
    owner.synchronize()
    assert buffer.read(11) == b"still works"


def test_stream_ordered_buffers_reuse_memory_in_the_stream_order(device_pool):
    device = device_pool.device
    stream, other = device.stream(), device.stream()
    rng = np.random.default_rng(7)
    for round_ in range(6):
        size = 4 * int(rng.integers(1, 1 << 18))
        first = device_pool.buffer(size, stream=stream)
        old = rng.integers(0, 256, size, dtype=np.uint8)
        stream.write(first, old)
        first.destroy(stream=stream)
        # On the same stream the range is free at once; work queued after the free sees
        # only what it wrote itself.
        second = device_pool.buffer(size, stream=stream)
        new = rng.integers(0, 256, size, dtype=np.uint8)
        stream.write(second, new)
        seen = np.zeros_like(new)
        stream.read_into(second, seen)
        # Another stream's create waits for the frees before it may take their memory.
        third = device_pool.buffer(size, stream=other)
        other.fill(third, 0x5A5A5A5A)
        stream.synchronize()
        other.synchronize()
        assert (seen == new).all(), "round %d" % round_
        assert third.read() == b"\x5a" * size
        second.destroy(stream=stream)
        third.destroy(stream=other)
        assert not second.alive and not third.alive
        second.destroy(stream=stream)  # a second destroy does nothing
    device_pool.trim()
    assert device_pool.stats.allocation_count == 0


def test_stream_ordered_buffers_refuse_what_is_not_a_live_stream(device_pool):
    device = device_pool.device
    with pytest.raises(TypeError):
        device_pool.buffer(64, stream="stream 0")
    buffer = device_pool.buffer(64)
    with pytest.raises(TypeError):
        buffer.destroy(stream=0)
    assert buffer.alive, "a refused destroy leaves the buffer alone"
    gone = device.stream()
    gone.destroy()
    with pytest.raises(gpumem.GpumemError) as caught:
        device_pool.buffer(64, stream=gone)
    assert caught.value.code == gpumem.errors.DESTROYED
    with pytest.raises(gpumem.GpumemError) as caught:
        buffer.destroy(stream=gone)
    assert caught.value.code == gpumem.errors.DESTROYED
    with gpumem.Device(backend=device.backend) as second:
        foreign = second.stream()
        with pytest.raises(gpumem.GpumemError) as caught:
            device_pool.buffer(64, stream=foreign)
        assert caught.value.code == gpumem.errors.INVALID_ARGUMENT
    buffer.destroy()


def test_usage_is_checked_and_kept(device_pool):
    for usage in (0, gpumem.USAGE_STORAGE, gpumem.USAGE_UNIFORM | gpumem.USAGE_TRANSFER,
                  gpumem.USAGE_VERTEX | gpumem.USAGE_INDEX | gpumem.USAGE_INDIRECT):
        with device_pool.buffer(4096, usage=usage) as buffer:
            buffer.write(b"usage")
            assert buffer.read(5) == b"usage"
    with pytest.raises(gpumem.GpumemError) as caught:
        device_pool.buffer(64, usage=1 << 20)
    assert caught.value.code == gpumem.errors.INVALID_ARGUMENT


def test_an_application_event_is_wrapped_where_the_backend_can(device_pool):
    device = device_pool.device
    stream = device.stream()
    with device.event() as mine:
        stream.write(device_pool.buffer(4096), b"x" * 4096)
        mine.record(stream)
        native = mine.native
        try:
            wrapped = gpumem.Event.wrap(device, native.handle or 1, native.value)
        except gpumem.GpumemError as error:
            assert error.code == gpumem.errors.UNSUPPORTED, error
            pytest.skip(str(error))
        other = device.stream()
        other.wait_event(wrapped)
        other.synchronize()
        wrapped.synchronize()
        wrapped.destroy()
        mine.synchronize()  # the original is untouched


def test_a_buffer_destroyed_with_work_queued_waits_for_that_work(device_pool):
    """C's destroy does not wait for a stream's queued work: a Buffer's destroy() first
    synchronizes the streams whose queued transfers use it, so that a buffer made after it
    cannot take the range under the work (review, 2026-12-05: on Vulkan a queued copy read the
    new buffer's bytes). A destroy in a stream's own order waits only for the other streams."""
    size = 1 << 16
    device = device_pool.device
    source, destination = device_pool.buffer(size), device_pool.buffer(size)
    source.write(b"\x11" * size)
    stream = device.stream()
    stream.copy(source, destination, size)
    source.destroy()
    assert not source.alive and device_pool.stats.allocation_count == 1
    newcomer = device_pool.buffer(size)
    newcomer.write(b"\x22" * size)
    stream.synchronize()
    assert destination.read(4) == b"\x11" * 4
    # On a stream: its own work is ordered before the release; another stream's is waited for.
    other = device.stream()
    other.fill(destination, 0x33333333)
    stream.fill(destination, 0x44444444)
    destination.destroy(stream=stream)
    # The other stream was synchronized; this one's work is ordered before the release.
    assert all(ref() is stream for ref, _ in destination._held_by.values())
    newcomer.destroy()
    stream.synchronize()
    other.synchronize()
    assert device_pool.stats.allocation_count == 0


def test_transfers_and_destroys_racing_on_threads_lose_no_release_and_no_bytes(
        device_pool, monkeypatch):
    """A thread queues a copy on a stream while another destroys the copy's source and makes
    a buffer in its range, and a third synchronizes the stream: a copy that was queued reads
    its source's bytes, never the newcomer's, and every destroyed buffer is released in C (the
    pool is empty at the end). The copying thread pauses after its C call (up to 20 ms, or
    until the destroyer is done), where a thread switch may always fall. Before, a hold was
    counted after the transfer's C call, and a synchronize let go of holds queued after its
    wait: found by a review, 2026-12-05."""
    import threading
    from gpumem._library import lib as library
    size = 1 << 14
    device = device_pool.device
    copy = library.gpumem_stream_copy
    destroyed = threading.Event()

    def copy_then_pause(*arguments):
        result = copy(*arguments)
        destroyed.wait(0.02)
        return result

    monkeypatch.setattr(library, "gpumem_stream_copy", copy_then_pause)
    copies = wrong = 0
    for _ in range(40):
        destroyed.clear()
        stream = device.stream()
        source, destination = device_pool.buffer(size), device_pool.buffer(size)
        source.write(b"\x11" * size)
        outcome, newcomers = [], []

        def copier():
            try:
                stream.copy(source, destination, size)
                outcome.append("queued")
            except gpumem.GpumemError as error:
                assert error.code == gpumem.errors.DESTROYED, error
                outcome.append("refused")

        def destroyer():
            source.destroy()
            device_pool.stats  # reclaims what other threads' calls held back: the range is free
            newcomer = device_pool.buffer(size)
            newcomer.write(b"\x22" * size)
            newcomers.append(newcomer)
            destroyed.set()

        def synchronizer():
            destroyed.wait(1.0)
            stream.synchronize()

        threads = [threading.Thread(target=copier), threading.Thread(target=destroyer),
                   threading.Thread(target=synchronizer)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stream.destroy()  # waits for its work
        if outcome == ["queued"]:
            copies += 1
            wrong += destination.read(4) != b"\x11" * 4
        destination.destroy()
        for newcomer in newcomers:
            newcomer.destroy()
    assert copies > 10, "too few copies queued to have raced: %d" % copies
    assert wrong == 0, "%d of %d copies read a newcomer's bytes" % (wrong, copies)
    device_pool.trim()
    assert device_pool.stats.allocation_count == 0, device_pool.stats


def test_the_default_stream_holds_nothing_back_once_buffers_are_destroyed(device_pool):
    """The default stream is never destroyed: a buffer with transfers queued there is released
    by its own destroy (which synchronizes it), not left until the next synchronize (a review,
    2026-12-05: 200 such buffers stayed allocated)."""
    default = device_pool.device.default_stream
    for _ in range(50):
        buffer = device_pool.buffer(1 << 16)
        default.fill(buffer, 0x01020304)
        buffer.destroy()
    assert device_pool.stats.allocation_count == 0


def test_a_destroy_on_a_stream_that_another_thread_destroys_is_still_released(
        device_pool, monkeypatch):
    """A buffer destroyed on a stream that another thread destroys just before the C call:
    C answers DESTROYED for the stream, and the buffer is released plainly once that stream's
    destroy has waited for its work. Before, DESTROYED was taken for "an owner released it"
    and the C buffer was never released (a review, 2026-12-05)."""
    import threading
    from gpumem._library import lib as library
    stream, buffer = device_pool.device.stream(), device_pool.buffer(4096)
    stream.fill(buffer, 0x01010101)
    destroy_on_stream = library.gpumem_buffer_destroy_on_stream

    def stream_destroyed_first(*arguments):
        thread = threading.Thread(target=stream.destroy)
        thread.start()
        thread.join()
        return destroy_on_stream(*arguments)

    monkeypatch.setattr(library, "gpumem_buffer_destroy_on_stream", stream_destroyed_first)
    buffer.destroy(stream=stream)
    assert not buffer.alive and not stream.alive
    assert device_pool.stats.allocation_count == 0


def test_a_transfer_interrupted_by_a_signal_leaves_no_hold_behind(device_pool):
    """A signal handler's exception (Ctrl-C) is raised once a transfer's C call returns: the
    transfer's hold is then let go by the next synchronize, and the buffer's destroy does not
    wait for it forever (before, it synchronized the stream in an endless loop: a review,
    2026-12-05)."""
    import signal
    import threading

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    stream, buffer = device_pool.device.stream(), device_pool.buffer(16 << 20)
    data = bytearray(16 << 20)
    interrupted = 0
    try:
        for _ in range(30):
            try:
                signal.setitimer(signal.ITIMER_REAL, 0.0005)
                stream.write(buffer, data)
                signal.setitimer(signal.ITIMER_REAL, 0)
            except KeyboardInterrupt:
                interrupted += 1
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert interrupted, "no transfer was interrupted: the test checked nothing"
    stream.synchronize()
    assert not stream._holds, "holds left after synchronize (%d interrupted)" % interrupted
    thread = threading.Thread(target=buffer.destroy, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the destroy still waits after 10 s"


def test_an_interrupt_between_a_transfers_holds_leaves_none_behind(device_pool):
    """The signal's exception of the test above, at the point where it once left the buffer's
    destroy waiting (a CI run, simulated GPU): right after the hold is noted in the buffer. The
    stream's own hold must exist by then, so that a synchronize lets both go; before, the
    buffer kept a hold no one could let go, and its destroy waited forever."""
    import threading

    class InterruptedOnce(dict):
        interrupted = False

        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            if not self.interrupted:
                self.interrupted = True
                raise KeyboardInterrupt

    stream, buffer = device_pool.device.stream(), device_pool.buffer(4096)
    buffer._held_by = InterruptedOnce()
    with pytest.raises(KeyboardInterrupt):
        stream.write(buffer, bytes(4096))
    assert buffer._held_by.interrupted
    stream.synchronize()
    assert not stream._holds and not buffer._held_by, "a hold was left behind"
    thread = threading.Thread(target=buffer.destroy, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the destroy still waits after 10 s"
