"""`signkd corpus stats`: what a corpus holds, read by the same readers training uses.

Sizes, the train gloss vocabulary, dev/test glosses unseen in train (they can never be
recognised) and length statistics: the numbers to check before spending GPU hours on a corpus.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from signkd.data.corpora import FORMATS, SPLITS, corpus_format, read_corpus, write_skip_report
from signkd.data.corpus_reader import MissingAnnotationError, infer_split_name
from signkd.data.vocab import GlossVocab

HELP = "corpus statistics: split sizes, train gloss vocabulary, unseen dev/test glosses, lengths"
DEFAULT_SKIP_REPORT = "corpus_skipped.json"


def add_arguments(p):
    p.add_argument("action", choices=["stats"])
    p.add_argument("--format", required=True, choices=FORMATS, help="corpus format")
    p.add_argument("--root", default="", help="corpus root as its authors ship it (frames live here)")
    p.add_argument("--annotations", default="",
                   help="annotation file or folder replacing the root's (without --root: annotations only, no frames)")
    p.add_argument("--dialogue", default="", help="dialogue context file or folder of <split>.txt files")
    p.add_argument("--frames", default="", help="frame folder under --root replacing the corpus default")
    p.add_argument("--no-check-frames", dest="check_frames", action="store_false",
                   help="do not check that every sample's frame folder exists")
    p.add_argument("--skip-bad", nargs="?", const=DEFAULT_SKIP_REPORT, default=None, metavar="REPORT.json",
                   help=f"skip bad samples and list them in a JSON report (default {DEFAULT_SKIP_REPORT})")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _lengths(values: list[int]) -> dict | None:
    if not values:
        return None
    return {"min": min(values), "mean": round(sum(values) / len(values), 2), "max": max(values)}


def _split_stats(samples) -> dict:
    translations = [len(s.translation.split()) for s in samples if s.translation.strip()]
    contexts = [len(s.context.split()) for s in samples if s.context.strip()]
    glosses = Counter(g for s in samples for g in s.glosses)
    return {
        "present": True,
        "samples": len(samples),
        "signers": len({s.signer for s in samples if s.signer}),
        "gloss_tokens": sum(glosses.values()),
        "gloss_types": len(glosses),
        "gloss_length": _lengths([len(s.glosses) for s in samples]),
        "with_translation": len(translations),
        "translation_length": _lengths(translations),   # whitespace tokens (CSL-Daily: characters)
        "with_context": len(contexts),
        "context_length": _lengths(contexts),
    }


def corpus_stats(fmt: str, root: str = "", *, annotations: str = "", dialogue: str = "", frames: str = "",
                 check_frames: bool = True, skip_bad: bool = False, report: list | None = None) -> dict:
    """Stats of every split; a split whose annotation file is missing is reported absent."""
    splits = list(SPLITS)
    if annotations and Path(annotations).is_file() and corpus_format(fmt).one_file_per_split:
        splits = [infer_split_name(annotations)]   # one annotation file = one split
    out: dict = {"format": fmt, "root": str(root), "annotations": str(annotations), "dialogue": str(dialogue),
                 "splits": {}, "train_vocab_size": None, "skipped": 0}
    read = {}
    for split in splits:
        try:
            read[split] = read_corpus(fmt, root, split, annotations=annotations, dialogue=dialogue, frames=frames,
                                      check_frames=check_frames, skip_bad=skip_bad, report=report)
        except MissingAnnotationError as exc:
            out["splits"][split] = {"present": False, "reason": str(exc)}
            continue
        out["splits"][split] = _split_stats(read[split])
    vocab = GlossVocab.from_samples(read["train"]) if "train" in read else None
    if vocab is not None:
        out["train_vocab_size"] = len(vocab.glosses)
    for split, samples in read.items():
        if split == "train" or vocab is None:
            continue
        unseen = Counter(g for s in samples for g in s.glosses if g not in vocab)
        out["splits"][split].update(unseen_types=len(unseen), unseen_tokens=sum(unseen.values()),
                                    unseen_examples=[g for g, _ in unseen.most_common(10)])
    out["skipped"] = len(report) if report is not None else 0
    return out


def _fmt_len(d: dict | None) -> str:
    return "-" if d is None else f"{d['min']}/{d['mean']:.1f}/{d['max']}"


def format_table(stats: dict) -> str:
    source = stats["root"] or stats["annotations"] or stats["dialogue"]
    lines = [f"corpus {stats['format']}: {source}"]
    header = ("split", "samples", "signers", "glosses min/mean/max", "translation words", "context words",
              "unseen in train (types/tokens)")
    rows = [header]
    for split, s in stats["splits"].items():
        if not s["present"]:
            rows.append((split, "absent", "", "", "", "", ""))
            continue
        unseen = f"{s['unseen_types']}/{s['unseen_tokens']}" if "unseen_types" in s else "-"
        rows.append((split, str(s["samples"]), str(s["signers"]), _fmt_len(s["gloss_length"]),
                     _fmt_len(s["translation_length"]), _fmt_len(s["context_length"]), unseen))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for split, s in stats["splits"].items():
        if not s["present"]:
            lines.append(f"absent: {s['reason']}")
        elif s.get("unseen_examples"):
            lines.append(f"{split} glosses unseen in train: {' '.join(s['unseen_examples'])}"
                         + (" …" if s["unseen_types"] > len(s["unseen_examples"]) else ""))
    vocab = stats["train_vocab_size"]
    lines.append("train gloss vocabulary: " + ("- (no train split)" if vocab is None
                                                else f"{vocab} glosses ({vocab + 1} classes with blank)"))
    if stats["skipped"]:
        lines.append(f"skipped bad samples: {stats['skipped']}")
    return "\n".join(lines)


def run(args) -> int:
    report: list = []
    stats = corpus_stats(args.format, args.root, annotations=args.annotations, dialogue=args.dialogue,
                         frames=args.frames, check_frames=args.check_frames, skip_bad=args.skip_bad is not None,
                         report=report)
    if args.skip_bad is not None:
        path = write_skip_report(report, args.skip_bad)
        stats["skip_report"] = str(path)
        print(f"skipped {len(report)} bad sample(s); report: {path}", file=sys.stderr)
    print(json.dumps(stats, indent=2, ensure_ascii=False) if args.json else format_table(stats))
    return 0
