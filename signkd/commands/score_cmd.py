"""`signkd score`: WER exactly as sclite computes it (or the real sclite), or translation metrics."""
from __future__ import annotations

import json
from pathlib import Path

from signkd.data.corpora import read_corpus
from signkd.errors import DataError
from signkd.metrics import (CLEANUP_RULES, CLEANUP_SIDES, text_lines, cleanup_for_scoring,
                            format_alignment_report, read_hypotheses, read_id_lines, read_stm,
                            run_sclite, sclite_wer, translation_metrics)

HELP = "score gloss hypotheses (WER, sclite-exact) or translations (BLEU-1..4, chrF, ROUGE-L)"

REF_FORMATS = ("an .stm file, a PHOENIX-2014-T corpus file (name|video|start|end|speaker|orth|"
               "translation), a dialogue-phoenix .txt (split/id translation%%context%%GLOSSES), "
               "or 'ID WORDS...' lines")


def add_arguments(p):
    p.add_argument("--ref", required=True, metavar="REF", help=f"references: {REF_FORMATS}")
    p.add_argument("--hyp", required=True, metavar="HYP",
                   help="hypotheses: a .ctm file or 'ID WORD WORD ...' lines")
    p.add_argument("--task", choices=["recognition", "translation"], default="recognition")
    p.add_argument("--corpus", choices=list(CLEANUP_RULES), default="none",
                   help="gloss clean-up rules (see --cleanup-side); default none")
    p.add_argument("--cleanup-side", choices=list(CLEANUP_SIDES), default="hyp",
                   help="clean the hypotheses only (hyp, default: as the original / VAC and RWTH) or the "
                        "references too (both, as signjoey)")
    p.add_argument("--scorer", choices=["python", "sclite"], default="python",
                   help="python (sclite-exact, no binary needed) or the sclite binary (package sctk)")
    p.add_argument("--char-level", action="store_true",
                   help="translation: score characters instead of words (Chinese)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--report", metavar="FILE",
                   help="recognition: also write the per-utterance alignment report (like sclite pra)")


def read_references(path: str | Path, task: str) -> dict[str, object]:
    """{id: glosses (list)} for recognition, {id: sentence (str)} for translation."""
    path = Path(path)
    if path.suffix.lower() == ".stm":
        if task == "translation":
            raise DataError(f"{path}: an STM file holds glosses, not translations; "
                            f"use the corpus file as --ref")
        refs = read_stm(path)
        if not refs:
            raise DataError(f"{path}: no STM segments found; expected 'FILE CHANNEL SPEAKER START END "
                            f"WORDS...' lines")
        return refs
    lines = list(text_lines(path))
    if not lines:
        raise DataError(f"{path}: no references found; expected {REF_FORMATS}")
    first = lines[0][2]
    fmt = "phoenix2014t" if first.count("|") >= 6 else "dialogue-phoenix" if first.count("%") == 2 else ""
    if not fmt:
        return {uid: (words if task == "recognition" else " ".join(words))
                for uid, words in read_id_lines(path).items()}
    # The corpus readers already parse both formats (header, field counts, duplicate ids).
    samples = read_corpus(fmt, "", str(path), check_frames=False)
    return {s.id: (s.glosses if task == "recognition" else s.translation) for s in samples}


def run(args) -> int:
    refs = read_references(args.ref, args.task)
    hyps = read_hypotheses(args.hyp)
    unknown = sorted(set(hyps) - set(refs))
    if unknown:
        raise DataError(f"{args.hyp}: hypothesis id {unknown[0]!r} is not in {args.ref}"
                        + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    if args.task == "translation":
        return _score_translation(args, refs, hyps)
    refs, hyps = cleanup_for_scoring(refs, hyps, args.corpus, args.cleanup_side)
    result = run_sclite(refs, hyps) if args.scorer == "sclite" else sclite_wer(refs, hyps)
    if args.report:
        try:
            Path(args.report).write_text(format_alignment_report(result) + "\n", encoding="utf-8")
        except OSError as exc:
            raise DataError(f"--report {args.report}: cannot write ({exc.strerror or exc})") from None
    missing = sum(1 for uid in refs if uid not in hyps)
    if args.json:
        print(json.dumps({**result.to_dict(), "cleanup": args.corpus, "cleanup_side": args.cleanup_side,
                          "missing_hyps": missing}))
    else:
        print(result.summary())
        print(f"clean-up: {args.corpus} ({'hypotheses and references' if args.cleanup_side == 'both' else 'hypotheses'})"
              + (f"; {missing} utterances without a hypothesis "
                                            f"(scored as deletions)" if missing else ""))
    return 0


def _score_translation(args, refs: dict, hyps: dict) -> int:
    ids = sorted(refs)
    scores = translation_metrics([" ".join(hyps.get(i, [])) for i in ids], [refs[i] for i in ids],
                                 char_level=args.char_level)
    if args.json:
        print(json.dumps({**scores, "sentences": len(ids)}))
    else:
        print("  ".join(f"BLEU-{n} {scores[f'bleu{n}']:.2f}" for n in range(1, 5))
              + f"  chrF {scores['chrf']:.2f}  ROUGE-L {scores['rouge_l']:.2f}")
        print(f"{len(ids)} sentences; BLEU {scores['signature']}; chrF {scores['chrf_signature']}")
    return 0
