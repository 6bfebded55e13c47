"""Score a trained checkpoint on dev and test (`signkd test`, `signkd train --phase test`).

The vocabularies, tokenizer and decoding lengths come from the checkpoint, so the ids and the
decoding match training exactly: scoring best.pt reproduces the dev metrics its run recorded.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from signkd.config import Config, ConfigError, apply_overrides, from_dict, to_dict, validate
from signkd.training import distributed as D
from signkd.checkpoint import Checkpoint
from signkd.training.data import build_data
from signkd.training.evaluate import Evaluator, is_better, select_metric
from signkd.restore import restore


def run_test(cfg: Config, checkpoint: str | Path, *, work_dir: str | Path | None = None, splits=("dev", "test"),
             dist: D.DistInfo | None = None, log=print, ensemble=(), tune=(), tune_metric: str = "") -> dict:
    """`ensemble`: more checkpoints of the same text teacher(s) (same vocabularies; their own
    configs); the teachers' translations are then decoded by the ensemble of all of them.
    `tune`: decoding settings to try ({"eval.translation_beam": 4, ...} each): every one is scored
    on dev, the best by `tune_metric` (default: the run's select metric) decodes the other splits.
    Only dev chooses: the test split never picks anything."""
    dist = dist or D.setup(cfg.train.device)
    work_dir = Path(work_dir or cfg.work_dir)
    candidates = [_decoding_setting(s, f"--tune #{i + 1}") for i, s in enumerate(tune)]
    if candidates and not cfg.data.dev:
        raise ConfigError("--tune: decoding settings are chosen on dev, but data.dev is empty")
    splits = [s for s in splits if getattr(cfg.data, s, "")]
    roles = list(dict.fromkeys((["dev"] if candidates else []) + splits))
    ckpt, system, evaluator = load_for_decoding(cfg, checkpoint, work_dir, splits=roles, dist=dist, log=log,
                                                ensemble=ensemble)
    results = {"checkpoint": str(checkpoint), "epoch": ckpt.epoch}
    if ensemble:
        results["ensemble"] = [str(checkpoint)] + [str(p) for p in ensemble]
    if candidates:
        metric = tune_metric or select_metric(cfg)
        tried, best = [], None
        for i, setting in enumerate(candidates):
            trial = Evaluator(_with_settings(cfg, setting), evaluator.data, dist, work_dir,
                              max_lengths=evaluator.max_lengths)
            dev = trial.evaluate(system, "dev", tag=f"tune{i + 1}-dev")
            if metric not in dev:
                raise ConfigError(f"--tune-metric: {metric!r} is not among the dev metrics ({', '.join(sorted(dev))})")
            tried.append({"setting": setting, "dev": dev})
            if dist.is_main:
                log(f"dev with {_show_setting(setting)}: {metric} {dev[metric]:.2f}")
            if best is None or is_better(metric, dev[metric], best[1]["dev"][metric]):
                best = (trial, tried[-1])
        evaluator, chosen = best
        results["tuning"] = {"metric": metric, "chosen": chosen["setting"], "tried": tried}
        if dist.is_main:
            log(f"chosen on dev: {_show_setting(chosen['setting'])}")
    for split in splits:
        if candidates and split == "dev":
            results["dev"] = chosen["dev"]   # scored once, with the setting it chose
        else:
            results[split] = evaluator.evaluate(system, split, tag=f"test-{split}")
        if dist.is_main:
            log(f"{split}: {evaluator.summary(results[split])}")
    if dist.is_main:
        path = work_dir / "test_metrics.json"
        path.write_text(json.dumps(results, indent=1), encoding="utf-8")
        log(f"wrote {path} and hypotheses under {work_dir / 'hypotheses'}")
    return results


def load_for_decoding(cfg: Config, checkpoint: str | Path, work_dir: Path, *, splits, dist: D.DistInfo,
                      log=print, ensemble=(), loaded: Checkpoint | None = None) -> tuple[Checkpoint, object, Evaluator]:
    """(checkpoint, system with its weights, Evaluator over `splits`), the vocabularies and
    decoding lengths taken from the checkpoint. `loaded`: the checkpoint already read by the caller."""
    if dist.is_main:
        work_dir.mkdir(parents=True, exist_ok=True)
    restored = restore(loaded if loaded is not None else checkpoint, cfg=cfg, device=dist.device,
                       work_dir=work_dir if dist.is_main else None)
    ckpt, vocabs, system = restored.checkpoint, restored.vocabs, restored.system
    data = build_data(cfg, work_dir, roles=tuple(splits), vocabs=vocabs, log=log if dist.is_main else (lambda m: None))
    if ensemble:
        _ensemble_text_teachers(system, ckpt, ensemble, dist.device)
    max_lengths = ckpt.preprocessing.get("max_lengths")
    return ckpt, system, Evaluator(cfg, data, dist, work_dir, max_lengths=max_lengths)


def _ensemble_text_teachers(system, ckpt: Checkpoint, paths, device) -> None:
    """Replace system.gloss2text / system.text2gloss by the ensemble of it and the same module
    of each checkpoint in `paths` (built from that checkpoint's own model config)."""
    from signkd.errors import CheckpointError
    from signkd.models.ensemble import Seq2SeqEnsemble

    names = [n for n in ("gloss2text", "text2gloss") if getattr(system, n, None) is not None]
    if not names:
        raise CheckpointError("--ensemble: only the text teachers (gloss2text, text2gloss) can be ensembled; "
                              "this config has neither")
    members = {n: [getattr(system, n)] for n in names}
    for path in paths:
        other = Checkpoint.read(path)
        for key in ("gloss", "word", "tokenizer"):
            if not _same(other.vocab.get(key), ckpt.vocab.get(key)):
                raise CheckpointError(f"{path}: its {key} vocabulary differs from the first checkpoint's; "
                                      "ensemble members must share their vocabularies")
        model = restore(other, device=device).system
        for n in names:
            if getattr(model, n, None) is None:
                raise CheckpointError(f"{path}: has no {n} to ensemble")
            members[n].append(getattr(model, n))
    for n in names:
        setattr(system, n, Seq2SeqEnsemble(members[n]))


def _same(a, b) -> bool:
    """Equality of stored vocabularies, whose tokenizer files are tensors."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.equal(a, b))
    return a == b


def _decoding_setting(setting, where: str) -> dict:
    """A `--tune` candidate: a mapping of `eval.*` keys (decoding only: the model is fixed)."""
    if not isinstance(setting, dict) or not setting:
        raise ConfigError(f"{where}: expected a mapping of eval.* keys to values, e.g. "
                          f"{{eval.translation_beam: 4, eval.length_penalty: 2}}, got {setting!r}")
    for key in setting:
        if not isinstance(key, str) or not key.startswith("eval."):
            raise ConfigError(f"{where}: {key!r}: only decoding settings (eval.*) are tuned on a trained checkpoint")
    return dict(setting)


def _with_settings(cfg: Config, setting: dict) -> Config:
    """A copy of `cfg` with the `eval.*` values of `setting`, validated like any override."""
    tuned = from_dict(apply_overrides(to_dict(cfg), [f"{k}={json.dumps(v)}" for k, v in setting.items()]))
    validate(tuned)
    tuned.work_dir = cfg.work_dir
    return tuned


def _show_setting(setting: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in setting.items())
