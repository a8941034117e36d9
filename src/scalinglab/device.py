"""Choosing a device, mixed precision on it, and measuring its peak matmul throughput (the denominator of MFU)."""

from __future__ import annotations

import contextlib
import functools
import time
from typing import ContextManager

import torch

from ._checks import one_of, positive_int
from .runs import DEVICES


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def resolve_device(name: str = "auto") -> str:
    """``"cpu"``, ``"cuda"`` or ``"mps"``: ``"auto"`` picks CUDA, then MPS, then the CPU.

    Asking for ``"cuda"`` or ``"mps"`` where there is none raises ``ValueError``.
    """
    one_of("device", name, DEVICES)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device='cuda' was asked for, but this machine has no CUDA GPU usable by torch {torch.__version__}"
        )
    if name == "mps" and not _mps_available():
        raise ValueError("device='mps' was asked for, but the Apple MPS backend is not available here")
    return name


def device_type(device: str | torch.device) -> str:
    """The type of a device, ``"cpu"``, ``"cuda"`` or ``"mps"``: ``"cuda:0"`` -> ``"cuda"``."""
    return torch.device(device).type


def synchronize(device: str | torch.device) -> None:
    """Wait for queued work on ``device`` (any index) to finish (a no-op on the CPU)."""
    kind = device_type(device)
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()


def autocast(device: str | torch.device, bf16: bool) -> ContextManager[object]:
    """bf16 autocast on ``device`` when ``bf16``; otherwise no autocast context at all (a
    disabled ``torch.autocast`` still checks its device type, and torch < 2.5 rejects "mps")."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type(device), dtype=torch.bfloat16)


CPU_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""CPU feature flags (as Linux's /proc/cpuinfo names them) of native bf16 matmuls: Intel's AMX
tiles (Sapphire Rapids and later) and AVX512-BF16 (Cooper Lake, Zen 4 and later)."""


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags, from /proc/cpuinfo (empty where there is none: macOS, Windows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def bf16_is_native(device: str | torch.device) -> bool:
    """Whether bf16 matmuls run natively and fast on ``device``: a CUDA GPU of compute
    capability 8.0 or more (Ampere and later; a V100 or T4 emulates bf16, slower than fp32),
    or a CPU with one of :data:`CPU_BF16_FLAGS` (elsewhere oneDNN emulates bf16 with fp32
    arithmetic plus conversions: slower than fp32). False on MPS."""
    kind = device_type(device)
    if kind == "cpu":
        return bool(CPU_BF16_FLAGS & cpu_flags())
    if kind != "cuda":
        return False
    return torch.cuda.get_device_capability(torch.device(device)) >= (8, 0)


def measure_matmul_flops_per_second(
    device: str = "auto", *, dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5
) -> float:
    """Peak matmul throughput of ``device`` in FLOP/s: the best of ``repeats`` timed products.

    Multiplies two ``size x size`` matrices (``2 size^3`` FLOPs) after a warm-up and
    returns the fastest rate seen. Use it as the peak in MFU: it is what this machine
    actually reaches, not a datasheet number.
    """
    device = resolve_device(device)
    size, repeats = positive_int("size", size), positive_int("repeats", repeats)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    inner = 1 if device == "cpu" else 20
    a @ b
    synchronize(device)
    best_seconds = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            a @ b
        synchronize(device)
        best_seconds = min(best_seconds, (time.perf_counter() - start) / inner)
    return 2 * size**3 / best_seconds
