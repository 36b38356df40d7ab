"""gpumem as CuPy's device allocator:

    import gpumem.cupy
    gpumem.cupy.use_allocator()
    x = cupy.zeros(1 << 20)       # from a gpumem pool

CuPy's allocator interface passes no stream: allocations and frees are ordered on the runtime's
legacy default stream, which CuPy's default stream is and its other blocking streams wait for
(each free records an event there first). Non-blocking streams do not: synchronize them before
freeing what they use (docs/python.md)."""
import ctypes

import cupy

from . import frameworks


def use_allocator(pool="paged", page_size=0):
    """Makes gpumem CuPy's allocator (cupy.cuda.set_allocator): `pool` "paged" (pages of
    `page_size` bytes, 0: 512 MiB) or "native"."""
    backend = "hip" if cupy.cuda.runtime.is_hip else "cuda"
    frameworks.configure(pool, page_size, backend)
    library = frameworks.library()
    malloc = ctypes.cast(library.gpumem_frameworks_cupy_malloc, ctypes.c_void_p).value
    free = ctypes.cast(library.gpumem_frameworks_cupy_free, ctypes.c_void_p).value
    allocator = cupy.cuda.memory.CFunctionAllocator(0, malloc, free, library)
    cupy.cuda.set_allocator(allocator.malloc)
    return allocator


stats = frameworks.stats
release = frameworks.release
