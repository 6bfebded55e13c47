"""Translation metrics: BLEU / chrF (sacrebleu) and ROUGE-L."""
from __future__ import annotations


from signkd.errors import DataError

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
