"""`make bench`: run every benchmarks/bench_*.py in turn with this interpreter; each prints its table.
bench_scale.py (every stage at PHOENIX size, ≈ 15 min) has its own target, `make bench-scale`; gpu_smoke.py
needs a GPU.

Benchmarks measure side by side in one run and report ratios, because this machine is shared and noisy.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


SEPARATE = ("bench_scale.py",)   # long: run by its own make target


def main() -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(s for s in here.glob("bench_*.py") if s.name not in SEPARATE)
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], cwd=here.parent)
        print(f"--- {script.name}: exit {rc}, {time.perf_counter() - start:.1f} s", flush=True)
        if rc != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
