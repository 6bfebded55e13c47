"""The real NIST sclite binary, where installed: running it and reading its reports."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from signkd.errors import DataError, SignkdError
from signkd.metrics.wer import UtteranceScore, _wer_percent, WerResult
from signkd.metrics.files import write_ctm, write_stm

SCLITE_FALLBACK = "/usr/lib/sctk/bin/sclite"  # where Debian's sctk package installs it


def find_sclite() -> str | None:
    """The sclite binary: $SIGNKD_SCLITE, then PATH, then Debian's sctk location."""
    for candidate in (os.environ.get("SIGNKD_SCLITE"), shutil.which("sclite"), SCLITE_FALLBACK):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


_RSUM_ROW = re.compile(r"\|\s*(\S+)\s*\|\s*(\d+)\s+(\d+)\s*\|\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)")
_PRA_FILE = re.compile(r"^File: (\S+)", re.M)
_PRA_SCORES = re.compile(r"^Scores: \(#C #S #D #I\) (\d+) (\d+) (\d+) (\d+)", re.M)


def parse_sclite_rsum(text: str) -> dict[str, tuple[int, int, int, int, int, int]]:
    """Rows of sclite's ``rsum`` table: {speaker or 'Sum': (sentences, words, C, S, D, I)}."""
    out = {}
    for m in _RSUM_ROW.finditer(text):
        name, snt, wrd, c, s, d, i, _err = m.group(1), *map(int, m.groups()[1:])
        out[name] = (snt, wrd, c, s, d, i)
    return out


def parse_sclite_pra(text: str) -> dict[str, tuple[int, int, int, int]]:
    """Per-utterance (C, S, D, I) from sclite's ``pra`` report, keyed by (lower-cased) file id."""
    files = _PRA_FILE.findall(text)
    scores = _PRA_SCORES.findall(text)
    if len(files) != len(scores):
        raise SignkdError("could not read sclite's pra report (File/Scores lines do not pair up)")
    return {f: tuple(map(int, s)) for f, s in zip(files, scores)}


def run_sclite_files(stm: str | Path, ctm: str | Path, sclite: str | None = None,
                     outputs: tuple[str, ...] = ("rsum", "pra")) -> str:
    """Run ``sclite -h CTM ctm -r STM stm -f 0 -o OUTPUTS stdout`` and return its stdout."""
    sclite = sclite or find_sclite()
    if sclite is None:
        raise SignkdError("sclite not found (install the Debian package 'sctk', set SIGNKD_SCLITE, "
                          "or use --scorer python)")
    proc = subprocess.run([sclite, "-h", str(ctm), "ctm", "-r", str(stm), "stm", "-f", "0",
                           "-o", *outputs, "stdout"], capture_output=True, text=True)
    if proc.returncode != 0 or "Error" in proc.stderr:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise SignkdError(f"sclite failed (exit {proc.returncode}): {msg[-1] if msg else 'no output'}")
    return proc.stdout


def run_sclite(refs: dict[str, list[str]], hyps: dict[str, list[str]], *,
               sclite: str | None = None, speakers: dict | None = None) -> WerResult:
    """Score with the real sclite binary: counts come from its ``rsum`` table, per-utterance
    counts from its ``pra`` report (without our alignment)."""
    lowered = {}
    for uid in refs:
        if uid.lower() in lowered:
            raise DataError(f"utterance ids '{lowered[uid.lower()]}' and '{uid}' differ only in "
                            f"case; sclite cannot tell them apart")
        lowered[uid.lower()] = uid
    extra = sorted(set(hyps) - set(refs))
    if extra:
        raise DataError(f"hypothesis id '{extra[0]}' has no reference")
    with tempfile.TemporaryDirectory(prefix="signkd-sclite-") as tmp:
        stm = write_stm(Path(tmp) / "ref.stm", refs, speakers)
        ctm = write_ctm(Path(tmp) / "hyp.ctm", {u: list(hyps.get(u) or []) for u in refs})
        text = run_sclite_files(stm, ctm, sclite)
    rows = parse_sclite_rsum(text)
    if "Sum" not in rows:
        raise SignkdError("could not find the 'Sum' row in sclite's rsum output")
    _, n, c, s, d, i = rows["Sum"]
    per = {}
    for fid, (uc, us, ud, ui) in parse_sclite_pra(text).items():
        uid = lowered.get(fid, fid)
        per[uid] = UtteranceScore(uid, list(refs.get(uid, [])), list(hyps.get(uid) or []), [],
                                  uc, us, ud, ui)
    return WerResult(wer=_wer_percent(s + d + i, n), sub=s, dele=d, ins=i, ref_words=n,
                     utterances=len(refs), per_utterance=per, correct=c,
                     hyp_words=sum(len(h or []) for h in hyps.values()), scorer="sclite")
