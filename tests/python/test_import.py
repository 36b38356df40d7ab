"""Importing the application's memory: a numpy array (DLPack, kDLCPU) as a buffer of the host
backend without a copy, the same bytes seen from both sides, the array left intact and alive
however the buffer ends; the refusals (another device's tensor, non-contiguous, empty). CUDA
tensors are imported in test_frameworks.py on the GPU machine."""
import gc
import os

import numpy as np
import pytest

import gpumem

host_only = pytest.mark.skipif(os.environ.get("GPUMEM_BACKEND", "host") != "host",
                               reason="numpy arrays are host memory: the host backend's")


@host_only
def test_a_numpy_array_is_imported_without_a_copy(device):
    pool = device.pool()
    array = np.arange(4096, dtype=np.uint32)
    buffer = pool.import_dlpack(array)
    assert buffer.size == array.nbytes
    assert buffer.native.address == array.ctypes.data
    assert buffer.read() == array.tobytes()
    buffer.write(np.full(16, 7, dtype=np.uint32), offset=64)  # lands in the array itself
    assert (array[16:32] == 7).all() and array[15] == 15 and array[32] == 32
    buffer.fill(0xABABABAB, offset=0, size=16)
    assert (array[:4] == 0xABABABAB).all()
    found, offset = device.find(array.ctypes.data + 100)
    assert found is buffer and offset == 100
    info = buffer.info
    assert info.dedicated and info.offset == 0
    assert pool.stats.allocation_count == 1
    buffer.destroy()
    assert (array[16:32] == 7).all()  # gpumem never frees or touches it on the way out


@host_only
def test_the_buffer_keeps_its_producer_alive(device):
    pool = device.pool()
    buffer = pool.import_dlpack(np.arange(1000, dtype=np.float64))  # no other reference
    gc.collect()
    assert np.frombuffer(buffer.read(), dtype=np.float64)[999] == 999.0
    device.close()  # the buffer ends with its device; the array goes with the buffer
    with pytest.raises(gpumem.GpumemError) as caught:
        buffer.read()
    assert caught.value.code == gpumem.errors.DESTROYED


@host_only
def test_a_slice_is_imported_at_its_offset(device):
    array = np.arange(256, dtype=np.uint8)
    buffer = device.pool().import_dlpack(array[10:20])
    assert buffer.native.address == array.ctypes.data + 10
    assert buffer.read() == bytes(range(10, 20))


def test_imports_refuse_what_they_cannot_hold(device):
    pool = device.pool()
    array = np.arange(64, dtype=np.uint8).reshape(8, 8)
    if os.environ.get("GPUMEM_BACKEND", "host") == "host":
        with pytest.raises(gpumem.GpumemError) as caught:
            pool.import_dlpack(array[:, ::2])
        assert caught.value.code == gpumem.errors.INVALID_ARGUMENT
        assert "C-contiguous" in caught.value.message
        with pytest.raises(gpumem.GpumemError):
            pool.import_dlpack(np.zeros(0, dtype=np.uint8))
        with pytest.raises(gpumem.GpumemError) as caught:
            pool.import_memory(address=array.ctypes.data, size=0, keep=array)
        assert caught.value.code == gpumem.errors.INVALID_ARGUMENT
    else:  # host memory is not this device's
        with pytest.raises(gpumem.GpumemError) as caught:
            pool.import_dlpack(array)
        assert caught.value.code == gpumem.errors.INVALID_ARGUMENT
    with pytest.raises(TypeError):
        pool.import_dlpack(b"bytes have no __dlpack__")


@host_only
def test_an_imported_gpumem_buffer_keeps_its_capsule_and_so_its_memory(device):
    """A DLPack producer promises its memory only while its capsule lives: a gpumem buffer's
    capsule holds a view of it. The import keeps the capsule, so the source's destroy waits
    for the imported buffer; before, the capsule went at once and the source's memory was
    freed and reused under the import (review, 2026-12-05)."""
    source_pool, target_pool = device.pool(name="source"), device.pool(name="target")
    source = source_pool.buffer(1 << 20)
    source.write(b"\x11" * (1 << 20))
    imported = target_pool.import_dlpack(source)
    source.destroy()  # held back: the capsule's view lives with the import
    newcomer = source_pool.buffer(1 << 20)
    newcomer.write(b"\x33" * (1 << 20))
    assert imported.read(4) == b"\x11" * 4
    imported.write(b"\xee" * 4)
    assert newcomer.read(4) == b"\x33" * 4
    assert source_pool.stats.allocation_count == 2  # the destroyed source's memory is kept
    imported.destroy()
    del imported
    gc.collect()
    assert source_pool.stats.allocation_count == 1  # the capsule went: so did the source
