"""What this machine's CPU offers, for choices that pay off only on some CPUs."""
from __future__ import annotations

from pathlib import Path


def cpu_has_bf16() -> bool:
    """True where the CPU has bfloat16 units (AVX512-BF16 or AMX): there bfloat16 autocast makes
    matmuls ~2x faster; elsewhere PyTorch emulates bfloat16 and it is slower than float32.
    Reads /proc/cpuinfo (Linux); False where that is unreadable."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
