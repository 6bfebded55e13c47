"""sclite-exact word alignment and WER (see the package docstring for why our own)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from signkd.errors import DataError

# sclite's default word weights (wwd_WORD): a match costs 0.
SUB_COST, INS_COST, DEL_COST = 4, 3, 3


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
