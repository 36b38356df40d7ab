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
