#!/usr/bin/env python3
"""gpumem as PyTorch's and CuPy's allocator, on a CUDA GPU: correctness checks, then the issue's
benchmarks side by side in one run. Each configuration runs in a process of its own (a
framework takes its allocator once, before its first allocation); this script starts them and
prints one table.

    PYTHONPATH=build-gpu/python python3 tests/device/frameworks.py [--quick] [--json FILE]

Configurations: PyTorch's caching allocator, PyTorch's cudaMallocAsync backend, gpumem paged
(pages of 1 GiB, 512 MiB and 256 MiB) and gpumem native, CuPy's default pool, CuPy's MemoryAsyncPool and
gpumem paged for CuPy. Measured in each:
- churn: the time per op of a Python loop that replaces a random one of 200 live tensors with a
  new one of a random size, log-uniform from 256 B to 64 MiB (median of 5 runs of 20,000 ops);
- a ResNet-50 training step (torchvision, bf16 autocast, batch 64, SGD): median of 30 steps
  after 10 of warm-up;
- peak reserved: torch.cuda.max_memory_reserved() for PyTorch's allocators, the largest
  reserved_bytes of gpumem's pool sampled after every step and churn run for gpumem;
- release: gpumem's reserved bytes after gpumem.frameworks.release();
- checks: five deterministic training steps give the same losses as on the caching allocator,
  and a CuPy workload the same numbers as on CuPy's default pool.
"""
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time

TORCH = ["torch-caching", "torch-async", "torch-gpumem-paged", "torch-gpumem-paged-512m",
         "torch-gpumem-paged-256m", "torch-gpumem-native"]
CUPY = ["cupy-default", "cupy-async", "cupy-gpumem-paged"]


def churn_sizes(count, seed):
    rng = random.Random(seed)
    low, high = math.log(256), math.log(64 << 20)
    return [int(math.exp(rng.uniform(low, high))) for _ in range(count)], rng


def churn(make, ops, runs, sample):
    per_op = []
    for run in range(runs):
        sizes, rng = churn_sizes(ops, 100 + run)
        live = [make(256) for _ in range(200)]
        slots = [rng.randrange(200) for _ in range(ops)]
        start = time.perf_counter()
        for size, slot in zip(sizes, slots):
            live[slot] = make(size)
        per_op.append((time.perf_counter() - start) / ops * 1e6)
        sample()
        del live
    return statistics.median(per_op), per_op


def run_torch(name, quick):
    import torch
    result = {"name": name}
    if name.startswith("torch-gpumem"):
        import gpumem.torch
        pool = "native" if name.endswith("native") else "paged"
        page = {"512m": 512 << 20, "256m": 256 << 20}.get(name.rsplit("-", 1)[-1], 0)
        gpumem.torch.use_allocator(pool=pool, page_size=page)
    elif name == "torch-async":
        assert torch.cuda.memory.get_allocator_backend() == "cudaMallocAsync", \
            "run with PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync"
    gpumem_peak = [0]

    def sample():
        torch.cuda.synchronize()
        if name.startswith("torch-gpumem"):
            import gpumem.frameworks
            gpumem_peak[0] = max(gpumem_peak[0], gpumem.frameworks.stats().reserved_bytes)

    # Checks: what gpumem hands out holds what was written, and deterministic training steps
    # give the losses the caching allocator gives (compared by the parent).
    x = torch.arange(1 << 20, device="cuda", dtype=torch.float32)
    assert float((x * 2).sum()) == float((torch.arange(1 << 20, dtype=torch.float64) * 2).sum())
    if name.startswith("torch-gpumem"):
        import gpumem.frameworks
        assert gpumem.frameworks.stats().allocation_count > 0, "the tensor is not gpumem's"
    import torchvision
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(0)
    model = torchvision.models.resnet50().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator(device="cuda").manual_seed(1)
    images = torch.randn(64, 3, 224, 224, device="cuda", generator=gen)
    labels = torch.randint(0, 1000, (64,), device="cuda", generator=gen)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    result["losses"] = [float(step()) for _ in range(5)]
    sample()
    # The training step's time (cuDNN as users run it: benchmark off, the default).
    torch.backends.cudnn.deterministic = False
    times = []
    for i in range(12 if quick else 40):
        torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        if i >= (2 if quick else 10):
            times.append((time.perf_counter() - start) * 1e3)
        sample()
    result["step_ms"] = statistics.median(times)
    del model, optimizer, images, labels
    result["churn_us"], result["churn_runs_us"] = churn(
        lambda n: torch.empty(n, dtype=torch.uint8, device="cuda"),
        4000 if quick else 20000, 3 if quick else 5, sample)
    if name.startswith("torch-gpumem"):
        import gpumem.frameworks
        result["peak_reserved"] = gpumem_peak[0]
        torch.cuda.synchronize()
        import gc
        gc.collect()
        gpumem.frameworks.release()
        result["after_release"] = gpumem.frameworks.stats().reserved_bytes
    else:
        try:  # the cudaMallocAsync backend reports the runtime pool's high-water mark
            result["peak_reserved"] = torch.cuda.max_memory_reserved()
            torch.cuda.empty_cache()
            result["after_release"] = torch.cuda.memory_reserved()
        except RuntimeError as error:
            result["reserved_error"] = str(error)[:200]
    return result


def cupy_workload(cupy):
    rng = cupy.random.default_rng(5)
    total = 0.0
    for n in (1000, 4096, 123457):
        a = rng.standard_normal(n, dtype=cupy.float64)
        b = cupy.fft.ifft(cupy.fft.fft(a)).real
        total += float(cupy.abs(a - b).max()) + float((a * a).sum())
    m = rng.standard_normal((512, 512))
    total += float((m @ m.T).trace())
    return total


def run_cupy(name, quick):
    import cupy
    result = {"name": name}
    if name == "cupy-gpumem-paged":
        import gpumem.cupy
        gpumem.cupy.use_allocator()
    elif name == "cupy-async":
        cupy.cuda.set_allocator(cupy.cuda.MemoryAsyncPool().malloc)
    result["workload"] = cupy_workload(cupy)
    if name == "cupy-gpumem-paged":
        import gpumem.frameworks
        assert gpumem.frameworks.stats().allocation_count >= 0
    result["churn_us"], result["churn_runs_us"] = churn(
        lambda n: cupy.empty(n, dtype=cupy.uint8), 4000 if quick else 20000, 3 if quick else 5,
        lambda: cupy.cuda.runtime.deviceSynchronize())
    return result


def child(name, quick):
    result = run_torch(name, quick) if name.startswith("torch") else run_cupy(name, quick)
    print("RESULT " + json.dumps(result), flush=True)


def parent(quick, json_path):
    results, failures = {}, []
    for name in TORCH + CUPY:
        env = dict(os.environ)
        if name == "torch-async":
            env["PYTORCH_CUDA_ALLOC_CONF"] = "backend:cudaMallocAsync"
        started = time.time()
        proc = subprocess.run([sys.executable, __file__, "--child", name] +
                              (["--quick"] if quick else []), env=env, capture_output=True,
                              text=True)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            failures.append(name)
            print("FAIL %s (exit %d):\n%s" % (name, proc.returncode, proc.stderr[-3000:]))
            continue
        results[name] = json.loads(lines[-1][7:])
        results[name]["seconds"] = round(time.time() - started, 1)
    # Checks against the frameworks' own allocators.
    base = results.get("torch-caching", {}).get("losses")
    for name in TORCH[2:]:
        if name in results and base and results[name]["losses"] != base:
            failures.append(name + " losses")
            print("FAIL %s: losses %s differ from the caching allocator's %s" %
                  (name, results[name]["losses"], base))
    cbase = results.get("cupy-default", {}).get("workload")
    if "cupy-gpumem-paged" in results and results["cupy-gpumem-paged"]["workload"] != cbase:
        failures.append("cupy workload")
        print("FAIL cupy workload: %r != %r" % (results["cupy-gpumem-paged"]["workload"], cbase))
    gib = 1 << 30
    print("%-24s %10s %10s %13s %13s %8s" % ("allocator", "churn/op", "step", "peak reserved",
                                               "after release", "vs base"))
    for name, r in results.items():
        base_churn = results.get("torch-caching" if name.startswith("torch") else
                                 "cupy-default", {}).get("churn_us")
        ratio = "%.2fx" % (r["churn_us"] / base_churn) if base_churn else "-"
        step = "%.2f ms" % r["step_ms"] if "step_ms" in r else "-"
        peak = "%.2f GiB" % (r["peak_reserved"] / gib) if "peak_reserved" in r else "-"
        after = "%.2f GiB" % (r["after_release"] / gib) if "after_release" in r else "-"
        print("%-24s %8.2f us %10s %13s %13s %8s" % (name, r["churn_us"], step, peak, after,
                                                     ratio))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
    print("frameworks: %s" % ("all checks passed" if not failures else
                              "FAILED: " + ", ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    quick = "--quick" in args
    if "--child" in args:
        child(args[args.index("--child") + 1], quick)
    else:
        sys.exit(parent(quick, args[args.index("--json") + 1] if "--json" in args else None))
