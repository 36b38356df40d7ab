"""Backends, device properties and the JSON dump from Python."""
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
