"""`signkd demo`: the whole method end to end on the synthetic corpus, from the shipped configs.

Stages (configs/synthetic/demo/<key>.yaml); later stages load earlier checkpoints through their
`train.init` entries:

    dialogue_teacher, text2gloss -> slr_distilled, slr_distilled_bilstm
    slr_distilled, gloss2text    -> slt_baseline, slt_distilled
    slr_baseline, slr_baseline_bilstm: no teacher

With --jobs 2, two stages train at a time, the longest chains first (the pipeline file's order).

The demo generates and packs the corpus, runs its stages with `signkd run`'s runner
(signkd/pipeline/) from configs/synthetic/demo/pipeline.yaml (pipeline_quick.yaml and
pipeline_tiny.yaml for the other presets), then writes report.md. The runner rewrites the configs'
`runs/demo/...` paths to `--out`, keeps a stage whose config, inputs and corpus did not change since
its last complete run (OUT/<stage>/stage.json), and resumes an interrupted one.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Optional

from signkd.demo_stages import DEMO_STAGE_KEYS, STAGE_KEYS
from signkd.errors import SignkdError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "synthetic" / "demo"
# Per corpus preset, the pipeline file that trains it. demo: the configs as shipped;
# quick: the same method on a smaller corpus (make demo-quick, <= 5 min); tiny: a smoke test of
# the plumbing only (tests), numbers meaningless. The variants hold each preset's overrides and
# per-stage epochs.
PIPELINES = {"demo": "pipeline.yaml", "quick": "pipeline_quick.yaml", "tiny": "pipeline_tiny.yaml"}
OLD_STAGE_RECORD = "demo_stage.json"   # what the demo's own stage runner (before `signkd run`) kept per stage


def pipeline_file(preset: str) -> Path:
    """The demo pipeline of corpus preset `preset`."""
    if preset not in PIPELINES:
        raise SignkdError(f"--preset: unknown preset {preset!r}; expected one of {', '.join(PIPELINES)}")
    return CONFIG_DIR / PIPELINES[preset]


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def prepare_corpus(out: Path, preset: str, corpus_seed: int, log: Callable[[str], None] = print,
                   synth: Optional[dict] = None) -> dict:
    """Generate the corpus under out/corpus (unless corpus.json records the same parameters) and
    pack its frames once into out/corpus/cache (uint8 .npy per clip), so that no epoch decodes PNGs.
    `synth`: corpus parameters changed from the preset's ({"twin_context": "0.8"})."""
    from signkd.data.corpora import read_corpus
    from signkd.data.packed_cache import cache_key, pack_videos
    from signkd.data.synthetic.params import resolve_params

    root = out / "corpus"
    marker = root / "demo_corpus.json"
    synth = dict(synth or {})
    params = resolve_params(preset, synth)   # an unknown or bad parameter fails here, before anything is written
    # every content parameter, so that a corpus made by an older preset (e.g. before twin_context) is remade
    wanted = {"preset": preset, "seed": corpus_seed, "params": _sha(json.dumps(params.content(), sort_keys=True))} \
        | ({"synth": {k: str(v) for k, v in synth.items()}} if synth else {})
    info = json.loads(marker.read_text()) if marker.is_file() else None
    start = time.perf_counter()
    if info is None or info.get("request") != wanted or not (root / "corpus.json").is_file():
        from signkd.data.synthetic import generate_corpus

        changed = "".join(f", {k}={v}" for k, v in synth.items())
        log(f"demo: generating the '{preset}' synthetic corpus (seed {corpus_seed}{changed}) in {root}")
        generate_corpus(root, preset=preset, seed=corpus_seed, overwrite=True, **({"workers": 2} | synth))
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
        log(f"demo: corpus {root} already generated with preset '{preset}', seed {corpus_seed}"
            f"{''.join(f', {k}={v}' for k, v in synth.items())}; kept")
        info = dict(info, cached=True)
    return info


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------

def frames_folder(corpus_root: Path) -> str:
    """The corpus's frame folder (e.g. features/fullFrame-32x32px), from its corpus.json."""
    path = Path(corpus_root) / "corpus.json"
    return json.loads(path.read_text(encoding="utf-8")).get("frames", "") if path.is_file() else ""


def older_demo_stages(out: Path, names: list[str]) -> list[str]:
    """Stage folders trained by the demo's own runner (its demo_stage.json, no stage.json): the
    pipeline runner cannot tell what they were trained with, so they are retrained."""
    return [n for n in names if (out / n / OLD_STAGE_RECORD).is_file() and not (out / n / "stage.json").is_file()]


def run_demo(*, preset: str = "demo", out: str | Path = "runs/demo", seed: int = 0, corpus_seed: int = 0,
             synth: Optional[dict] = None, stages: Optional[list[str]] = None,
             overrides: Optional[list[str]] = None, force: bool = False,
             report: bool = True, jobs: int = 1, threads: int = 0, log: Callable[[str], None] = print) -> dict:
    """Corpus, the stages (every one, or `stages` and those they need) through signkd.pipeline,
    then the report. Returns the timings the report shows ({stage: {seconds, cached, load_average}},
    corpus, parallel_stages, total_seconds).

    jobs > 1 trains independent stages at the same time, each in its own process with `threads`
    torch threads (the teachers and the baselines need nothing from each other): on two cores
    with one thread each that nearly halves the wall time of the demo."""
    from signkd.demo_report import demo_timings
    from signkd.pipeline import load_pipeline, run_pipeline

    out = Path(out)
    path = pipeline_file(preset)
    chosen = list(stages or [])
    unknown = [k for k in chosen if k not in STAGE_KEYS]
    if unknown:
        raise SignkdError(f"--stages: unknown stage {unknown[0]!r}; expected some of {', '.join(STAGE_KEYS)}")
    if jobs < 1:
        raise SignkdError(f"--jobs: expected a positive number of parallel stages, got {jobs}")
    pipe = load_pipeline(path)
    chosen = chosen or [k for k in pipe.order if k in DEMO_STAGE_KEYS]   # the controls only when asked for
    names = pipe.requirements(chosen)
    total_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    corpus = prepare_corpus(out, preset, corpus_seed, log, synth)
    frames = frames_folder(out / "corpus")
    older = older_demo_stages(out, names)
    if older:
        log(f"demo: {', '.join(older)}: trained by an older `signkd demo` (no stage.json); retrained")
    settings = [f"train.seed={seed}"] + ([f"data.frames={frames}"] if frames else []) + list(overrides or [])
    try:
        code = run_pipeline(path, out=out, jobs=jobs, threads=threads, only=chosen, overrides=settings,
                            from_stages=names if force else older, log=log)
    finally:
        for name in older:   # the older runner's records, once this runner has its own there
            if (out / name / "stage.json").is_file():
                for leftover in (OLD_STAGE_RECORD, "console.log"):
                    (out / name / leftover).unlink(missing_ok=True)
    if code:
        raise SignkdError(f"demo: the checks of {path.name} found the problems above; nothing was trained")
    (out / "demo_timings.json").unlink(missing_ok=True)   # an older demo's; OUT/pipeline.json has the times now
    timings = demo_timings(out, corpus, total_seconds=time.perf_counter() - total_start)
    if report:
        from signkd.demo_report import write_demo_report

        text = write_demo_report(out, preset=preset, seed=seed, timings=timings, log=log)
        print(text)
    return timings
