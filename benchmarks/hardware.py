"""What a benchmark ran on, and the peak it could reach there: the CPU's model and the instruction-set flags that
decide its matmul speed, the OpenMP and thread settings, and a large matmul timed in the same run (fp32 on a CPU,
bf16 and fp32 on a GPU), against which a phase's FLOPs per second become a fraction of the achievable peak."""

import os
import platform
import time

import torch

MATMUL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info():
    """{'model': ..., 'flags': [the matmul-relevant ones it has], 'cores': n} from /proc/cpuinfo (Linux)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return dict(model=model, flags=[f for f in MATMUL_FLAGS if f in flags], cores=os.cpu_count())


def describe(device):
    """One line: the device, and on a CPU its model, flags, torch's threads and the OpenMP wait policy."""
    if device.type == "cuda":
        return f"device: {torch.cuda.get_device_name(device)}"
    c = cpu_info()
    flags = " ".join(c["flags"]) or f"none of {' '.join(MATMUL_FLAGS)}"
    return (f"device: cpu, {c['model']}, {c['cores']} cores, flags {flags}"
            f"; torch threads {torch.get_num_threads()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
            f", GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device, dtype, n=None, seconds=2.0):
    """FLOP/s of the best of repeated n x n matmuls of `dtype` on `device` (n: 8192 on a GPU, 2048 on a CPU)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def peaks(device):
    """{dtype name: measured FLOP/s}: fp32 on a CPU (its bf16 is never a default here), bf16 and fp32 on a GPU."""
    dtypes = {"fp32": torch.float32} if device.type != "cuda" else {"bf16": torch.bfloat16, "fp32": torch.float32}
    return {name: matmul_peak(device, dt) for name, dt in dtypes.items()}
