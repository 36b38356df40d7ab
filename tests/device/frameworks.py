#!/usr/bin/env python3
"""gpumem as PyTorch's and CuPy's allocator, on a CUDA GPU: correctness checks, then the issue's
benchmarks side by side in one run. Each configuration runs in a process of its own (a
framework takes its allocator once, before its first allocation); this script starts them and
prints one table.

    PYTHONPATH=build-gpu/python python3 tests/device/frameworks.py [--quick] [--rounds N]
        [--json FILE]
    ... frameworks.py --trace FILE [--config NAME]: the allocations and frees of one
        configuration's PyTorch workload (default torch-caching), for replay_trace.py
    ... frameworks.py --configs NAME,NAME,...: only these configurations (and the base
        allocators their ratios need)

GPUMEM_FRAMEWORKS_VARIANTS="LABEL=BUILD_DIR,..." adds configurations torch-gpumem-paged@LABEL and
cupy-gpumem-paged@LABEL: gpumem paged with another build's Python package and libraries (an
earlier commit's, say), in the same rounds as this build's.

Configurations: PyTorch's caching allocator, PyTorch's cudaMallocAsync backend, gpumem paged
(pages of 512 MiB, the default, 1 GiB and 256 MiB) and gpumem native, CuPy's default pool,
CuPy's MemoryAsyncPool and gpumem paged for CuPy. Measured in each:
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

TORCH = ["torch-caching", "torch-async", "torch-gpumem-paged", "torch-gpumem-paged-1g",
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
        page = {"1g": 1 << 30, "256m": 256 << 20}.get(name.rsplit("-", 1)[-1], 0)
        gpumem.torch.use_allocator(pool=pool, page_size=page)
    elif name == "torch-async":
        assert torch.cuda.memory.get_allocator_backend() == "cudaMallocAsync", \
            "run with PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync"
    # Every allocation and free, for tests/device/replay_trace.py: libgpumem-frameworks writes
    # its own (GPUMEM_FRAMEWORKS_TRACE); the caching allocator's comes from its history.
    trace_path = name == "torch-caching" and os.environ.get("GPUMEM_FRAMEWORKS_TRACE")
    if trace_path:
        torch.cuda.memory._record_memory_history(enabled="all", context=None, stacks="python",
                                                 max_entries=4000000)
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
    if trace_path:
        write_trace(torch, trace_path)
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


def write_trace(torch, path):
    """The allocator's trace as lines "a|f address size" in order (frees when requested: one
    stream, so a freed block is reusable at once), with the caching allocator's own peaks."""
    torch.cuda.synchronize()
    snapshot = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    events = snapshot["device_traces"][torch.cuda.current_device()]
    with open(path, "w") as out:
        out.write("# max_memory_reserved %d max_memory_allocated %d events %d\n" % (
            torch.cuda.max_memory_reserved(), torch.cuda.max_memory_allocated(), len(events)))
        for event in events:
            action = event["action"]
            if action in ("alloc", "free_requested"):
                out.write("%s %d %d\n" % (action[0], event["addr"], event["size"]))
            elif action in ("oom", "snapshot"):
                out.write("# %s\n" % action)


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


def pin():
    """Every configuration on the same CPUs (GPUMEM_BENCH_CPUS, e.g. "2-9"; default: CPUs 2-9
    where the machine has 10 or more): unpinned, a process's Python loop ran at one of two
    speeds (about 2.7 or 4.7 us per op on the H200 host) whatever its allocator, which three
    rounds could not average out."""
    spec = os.environ.get("GPUMEM_BENCH_CPUS") or ("2-9" if (os.cpu_count() or 0) >= 10
                                                   else "")
    if spec:
        first, _, last = spec.partition("-")
        os.sched_setaffinity(0, range(int(first), int(last or first) + 1))
    return spec


def child(name, quick):
    pin()
    result = run_torch(name, quick) if name.startswith("torch") else run_cupy(name, quick)
    print("RESULT " + json.dumps(result), flush=True)


def variants():
    """GPUMEM_FRAMEWORKS_VARIANTS as {label: build folder}."""
    spec = os.environ.get("GPUMEM_FRAMEWORKS_VARIANTS", "")
    found = {}
    for item in filter(None, spec.split(",")):
        label, equals, folder = item.partition("=")
        if not equals or not label or not os.path.isdir(folder):
            sys.exit("GPUMEM_FRAMEWORKS_VARIANTS: %r is not LABEL=BUILD_DIR of a build folder"
                     % item)
        found[label] = os.path.abspath(folder)
    return found


def configurations(only):
    """Every configuration, or those of --configs with the base allocators of their ratios."""
    names = TORCH + CUPY + ["%s@%s" % (name, label) for label in variants()
                            for name in ("torch-gpumem-paged", "cupy-gpumem-paged")]
    if not only:
        return names
    unknown = set(only) - set(names)
    if unknown:
        sys.exit("--configs: no configuration %s (there are %s)" % (
            ", ".join(sorted(unknown)), ", ".join(names)))
    wanted = set(only) | {base_of(name) for name in only}
    return [name for name in names if name in wanted]


def run_child(name, quick):
    env = dict(os.environ)
    name, _, label = name.partition("@")
    if label:  # another build's package and libraries
        folder = variants()[label]
        env.update(PYTHONPATH=os.path.join(folder, "python"),
                   GPUMEM_LIBRARY=os.path.join(folder, "lib", "libgpumem.so.0"),
                   GPUMEM_FRAMEWORKS_LIBRARY=os.path.join(folder, "frameworks",
                                                          "libgpumem-frameworks.so.0"))
    if name == "torch-async":
        env["PYTORCH_CUDA_ALLOC_CONF"] = "backend:cudaMallocAsync"
    proc = subprocess.run([sys.executable, __file__, "--child", name] +
                          (["--quick"] if quick else []), env=env, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print("FAIL %s (exit %d):\n%s" % (name, proc.returncode, proc.stderr[-3000:]))
        return None
    return json.loads(lines[-1][7:])


def base_of(name):
    return "torch-caching" if name.startswith("torch") else "cupy-default"


def parent(quick, json_path, rounds, names):
    """Every configuration once per round, the rounds one after another (so that a slow spell
    of the machine hits every configuration alike); medians over the rounds, and ratios taken
    against the base allocator of the same round."""
    runs, failures = {name: [] for name in names}, []
    for round_number in range(rounds):
        for name in names:
            result = run_child(name, quick)
            if result is None:
                failures.append("%s (round %d)" % (name, round_number + 1))
                continue
            runs[name].append(result)
    # Checks against the frameworks' own allocators, in every round.
    for name in [n for n in names if "gpumem" in n]:
        key = "losses" if name.startswith("torch") else "workload"
        for mine, base in zip(runs[name], runs[base_of(name)]):
            if mine[key] != base[key]:
                failures.append(name + " " + key)
                print("FAIL %s: %s %r differ from %s's %r" % (name, key, mine[key],
                                                              base_of(name), base[key]))
    gib = 1 << 30
    print("medians of %d rounds; ratios against the base allocator of the same round; CPUs %s"
          % (rounds, pin() or "any"))
    print("%-24s %10s %7s %10s %7s %13s %7s %13s" % ("allocator", "churn/op", "ratio", "step",
                                                      "ratio", "peak reserved", "ratio",
                                                      "after release"))
    summary = {}
    for name, results in runs.items():
        if not results:
            continue
        base = runs[base_of(name)]

        def median_of(key, scale=1.0):
            values = [r[key] for r in results if key in r]
            return statistics.median(values) / scale if values else None

        def ratio(key):
            pairs = [r[key] / b[key] for r, b in zip(results, base) if key in r and key in b]
            return statistics.median(pairs) if pairs else None

        row = {"churn_us": median_of("churn_us"), "churn_ratio": ratio("churn_us"),
               "step_ms": median_of("step_ms"), "step_ratio": ratio("step_ms"),
               "peak_reserved_gib": median_of("peak_reserved", gib),
               "peak_ratio": ratio("peak_reserved"),
               "after_release_gib": median_of("after_release", gib),
               "rounds": len(results)}
        summary[name] = row
        text = lambda v, f: (f % v) if v is not None else "-"
        print("%-24s %10s %7s %10s %7s %13s %7s %13s" % (
            name, text(row["churn_us"], "%.2f us"), text(row["churn_ratio"], "%.2fx"),
            text(row["step_ms"], "%.2f ms"), text(row["step_ratio"], "%.3fx"),
            text(row["peak_reserved_gib"], "%.2f GiB"), text(row["peak_ratio"], "%.2fx"),
            text(row["after_release_gib"], "%.2f GiB")))
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"summary": summary, "runs": runs}, f, indent=1)
    print("frameworks: %s" % ("all checks passed" if not failures else
                              "FAILED: " + ", ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    quick = "--quick" in args
    if "--child" in args:
        child(args[args.index("--child") + 1], quick)
    elif "--trace" in args:  # the allocations of the PyTorch workload on one allocator
        os.environ["GPUMEM_FRAMEWORKS_TRACE"] = args[args.index("--trace") + 1]
        result = run_child(args[args.index("--config") + 1] if "--config" in args
                           else "torch-caching", quick)
        print(json.dumps(result and {k: v for k, v in result.items() if k != "losses"}))
        sys.exit(0 if result else 1)
    else:
        only = args[args.index("--configs") + 1].split(",") if "--configs" in args else []
        sys.exit(parent(quick, args[args.index("--json") + 1] if "--json" in args else None,
                        int(args[args.index("--rounds") + 1]) if "--rounds" in args else 3,
                        configurations(only)))
