"""Score a trained checkpoint on dev and test (`signkd test`, `signkd train --phase test`).

The vocabularies, tokenizer and decoding lengths come from the checkpoint, so the ids and the
decoding match training exactly: scoring best.pt reproduces the dev metrics its run recorded.
"""
from __future__ import annotations

import json
from pathlib import Path

from signkd.config import Config, to_dict
from signkd.training import checkpoint as ckpt_io
from signkd.training import distributed as D
from signkd.training.data import Vocabs, build_data
from signkd.training.evaluate import Evaluator


def run_test(cfg: Config, checkpoint: str | Path, *, work_dir: str | Path | None = None, splits=("dev", "test"),
             dist: D.DistInfo | None = None, log=print) -> dict:
    from signkd.models.system import build_system

    dist = dist or D.setup(cfg.train.device)
    work_dir = Path(work_dir or cfg.work_dir)
    ckpt = ckpt_io.load_checkpoint(checkpoint)
    ckpt_io.require_signkd(ckpt, checkpoint)
    splits = [s for s in splits if getattr(cfg.data, s, "")]
    if dist.is_main:
        work_dir.mkdir(parents=True, exist_ok=True)
    vocabs = Vocabs.from_state(ckpt["vocab"], work_dir if dist.is_main else None)
    data = build_data(cfg, work_dir, roles=tuple(splits), vocabs=vocabs, log=log if dist.is_main else (lambda m: None))
    system = build_system(cfg, vocabs.gloss, vocabs.word, vocabs.tokenizer).to(dist.device)
    ckpt_io.load_model_state(system, ckpt_io.model_state_of(ckpt, checkpoint), where=str(checkpoint),
                             ckpt_model_cfg=(ckpt.get("config") or {}).get("model"), model_cfg=to_dict(cfg.model))
    max_lengths = (ckpt.get("preprocessing") or {}).get("max_lengths")
    evaluator = Evaluator(cfg, data, dist, work_dir, max_lengths=max_lengths)
    results = {"checkpoint": str(checkpoint), "epoch": ckpt.get("epoch")}
    for split in splits:
        results[split] = evaluator.evaluate(system, split, tag=f"test-{split}")
        if dist.is_main:
            log(f"{split}: {evaluator.summary(results[split])}")
    if dist.is_main:
        path = work_dir / "test_metrics.json"
        path.write_text(json.dumps(results, indent=1), encoding="utf-8")
        log(f"wrote {path} and hypotheses under {work_dir / 'hypotheses'}")
    return results
