"""PHOENIX-2014-T at its real size on this machine: the measured cost of every stage, and from
those numbers and stated assumptions the projected cost on one GPU.

Why: the runbook (docs/reproduce.md) must say what a run on the real corpus needs, and nothing had
measured the real sizes. One run, one report (docs/scale.md holds a full run's numbers):

1. Data, on a slice of the full-size rehearsal corpus rendered in the same run (`signkd synth
   --preset phoenix-scale`, the sentences of `--like` PHOENIX-2014-T annotations when given, by
   default ../shared/data/phoenix2014t beside the checkout): generation frames/s, `prepare` time
   and bytes per frame of each store, the training pipeline's frames/s per loader worker from the
   PNG tree, the raw store and the jpeg store side by side (store_measure.py, as bench_store.py),
   a real DataLoader over the jpeg cache with the configs' workers, and the compact store's goals;
   each extrapolated to the whole of PHOENIX-2014-T.
2. Per config of the original (scale_systems.py) at 224 px, 117-frame clips (the train mean),
   1,086 classes and the configs' batch size: one training step (forward + backward + Adam, after
   a warm-up), the student's evaluation split into forward and CTC beam search (beam 10), the
   Text2Gloss forced alignment per batch (2-teacher SLR students), the peak memory, and a whole dev
   split (519 clips) projected from the evaluation per clip (`--dev-clips N` measures N clips).
3. Memory over several epochs: the VAC baseline trained by signkd's Trainer on a few clips of the
   slice (smaller crop and clips, for time); resident memory after every epoch. A growth beyond
   `--rss-tolerance` after the first epoch is FLAGGED and the run exits 1.
4. Projected, on one GPU (assumptions in GPU_ASSUMPTIONS, printed with the table): frames/s,
   epoch and dev-pass time per config, and the jpeg loader workers that rate needs.

    python benchmarks/bench_scale.py [--clips 60] [--like DIR] [--steps 1] [--only NAME ...] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale_systems import (ALL_FRAMES, CONFIGS, DEV_FRAMES, DEV_VIDEOS, GLOSSES, REPO,  # noqa: E402
                           TRAIN_FRAMES, build, make_batch, student_encoder)
from store_measure import TARGET_PERCENT, TARGET_RATE, TARGET_VS_PNG, source_names, store_goals  # noqa: E402

ALIGNED_TERMS = ("DistTranslation2SLR", "FeatureTranslation2SLR")   # the Text2Gloss terms that align frames
LONG_CLIP = 300                 # frames: PHOENIX-2014-T's longest clips are about this long
# How a measured CPU step becomes a projected GPU rate. Sources:
# - ResNet-50 v1.5 training on one A100 80GB with AMP: 2,470 images/s (NVIDIA DeepLearningExamples,
#   PyTorch/Classification/ConvNets/resnet50v1.5/README.md, "Training performance: NVIDIA DGX A100",
#   1 GPU, mixed precision, pytorch-21.03 container).
# - ResNet-18 1.81 GFLOPS, ResNet-50 4.09 GFLOPS per 224 px image (torchvision's model tables).
GPU_ASSUMPTIONS = {
    "gpu": "one A100 80GB, AMP (an H100 is faster; no GPU measured here)",
    "resnet50_amp_images_per_s": 2470.0,
    "resnet18_gflops": 1.81,
    "resnet50_gflops": 4.09,
    "notes": [
        "the VAC baseline's step is its ResNet18's forward + backward over the batch's frames, at ResNet-50's "
        "rate scaled by the FLOPs ratio (optimistic: the batch of 2 clips is ~234 frames, the BiLSTM is sequential)",
        "every other config costs the VAC baseline's GPU time times its CPU step time / the VAC baseline's",
        "a dev pass: the student's forward at 3x its training rate (no backward) plus the CTC beam search, "
        "which runs on the CPU at the per-clip time measured here",
        "loader workers needed = projected GPU frames/s / the jpeg pipeline's frames/s per worker (CPU second)",
    ],
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=60, help="rehearsal clips rendered and packed (the slice)")
    p.add_argument("--like", default=None, help="PHOENIX-2014-T annotation folder for the slice's sentences "
                                                "(default: ../shared/data/phoenix2014t when present; '' = the grammar)")
    p.add_argument("--synth-workers", type=int, default=2, help="processes rendering the slice")
    p.add_argument("--rate-clips", type=int, default=20, help="clips the per-worker frames/s are measured on")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per frame source (the best counts)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of the jpeg store")
    p.add_argument("--steps", type=int, default=1, help="timed training steps per config (after one warm-up)")
    p.add_argument("--frames", type=int, default=117, help="frames per clip (PHOENIX-2014-T train mean)")
    p.add_argument("--threads", type=int, default=0, help="torch threads for the configs (0 = torch's default)")
    p.add_argument("--only", nargs="+", default=[], help="measure only configs whose name contains this text")
    p.add_argument("--dev-clips", type=int, default=0, help="also evaluate this many random dev-length clips per "
                                                            "config (519 = a whole dev pass: ~40 min a config here)")
    p.add_argument("--memory-clips", type=int, default=6, help="clips of the memory run")
    p.add_argument("--memory-epochs", type=int, default=4, help="epochs of the memory run")
    p.add_argument("--memory-crop", type=int, default=112, help="crop of the memory run (px)")
    p.add_argument("--memory-frames", type=int, default=48, help="most frames a clip of the memory run")
    p.add_argument("--rss-tolerance", type=float, default=64.0, help="MB resident memory may grow after epoch 1")
    p.add_argument("--skip-data", action="store_true", help="only the per-config part (no corpus, no disk)")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_scale"), help="folder of the JSON report")
    p.add_argument("--keep", default="", help="keep the slice and its caches in this folder")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------ per config

def _timed(fn, repeat: int = 1) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_config(name: str, args) -> dict:
    import torch

    from signkd.alignment import text2gloss_pairs
    from signkd.decoding import ctc_beam_search
    from signkd.temporal import TemporalSpec

    m = build(name)
    cfg, system = m.cfg, m.system
    params = [p for p in system.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    batch = make_batch(cfg, args.frames, generator)
    times = []
    for step in range(args.steps + 1):                 # the first is a warm-up
        start = time.perf_counter()
        out = system.losses(batch, m.weights, frozen=m.frozen)
        optim.zero_grad(set_to_none=True)
        out["total"].backward()
        optim.step()
        if step:
            times.append(time.perf_counter() - start)
        if not torch.isfinite(out["total"]):
            raise SystemExit(f"{name}: the loss is not finite")
    row = {"name": name, "config": CONFIGS[name], "batch": cfg.data.batch_size, "trained": sorted(m.trained),
           "terms": sorted(m.weights), "step_s": min(times), "params_trained_m": sum(p.numel() for p in params) / 1e6,
           "forward_s_per_clip": None, "decode_s_per_clip": None, "align_ms": None, "align_ms_300": None,
           "dev_cpu_s_projected": None, "dev_measured": None}
    encoder = student_encoder(system)
    if encoder is not None:
        system.eval()
        b = cfg.data.batch_size
        with torch.no_grad():
            start = time.perf_counter()
            out = encoder(batch.video, batch.video_lengths)
            row["forward_s_per_clip"] = (time.perf_counter() - start) / b
            log_probs = out["seq_logits"].log_softmax(-1)           # (B, T', C)
            row["decode_s_per_clip"] = _timed(lambda: ctc_beam_search(log_probs, out["lengths"],
                                                                      beam_width=cfg.eval.beam_width)) / b
        per_clip = row["forward_s_per_clip"] + row["decode_s_per_clip"]
        row["dev_cpu_s_projected"] = DEV_VIDEOS * per_clip * (DEV_FRAMES / DEV_VIDEOS) / args.frames
        if not system.is_slt and any(t in m.weights for t in ALIGNED_TERMS):
            def align(lp, lengths):
                return text2gloss_pairs(lp, lengths, batch.glosses, batch.gloss_lengths, mode=cfg.loss.alignment,
                                        beam_width=cfg.eval.beam_width)
            row["align_ms"] = 1000 * _timed(lambda: align(log_probs, out["lengths"]), repeat=3)
            steps = TemporalSpec.from_config(cfg.model.visual).output_length(LONG_CLIP)
            long_lp = torch.randn(b, steps, log_probs.shape[-1], generator=generator).log_softmax(-1)
            row["align_ms_300"] = 1000 * _timed(lambda: align(long_lp, torch.full((b,), steps)), repeat=3)
        if args.dev_clips:
            row["dev_measured"] = _dev_pass(encoder, cfg, args.dev_clips, generator)
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _dev_pass(encoder, cfg, clips: int, generator) -> dict:
    """Evaluate `clips` random clips of the dev mean length, eval_batch_size at a time."""
    import torch

    from signkd.decoding import ctc_beam_search

    frames = round(DEV_FRAMES / DEV_VIDEOS)
    start, done = time.perf_counter(), 0
    with torch.no_grad():
        while done < clips:
            b = min(cfg.data.eval_batch_size, clips - done)
            video = torch.randn(b, frames, 3, cfg.data.augment.crop, cfg.data.augment.crop, generator=generator)
            out = encoder(video, torch.full((b,), frames))
            ctc_beam_search(out["seq_logits"].log_softmax(-1), out["lengths"], beam_width=cfg.eval.beam_width)
            done += b
    seconds = time.perf_counter() - start
    return {"clips": clips, "frames_per_clip": frames, "seconds": seconds, "whole_dev_s": seconds * DEV_VIDEOS / clips}


# ------------------------------------------------------------------------------------------ projection

def project(rows: list[dict], jpeg_per_worker: float | None, frames: int) -> dict:
    """Projected GPU frames/s, epoch and dev-pass time per config, and the loader workers they need."""
    a = GPU_ASSUMPTIONS
    resnet18 = a["resnet50_amp_images_per_s"] * a["resnet50_gflops"] / a["resnet18_gflops"]
    base = next((r for r in rows if r["name"].startswith("VAC")), None)
    out = {"resnet18_amp_frames_per_s": resnet18, "per_config": {}}
    if base is None:
        return out
    for r in rows:
        rate = resnet18 * base["step_s"] / r["step_s"]
        dev = None
        if r["decode_s_per_clip"] is not None:
            dev = DEV_FRAMES / (3 * rate) + DEV_VIDEOS * r["decode_s_per_clip"] * (DEV_FRAMES / DEV_VIDEOS) / frames
        out["per_config"][r["name"]] = {
            "frames_per_s": rate, "epoch_s": TRAIN_FRAMES / rate, "dev_pass_s": dev,
            "loader_workers": math.ceil(rate / jpeg_per_worker) if jpeg_per_worker else None}
    return out


# ------------------------------------------------------------------------------------------ report

def _h(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 \
        else f"{seconds:.1f} s"


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def data_lines(d: dict, quality: int) -> list[str]:
    gen, stores, rates, loader = d["generate"], d["prepare"]["stores"], d["prepare"]["rates"], d["dataloader"]
    names = source_names(quality)
    fps = gen["frames"] / gen["seconds"]
    raw_pf = stores["raw"]["bytes_per_frame"]
    png_pf = gen["png_bytes"] / gen["frames"]
    png_rate = rates["png"]["cpu"]
    lines = ["| stage | measured on the slice | whole PHOENIX-2014-T (8,257 videos, 947,756 frames) | goal |",
             "|---|---|---|---|",
             f"| generate (PNG, {gen['workers']} workers) | {gen['clips']} clips, {gen['frames']:,} frames in "
             f"{gen['seconds']:.0f} s: {fps:.1f} frames/s | extrapolated {_h(ALL_FRAMES / fps)}, "
             f"{_gb(png_pf * ALL_FRAMES)} of PNG | – |"]
    for store in ("raw", "jpeg"):
        s = stores[store]
        pct = 100 * s["bytes_per_frame"] / raw_pf
        goal = "–" if store == "raw" else f"≤ {TARGET_PERCENT:.0f} % of raw: {'met' if pct <= TARGET_PERCENT else 'NOT met'}"
        lines.append(f"| prepare {names[store]} (1 worker) | {s['frames_per_s']:.0f} frames/s; "
                     f"{s['bytes_per_frame']:,.0f} bytes/frame ({pct:.1f} % of raw) | extrapolated "
                     f"{_gb(s['bytes_per_frame'] * ALL_FRAMES)} (train {_gb(s['bytes_per_frame'] * TRAIN_FRAMES)}), "
                     f"{_h(ALL_FRAMES / s['frames_per_s'])} per worker | {goal} |")
    for key in ("png", "raw", "jpeg"):
        r = rates[key]
        vs = r["cpu"] / png_rate
        goal = "–"
        if key == "jpeg":
            ok = store_goals(100 * stores["jpeg"]["bytes_per_frame"] / raw_pf, r["cpu"], vs)
            goal = (f"≥ {TARGET_RATE:,.0f}/worker: {'met' if ok['rate'] else 'NOT met'}; ≥ {TARGET_VS_PNG:.0f}x PNG: "
                    f"{'met' if ok['vs_png'] else 'NOT met'}")
        what = f"{names[key]} (260 x 210 px, decoded + resized)" if key == "png" else names[key]
        lines.append(f"| loader, {what} | {r['cpu']:,.0f} frames/s per worker ({r['wall']:,.0f} wall), "
                     f"{vs:.1f}x PNG | one worker: an epoch's {TRAIN_FRAMES:,} train frames in "
                     f"{_h(TRAIN_FRAMES / r['cpu'])} | {goal} |")
    lines.append(f"| DataLoader over jpeg, {loader['workers']} workers (the configs' default) | "
                 f"{loader['frames_per_s']:,.0f} frames/s ({loader['frames']:,} frames, batches of "
                 f"{loader['batch_size']}, wall) | – | – |")
    mem = d["memory"]
    flag = "**FLAG: grows**" if mem["flag"] else "flat"
    lines.append(f"| memory, VAC baseline trained {mem['epochs']} epochs on {mem['clips']} clips "
                 f"({mem['crop']} px, ≤ {mem['max_frames']} frames) | RSS after each epoch "
                 f"{', '.join(f'{v:,.0f}' for v in mem['rss_mb'])} MB: {mem['growth_mb']:+.0f} MB after epoch 1 | – | "
                 f"≤ {mem['tolerance_mb']:.0f} MB: {flag} |")
    return lines


def config_lines(rows: list[dict], projection: dict) -> list[str]:
    def num(v, fmt):
        return "–" if v is None else format(v, fmt)

    lines = ["| config | step s (batch 2) | eval s/clip: forward + beam 10 | align ms/batch (117 / 300 frames) | "
             "dev pass, CPU (projected) | peak RSS MB | GPU frames/s (projected) | GPU epoch (projected) | "
             "GPU dev pass (projected) | jpeg workers needed (projected) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p = projection["per_config"].get(r["name"], {})
        evals = "–" if r["forward_s_per_clip"] is None else \
            f"{r['forward_s_per_clip']:.2f} + {r['decode_s_per_clip']:.2f}"
        align = "–" if r["align_ms"] is None else f"{r['align_ms']:.0f} / {r['align_ms_300']:.0f}"
        dev = "–" if r["dev_cpu_s_projected"] is None else _h(r["dev_cpu_s_projected"])
        if r["dev_measured"]:
            dev += f" (measured on {r['dev_measured']['clips']}: {_h(r['dev_measured']['whole_dev_s'])})"
        lines.append(f"| {r['name']} | {r['step_s']:.1f} | {evals} | {align} | {dev} | {r['peak_rss_mb']:,.0f} | "
                     f"{num(p.get('frames_per_s'), ',.0f')} | {_h(p['epoch_s']) if p else '–'} | "
                     f"{_h(p['dev_pass_s']) if p.get('dev_pass_s') else '–'} | {num(p.get('loader_workers'), 'd')} |")
    return lines


def note_lines(report: dict) -> list[str]:
    a = GPU_ASSUMPTIONS
    lines = [f"Projected (not measured): {a['gpu']}; ResNet18 at {report['projection']['resnet18_amp_frames_per_s']:,.0f} "
             f"frames/s = ResNet-50's {a['resnet50_amp_images_per_s']:,.0f} images/s (NVIDIA DeepLearningExamples, "
             f"1 x A100 80GB, AMP) x {a['resnet50_gflops']} / {a['resnet18_gflops']} GFLOPS; "
             + "; ".join(a["notes"]) + "."]
    if "data" in report:
        d = report["data"]
        lines.append(f"Slice: {d['generate']['sentences']}; loader rates over {d['prepare']['rate_clips']} clips, best "
                     f"of {d['prepare']['rounds']} rounds, one thread, per CPU second (wall beside it).")
    lines.append(f"Per config: {report['frames']}-frame clips at 224 px, {GLOSSES + 1} classes, random weights, "
                 f"the config's last stage, {report['threads']} torch threads, best of {report['steps']} step(s) after "
                 f"a warm-up; the dev pass on CPU projected as 519 clips x eval s/clip x 107.5 / {report['frames']} "
                 "frames; peak RSS is the process's running maximum.")
    lines.append(f"Run: {_h(report['seconds'])} wall, load average {report['load_at_start']:.2f} at its start "
                 f"({os.cpu_count()} CPUs), slice on disk {_gb(report.get('disk_bytes', 0))}.")
    return lines


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def measure_data(args, base: Path) -> dict:
    import torch

    import scale_data

    like = scale_data.default_like() if args.like is None else args.like
    print(f"rendering {args.clips} phoenix-scale clips ...", flush=True)
    gen = scale_data.generate(base, args.clips, like, args.synth_workers)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                    # what one DataLoader worker gets
    print("packing raw and jpeg, measuring the loader ...", flush=True)
    prep = scale_data.prepare_and_load(base, gen, size=256, quality=args.quality, rate_clips=args.rate_clips,
                                       rounds=args.rounds)
    torch.set_num_threads(threads)
    loader = scale_data.dataloader_rate(base, gen)
    print(f"training the VAC baseline {args.memory_epochs} epochs on {args.memory_clips} clips ...", flush=True)
    memory = scale_data.memory_over_epochs(base, gen, clips=args.memory_clips, epochs=args.memory_epochs,
                                           crop=args.memory_crop, max_frames=args.memory_frames,
                                           tolerance_mb=args.rss_tolerance)
    disk = _disk_bytes(base)                    # the slice, both caches and the memory run's checkpoints
    gen = {k: v for k, v in gen.items() if k != "samples"}
    gen["corpus"] = str(gen["corpus"])
    return {"generate": gen, "prepare": prep, "dataloader": loader, "memory": memory, "disk_bytes": disk}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    start, load = time.perf_counter(), os.getloadavg()[0]
    if args.threads:
        torch.set_num_threads(args.threads)
    report = {"measured": time.strftime("%Y-%m-%d"), "load_at_start": load, "frames": args.frames,
              "steps": args.steps, "threads": torch.get_num_threads(), "gpu_assumptions": GPU_ASSUMPTIONS}
    tmp = None
    if not args.skip_data:
        tmp = tempfile.TemporaryDirectory(prefix="signkd-bench-scale-")
        base = Path(args.keep or tmp.name)
        report["data"] = measure_data(args, base)
        report["disk_bytes"] = report["data"]["disk_bytes"]
        tmp.cleanup()
    rows = []
    for name in CONFIGS:
        if args.only and not any(text in name for text in args.only):
            continue
        print(f"measuring {name} ({CONFIGS[name]}) ...", flush=True)
        rows.append(measure_config(name, args))
    report["configs"] = rows
    jpeg = report["data"]["prepare"]["rates"]["jpeg"]["cpu"] if "data" in report else None
    report["projection"] = project(rows, jpeg, args.frames)
    report["seconds"] = time.perf_counter() - start

    lines = ["", f"PHOENIX-2014-T scale on this machine (measured {report['measured']})", ""]
    if "data" in report:
        lines += data_lines(report["data"], args.quality) + [""]
    lines += config_lines(rows, report["projection"]) + [""] + note_lines(report)
    print("\n".join(lines))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nall numbers: {path}")
    if "data" in report and report["data"]["memory"]["flag"]:
        print(f"bench_scale: resident memory grew {report['data']['memory']['growth_mb']:.0f} MB after the first "
              f"epoch (tolerance {args.rss_tolerance:.0f} MB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
