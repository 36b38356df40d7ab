"""Bad input gives a clear exception, and the library keeps working."""
import numpy as np
import pytest

import gpumem
from gpumem import errors


def gpumem_error(code, call, starts=None):
    with pytest.raises(gpumem.GpumemError) as caught:
        call()
    assert caught.value.code == code, caught.value
    assert caught.value.message, "no message"
    if starts is not None:
        assert caught.value.message.startswith(starts), caught.value.message
    return caught.value


def test_an_unknown_backend_lists_the_known_ones():
    error = gpumem_error(errors.NOT_FOUND, lambda: gpumem.Device("nosuch"))
    assert "nosuch" in error.message and "host" in error.message


def test_bad_sizes_and_ranges(device_pool):
    gpumem_error(errors.INVALID_ARGUMENT, lambda: device_pool.buffer(0), "gpumem_buffer_create")
    gpumem_error(errors.INVALID_ARGUMENT, lambda: device_pool.buffer(64, alignment=3))
    buffer = device_pool.buffer(64)
    gpumem_error(errors.OUT_OF_RANGE, lambda: buffer.read(65), "gpumem_buffer_read")
    gpumem_error(errors.OUT_OF_RANGE, lambda: buffer.write(b"x" * 10, 60), "gpumem_buffer_write")
    gpumem_error(errors.INVALID_ARGUMENT, lambda: buffer.fill(1, 2, 4), "gpumem_buffer_fill")
    gpumem_error(errors.OUT_OF_RANGE, lambda: buffer.copy_to(device_pool.buffer(8), 16))
    buffer.write(b"ok")
    assert buffer.read(2) == b"ok"


def test_python_arguments_are_checked_before_c(device_pool):
    with pytest.raises(ValueError):
        device_pool.buffer(-1)
    with pytest.raises(ValueError):
        device_pool.buffer(2 ** 64)
    with pytest.raises(TypeError):
        device_pool.buffer(1.5)
    buffer = device_pool.buffer(16)
    with pytest.raises(ValueError):
        buffer.read(4, offset=-4)
    with pytest.raises(TypeError):
        buffer.write([1, 2, 3])
    with pytest.raises(ValueError):
        buffer.read_into(b"read-only")
    with pytest.raises(ValueError):
        buffer.read_into(np.zeros((4, 4), dtype=np.uint8)[:, 1])  # not contiguous
    with pytest.raises(TypeError):
        buffer.copy_to(b"not a buffer")


def test_arguments_of_another_kind_are_type_errors(device, device_pool):
    """Every method that takes a gpumem object raises TypeError, naming the argument, for
    anything else (not the AttributeError of a missing method), and names must be str."""
    buffer = device_pool.buffer(64)
    stream = device.stream()
    event = device.event()
    calls = [
        lambda: stream.write(b"not a buffer", b"data"),
        lambda: stream.read_into(b"not a buffer", bytearray(4)),
        lambda: stream.copy(buffer, b"not a buffer", 4),
        lambda: stream.copy(b"not a buffer", buffer, 4),
        lambda: stream.fill(b"not a buffer", 0),
        lambda: stream.wait_event(buffer),
        lambda: event.record(buffer),
        lambda: device_pool.image(4, 4).copy_to(b"not an image"),
        lambda: device_pool.buffer(8, name=5),
        lambda: device.pool(name=b"bytes"),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(TypeError):
            call()
    stream.synchronize()


def test_device_local_memory_that_cannot_be_mapped(device):
    properties = device.properties
    hidden = [i for i, t in enumerate(properties.memory_types)
              if not t.flags & gpumem.HOST_VISIBLE]
    if not hidden:
        pytest.skip("every memory type of %s is host-visible" % properties.name)
    buffer = device.pool(memory_type=hidden[0]).buffer(64)
    gpumem_error(errors.NOT_MAPPABLE, buffer.map)


def test_virtual_blocks():
    with gpumem.VBlock(1024) as block:
        first, offset = block.alloc(100, 64)
        assert offset % 64 == 0
        second, _ = block.alloc(200)
        assert block.stats.allocation_count == 2
        gpumem_error(errors.LIMIT_EXCEEDED, lambda: block.alloc(2048))
        block.free(first)
        gpumem_error(errors.INVALID_HANDLE, lambda: block.free(first))
        block.clear()
        assert block.stats.allocation_count == 0
    gpumem_error(errors.DESTROYED, lambda: block.alloc(1))


def test_empty_reads_and_reads_past_the_end(device_pool):
    buffer = device_pool.buffer(16)
    assert buffer.read(0) == b"" and buffer.read(offset=16) == b""
    gpumem_error(errors.OUT_OF_RANGE, lambda: buffer.read(offset=17))
    gpumem_error(errors.OUT_OF_RANGE, lambda: buffer.read(4, offset=14))


def test_the_default_stream_outlives_a_with_block(device):
    with device.default_stream as stream:
        stream.synchronize()
    device.default_stream.synchronize()  # not destroyed: it goes with the device


def test_reads_past_the_end_fail_before_allocating(device_pool):
    """A read's range is checked before its bytes are allocated: a size of 2**62 is the
    OUT_OF_RANGE of any other bad range, not a MemoryError (or the memory of the request)."""
    buffer = device_pool.buffer(4096)
    for size, offset in ((1 << 62, 0), (4097, 0), (1, 4096), (1 << 30, 100)):
        with pytest.raises(gpumem.GpumemError) as caught:
            buffer.read(size, offset)
        assert caught.value.code == errors.OUT_OF_RANGE, (size, offset)
    image = device_pool.image(4, 4, format="R8_UNORM")
    for box in ({"width": 1 << 30, "height": 1 << 10}, {"x": 4, "width": 1},
                {"level": 1}, {"layers": 2}, {"y": 2, "height": 3}):
        with pytest.raises(gpumem.GpumemError) as caught:
            image.read(**box)
        assert caught.value.code == errors.OUT_OF_RANGE, box
    assert len(image.read(x=1, y=1, width=3, height=3)) == 9


def test_errors_survive_pickling(device_pool):
    """An error raised in a worker process reaches its parent whole (multiprocessing pickles
    it): code, name and message."""
    import pickle
    with pytest.raises(gpumem.GpumemError) as caught:
        device_pool.buffer(16).write(b"x" * 32)
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is gpumem.GpumemError
    assert (again.code, again.name, again.message, str(again)) == (
        caught.value.code, caught.value.name, caught.value.message, str(caught.value))


def test_a_destroy_c_refuses_leaves_the_buffer_alive(device, device_pool):
    """A destroy on another device's stream is refused before anything is marked: the buffer
    stays alive and a later destroy releases it, also with a view alive."""
    other = gpumem.Device(device.properties.backend)
    try:
        buffer = device_pool.buffer(4096)
        with pytest.raises(gpumem.GpumemError) as caught:
            buffer.destroy(stream=other.stream())
        assert caught.value.code == errors.INVALID_ARGUMENT
        assert buffer.alive and device_pool.stats.allocation_count == 1
        buffer.write(b"still here")
        buffer.destroy()
        assert device_pool.stats.allocation_count == 0
    finally:
        other.close()
