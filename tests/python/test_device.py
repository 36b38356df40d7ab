"""Backends, device properties and the JSON dump from Python."""
import pytest

import gpumem


def test_backends_and_version():
    names = [backend.name for backend in gpumem.backends()]
    assert "host" in names
    assert gpumem.version() >= (0, 1, 0)
    assert gpumem.library_path


def test_properties_and_dump(device):
    properties = device.properties
    assert properties.backend == device.backend
    assert properties.memory_types and properties.memory_heaps
    assert properties.min_alignment >= 4
    pool = device.pool(name="from-python")
    buffer = pool.buffer(1000)
    dump = device.dump()
    assert "from-python" in str(dump)
    assert buffer.info.size == 1000
    assert pool.stats.allocation_count == 1


def test_find_a_buffer_by_address(device):
    pool = device.pool()
    buffers = [pool.buffer(size) for size in (1, 100, 4096, 70000)]
    address = buffers[0].native.address
    if address == 0:
        with pytest.raises(gpumem.GpumemError) as caught:
            device.find(4096)
        assert caught.value.code == gpumem.errors.UNSUPPORTED
        return
    for buffer in buffers:
        start = buffer.native.address
        for offset in (0, buffer.size // 2, buffer.size - 1):
            found, at = device.find(start + offset)
            assert found is buffer and at == offset
    gone = buffers.pop()
    start = gone.native.address
    gone.destroy()
    with pytest.raises(gpumem.GpumemError) as caught:
        device.find(start)
    assert caught.value.code == gpumem.errors.NOT_FOUND


def test_summary_names_each_pool(device):
    pool = device.pool(name="summarized", page_size=1 << 20)
    buffers = [pool.buffer(100 << 10) for _ in range(6)]
    buffers[2].destroy()
    text = device.summary()
    assert "pool 'summarized'" in text and "in 5 allocations" in text, text
    assert text.startswith("device '") and "total: " in text, text


def test_properties_say_what_the_device_is(device):
    p = device.properties
    assert p.device_type in ("other", "cpu", "integrated_gpu", "discrete_gpu", "virtual_gpu",
                             "gpu")
    if device.backend == "host":
        assert p.device_type == "cpu" and p.driver_version  # the kernel's release
    if device.backend == "vulkan":
        assert p.api_version.startswith("Vulkan 1.") and p.uuid and len(p.uuid) == 32
    if device.backend == "cuda":
        assert p.device_type == "gpu" and p.api_version.startswith("CUDA ") and p.pci_address
