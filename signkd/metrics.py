"""Evaluation metrics the field trusts: sclite-exact WER, the PHOENIX hypothesis clean-up, and
BLEU/chrF/ROUGE-L for translation.

Why our own WER: published recognition numbers come from NIST sclite, which needs a compiled
binary. ``sclite_align`` reproduces sclite's word alignment exactly (its dynamic programming with
weights correct 0 / substitution 4 / insertion 3 / deletion 3, case-insensitive word comparison,
and its tie-breaking: substitution-or-match first, then deletion, and insertion only when it is
strictly cheaper than deletion), so that not only the error total but the split into
substitutions, deletions and insertions is identical (tests/test_sclite_equality.py checks this
against the real binary). ``run_sclite`` runs the real binary where it is installed.

Sections: alignment and WER · CTM/STM/hypothesis files · the real sclite · PHOENIX clean-up ·
translation metrics.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Iterable

from signkd.errors import DataError, SignkdError

# sclite's default word weights (wwd_WORD): a match costs 0.
SUB_COST, INS_COST, DEL_COST = 4, 3, 3

# ==============================================================================================
# Alignment and WER
# ==============================================================================================

_DIAG, _DEL, _INS = 0, 1, 2


def sclite_align(ref: list[str], hyp: list[str], *, case_sensitive: bool = False
                 ) -> list[tuple[str, str | None, str | None]]:
    """Align like sclite: ``[("C"|"S"|"D"|"I", ref_word, hyp_word), ...]`` in sentence order.

    Cell (a, b) holds the cheapest cost of aligning ref[:a] with hyp[:b]. As in sclite, a cell
    prefers the diagonal (match or substitution) when it is no worse than both alternatives, then
    a deletion when it is strictly cheaper than an insertion, else an insertion; the trace-back
    starts at the bottom-right cell. Words compare case-insensitively unless ``case_sensitive``
    (sclite's default lower-cases everything).
    """
    r = list(ref) if case_sensitive else [w.lower() for w in ref]
    h = list(hyp) if case_sensitive else [w.lower() for w in hyp]
    n, m = len(r), len(h)
    prev = [INS_COST * b for b in range(m + 1)]
    moves = [[_INS] * (m + 1)]
    for a in range(1, n + 1):
        ra = r[a - 1]
        cur = [prev[0] + DEL_COST] + [0] * m
        row = [_DEL] + [0] * m
        for b in range(1, m + 1):
            diag = prev[b - 1] + (0 if ra == h[b - 1] else SUB_COST)
            dele = prev[b] + DEL_COST
            ins = cur[b - 1] + INS_COST
            if diag <= dele and diag <= ins:
                cur[b], row[b] = diag, _DIAG
            elif dele < ins:
                cur[b], row[b] = dele, _DEL
            else:
                cur[b], row[b] = ins, _INS
        moves.append(row)
        prev = cur
    out = []
    a, b = n, m
    while a > 0 or b > 0:
        move = moves[a][b]
        if move == _DIAG:
            out.append(("C" if r[a - 1] == h[b - 1] else "S", ref[a - 1], hyp[b - 1]))
            a, b = a - 1, b - 1
        elif move == _DEL:
            out.append(("D", ref[a - 1], None))
            a -= 1
        else:
            out.append(("I", None, hyp[b - 1]))
            b -= 1
    out.reverse()
    return out


@dataclass
class UtteranceScore:
    """One utterance's alignment and counts (a line of sclite's ``pra`` report)."""
    id: str
    ref: list[str]
    hyp: list[str]
    alignment: list[tuple[str, str | None, str | None]]
    correct: int
    sub: int
    dele: int
    ins: int

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins


@dataclass
class WerResult:
    """Corpus WER = (S + D + I) / N in percent, with the counts that make it up."""
    wer: float
    sub: int
    dele: int
    ins: int
    ref_words: int
    utterances: int
    per_utterance: dict[str, UtteranceScore] = field(default_factory=dict)
    correct: int = 0
    hyp_words: int = 0
    scorer: str = "python"

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    def to_dict(self) -> dict:
        return {"wer": self.wer, "sub": self.sub, "del": self.dele, "ins": self.ins,
                "ref_words": self.ref_words, "utterances": self.utterances,
                "correct": self.correct, "hyp_words": self.hyp_words, "scorer": self.scorer}

    def summary(self) -> str:
        return (f"WER {self.wer:.2f}% (sub {self.sub}, del {self.dele}, ins {self.ins}; "
                f"{self.ref_words} reference words, {self.utterances} utterances; {self.scorer})")


def _wer_percent(errors: int, ref_words: int) -> float:
    if ref_words == 0:
        raise DataError("the references hold no words, so the WER is undefined")
    return 100.0 * errors / ref_words


def sort_ids(ids: Iterable[str]) -> list[str]:
    """Utterance ids in the order sclite needs them in both STM and CTM: case-insensitive."""
    return sorted(ids, key=lambda i: (i.lower(), i))


def sclite_wer(refs: dict[str, list[str]], hyps: dict[str, list[str]], *,
               case_sensitive: bool = False) -> WerResult:
    """Score every reference utterance; a missing or empty hypothesis counts as all deletions
    (what sclite does for an utterance without CTM lines). A hypothesis id without a reference is
    an error, as it is for sclite."""
    if not refs:
        raise DataError("no reference utterances to score")
    extra = sorted(set(hyps) - set(refs))
    if extra:
        raise DataError(f"hypothesis id {extra[0]!r} has no reference"
                        + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    per = {}
    tot = {"C": 0, "S": 0, "D": 0, "I": 0}
    hyp_words = 0
    for uid in sort_ids(refs):
        ref, hyp = list(refs[uid]), list(hyps.get(uid) or [])
        ali = sclite_align(ref, hyp, case_sensitive=case_sensitive)
        counts = {"C": 0, "S": 0, "D": 0, "I": 0}
        for op, _, _ in ali:
            counts[op] += 1
        for k in tot:
            tot[k] += counts[k]
        hyp_words += len(hyp)
        per[uid] = UtteranceScore(uid, ref, hyp, ali, counts["C"], counts["S"], counts["D"], counts["I"])
    n = sum(len(r) for r in refs.values())
    return WerResult(wer=_wer_percent(tot["S"] + tot["D"] + tot["I"], n), sub=tot["S"],
                     dele=tot["D"], ins=tot["I"], ref_words=n, utterances=len(refs),
                     per_utterance=per, correct=tot["C"], hyp_words=hyp_words)


def format_alignment_report(result: WerResult) -> str:
    """A ``pra``-like report: per utterance its counts and the REF/HYP/Eval lines, with correct
    words in lower case and errors in upper case, as sclite prints them."""
    lines = [f"Scorer: {result.scorer}", result.summary(), ""]
    for uid, u in result.per_utterance.items():
        ref_row, hyp_row, eval_row = [], [], []
        for op, r, h in u.alignment:
            if op == "C":
                r, h = r.lower(), h.lower()
            else:
                r = r.upper() if r is not None else None
                h = h.upper() if h is not None else None
            width = max(len(r or ""), len(h or ""), 1)
            ref_row.append((r or "*" * width).ljust(width))
            hyp_row.append((h or "*" * width).ljust(width))
            eval_row.append(("" if op == "C" else op).ljust(width))
        lines += [f"id: {uid}",
                  f"Scores: (#C #S #D #I) {u.correct} {u.sub} {u.dele} {u.ins}",
                  "REF:  " + " ".join(ref_row),
                  "HYP:  " + " ".join(hyp_row),
                  "Eval: " + " ".join(eval_row).rstrip(), ""]
    return "\n".join(lines)


# ==============================================================================================
# CTM / STM / hypothesis-line files
# ==============================================================================================

STM_OPEN_SEGMENT = "0.0 1.79769e+308"  # PHOENIX's STM segments span the whole recording


def _excerpt(line: str) -> str:
    """The start of an offending line, quoted and escaped so that the message stays one line
    whatever the file holds (control characters, terminal escapes, odd line separators)."""
    return repr(line[:60] + ("..." if len(line) > 60 else ""))


_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")


def text_lines(path: str | Path):
    """(path, line number, stripped line) of every non-blank, non-``;;`` line of a UTF-8 text
    file. A BOM before the first id is dropped and CRLF and CR end lines as LF does; bytes
    that are not UTF-8 or a NUL byte (a binary file) are a one-line DataError naming file:line."""
    path = Path(path)
    try:
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:   # exc.object is the input after a BOM
        lineno = len(_LINE_END_BYTES.findall(exc.object, 0, exc.start)) + 1
        raise DataError(f"{path}:{lineno}: not UTF-8 text (bad byte 0x{exc.object[exc.start]:02x}); "
                        f"expected a UTF-8 text file") from None
    if "\0" in text:
        lineno = len(_LINE_END.findall(text, 0, text.index("\0"))) + 1
        raise DataError(f"{path}:{lineno}: NUL byte; expected a text file, not binary data")
    for lineno, line in enumerate(_LINE_END.split(text), 1):
        line = line.strip()
        if line and not line.startswith(";;"):
            yield path, lineno, line


def _is_number(text: str) -> bool:
    """A time field: any float but NaN (which would make the order of CTM words arbitrary)."""
    try:
        value = float(text)
    except ValueError:
        return False
    return not math.isnan(value)


def read_stm(path: str | Path, speakers: dict | None = None) -> dict[str, list[str]]:
    """``FILE CHANNEL SPEAKER START END [<LABELS>] WORDS...`` -> {id: words}. One segment per id
    (PHOENIX style); fills ``speakers`` {id: speaker} when given."""
    refs: dict[str, list[str]] = {}
    for p, lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) < 5 or not (_is_number(parts[3]) and _is_number(parts[4])):
            raise DataError(f"{p}:{lineno}: expected 'FILE CHANNEL SPEAKER START END WORDS...' "
                            f"in an STM file, got {_excerpt(line)}")
        words = parts[5:]
        if words and words[0].startswith("<") and words[0].endswith(">"):
            words = words[1:]
        if parts[0] in refs:
            raise DataError(f"{p}:{lineno}: utterance {parts[0]!r} has a second segment; "
                            f"expected one STM line per utterance")
        refs[parts[0]] = words
        if speakers is not None:
            speakers[parts[0]] = parts[2]
    return refs


def write_stm(path: str | Path, refs: dict[str, list[str]], speakers: dict | None = None) -> Path:
    """One open-ended segment per utterance, sorted as sclite needs (case-insensitive ids)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for uid in sort_ids(refs):
            spk = (speakers or {}).get(uid, "signer")
            f.write(f"{uid} 1 {spk} {STM_OPEN_SEGMENT} {' '.join(refs[uid])}".rstrip() + "\n")
    return path


def read_ctm(path: str | Path) -> dict[str, list[str]]:
    """``FILE CHANNEL START DURATION WORD [CONFIDENCE]`` -> {id: words ordered by start time}."""
    rows: dict[str, list[tuple[float, int, str]]] = {}
    for p, lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) not in (5, 6) or not (_is_number(parts[2]) and _is_number(parts[3])):
            raise DataError(f"{p}:{lineno}: expected 'FILE CHANNEL START DURATION WORD "
                            f"[CONFIDENCE]' in a CTM file, got {_excerpt(line)}")
        rows.setdefault(parts[0], []).append((float(parts[2]), lineno, parts[4]))
    return {uid: [w for _, _, w in sorted(words)] for uid, words in rows.items()}


def write_ctm(path: str | Path, hyps: dict[str, list[str]]) -> Path:
    """The CTM the original evaluation writes (word k at k/100 s), sorted case-insensitively.
    An empty hypothesis writes no line: sclite then scores the utterance as all deletions."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for uid in sort_ids(hyps):
            for k, word in enumerate(hyps[uid]):
                f.write(f"{uid} 1 {k / 100:.2f} 0.01 {word}\n")
    return path


def read_id_lines(path: str | Path) -> dict[str, list[str]]:
    """``ID WORD WORD ...`` lines (an id alone is an empty hypothesis) -> {id: words}."""
    out: dict[str, list[str]] = {}
    for p, lineno, line in text_lines(path):
        uid, *words = line.split()
        if uid in out:
            raise DataError(f"{p}:{lineno}: utterance {uid!r} appears twice; expected one line per id")
        out[uid] = words
    return out


def read_hypotheses(path: str | Path) -> dict[str, list[str]]:
    """A ``.ctm`` file, or ``ID GLOSS GLOSS ...`` lines."""
    return read_ctm(path) if str(path).lower().endswith(".ctm") else read_id_lines(path)


# ==============================================================================================
# The real sclite
# ==============================================================================================

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


# ==============================================================================================
# PHOENIX hypothesis clean-up
# ==============================================================================================
# The RWTH evaluation script for PHOENIX-2014 rewrites hypotheses with sed before sclite; signjoey
# (clean_phoenix_2014_trans) and VAC use a variant for PHOENIX-2014-T. The rules below are those
# rewrites stated on gloss sequences, one named function each, in the original order.
# Note: RWTH runs its sed over CTM *lines* (one gloss per line), where the rules spanning two
# glosses (WIE AUSSEHEN, spelled letters, repeats) cannot fire; signjoey runs them on the whole
# sentence. We follow signjoey (the rules as written), which is what the PHOENIX-2014-T
# literature reports.

def _replace_in_tokens(tokens, pairs):
    out = []
    for tok in tokens:
        for old, new in pairs:
            tok = tok.replace(old, new)
        if tok:
            out.append(tok)
    return out


def strip_annotation_prefixes(tokens):
    """PHOENIX-2014: drop the annotation prefixes loc- cl- qu- poss- lh- (loc-REGION -> REGION)."""
    return _replace_in_tokens(tokens, [(p, "") for p in ("loc-", "cl-", "qu-", "poss-", "lh-")])


def fix_gloss_typos(tokens):
    """PHOENIX-2014: S0NNE (with a zero) -> SONNE, HABEN2 -> HABEN."""
    return _replace_in_tokens(tokens, [("S0NNE", "SONNE"), ("HABEN2", "HABEN")])


def drop_markers_2014(tokens):
    """PHOENIX-2014: remove __EMOTION__, __PU__, __LEFTHAND__ (not __ON__/__OFF__)."""
    return _replace_in_tokens(tokens, [(m, "") for m in ("__EMOTION__", "__PU__", "__LEFTHAND__")])


_MARKER = re.compile(r"^__[^_]*__$")


def drop_markers_2014t(tokens):
    """PHOENIX-2014-T: remove __LEFTHAND__, __EPENTHESIS__, __EMOTION__ and every other
    ``__X__`` marker token (__ON__, __OFF__, __PU__, ...)."""
    tokens = _replace_in_tokens(tokens, [(m, "") for m in ("__LEFTHAND__", "__EPENTHESIS__", "__EMOTION__")])
    return [t for t in tokens if not _MARKER.match(t)]


_LOC_CL = re.compile(r"\b(?:loc|cl)-")


def strip_loc_cl_prefixes(tokens):
    """PHOENIX-2014-T: drop the loc- and cl- prefixes at a word start (loc-SUED -> SUED)."""
    return [t for t in (_LOC_CL.sub("", tok) for tok in tokens) if t]


def join_wie_aussehen(tokens):
    """WIE AUSSEHEN -> WIE-AUSSEHEN (the gloss the annotation uses)."""
    out = []
    for tok in tokens:
        if tok == "AUSSEHEN" and out and out[-1] == "WIE":
            out[-1] = "WIE-AUSSEHEN"
        else:
            out.append(tok)
    return out


def zeigen_bildschirm(tokens):
    """PHOENIX-2014: ZEIGEN -> ZEIGEN-BILDSCHIRM."""
    return ["ZEIGEN-BILDSCHIRM" if t == "ZEIGEN" else t for t in tokens]


_LETTER = re.compile(r"^[A-Z]$")


def _joinable(left_piece: str, right_piece: str) -> bool:
    # the sed rules join letter+letter, SCH+letter, NN+letter and letter+NN
    if _LETTER.match(right_piece):
        return bool(_LETTER.match(left_piece)) or left_piece in ("SCH", "NN")
    return right_piece == "NN" and bool(_LETTER.match(left_piece))


def join_spelled_letters(tokens):
    """Finger-spelled letters become one '+'-joined gloss: A B C -> A+B+C, SCH E -> SCH+E,
    A+B C -> A+B+C (the pieces touching the gap decide)."""
    out = []
    for tok in tokens:
        if out and _joinable(out[-1].split("+")[-1], tok.split("+")[0]):
            out[-1] = out[-1] + "+" + tok
        else:
            out.append(tok)
    return out


_RAUM_2014 = re.compile(r"([A-Z][A-Z])RAUM")
_RAUM_2014T = re.compile(r"\b([A-Z]+)RAUM\b")


def strip_raum_2014(tokens):
    """PHOENIX-2014: a RAUM ('area') suffix after two letters goes: SUEDRAUM -> SUED."""
    return [t for t in (_RAUM_2014.sub(r"\1", tok) for tok in tokens) if t]


def strip_raum_2014t(tokens):
    """PHOENIX-2014-T: a word ending in RAUM after at least one letter loses it: OSTRAUM -> OST."""
    return [t for t in (_RAUM_2014T.sub(r"\1", tok) for tok in tokens) if t]


_PLUSPLUS_2014T = re.compile(r"-PLUSPLUS\b")


def strip_plusplus(tokens):
    """PHOENIX-2014: drop the -PLUSPLUS repetition mark (REGEN-PLUSPLUS -> REGEN)."""
    return _replace_in_tokens(tokens, [("-PLUSPLUS", "")])


def strip_plusplus_2014t(tokens):
    """PHOENIX-2014-T: drop -PLUSPLUS where it ends a word part."""
    return [t for t in (_PLUSPLUS_2014T.sub("", tok) for tok in tokens) if t]


def collapse_repeats(tokens):
    """Immediate repetitions of a gloss count once: A A B -> A B."""
    return [k for k, _ in groupby(tokens)]


CLEANUP_RULES = {
    "phoenix2014": (strip_annotation_prefixes, fix_gloss_typos, drop_markers_2014,
                    join_wie_aussehen, zeigen_bildschirm, join_spelled_letters,
                    strip_raum_2014, strip_plusplus, collapse_repeats),
    "phoenix2014t": (drop_markers_2014t, strip_loc_cl_prefixes, strip_plusplus_2014t,
                     strip_raum_2014t, join_wie_aussehen, join_spelled_letters, collapse_repeats),
    "csl-daily": (),
    "none": (),
}
# Which side the clean-up rules apply to (`eval.cleanup_side`, `signkd score --cleanup-side`): "hyp",
# the hypotheses only, as RWTH's scripts and VAC's evaluation (the original's; the references are the
# annotation as released), or "both", as signjoey cleans PHOENIX-2014-T references too.
CLEANUP_SIDES = ("hyp", "both")


def cleanup_for_scoring(refs: dict, hyps: dict, corpus: str, side: str = "hyp") -> tuple[dict, dict]:
    """({id: glosses}, {id: glosses}) as they are scored: the clean-up rules of `corpus` applied
    to the hypotheses, and to the references too when `side` is "both"."""
    if side not in CLEANUP_SIDES:
        raise SignkdError(f"eval.cleanup_side: expected one of {', '.join(CLEANUP_SIDES)}, got {side!r}")
    hyps = {k: cleanup_glosses(v, corpus) for k, v in hyps.items()}
    if side == "both":
        refs = {k: cleanup_glosses(v, corpus) for k, v in refs.items()}
    return refs, hyps


def cleanup_glosses(glosses: list[str], corpus: str) -> list[str]:
    """Apply the clean-up rules of ``corpus`` (phoenix2014 | phoenix2014t | csl-daily | none)."""
    if corpus not in CLEANUP_RULES:
        raise SignkdError(f"eval.cleanup: unknown corpus '{corpus}'; expected one of "
                          f"{', '.join(CLEANUP_RULES)}")
    tokens = [t for g in glosses for t in str(g).split()]
    for rule in CLEANUP_RULES[corpus]:
        tokens = rule(tokens)
    return tokens


def cleanup_for_format(cleanup: str, data_format: str) -> str:
    """Resolve ``eval.cleanup: auto`` from ``data.format``."""
    from signkd.data.corpora import FORMATS, corpus_format

    if cleanup != "auto":
        return cleanup
    return corpus_format(data_format).cleanup if data_format in FORMATS else "none"


# ==============================================================================================
# Translation metrics
# ==============================================================================================

def _char_split(text: str) -> str:
    return " ".join(ch for ch in text if not ch.isspace())


def _lcs_length(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l_sentence(hyp: list[str], ref: list[str], beta: float = 1.2) -> float:
    """ROUGE-L F-measure of one sentence pair (MS-COCO caption evaluation formula), 0..1."""
    if not hyp or not ref:
        return 0.0
    lcs = _lcs_length(hyp, ref)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(hyp), lcs / len(ref)
    return ((1 + beta ** 2) * prec * rec) / (rec + beta ** 2 * prec)


def rouge_l(hyps: list[str], refs: list[str], beta: float = 1.2, char_level: bool = False) -> float:
    """Sentence-averaged ROUGE-L F (beta 1.2) on whitespace tokens (characters if char_level), x100."""
    if len(hyps) != len(refs):
        raise DataError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not refs:
        return 0.0
    split = (lambda s: [c for c in s if not c.isspace()]) if char_level else str.split
    return 100.0 * sum(rouge_l_sentence(split(h), split(r), beta) for h, r in zip(hyps, refs)) / len(refs)


def translation_metrics(hyps: list[str], refs: list[str], char_level: bool = False) -> dict:
    """Corpus BLEU-1..4 (cumulative; sacrebleu, tokenize='none', one reference, no smoothing, as
    signjoey's vendored sacrebleu computes them), chrF, and sentence-averaged ROUGE-L, all x100,
    plus sacrebleu's signature strings. ``char_level`` scores characters (Chinese)."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hyps) != len(refs):
        raise DataError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not refs:
        raise DataError("no sentences to score")
    sys_ = [_char_split(h) for h in hyps] if char_level else [" ".join(h.split()) for h in hyps]
    ref_ = [_char_split(r) for r in refs] if char_level else [" ".join(r.split()) for r in refs]
    out = {}
    bleu = None
    for n in range(1, 5):
        bleu = BLEU(tokenize="none", max_ngram_order=n, smooth_method="none")
        out[f"bleu{n}"] = bleu.corpus_score(sys_, [ref_]).score
    chrf = CHRF()
    out["chrf"] = chrf.corpus_score(list(hyps), [list(refs)]).score
    out["rouge_l"] = rouge_l(list(hyps), list(refs), char_level=char_level)
    out["signature"] = str(bleu.get_signature())
    out["chrf_signature"] = str(chrf.get_signature())
    return out
