"""`signkd demo`: the whole method end to end on the synthetic corpus, from the shipped configs.

Stages (configs/synthetic/demo/<key>.yaml), in order; later stages load earlier checkpoints
through their `train.init` entries:

    dialogue_teacher -> text2gloss -> slr_baseline -> slr_distilled -> slr_baseline_bilstm
    -> slr_distilled_bilstm -> gloss2text -> slt_baseline -> slt_distilled

Why the shipped configs say `runs/demo/...`: each config also runs alone with `signkd train` in
the default layout; the demo rewrites that prefix to its `--out` folder, so `--out` and the
presets never need a second set of configs. A stage whose config, inputs and corpus did not
change since its last complete run is not retrained (its fingerprint is kept in
`<run>/demo_stage.json`), so an interrupted demo resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from signkd.config import apply_overrides, from_dict, read_yaml, validate
from signkd.errors import SignkdError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "demo"
DEFAULT_PREFIX = "runs/demo"   # the prefix the shipped configs use for the demo folder


@dataclass(frozen=True)
class Stage:
    key: str          # config stem and run folder
    title: str        # row label in the report
    kind: str         # "recogniser" (WER) | "translator" (BLEU/ROUGE, and WER when it has glosses)
    role: str         # "teacher" | "baseline" | "distilled"


STAGES = (
    Stage("dialogue_teacher", "Dialogue teacher (video + dialogue turn)", "recogniser", "teacher"),
    Stage("text2gloss", "Text2Gloss teacher (spoken sentence)", "recogniser", "teacher"),
    Stage("slr_baseline", "SLR student, no distillation (baseline, Transformer)", "recogniser", "baseline"),
    Stage("slr_distilled", "SLR student distilled from 2 teachers (Transformer)", "recogniser", "distilled"),
    Stage("slr_baseline_bilstm", "SLR student, no distillation (baseline, BiLSTM)", "recogniser", "baseline"),
    Stage("slr_distilled_bilstm", "SLR student distilled from 2 teachers (BiLSTM)", "recogniser", "distilled"),
    Stage("gloss2text", "Gloss2Text teacher (reference glosses)", "translator", "teacher"),
    Stage("slt_baseline", "SLT student, no distillation", "translator", "baseline"),
    Stage("slt_distilled", "SLT student distilled from Gloss2Text", "translator", "distilled"),
)
# (baseline, distilled) pairs whose test-WER ratio the report states
PAIRS = (("slr_baseline", "slr_distilled", "Transformer"), ("slr_baseline_bilstm", "slr_distilled_bilstm", "BiLSTM"))
STAGE_KEYS = tuple(s.key for s in STAGES)

# Per corpus preset: how the shipped stage configs are scaled. `demo` runs them as shipped.
# quick: the same method on a smaller corpus (make demo-quick, <= 5 min);
# tiny: a smoke test of the plumbing only (tests), numbers meaningless.
PRESET_SETTINGS: dict[str, dict] = {
    "demo": {"epoch_scale": 1.0, "overrides": []},
    # half the data and the batch, 0.4 x the epochs: 0.8 x the demo's steps on half-size batches
    # (make demo-quick within 5 minutes on 2 cores; 0.5 x took 5.8 min with another job running)
    "quick": {"epoch_scale": 0.4, "overrides": ["data.batch_size=4"]},
    "tiny": {"epoch_scale": 0.0, "min_epochs": 1,
             "overrides": ["train.max_steps_per_epoch=2", "data.batch_size=4", "model.hidden=32",
                           "model.visual.hidden=32", "model.visual.small_channels=[8, 8, 16]",
                           "model.text.hidden=32", "model.text.ff=64", "model.fusion.ff=64",
                           "model.fusion.layers=1", "model.decoder.ff=64", "model.teacher_decoder.ff=64",
                           "model.text_teacher_encoder.ff=64", "model.sequence.ff=64",
                           "train.optim.warmup_epochs=0"]},
}


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------

def _rewrite_paths(node, old: str, new: str):
    """Every string value equal to `old` or starting with `old/` gets `new` instead of `old`."""
    if isinstance(node, dict):
        return {k: _rewrite_paths(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_paths(v, old, new) for v in node]
    if isinstance(node, str) and (node == old or node.startswith(old + "/")):
        return new + node[len(old):]
    return node


def stage_data(key: str, out: Path, *, seed: int, preset: str = "demo", overrides: Optional[list[str]] = None,
               config_dir: Path = CONFIG_DIR) -> dict:
    """The raw config mapping of stage `key` for a demo in folder `out` (YAML + demo overrides)."""
    path = Path(config_dir) / f"{key}.yaml"
    data = _rewrite_paths(read_yaml(path), DEFAULT_PREFIX, str(out))
    settings = PRESET_SETTINGS.get(preset, PRESET_SETTINGS["demo"])
    epochs = int(data.get("train", {}).get("epochs", 0) or 0)
    extra = [f"train.seed={seed}", f"work_dir={out / key}"]
    if epochs and settings["epoch_scale"] != 1.0:
        scaled = max(settings.get("min_epochs", 1), int(round(epochs * settings["epoch_scale"])))
        extra.append(f"train.epochs={scaled}")
    return apply_overrides(data, list(settings["overrides"]) + extra + list(overrides or []))


def stage_config(key: str, out: Path, *, seed: int, preset: str = "demo", overrides: Optional[list[str]] = None,
                 config_dir: Path = CONFIG_DIR):
    """The validated Config of stage `key` for a demo in folder `out`."""
    cfg = from_dict(stage_data(key, out, seed=seed, preset=preset, overrides=overrides, config_dir=config_dir))
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def prepare_corpus(out: Path, preset: str, corpus_seed: int, log: Callable[[str], None] = print) -> dict:
    """Generate the corpus under out/corpus (unless corpus.json records the same parameters) and
    pack its frames once into out/corpus/cache (uint8 .npy per clip), so that no epoch decodes PNGs."""
    from signkd.data.corpora import read_corpus
    from signkd.data.video import cache_key, pack_videos

    root = out / "corpus"
    marker = root / "demo_corpus.json"
    wanted = {"preset": preset, "seed": corpus_seed}
    info = json.loads(marker.read_text()) if marker.is_file() else None
    start = time.perf_counter()
    if info is None or info.get("request") != wanted or not (root / "corpus.json").is_file():
        from signkd.data.synthetic import generate_corpus

        log(f"demo: generating the '{preset}' synthetic corpus (seed {corpus_seed}) in {root}")
        generate_corpus(root, preset=preset, seed=corpus_seed, overwrite=True, workers=2)
        generated = time.perf_counter() - start
        items = []
        for split in ("train", "dev", "test"):
            for s in read_corpus("synthetic", root, split, frames=frames_folder(root)):
                items.append((cache_key(s.split, s.id), s.frames, s.frame_glob))
        description = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
        size = int(description.get("frame_size", [32, 32])[1])
        pack_videos(items, root / "cache", size=size, progress=True)
        info = {"request": wanted, "fingerprint": _sha((root / "corpus.json").read_text(encoding="utf-8")),
                "seconds": round(time.perf_counter() - start, 1), "generate_seconds": round(generated, 1),
                "size": size}
        marker.write_text(json.dumps(info, indent=1), encoding="utf-8")
    else:
        log(f"demo: corpus {root} already generated with preset '{preset}', seed {corpus_seed}; kept")
        info = dict(info, cached=True)
    return info


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------

def frames_folder(corpus_root: Path) -> str:
    """The corpus's frame folder (e.g. features/fullFrame-32x32px), from its corpus.json."""
    path = Path(corpus_root) / "corpus.json"
    return json.loads(path.read_text(encoding="utf-8")).get("frames", "") if path.is_file() else ""


def _stage_fingerprint(data: dict, cfg, corpus_fp: str) -> str:
    """What the stage was asked to do (its config as written, not the defaults of this version,
    so that a new config field does not retrain everything) + the corpus + the fingerprints of
    the runs it loads."""
    deps = []
    for init in cfg.train.init:
        state = Path(init.checkpoint).parent / "demo_stage.json"
        deps.append(json.loads(state.read_text())["fingerprint"] if state.is_file() else f"missing:{init.checkpoint}")
    tok = cfg.data.tokenizer
    if tok and (Path(tok).parent / "demo_stage.json").is_file():
        deps.append(json.loads((Path(tok).parent / "demo_stage.json").read_text())["fingerprint"])
    return _sha(json.dumps(data, sort_keys=True, default=str) + corpus_fp + "|".join(deps))


def stage_is_done(run_dir: Path, fingerprint: str) -> Optional[dict]:
    state_path, metrics_path = run_dir / "demo_stage.json", run_dir / "metrics.json"
    if not (state_path.is_file() and metrics_path.is_file() and (run_dir / "best.pt").is_file()):
        return None
    state = json.loads(state_path.read_text(encoding="utf-8"))
    if state.get("fingerprint") != fingerprint:
        return None
    if "final" not in json.loads(metrics_path.read_text(encoding="utf-8")):
        return None
    return state


def run_stage(cfg, log: Callable[[str], None] = print) -> float:
    """Train + evaluate one stage in this process; returns its wall time in seconds."""
    from signkd.training import distributed as D
    from signkd.training.trainer import Trainer

    start = time.perf_counter()
    dist = D.setup(cfg.train.device)
    try:
        # a stage runs only when its folder is missing, stale or --force'd: retraining over it is the point
        with Trainer(cfg, work_dir=cfg.work_dir, dist=dist, force=True) as trainer:
            trainer.fit()
    finally:
        D.teardown()
    return time.perf_counter() - start


def _stage_worker(data: dict, threads: int) -> tuple[float, float]:
    """One stage in a worker process (--jobs > 1). Its console output goes to <run>/console.log
    (train.log has the epochs) so that two stages do not interleave their lines on the terminal."""
    import contextlib

    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    cfg = from_dict(data)
    validate(cfg)
    Path(cfg.work_dir).mkdir(parents=True, exist_ok=True)
    cpu_start = time.process_time()
    with open(Path(cfg.work_dir) / "console.log", "w", encoding="utf-8") as sink, \
            contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        seconds = run_stage(cfg, log=lambda m: print(m, file=sink))
    return seconds, time.process_time() - cpu_start


def stage_dependencies(cfg, out: Path) -> set[str]:
    """The demo stages whose runs this stage reads: the folders of its `train.init` checkpoints
    and of its tokenizer."""
    paths = [Path(i.checkpoint).parent for i in cfg.train.init]
    if cfg.data.tokenizer:
        paths.append(Path(cfg.data.tokenizer).parent)
    return {p.name for p in paths if p.parent == Path(out) and p.name in STAGE_KEYS}


def _best_summary(run_dir: Path) -> str:
    try:
        final = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("final") or {}
    except (OSError, ValueError):
        return ""
    dev = final.get("dev") or {}
    parts = [f"dev WER {dev['wer']:.2f}" if dev.get("wer") is not None else "",
             f"dev BLEU-4 {dev['bleu4']:.2f}" if dev.get("bleu4") is not None else ""]
    return ", ".join(p for p in parts if p)


def run_demo(*, preset: str = "demo", out: str | Path = "runs/demo", seed: int = 0, corpus_seed: int = 0,
             stages: Optional[list[str]] = None, overrides: Optional[list[str]] = None, force: bool = False,
             report: bool = True, jobs: int = 1, threads: int = 0, log: Callable[[str], None] = print) -> dict:
    """Corpus, every stage (or `stages`), then the report. Returns {stage: {seconds, cached}}.

    jobs > 1 trains independent stages at the same time, each in its own process with `threads`
    torch threads (the teachers and the baselines need nothing from each other): on two cores
    with one thread each that nearly halves the wall time of the demo."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = list(stages or STAGE_KEYS)
    unknown = [k for k in chosen if k not in STAGE_KEYS]
    if unknown:
        raise SignkdError(f"--stages: unknown stage {unknown[0]!r}; expected some of {', '.join(STAGE_KEYS)}")
    if jobs < 1:
        raise SignkdError(f"--jobs: expected a positive number of parallel stages, got {jobs}")
    total_start = time.perf_counter()
    corpus = prepare_corpus(out, preset, corpus_seed, log)
    timings = {"corpus": {"seconds": corpus["seconds"], "cached": bool(corpus.get("cached"))}, "parallel_stages": jobs}
    frames = frames_folder(out / "corpus")
    plans = {}
    for key in (k for k in STAGE_KEYS if k in chosen):
        data = stage_data(key, out, seed=seed, preset=preset,
                          overrides=([f"data.frames={frames}"] if frames else []) + list(overrides or []))
        cfg = from_dict(data)
        validate(cfg)
        plans[key] = (data, cfg, stage_dependencies(cfg, out) & set(chosen))
    pending, finished, running = list(plans), set(), {}
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) if jobs > 1 else None

    def finish(key: str, seconds: float, cpu_seconds: float, fingerprint: str) -> None:
        run_dir = Path(plans[key][1].work_dir)
        state = {"fingerprint": fingerprint, "seconds": round(seconds, 1), "preset": preset, "seed": seed,
                 "cpu_seconds": round(cpu_seconds, 1), "load_average": round(os.getloadavg()[0], 2),
                 "cpus": os.cpu_count(), "parallel_stages": jobs}
        (run_dir / "demo_stage.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        timings[key] = {"seconds": round(seconds, 1), "cached": False, "load_average": state["load_average"]}
        summary = _best_summary(run_dir)
        log(f"demo: {key}: done in {seconds:.0f} s" + (f" ({summary})" if summary else ""))
        finished.add(key)

    try:
        while pending or running:
            for key in list(pending):
                if len(running) >= jobs:
                    break
                data, cfg, deps = plans[key]
                if deps - finished:
                    continue
                pending.remove(key)
                run_dir = Path(cfg.work_dir)
                fingerprint = _stage_fingerprint(data, cfg, corpus["fingerprint"])
                done = None if force else stage_is_done(run_dir, fingerprint)
                if done:
                    log(f"demo: {key}: up to date in {run_dir} (trained in {done['seconds']:.0f} s); kept")
                    timings[key] = {"seconds": done["seconds"], "cached": True, "load_average": done.get("load_average")}
                    finished.add(key)
                    continue
                missing = [i.checkpoint for i in cfg.train.init if not Path(i.checkpoint).is_file()]
                if missing:
                    raise SignkdError(f"demo stage {key}: needs {missing[0]}; run the earlier stages first")
                if pool is None:
                    log(f"demo: {key}: training ({cfg.train.epochs} epochs) -> {run_dir}")
                    cpu_start = time.process_time()
                    seconds = run_stage(cfg, log)
                    finish(key, seconds, time.process_time() - cpu_start, fingerprint)
                else:
                    log(f"demo: {key}: training ({cfg.train.epochs} epochs) -> {run_dir} "
                        f"(progress: {run_dir / 'train.log'})")
                    running[pool.submit(_stage_worker, data, threads)] = (key, fingerprint)
            if running:
                done_futures, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done_futures:
                    key, fingerprint = running.pop(future)
                    try:
                        seconds, cpu_seconds = future.result()
                    except Exception as exc:
                        console = Path(plans[key][1].work_dir) / "console.log"
                        raise SignkdError(f"demo stage {key} failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                          f" (full output: {console})") from exc
                    finish(key, seconds, cpu_seconds, fingerprint)
            elif pending:   # nothing running and nothing startable: a dependency outside --stages
                key = pending[0]
                raise SignkdError(f"demo stage {key}: waits for {sorted(plans[key][2] - finished)}, which did not run")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    timings["total_seconds"] = round(time.perf_counter() - total_start, 1)
    (out / "demo_timings.json").write_text(json.dumps(timings, indent=1), encoding="utf-8")
    if report:
        from signkd.demo_report import write_demo_report

        text = write_demo_report(out, preset=preset, seed=seed, timings=timings, log=log)
        print(text)
    return timings
