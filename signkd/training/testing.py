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
             dist: D.DistInfo | None = None, log=print, ensemble=()) -> dict:
    """`ensemble`: more checkpoints of the same text teacher(s) (same vocabularies; their own
    configs); the teachers' translations are then decoded by the ensemble of all of them."""
    dist = dist or D.setup(cfg.train.device)
    work_dir = Path(work_dir or cfg.work_dir)
    splits = [s for s in splits if getattr(cfg.data, s, "")]
    ckpt, system, evaluator = load_for_decoding(cfg, checkpoint, work_dir, splits=splits, dist=dist, log=log,
                                                ensemble=ensemble)
    results = {"checkpoint": str(checkpoint), "epoch": ckpt.get("epoch")}
    if ensemble:
        results["ensemble"] = [str(checkpoint)] + [str(p) for p in ensemble]
    for split in splits:
        results[split] = evaluator.evaluate(system, split, tag=f"test-{split}")
        if dist.is_main:
            log(f"{split}: {evaluator.summary(results[split])}")
    if dist.is_main:
        path = work_dir / "test_metrics.json"
        path.write_text(json.dumps(results, indent=1), encoding="utf-8")
        log(f"wrote {path} and hypotheses under {work_dir / 'hypotheses'}")
    return results


def load_for_decoding(cfg: Config, checkpoint: str | Path, work_dir: Path, *, splits, dist: D.DistInfo,
                      log=print, ensemble=(), loaded: dict | None = None) -> tuple[dict, object, Evaluator]:
    """(checkpoint dict, system with its weights, Evaluator over `splits`), the vocabularies and
    decoding lengths taken from the checkpoint. `loaded`: the checkpoint already read by the caller."""
    from signkd.models.system import build_system

    ckpt = ckpt_io.load_checkpoint(checkpoint) if loaded is None else loaded
    ckpt_io.require_signkd(ckpt, checkpoint)
    if dist.is_main:
        work_dir.mkdir(parents=True, exist_ok=True)
    vocabs = Vocabs.from_state(ckpt["vocab"], work_dir if dist.is_main else None)
    data = build_data(cfg, work_dir, roles=tuple(splits), vocabs=vocabs, log=log if dist.is_main else (lambda m: None))
    system = build_system(cfg, vocabs.gloss, vocabs.word, vocabs.tokenizer).to(dist.device)
    ckpt_io.load_model_state(system, ckpt_io.model_state_of(ckpt, checkpoint), where=str(checkpoint),
                             ckpt_model_cfg=(ckpt.get("config") or {}).get("model"), model_cfg=to_dict(cfg.model))
    if ensemble:
        _ensemble_text_teachers(system, ckpt, ensemble, vocabs, dist.device)
    max_lengths = (ckpt.get("preprocessing") or {}).get("max_lengths")
    return ckpt, system, Evaluator(cfg, data, dist, work_dir, max_lengths=max_lengths)


def _ensemble_text_teachers(system, ckpt: dict, paths, vocabs, device) -> None:
    """Replace system.gloss2text / system.text2gloss by the ensemble of it and the same module
    of each checkpoint in `paths` (built from that checkpoint's own model config)."""
    from signkd.config import from_dict
    from signkd.errors import CheckpointError
    from signkd.models.ensemble import Seq2SeqEnsemble
    from signkd.models.system import build_system

    names = [n for n in ("gloss2text", "text2gloss") if getattr(system, n, None) is not None]
    if not names:
        raise CheckpointError("--ensemble: only the text teachers (gloss2text, text2gloss) can be ensembled; "
                              "this config has neither")
    members = {n: [getattr(system, n)] for n in names}
    for path in paths:
        other = ckpt_io.load_checkpoint(path)
        ckpt_io.require_signkd(other, path)
        for key in ("gloss", "word"):
            if (other.get("vocab") or {}).get(key) != (ckpt.get("vocab") or {}).get(key):
                raise CheckpointError(f"{path}: its {key} vocabulary differs from the first checkpoint's; "
                                      "ensemble members must share their vocabularies")
        other_cfg = from_dict(other["config"])
        model = build_system(other_cfg, vocabs.gloss, vocabs.word, vocabs.tokenizer)
        ckpt_io.load_model_state(model, ckpt_io.model_state_of(other, path), where=str(path))
        for n in names:
            if getattr(model, n, None) is None:
                raise CheckpointError(f"{path}: has no {n} to ensemble")
            members[n].append(getattr(model, n).to(device))
    for n in names:
        setattr(system, n, Seq2SeqEnsemble(members[n]))
