"""Our sclite-exact WER against the real sclite binary on the full PHOENIX-2014 dev STM with
perturbed hypotheses: wall time of one run each, their ratio, and whether the counts agree.

    python benchmarks/bench_scoring.py
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signkd import metrics as M  # noqa: E402

STM = ROOT.parent / "shared" / "data" / "phoenix2014" / "phoenix2014-groundtruth-dev.stm"


def perturbed(refs: dict[str, list[str]], seed: int = 0) -> dict[str, list[str]]:
    """About 25% word errors of every kind, a few empty and missing hypotheses."""
    rng = random.Random(seed)
    vocab = sorted({w for ws in refs.values() for w in ws})
    hyps = {}
    for uid, ref in refs.items():
        r = rng.random()
        if r < 0.02:
            continue
        hyp = []
        for word in ([] if r < 0.04 else ref):
            x = rng.random()
            if x < 0.08:
                continue
            hyp.append(rng.choice(vocab) if x < 0.16 else word)
            if rng.random() < 0.06:
                hyp.append(rng.choice(vocab))
        hyps[uid] = hyp
    return hyps


def main() -> int:
    if not STM.is_file():
        print(f"skipped: {STM} not found")
        return 0
    refs = M.read_stm(STM)
    hyps = perturbed(refs)
    rows = []
    start = time.perf_counter()
    ours = M.sclite_wer(refs, hyps)
    rows.append(("signkd (python)", time.perf_counter() - start, ours))
    sclite = M.find_sclite()
    if sclite is None:
        print("note: sclite binary not found (Debian package sctk); timing ours only")
    else:
        start = time.perf_counter()
        theirs = M.run_sclite(refs, hyps, sclite=sclite)
        rows.append(("sclite binary (incl. writing STM/CTM)", time.perf_counter() - start, theirs))
        with tempfile.TemporaryDirectory() as tmp:
            stm = M.write_stm(Path(tmp) / "r.stm", refs)
            ctm = M.write_ctm(Path(tmp) / "h.ctm", hyps)
            start = time.perf_counter()
            M.run_sclite_files(stm, ctm, sclite, outputs=("rsum",))
            rows.append(("sclite binary (process only)", time.perf_counter() - start, None))
    print(f"PHOENIX-2014 dev: {ours.utterances} utterances, {ours.ref_words} reference words, "
          f"{len(refs) - len(hyps)} hypotheses missing")
    print(f"{'scorer':40s} {'seconds':>9s} {'WER %':>8s} {'S':>5s} {'D':>5s} {'I':>5s}")
    for name, secs, res in rows:
        if res is None:
            print(f"{name:40s} {secs:9.3f}")
        else:
            print(f"{name:40s} {secs:9.3f} {res.wer:8.2f} {res.sub:5d} {res.dele:5d} {res.ins:5d}")
    if len(rows) > 1:
        same = (ours.sub, ours.dele, ours.ins, ours.ref_words) == (rows[1][2].sub, rows[1][2].dele,
                                                                   rows[1][2].ins, rows[1][2].ref_words)
        print(f"time ratio signkd / sclite (incl. files): {rows[0][1] / rows[1][1]:.2f}   "
              f"identical S/D/I/N: {'yes' if same else 'NO'}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
