"""What this machine's CPU offers, for choices that pay off only on some CPUs."""
from __future__ import annotations

import platform
from pathlib import Path


def _cpuinfo() -> str:
    """/proc/cpuinfo (Linux); empty where it is unreadable."""
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """True where the CPU has bfloat16 units (AVX512-BF16 or AMX): there bfloat16 autocast makes
    matmuls ~2x faster; elsewhere PyTorch emulates bfloat16 and it is slower than float32.
    Reads /proc/cpuinfo (Linux); False where that is unreadable."""
    flags = _cpuinfo()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_description(kernels: str) -> str:
    """The CPU as a measurement should name it: model, the vector kernels PyTorch dispatches to
    (`kernels`: torch.backends.cpu.get_cpu_capability(), e.g. AVX2 or AVX512; passed in, as this
    module stays torch-free) and whether it has bfloat16 units. A model name alone ("AMD EPYC")
    does not tell apart two machines whose kernels, and so whose floating-point results, differ."""
    return f"{cpu_model()} (torch kernels {kernels}, {'with' if cpu_has_bf16() else 'no'} bfloat16 units)"
