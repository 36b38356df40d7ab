"""libgpumem-frameworks through ctypes: gpumem as a framework's device allocator
(include/gpumem/frameworks.h). gpumem.torch and gpumem.cupy install it; this module loads the
library, sets its configuration and reads its pools' statistics."""
import ctypes
import os
from collections import namedtuple

from . import errors
from ._library import PoolStats, i32, u32, u64

PAGED, NATIVE = 0, 1
Stats = namedtuple("Stats", "reserved_bytes used_bytes page_count allocation_count "
                            "largest_free_range")


class Config(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_char_p), ("pool_kind", u32), ("reserved", u32),
                ("page_size", u64)]


def _candidates():
    named = os.environ.get("GPUMEM_FRAMEWORKS_LIBRARY")
    if named:
        return [named]
    found = []
    try:
        from . import _config
        found.append(_config.FRAMEWORKS_LIBRARY)
    except (ImportError, AttributeError):
        pass
    return found + ["libgpumem-frameworks.so.0"]


def _load():
    failures = []
    for candidate in _candidates():
        try:
            library = ctypes.CDLL(candidate)
        except OSError as error:
            failures.append(str(error))
            continue
        library.gpumem_frameworks_configure.argtypes = [ctypes.POINTER(Config)]
        library.gpumem_frameworks_configure.restype = i32
        library.gpumem_frameworks_stats.argtypes = [ctypes.c_int, ctypes.POINTER(PoolStats)]
        library.gpumem_frameworks_stats.restype = i32
        library.gpumem_frameworks_trim.argtypes = [ctypes.c_int]
        library.gpumem_frameworks_trim.restype = i32
        # PyTorch's entry points, for calling them from Python (tests, replays).
        library.gpumem_frameworks_torch_alloc.argtypes = [ctypes.c_size_t, ctypes.c_int,
                                                          ctypes.c_void_p]
        library.gpumem_frameworks_torch_alloc.restype = ctypes.c_void_p
        library.gpumem_frameworks_torch_free.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                                         ctypes.c_int, ctypes.c_void_p]
        library.gpumem_frameworks_torch_free.restype = None
        library.gpumem_frameworks_last_error.argtypes = []
        library.gpumem_frameworks_last_error.restype = ctypes.c_char_p
        return library, candidate
    raise ImportError("gpumem: cannot load libgpumem-frameworks (set "
                      "GPUMEM_FRAMEWORKS_LIBRARY to its path): " + "; ".join(failures))


_library = None
path = None


def library():
    """The loaded libgpumem-frameworks (loaded at the first call)."""
    global _library, path
    if _library is None:
        _library, path = _load()
    return _library


def configure(pool="paged", page_size=0, backend="cuda"):
    """How the allocator opens devices: `pool` "paged" (gpumem's suballocator, pages of
    `page_size` bytes, 0: 512 MiB) or "native" (the runtime's stream-ordered pool); `backend`
    "cuda" or "hip". Only before the first allocation."""
    kinds = {"paged": PAGED, "native": NATIVE}
    if pool not in kinds:
        raise ValueError("pool must be 'paged' or 'native', not %r" % (pool,))
    if backend not in ("cuda", "hip"):
        raise ValueError("backend must be 'cuda' or 'hip', not %r" % (backend,))
    if isinstance(page_size, bool) or not isinstance(page_size, int) or \
            not 0 <= page_size <= 1 << 62:
        raise ValueError("page_size must be a number of bytes up to 2**62 (0: 512 MiB), not %r"
                         % (page_size,))
    config = Config(backend.encode(), kinds[pool], 0, page_size)
    result = library().gpumem_frameworks_configure(ctypes.byref(config))
    if result == errors.BAD_STATE:
        raise errors.GpumemError(result, "gpumem_frameworks_configure: an allocation has "
                                 "opened a device already; the allocator is configured "
                                 "before that")
    if result != errors.OK:
        raise errors.GpumemError(result, "gpumem_frameworks_configure: refused %r"
                                 % ((pool, page_size, backend),))


def stats(device=0):
    """The statistics of the allocator's pool on a device ordinal."""
    raw = PoolStats()
    _check_device(library().gpumem_frameworks_stats(device, ctypes.byref(raw)), device)
    return Stats(raw.reserved_bytes, raw.used_bytes, raw.page_count, raw.allocation_count,
                 raw.largest_free_range)


def release(device=0):
    """Gives the pool's empty pages back to the device, after waiting for the work of the
    frees that made them empty."""
    _check_device(library().gpumem_frameworks_trim(device), device)


def last_error():
    """Why this thread's latest failed allocation or free through the allocator failed (the
    line it printed to stderr, without its prefix); "" before any failed."""
    return library().gpumem_frameworks_last_error().decode(errors="replace")


def _check_device(result, device):
    """NOT_FOUND is the allocator's own answer (no gpumem call failed, so gpumem's last error
    would be another call's): it says so itself."""
    if result == errors.NOT_FOUND:
        raise errors.GpumemError(result, "device %d has no pool of gpumem's framework allocator "
                                 "(nothing was allocated on it through the allocator, or the "
                                 "ordinal is outside 0-63)" % device)
    errors.check(result)
