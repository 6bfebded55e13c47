"""Back-translation for the Gloss2Text teacher: a Text2Gloss checkpoint writes a second, machine-made
gloss sequence for every sentence of an annotation file, and the Gloss2Text teacher trains on the
real pairs plus these (pseudo glosses -> real sentence) pairs.

Why: PHOENIX-2014-T has 7k gloss/sentence pairs, and the Gloss2Text teacher over-fits them; the
Text2Gloss teacher's glosses of a training sentence differ from the annotator's (train WER ~42 %)
the way real gloss sequences of one meaning differ, so each sentence is seen under two sources.
The targets are always the real sentences (back-translation: only the source side is synthetic).

The output is an annotation file in the input's own format (PHOENIX-2014-T's
``name|video|start|end|speaker|orth|translation``): the input rows unchanged, then one pseudo row
per sentence and copy, id ``<id>-bt<copy>``, glosses replaced, every other column kept (a pseudo
row points at the same video). Train on it with ``--set data.train=PATH``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from signkd.atomic import atomic_write_text
from signkd.data.corpora import FORMATS, corpus_format
from signkd.data.corpus_formats import PHOENIX2014T_FIELDS
from signkd.errors import CheckpointError, DataError

# the formats whose annotation file holds glosses and sentence in one PHOENIX-2014-T row (what is written back)
WRITABLE_FORMATS = tuple(f for f in FORMATS if corpus_format(f).fields == PHOENIX2014T_FIELDS)


def back_translate(checkpoint: str | Path, corpus: str | Path, out: str | Path, *, beam: int = 1,
                   length_penalty: float = 1.0, copies: int = 1, dropout: float = 0.0, seed: int = 0,
                   tag: str = "", ensemble=(), device: str = "auto", batch_size: int = 0, progress: bool = True,
                   log=print) -> dict:
    """Write `out` = `corpus` + `copies` pseudo-gloss rows per sentence; returns what was written and,
    per copy, the WER of the pseudo glosses against the real ones.

    `dropout` > 0: decode with every dropout layer of the teacher active at that rate, so the copies
    differ from one another (noisier, varied sources); at 0 every copy is the same greedy / beam output.
    `tag`: a gloss put before every pseudo gloss sequence (tagged back-translation, Caswell et al. 2019),
    so the Gloss2Text teacher can tell machine-made sources from the annotators' (dev: 24.87 vs 24.09
    untagged, configs/phoenix2014t/gloss2text.yaml).
    `ensemble`: more Text2Gloss checkpoints (same vocabularies) decoding together with `checkpoint`."""
    from signkd.checkpoint import Checkpoint
    from signkd.training import distributed as D
    from signkd.training.data import eval_loader
    from signkd.models.parts import model_parts
    from signkd.training.testing import load_for_decoding

    corpus, out = Path(corpus), Path(out)
    if copies < 1:
        raise DataError(f"back-translation: copies must be >= 1, got {copies}")
    if not 0.0 <= dropout < 1.0:
        raise DataError(f"back-translation: dropout must be in [0, 1), got {dropout}")
    if tag and (len(tag.split()) != 1 or "|" in tag):
        raise DataError(f"back-translation: the tag must be one gloss (no spaces or '|'), got {tag!r}")
    if not corpus.is_file():
        raise DataError(f"{corpus}: no such annotation file")
    if out.resolve() == corpus.resolve():
        raise DataError(f"{out}: the output would overwrite its input annotation file")
    ckpt = Checkpoint.read(checkpoint)
    cfg = ckpt.run_config()
    if model_parts(cfg).gloss_source != ("text2gloss", "seq2seq"):
        raise CheckpointError(f"{checkpoint}: back-translation needs a Text2Gloss teacher checkpoint "
                              "(model.text2gloss without a student or dialogue teacher)")
    if cfg.data.format not in WRITABLE_FORMATS:
        raise DataError(f"{checkpoint}: trained on data.format {cfg.data.format!r}; back-translation writes "
                        f"{' / '.join(WRITABLE_FORMATS)} annotation files")
    cfg.data.root, cfg.data.annotations, cfg.data.test = "", "", str(corpus)
    cfg.eval.translation_beam, cfg.eval.length_penalty = beam, length_penalty
    if batch_size:
        cfg.data.eval_batch_size = batch_size
    header, rows = _read_rows(corpus)
    orth_col = PHOENIX2014T_FIELDS.index("orth")
    if tag and any(tag in row.split("|")[orth_col].split() for row in rows if row.count("|") >= orth_col):
        raise DataError(f"{corpus}: the tag {tag!r} is a gloss of the corpus itself; choose another")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise DataError("back-translation runs in one process (each torchrun rank would write the whole file); "
                        "start it without torchrun")
    dist = D.setup(device)
    with tempfile.TemporaryDirectory(prefix="signkd-bt-") as work:
        _, system, evaluator = load_for_decoding(cfg, checkpoint, Path(work), splits=("test",), dist=dist,
                                                 log=lambda m: None, loaded=ckpt, ensemble=ensemble)
        ds = evaluator.dataset("test")
        pseudo, stats = [], []
        for copy in range(copies):
            torch.manual_seed(seed + copy)
            hyps = _decode(system, evaluator, eval_loader(ds, cfg, dist), dropout,
                           desc=f"back-translating {corpus.name} ({copy + 1}/{copies})", progress=progress)
            wer = evaluator.score("test", hyps, {})
            empty = sum(1 for g in hyps.values() if not g)
            stats.append({"copy": copy, "wer": wer["wer"], "empty": empty})
            log(f"copy {copy}: {len(hyps) - empty} pseudo gloss sequences, WER {wer['wer']:.2f} % against the "
                f"real glosses" + (f", {empty} empty (left out)" if empty else ""))
            pseudo.append(hyps)
    lines = header + rows + _pseudo_rows(rows, pseudo, corpus, tag)
    atomic_write_text(out, "\n".join(lines) + "\n", error=DataError, what="annotation file")
    result = {"corpus": str(corpus), "out": str(out), "checkpoint": str(checkpoint),
              "ensemble": [str(p) for p in ensemble], "rows": len(rows),
              "pseudo_rows": len(lines) - len(header) - len(rows), "beam": beam, "length_penalty": length_penalty,
              "dropout": dropout, "seed": seed, "tag": tag, "copies": stats}
    log(f"wrote {out}: {len(rows)} rows + {result['pseudo_rows']} pseudo rows")
    return result


def _pseudo_rows(rows: list[str], pseudo: list[dict], corpus: Path, tag: str = "") -> list[str]:
    """Each row again per copy, id `<id>-bt<copy>`, glosses replaced (after `tag`); rows with no glosses left out."""
    name_col, orth_col = PHOENIX2014T_FIELDS.index("name"), PHOENIX2014T_FIELDS.index("orth")
    ids = {row.split("|")[name_col].strip() for row in rows}
    out = []
    for copy, hyps in enumerate(pseudo):
        for row in rows:
            fields = row.split("|")
            name = fields[name_col].strip()
            if not hyps.get(name):
                continue
            fields[name_col], fields[orth_col] = f"{name}-bt{copy}", " ".join(([tag] if tag else []) + hyps[name])
            if fields[name_col] in ids:
                raise DataError(f"{corpus}: id {fields[name_col]!r} already exists; cannot name the pseudo row")
            out.append("|".join(fields))
    return out


def _read_rows(path: Path) -> tuple[list[str], list[str]]:
    """([header] or [], data rows) of a PHOENIX-2014-T annotation file (its header is optional)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path}: empty annotation file")
    has_header = [f.strip().lower() for f in lines[0].split("|")] == list(PHOENIX2014T_FIELDS)
    return lines[:1] if has_header else [], lines[1:] if has_header else lines


@torch.no_grad()
def _decode(system, evaluator, loader, dropout: float, *, desc: str, progress: bool) -> dict:
    """{sample id: gloss list} for every batch of `loader`."""
    from tqdm import tqdm

    system.eval()
    if dropout:   # only the dropout layers sample (decoding puts the teacher in eval mode)
        for parent in list(system.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.Dropout):
                    setattr(parent, name, _SamplingDropout(dropout))
    hyps = {}
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress or None, leave=False):
        batch = batch.to(evaluator.dist.device)
        glosses, _ = evaluator.predict(system, batch)
        hyps.update(zip(batch.ids, glosses))
    return hyps


class _SamplingDropout(nn.Module):
    """Dropout that stays on in eval mode: noisy decoding for varied pseudo glosses."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True)


