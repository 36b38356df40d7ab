"""Buffers as numpy arrays and DLPack tensors, without copies."""
import gc

import numpy as np
import pytest

import gpumem


def test_a_mapping_is_an_array_over_the_buffer(visible_pool):
    buffer = visible_pool.buffer(4096)
    buffer.fill(0)
    with buffer.map() as mapping:
        array = mapping.array()
        assert array.shape == (4096,) and array.dtype == np.uint8
        assert array.__array_interface__["data"][0] == mapping.address
        array[10:14] = [1, 2, 3, 4]
        mapping.flush()
        assert buffer.read(4, 10) == bytes([1, 2, 3, 4])
        buffer.write(np.float32(2.5).tobytes(), 100)
        mapping.invalidate()
        assert mapping.array(np.float32)[25] == 2.5
        view = mapping.memoryview()
        view[0] = 77
        assert array[0] == 77
    assert buffer.info.mapped == 1  # arrays over it still live
    del array
    gc.collect()
    assert buffer.info.mapped == 1  # the memoryview and the Mapping itself
    del view, mapping
    gc.collect()
    assert buffer.info.mapped == 0


def test_no_public_call_lets_the_memory_of_a_mappings_arrays_go(device, visible_pool):
    """Whatever an application calls on a Mapping, its buffer, pool and device, the arrays over
    the mapping stay valid (a Mapping.release() once unmapped them and let the device close
    the memory under them)."""
    buffer = visible_pool.buffer(4096)
    mapping = buffer.map()
    array = mapping.array()
    array[:] = 5
    for name in dir(mapping):
        attribute = getattr(mapping, name)
        if name.startswith("_") or not callable(attribute):
            continue
        try:
            attribute()
        except (TypeError, gpumem.GpumemError):
            pass  # calls that need arguments, or that a closed mapping refuses
    del mapping, attribute
    buffer.destroy()
    device.close()
    gc.collect()
    array[:] = 7
    assert int(array.sum()) == 7 * 4096


def test_numpy_from_dlpack_shares_the_buffers_bytes(visible_pool):
    buffer = visible_pool.buffer(1000)
    buffer.write(bytes(range(200)) * 5)
    assert buffer.__dlpack_device__() == (1, 0)  # kDLCPU
    tensor = np.from_dlpack(buffer)
    assert tensor.tobytes() == bytes(range(200)) * 5
    with buffer.map() as mapping:
        assert tensor.__array_interface__["data"][0] == mapping.address
    del mapping
    buffer.write(bytes([99]))  # numpy 1.24 makes DLPack arrays read-only
    with buffer.map() as mapping:
        mapping.invalidate()  # memory without HOST_COHERENT: the device's write, brought in
    del mapping
    assert tensor[0] == 99
    assert buffer.info.mapped == 1
    del tensor
    gc.collect()
    assert buffer.info.mapped == 0  # the consumer's deleter let the mapping go


def test_a_capsule_never_consumed_lets_go_of_the_buffer(visible_pool):
    buffer = visible_pool.buffer(64)
    capsule = buffer.__dlpack__()
    assert buffer.info.mapped == 1
    del capsule
    gc.collect()
    assert buffer.info.mapped == 0


def test_cuda_array_interface_only_on_cuda_device_memory(visible_pool):
    """Host-visible memory (pinned memory on CUDA too) has no __cuda_array_interface__;
    test_frameworks.py checks CUDA device memory, which has one."""
    buffer = visible_pool.buffer(64)
    assert not hasattr(buffer, "__cuda_array_interface__")


def test_dlpack_refuses_memory_it_cannot_describe(device):
    """Device-local memory the host cannot map and that has no device pointer DLPack knows
    (Vulkan, a simulated GPU): BufferError, as DLPack asks."""
    hidden = [i for i, t in enumerate(device.properties.memory_types)
              if not t.flags & gpumem.HOST_VISIBLE]
    if not hidden or device.backend in ("cuda", "hip"):
        pytest.skip("%s has no memory of that kind" % device.properties.name)
    buffer = device.pool(memory_type=hidden[0]).buffer(64)
    with pytest.raises(BufferError):
        buffer.__dlpack_device__()
    with pytest.raises(BufferError):
        np.from_dlpack(buffer)
    assert buffer.info.mapped == 0


def test_a_stream_ordered_destroy_waits_for_the_last_view(visible_pool):
    stream = visible_pool.device.stream()
    buffer = visible_pool.buffer(4096, stream=stream)
    with buffer.map() as mapping:
        array = mapping.array()
    array[:4] = [1, 2, 3, 4]
    buffer.destroy(stream=stream)
    assert not buffer.alive
    assert visible_pool.stats.allocation_count == 1, "the array still views the memory"
    assert list(array[:4]) == [1, 2, 3, 4]
    del array, mapping
    gc.collect()
    stream.synchronize()
    visible_pool.trim()
    assert visible_pool.stats.allocation_count == 0


def test_a_mapping_made_while_another_thread_destroys_is_refused_or_holds_the_memory(
        visible_pool, monkeypatch):
    """A map on one thread and a destroy on another: the map either holds the buffer (and its
    destroy waits for the mapping) or raises DESTROYED. Before, the buffer's liveness was
    checked and the view counted in two steps, and a destroy between them released the C
    buffer under a Mapping that then read freed memory (review, 2026-12-05). White-box: a
    Mapping whose buffer's C object is released must not exist."""
    import sys
    import threading
    import time
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two bytecodes, about
    current, stop, made, wrong = [visible_pool.buffer(4096)], [False], [0], [0]
    # The mapping thread pauses after each liveness check, so that a destroy falls there
    # often: between the check and the count when they are two steps.
    checked = gpumem.Buffer._live_handle

    def live_handle_then_pause(buffer):
        handle = checked(buffer)
        if threading.current_thread() is thread:
            time.sleep(0.0002)
        return handle

    monkeypatch.setattr(gpumem.Buffer, "_live_handle", live_handle_then_pause)

    def mapper():
        while not stop[0]:
            buffer = current[0]
            try:
                mapping = buffer.map()
            except gpumem.GpumemError as error:
                assert error.code == gpumem.errors.DESTROYED
                continue
            made[0] += 1
            wrong[0] += buffer._done
            mapping.array()[:1] = 7  # the memory is there to write
            del mapping

    thread = threading.Thread(target=mapper)
    thread.start()
    try:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            old = current[0]
            current[0] = visible_pool.buffer(4096)
            old.destroy()
    finally:
        stop[0] = True
        thread.join()
        sys.setswitchinterval(interval)
    assert made[0] > 100, "the mapping thread made too few mappings to race: %d" % made[0]
    assert wrong[0] == 0, "%d mappings over released buffers" % wrong[0]
