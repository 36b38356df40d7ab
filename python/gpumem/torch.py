"""gpumem as PyTorch's CUDA (or ROCm) allocator:

    import gpumem.torch
    gpumem.torch.use_allocator()          # before the first CUDA tensor
    x = torch.empty(1 << 20, device="cuda")   # from a gpumem pool, in stream order

Every CUDA tensor is then a stream-ordered buffer of a gpumem pool (one per device), allocated
and freed on the tensor's stream. gpumem.frameworks.stats() and release() read and trim it
(torch.cuda.memory_stats() knows nothing of it)."""
import torch

from . import frameworks


def use_allocator(pool="paged", page_size=0):
    """Makes gpumem PyTorch's allocator: `pool` "paged" (gpumem's suballocator in pages of
    `page_size` bytes, 0: 512 MiB) or "native" (the runtime's stream-ordered pool). Call it
    before PyTorch allocates any CUDA memory (PyTorch allows one change only then)."""
    backend = "hip" if getattr(torch.version, "hip", None) else "cuda"
    frameworks.configure(pool, page_size, backend)
    allocator = torch.cuda.memory.CUDAPluggableAllocator(
        frameworks.library()._name, "gpumem_frameworks_torch_alloc",
        "gpumem_frameworks_torch_free")
    torch.cuda.memory.change_current_allocator(allocator)
    return allocator


stats = frameworks.stats
release = frameworks.release
