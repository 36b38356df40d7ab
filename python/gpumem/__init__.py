"""gpumem for Python: one memory API over Vulkan, CUDA, HIP and the host, through ctypes.

    import gpumem, numpy
    with gpumem.Device() as device:
        pool = device.pool(required_flags=gpumem.HOST_VISIBLE)
        buffer = pool.buffer(1 << 20)
        buffer.write(numpy.arange(1000, dtype=numpy.float32))
        view = buffer.map().array(numpy.float32)   # the buffer's bytes, no copy
        same = numpy.from_dlpack(buffer)           # DLPack: the same bytes as uint8

Errors are GpumemError exceptions with the gpumem code and message. Closing a device (or
destroying a pool or buffer) makes its Python objects raise GpumemError DESTROYED; arrays
still viewing its memory keep that memory until they are gone.
"""
from ._library import lib as _lib, path as library_path
from .errors import GpumemError
from .device import (Device, backends, DEVICE_LOCAL, HOST_VISIBLE, HOST_COHERENT,
                     HOST_CACHED)
from .pool import (Pool, PAGED, NATIVE, EXACT_MATCH, PERSISTENT_MAP, DETECT_CORRUPTION,
                   POOL_MAX_ARENAS)
from .buffer import (Buffer, USAGE_STORAGE, USAGE_UNIFORM, USAGE_VERTEX, USAGE_INDEX,
                     USAGE_INDIRECT, USAGE_TRANSFER, USAGE_DEVICE_ADDRESS)
from .mapping import Mapping
from .stream import Stream
from .event import Event
from .vblock import VBlock
from .registration import HostRegistration
from .image import Image
from . import errors


def version():
    """The library's version as (major, minor, patch)."""
    number = _lib.gpumem_version()
    return number // 10000, number // 100 % 100, number % 100


__all__ = ["Device", "Pool", "Buffer", "Mapping", "Stream", "Event", "VBlock",
           "HostRegistration", "Image", "GpumemError",
           "backends", "version", "errors", "library_path", "DEVICE_LOCAL", "HOST_VISIBLE",
           "HOST_COHERENT", "HOST_CACHED", "PAGED", "NATIVE", "EXACT_MATCH", "PERSISTENT_MAP",
           "DETECT_CORRUPTION", "POOL_MAX_ARENAS"]
