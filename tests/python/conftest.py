"""Fixtures of the Python package's tests: a device of the backend GPUMEM_BACKEND names
(meson test runs the suite once per backend), and pools on it."""
import pytest

import gpumem


def open_device():
    """A device of the default backend; the test skips, saying why, when there is none."""
    try:
        return gpumem.Device()
    except gpumem.GpumemError as error:
        if error.code == gpumem.errors.UNAVAILABLE:  # an unknown backend fails
            pytest.skip("no device: %s" % error)
        raise


@pytest.fixture
def device():
    with open_device() as opened:
        yield opened


@pytest.fixture
def visible_pool(device):
    """A pool the host can map."""
    return device.pool(required_flags=gpumem.HOST_VISIBLE, name="visible")


@pytest.fixture
def device_pool(device):
    """A pool of the memory the device prefers."""
    return device.pool(preferred_flags=gpumem.DEVICE_LOCAL, name="device")
