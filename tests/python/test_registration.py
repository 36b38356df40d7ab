"""Host memory registration from Python (Device.register): numpy arrays registered with the
device keep every transfer byte-exact, end with destroy() or the device's close, refuse what
cannot be registered, and Vulkan says it cannot. Whether registered memory then goes by DMA is
tests/cuda's (the path) and docs/performance.md's (the speed) to show."""
import numpy as np
import pytest

import gpumem
from gpumem import errors


# The backends that register host memory; the others (Vulkan, modules without host_register)
# say UNSUPPORTED, and the tests that need a registration skip there.
REGISTERING_BACKENDS = ("host", "cuda", "hip")


def register_or_skip(device, data):
    try:
        return device.register(data)
    except gpumem.GpumemError as error:
        if error.code == errors.UNSUPPORTED and device.backend not in REGISTERING_BACKENDS:
            pytest.skip("backend %s registers no host memory: %s" % (device.backend, error))
        raise


def test_registered_arrays_transfer_byte_exact(device, device_pool):
    size = 24 << 20  # past the 8 MiB where pageable memory is staged
    array = np.random.default_rng(5).integers(0, 256, size, dtype=np.uint8)
    with register_or_skip(device, array) as registration:
        assert registration.size == size and registration.alive
        buffer = device_pool.buffer(size)
        buffer.write(array)
        back = np.zeros(size, dtype=np.uint8)
        buffer.read_into(back)
        assert np.array_equal(back, array)
        array[:] = 0
        buffer.read_into(array)  # into the registered memory
        assert np.array_equal(array, back)
    assert not registration.alive
    with pytest.raises(gpumem.GpumemError) as raised:
        registration._live_handle()
    assert raised.value.code == errors.DESTROYED


def test_registrations_refuse_overlaps_and_read_only_memory(device):
    array = np.zeros(1 << 20, dtype=np.uint8)
    first = register_or_skip(device, array[: 1 << 19])
    with pytest.raises(gpumem.GpumemError) as raised:
        device.register(array[1 << 18:])
    assert raised.value.code == errors.INVALID_ARGUMENT and "overlap" in str(raised.value)
    with pytest.raises(ValueError):
        device.register(bytes(64))  # read-only
    with pytest.raises(ValueError):
        device.register(bytearray())
    second = device.register(array[1 << 19:])
    first.destroy()
    first.destroy()  # a second destroy does nothing
    again = device.register(array[: 1 << 19])
    device.close()  # ends both
    assert not again.alive and not second.alive


def test_vulkan_says_it_cannot(device):
    if device.backend != "vulkan":
        pytest.skip("only Vulkan refuses host registration (this is %s)" % device.backend)
    with pytest.raises(gpumem.GpumemError) as raised:
        device.register(np.zeros(4096, dtype=np.uint8))
    assert raised.value.code == errors.UNSUPPORTED and "vulkan" in str(raised.value)
