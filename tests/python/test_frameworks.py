"""gpumem buffers in PyTorch, CuPy and Numba without copies, on CUDA (the GPU machine's script
runs these; elsewhere they skip): DLPack and __cuda_array_interface__, checked by equal device
pointers and by bytes written on one side and read on the other."""
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

import gpumem

pytestmark = pytest.mark.skipif(os.environ.get("GPUMEM_BACKEND") != "cuda",
                                reason="the framework tests need GPUMEM_BACKEND=cuda")

SIZE = 1 << 20


def run_apart(code, done_line, timeout=300):
    """Runs `code` in a Python process of its own (the allocators are process-wide) and
    asserts that it printed `done_line`; returns the finished process."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0 and done_line in done.stdout, \
        done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.fixture
def device_buffer(device):
    """A buffer of CUDA device memory holding 0, 1, 2, ... (mod 256)."""
    buffer = device.pool(required_flags=gpumem.DEVICE_LOCAL,
                         flags=gpumem.EXACT_MATCH).buffer(SIZE)
    buffer.write(np.arange(SIZE, dtype=np.uint8))
    return buffer


def test_torch_shares_a_buffer_through_dlpack(device, device_buffer):
    torch = pytest.importorskip("torch")
    assert device_buffer.__dlpack_device__() == (2, device.properties.device_index)
    tensor = torch.from_dlpack(device_buffer)
    assert tensor.is_cuda and tensor.dtype == torch.uint8 and tensor.shape == (SIZE,)
    assert tensor.data_ptr() == device_buffer.native.address
    assert torch.equal(tensor[:256].cpu(), torch.arange(256, dtype=torch.uint8))
    tensor.add_(1)  # a kernel of torch's writes gpumem's memory
    torch.cuda.synchronize()
    assert device_buffer.read(4) == bytes([1, 2, 3, 4])
    # The tensor keeps the memory after the buffer is destroyed, until it goes.
    pool = device_buffer.pool
    device_buffer.destroy()
    assert pool.stats.allocation_count == 1
    assert int(tensor[10].item()) == 11
    del tensor
    gc.collect()
    assert pool.stats.allocation_count == 0


def test_cupy_shares_a_buffer_through_dlpack_and_the_cuda_array_interface(device_buffer):
    cupy = pytest.importorskip("cupy")
    address = device_buffer.native.address
    through_dlpack = cupy.from_dlpack(device_buffer)
    assert through_dlpack.data.ptr == address
    interface = device_buffer.__cuda_array_interface__
    assert interface["version"] == 3 and interface["data"] == (address, False)
    through_interface = cupy.asarray(device_buffer)
    assert through_interface.data.ptr == address
    assert int(through_interface[300]) == 300 % 256
    through_interface[:4] = cupy.asarray([9, 8, 7, 6], dtype=cupy.uint8)
    cupy.cuda.runtime.deviceSynchronize()
    assert device_buffer.read(4) == bytes([9, 8, 7, 6])
    assert int(through_dlpack[0]) == 9


def test_numba_reads_the_cuda_array_interface(device_buffer):
    numba_cuda = pytest.importorskip("numba.cuda")
    array = numba_cuda.as_cuda_array(device_buffer)
    assert array.device_ctypes_pointer.value == device_buffer.native.address
    assert (array.copy_to_host()[:256] == np.arange(256, dtype=np.uint8)).all()


def test_pinned_host_memory_is_a_cpu_tensor(device):
    torch = pytest.importorskip("torch")
    buffer = device.pool(required_flags=gpumem.HOST_VISIBLE).buffer(4096)
    buffer.write(bytes(range(256)) * 16)
    assert buffer.__dlpack_device__() == (1, 0)
    tensor = torch.from_dlpack(buffer)
    assert not tensor.is_cuda
    with buffer.map() as mapping:
        assert tensor.data_ptr() == mapping.address
    assert bytes(tensor[:256].numpy()) == bytes(range(256))


def test_gpumem_work_on_torchs_stream_is_ordered_after_torchs(device, device_buffer):
    torch = pytest.importorskip("torch")
    torch_stream = torch.cuda.Stream()
    stream = gpumem.Stream.wrap(device, torch_stream.cuda_stream)
    assert stream.native == torch_stream.cuda_stream
    tensor = torch.from_dlpack(device_buffer)
    seen = np.zeros(SIZE, dtype=np.uint8)
    for value in (7, 8, 9):
        with torch.cuda.stream(torch_stream):
            torch.cuda._sleep(2_000_000)  # a slow kernel first: a read not ordered after
            tensor.fill_(value)           # the fill would see the old bytes
        stream.read_into(device_buffer, seen)  # on the same stream, after torch's work
        stream.synchronize()
        assert (seen == value).all(), value
    stream.destroy()
    torch_stream.synchronize()  # torch's stream lives on
    default = gpumem.Stream.wrap(device, 0)  # the runtime's default stream
    default.synchronize()
    default.destroy()


def test_torch_and_cupy_tensors_are_imported_without_a_copy(device):
    """DLPack the other way: a framework's tensor as a gpumem buffer over the same memory."""
    torch = pytest.importorskip("torch")
    pool = device.pool(required_flags=gpumem.DEVICE_LOCAL, flags=gpumem.EXACT_MATCH)
    tensor = torch.arange(SIZE // 4, dtype=torch.int32, device="cuda")
    buffer = pool.import_dlpack(tensor)
    assert buffer.size == SIZE and buffer.native.address == tensor.data_ptr()
    assert np.array_equal(np.frombuffer(buffer.read(), dtype=np.int32),
                          np.arange(SIZE // 4, dtype=np.int32))
    buffer.write(np.full(8, -1, dtype=np.int32), offset=0)  # gpumem writes torch's memory
    assert tensor[:8].cpu().tolist() == [-1] * 8 and int(tensor[8]) == 8
    buffer.destroy()
    assert int(tensor[9]) == 9  # the tensor's memory is still torch's, untouched
    cupy = pytest.importorskip("cupy")
    array = cupy.arange(1000, dtype=cupy.float32)
    imported = pool.import_dlpack(array)
    assert imported.native.address == array.data.ptr
    assert np.frombuffer(imported.read(), dtype=np.float32)[999] == 999.0


def test_numba_allocates_from_gpumem(device):
    """Numba's External Memory Management plugin (gpumem.numba), in a process of its own:
    Numba takes its memory manager before its first context. No kernel is compiled: the GPU
    machine's Numba-CUDA cannot compile against its numpy 2 (np.row_stack is gone)."""
    pytest.importorskip("numba.cuda")
    code = (
        "import gc, numpy as np\n"
        "import gpumem.numba, gpumem.frameworks\n"
        "gpumem.numba.use_allocator()\n"
        "from numba import cuda\n"
        "host = np.arange(1 << 20, dtype=np.float32)\n"
        "d = cuda.to_device(host)\n"
        "stats = gpumem.frameworks.stats()\n"
        "assert stats.allocation_count >= 1 and stats.used_bytes >= host.nbytes, stats\n"
        "e = cuda.device_array_like(d)\n"
        "e.copy_to_device(d)\n"  # device to device, in gpumem's memory
        "assert gpumem.frameworks.stats().allocation_count == stats.allocation_count + 1\n"
        "assert (e.copy_to_host() == host).all()\n"
        "del e; gc.collect()\n"
        "info = cuda.current_context().get_memory_info()\n"
        "assert 0 < info.free <= info.total, info\n"
        "before = gpumem.frameworks.stats().allocation_count\n"
        "del d; gc.collect(); cuda.synchronize()\n"
        "assert gpumem.frameworks.stats().allocation_count == before - 1\n"
        "print('numba ok')\n")
    run_apart(code, "numba ok")


def test_cupy_memory_freed_under_one_blocking_stream_is_reused_after_its_work(device):
    """CuPy's allocator interface carries no stream: gpumem orders its frees on the legacy
    default stream, which CuPy's blocking streams synchronize with. Array X is read by a long
    run of copies on blocking stream B1 and freed at once; array Y of the same size, made for
    blocking stream B2, is filled there right away. Y may get X's memory, but B2's fill must
    wait for B1's copies: their result is checked. In a process of its own (the allocator is
    process-wide)."""
    pytest.importorskip("cupy")
    code = (
        "import cupy, gpumem.cupy\n"
        "gpumem.cupy.use_allocator()\n"
        "n = 16 << 20\n"
        "b1 = cupy.cuda.Stream(non_blocking=False)\n"
        "b2 = cupy.cuda.Stream(non_blocking=False)\n"
        "reused = wrong = 0\n"
        "for round in range(5):\n"
        "    with b1:\n"
        "        x = cupy.arange(n, dtype=cupy.int32)\n"
        "        z = cupy.empty_like(x)\n"
        "        b1.synchronize()\n"
        "        for _ in range(40):\n"
        "            cupy.copyto(z, x)\n"
        "        at = x.data.ptr\n"
        "        del x\n"
        "    with b2:\n"
        "        y = cupy.empty(n, dtype=cupy.int32)\n"
        "        reused += y.data.ptr == at\n"
        "        y.fill(-1)\n"
        "    b1.synchronize(); b2.synchronize()\n"
        "    wrong += int((z != cupy.arange(n, dtype=cupy.int32)).sum())\n"
        "    del y, z\n"
        "print('reused', reused, 'wrong', wrong)\n"
        "assert reused > 0, 'Y never got X memory: the test ran nothing'\n"
        "assert wrong == 0, wrong\n"
        "print('cupy ok')\n")
    run_apart(code, "cupy ok")


def test_a_free_inside_an_allocation_frees_nothing():
    """The allocator frees by the address an allocation began at; a pointer inside one is
    refused on stderr, and the allocation stays (freeing it would free memory still in use).
    In a process of its own (the allocator is process-wide)."""
    code = (
        "from gpumem import frameworks\n"
        "lib = frameworks.library()\n"
        "p = lib.gpumem_frameworks_torch_alloc(1 << 20, 0, None)\n"
        "assert p, 'no allocation'\n"
        "lib.gpumem_frameworks_torch_free(p + 100, 1 << 20, 0, None)\n"
        "assert frameworks.stats().allocation_count == 1, frameworks.stats()\n"
        "q = lib.gpumem_frameworks_torch_alloc(1 << 20, 0, None)\n"
        "assert q != p, 'the live allocation was handed out again'\n"
        "lib.gpumem_frameworks_torch_free(q, 1 << 20, 0, None)\n"
        "lib.gpumem_frameworks_torch_free(p, 1 << 20, 0, None)\n"
        "assert frameworks.stats().allocation_count == 0, frameworks.stats()\n"
        "print('free ok')\n")
    done = run_apart(code, "free ok", timeout=120)
    assert "inside an allocation" in done.stderr, done.stderr[-3000:]


def test_a_traced_range_is_never_allocated_again_before_its_free_is_traced(tmp_path):
    """GPUMEM_FRAMEWORKS_TRACE's lines are what replay_trace.py replays: with threads freeing
    and allocating like sizes on one stream, a range another thread frees is handed out again
    at once, and its allocation line must come after the free's. ctypes lets the threads run
    the allocator at once (it releases the GIL). In a process of its own (the allocator is
    process-wide)."""
    trace = tmp_path / "trace.txt"
    code = (
        "import threading\n"
        "from gpumem import frameworks\n"
        "lib = frameworks.library()\n"
        "def work(seed):\n"
        "    live = []\n"
        "    for i in range(20000):\n"
        "        if len(live) < 8:\n"
        "            p = lib.gpumem_frameworks_torch_alloc(4096, 0, None)\n"
        "            assert p, frameworks.last_error()\n"
        "            live.append(p)\n"
        "        else:\n"
        "            lib.gpumem_frameworks_torch_free(live.pop((i * seed) % 8), 4096, 0, None)\n"
        "    for p in live:\n"
        "        lib.gpumem_frameworks_torch_free(p, 4096, 0, None)\n"
        "threads = [threading.Thread(target=work, args=(s,)) for s in (3, 5, 7, 11)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print('threads ok')\n")
    env = dict(os.environ, GPUMEM_FRAMEWORKS_TRACE=str(trace))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0 and "threads ok" in done.stdout, done.stderr[-3000:]
    live, taken_again = set(), 0
    for number, line in enumerate(trace.read_text().splitlines(), 1):
        action, address = line.split()[:2]
        if action == "a":
            assert address not in live, "line %d: %s allocated while live" % (number, line)
            live.add(address)
        else:
            assert address in live, "line %d: %s freed while not live" % (number, line)
            live.remove(address)
            taken_again += 1
    assert not live, "%d allocations never freed in the trace" % len(live)
    assert taken_again > 1000, "too few frees to have raced: %d" % taken_again
