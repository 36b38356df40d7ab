"""Pools: memory of one type, in pages, from which buffers are made."""
import ctypes
from collections import namedtuple

from . import errors
from ._args import unsigned, name_bytes
from ._library import lib, PoolDesc, PoolStats, handle
from ._object import Object

PAGED = 0
NATIVE = 1

# pool flags
EXACT_MATCH = 1 << 0
PERSISTENT_MAP = 1 << 2
DETECT_CORRUPTION = 1 << 3

# the most arenas a pool may have (GPUMEM_POOL_MAX_ARENAS)
POOL_MAX_ARENAS = 64

Stats = namedtuple("Stats", "reserved_bytes used_bytes page_count allocation_count "
                            "largest_free_range memory_type kind")


class Pool(Object):
    """A pool of a device. Options (all optional, as gpumem_pool_desc): kind (PAGED or
    NATIVE), required_flags and preferred_flags (DEVICE_LOCAL, HOST_VISIBLE, ...),
    memory_type (an index, in place of the flags), flags (EXACT_MATCH, PERSISTENT_MAP,
    DETECT_CORRUPTION), page_size, byte_limit, max_empty_pages, release_threshold, name,
    arena_count (paged pools shared by threads: N arenas, each with its own lock and pages)."""

    _kind = "pool"
    _destroy_function = "gpumem_pool_destroy"

    def __init__(self, device, kind=PAGED, required_flags=0, preferred_flags=0,
                 memory_type=None, flags=0, page_size=0, byte_limit=0, max_empty_pages=0,
                 release_threshold=0, name=None, arena_count=0):
        desc = PoolDesc()
        desc.kind = unsigned("kind", kind, 32)
        desc.flags = unsigned("flags", flags, 32)
        desc.required_flags = unsigned("required_flags", required_flags, 32)
        desc.preferred_flags = unsigned("preferred_flags", preferred_flags, 32)
        if memory_type is not None:
            desc.flags |= 1 << 1  # GPUMEM_POOL_MEMORY_TYPE_INDEX
            desc.memory_type_index = unsigned("memory_type", memory_type, 32)
        desc.page_size = unsigned("page_size", page_size)
        desc.byte_limit = unsigned("byte_limit", byte_limit)
        desc.max_empty_pages = unsigned("max_empty_pages", max_empty_pages, 32)
        desc.release_threshold = unsigned("release_threshold", release_threshold)
        desc.arena_count = unsigned("arena_count", arena_count, 32)
        if name is not None:
            desc.name = name_bytes(name)
        created = handle()
        errors.check(lib.gpumem_pool_create(device._live_handle(), ctypes.byref(desc),
                                            ctypes.byref(created)))
        super().__init__(created.value, device)
        self.device = device

    def buffer(self, size, alignment=0, dedicated=False, stream=None, usage=0, name=None):
        """A new buffer of `size` bytes in this pool. With a `stream` (a Stream of the pool's
        device), in that stream's order (gpumem_buffer_create_on_stream): memory that buffers
        destroyed on the same stream gave back is reused at once, and another stream's is
        waited for; destroy it with Buffer.destroy(stream=...) to free it in stream order.
        `usage`: gpumem.USAGE_* flags (0: storage and transfer; on Vulkan the usage of the
        buffer's VkBuffer). `name`: shown in messages, dumps and pictures."""
        from .buffer import Buffer
        return Buffer(self, size, alignment, dedicated, stream=stream, usage=usage, name=name)

    def image(self, width, height=0, depth=0, format="R8G8B8A8_UNORM", **options):
        """A new image in this pool: 1D, 2D or 3D from the extent given (or `type`), a format
        name of gpumem.image.FORMATS, and as options layers, levels, usage (IMAGE_USAGE_*),
        tiling, dedicated, name."""
        from .image import Image
        return Image(self, width, height, depth, format, **options)

    def import_memory(self, address=0, size=0, memory=0, offset=0, keep=None):
        """The application's memory as a buffer of this pool, which gpumem never frees
        (C: gpumem_buffer_import): `address` and `size` on host, CUDA and HIP; `memory` (a
        VkDeviceMemory), `offset` and `size` on Vulkan. `keep` is held as long as the buffer:
        the memory's owner."""
        from .buffer import Buffer
        return Buffer._import(self, address, size, memory, offset, keep)

    def import_dlpack(self, producer):
        """A DLPack producer's memory (a numpy array, a torch tensor, a cupy array: anything
        with __dlpack__) as a buffer of this pool, without a copy: the buffer holds the
        tensor's bytes, C-contiguous, and keeps the producer and its DLPack capsule alive (the
        capsule's deleter, which may let the memory go, runs when the buffer goes). Its device
        must be this pool's (kDLCPU for the host backend, kDLCUDA, kDLROCM)."""
        from .dlpack import describe
        address, size, capsule = describe(producer, self.device)
        return self.import_memory(address=address, size=size, keep=(producer, capsule))

    @property
    def stats(self):
        raw = PoolStats()
        errors.check(lib.gpumem_pool_stats_get(self._live_handle(), ctypes.byref(raw)))
        return Stats(raw.reserved_bytes, raw.used_bytes, raw.page_count, raw.allocation_count,
                     raw.largest_free_range, raw.memory_type, raw.kind)

    def trim(self):
        """Releases the pool's empty pages."""
        errors.check(lib.gpumem_pool_trim(self._live_handle()))

    def check(self):
        """Checks the guard margins (DETECT_CORRUPTION): GpumemError CORRUPTED names the
        first overwritten byte."""
        errors.check(lib.gpumem_pool_check(self._live_handle()))

    def __repr__(self):
        return "<gpumem.Pool%s>" % ("" if self.alive else " (destroyed)")

