"""Virtual blocks: gpumem's suballocator over offsets only, with no device."""
import ctypes
from collections import namedtuple

from . import errors
from ._args import unsigned
from ._library import lib, VBlockStats, handle, u64
from ._object import Object

Stats = namedtuple("Stats", "size used_bytes allocation_count free_range_count "
                            "largest_free_range span")


class VBlock(Object):
    """A virtual block of `size` bytes: alloc() gives (allocation, offset) pairs inside it.
    One thread at a time."""

    _kind = "virtual block"
    _destroy_function = "gpumem_vblock_destroy"

    def __init__(self, size):
        created = handle()
        errors.check(lib.gpumem_vblock_create(unsigned("size", size), ctypes.byref(created)))
        super().__init__(created.value, None)

    def alloc(self, size, alignment=0):
        """(allocation, offset): GpumemError LIMIT_EXCEEDED when no free range fits."""
        allocation, offset = u64(), u64()
        errors.check(lib.gpumem_vblock_alloc(self._live_handle(), unsigned("size", size),
                                             unsigned("alignment", alignment),
                                             ctypes.byref(allocation), ctypes.byref(offset)))
        return allocation.value, offset.value

    def free(self, allocation):
        errors.check(lib.gpumem_vblock_free(self._live_handle(),
                                            unsigned("allocation", allocation)))

    def clear(self):
        errors.check(lib.gpumem_vblock_clear(self._live_handle()))

    @property
    def stats(self):
        raw = VBlockStats()
        errors.check(lib.gpumem_vblock_stats_get(self._live_handle(), ctypes.byref(raw)))
        return Stats(raw.size, raw.used_bytes, raw.allocation_count, raw.free_range_count,
                     raw.largest_free_range, raw.span)
