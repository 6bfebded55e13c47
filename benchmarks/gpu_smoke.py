"""The GPU path end to end, before a long run is spent on it: for the VAC baseline and the
2-teacher SLR student (scale_systems.py: the original's configs, random weights, their last
stage) at 224 px, 100 AMP training steps on random clips of PHOENIX-2014-T's mean length, then a
dev pass. Reported per config: training and dev-pass frames/s, peak GPU memory, whether every loss
was finite, and whether evaluating the saved checkpoint on the GPU gives the WER that evaluating
the same checkpoint on the CPU gives (within --wer-tolerance, as a fraction: 1e-3 = 0.1 point).

The dev pass reads the clips the steps trained on, so the hypotheses are not empty and the
comparison means something; its WER says nothing about the model.

Without a CUDA device it prints one line and exits 0. `--device cpu --tiny` runs the same code
(steps, checkpoint, dev pass, the device-vs-CPU comparison) with a tiny model in seconds: that is
how the tests run it.

    python benchmarks/gpu_smoke.py [--steps 100] [--frames 117] [--train-batches 4] [--out DIR]
    python benchmarks/gpu_smoke.py --device cpu --tiny --steps 20
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale_systems import REPO, TINY_OVERRIDES, TINY_VOCAB, Vocab, build, make_batch  # noqa: E402

NO_CUDA = "gpu_smoke: no CUDA device; nothing measured"
SMOKE_CONFIGS = ("VAC baseline (BiLSTM)", "2-teacher SLR student, BiLSTM")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (to run the logic without a GPU)")
    p.add_argument("--tiny", action="store_true", help="a tiny model, 32 px clips and a small vocabulary")
    p.add_argument("--steps", type=int, default=100, help="training steps per config")
    p.add_argument("--frames", type=int, default=0, help="frames per clip (default 117, --tiny 16)")
    p.add_argument("--train-batches", type=int, default=4, help="distinct batches the steps cycle through")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate of the steps")
    p.add_argument("--wer-tolerance", type=float, default=1e-3, help="largest |WER on device - WER on CPU|, a fraction")
    p.add_argument("--out", default=str(REPO / "runs" / "gpu_smoke"), help="folder of the JSON report")
    return p.parse_args(argv)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dev_pass(measured, state: dict, device, batches: list) -> dict:
    """Load `state` into the system on `device` and decode `batches` as the evaluation does
    (the student's CTC beam search, the config's beam width; float32): WER and frames/s."""
    import torch

    from signkd.metrics.wer import sclite_wer

    system, cfg = measured.system.to(device), measured.cfg
    system.load_state_dict(state)
    system.eval()
    refs, hyps, frames = {}, {}, 0
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for n, batch in enumerate(batches):
            batch = batch.to(device)
            ids = system.recognize(batch, decoder=cfg.eval.ctc_decoder, beam_width=cfg.eval.beam_width, model="student")
            for i, (hyp, ref, length) in enumerate(zip(ids, batch.glosses.cpu(), batch.gloss_lengths.cpu())):
                key = f"{n}-{i}"
                hyps[key] = measured.gloss_vocab.decode(hyp)
                refs[key] = measured.gloss_vocab.decode(ref[: int(length)].tolist())
            frames += int(batch.video_lengths.sum())
    _sync(device)
    seconds = time.perf_counter() - start
    return {"wer": sclite_wer(refs, hyps).wer / 100, "hyps": hyps, "frames_per_s": frames / seconds,
            "seconds": seconds}


def smoke(name: str, device, args, folder: Path) -> dict:
    """Steps, checkpoint, dev pass on `device` and on the CPU, for one config."""
    import torch

    from signkd.checkpoint import load_checkpoint, model_state_of, save_checkpoint

    vocab, overrides = (TINY_VOCAB, tuple(TINY_OVERRIDES)) if args.tiny else (Vocab(), ())
    frames = args.frames or (16 if args.tiny else 117)
    glosses = 3 if args.tiny else 12
    torch.manual_seed(0)
    m = build(name, vocab=vocab, overrides=overrides)
    system = m.system.to(device)
    params = [p for p in system.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=args.lr)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    generator = torch.Generator().manual_seed(0)
    batches = [make_batch(m.cfg, frames, generator, vocab, glosses_per_clip=glosses) for _ in range(args.train_batches)]
    if amp:
        torch.cuda.reset_peak_memory_stats(device)
    losses, seen = [], 0
    _sync(device)
    start = time.perf_counter()
    for step in range(args.steps):
        batch = batches[step % len(batches)].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = system.losses(batch, m.weights, frozen=m.frozen)["total"].float()
        optim.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
        losses.append(loss.detach())
        seen += int(batch.video_lengths.sum())
    _sync(device)
    train_s = time.perf_counter() - start
    losses = torch.stack(losses).cpu()
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if amp else None

    path = save_checkpoint(folder / f"{name.split()[0].lower()}-{len(name)}.pt",
                           {"model": {k: v.detach().cpu() for k, v in system.state_dict().items()}})
    state = model_state_of(load_checkpoint(path), path)
    on_device = dev_pass(m, state, device, batches)
    torch.manual_seed(0)
    on_cpu = dev_pass(build(name, vocab=vocab, overrides=overrides), state, torch.device("cpu"), batches)
    agree = sum(on_device["hyps"][k] == on_cpu["hyps"][k] for k in on_cpu["hyps"])
    finite = bool(torch.isfinite(losses).all())
    diff = abs(on_device["wer"] - on_cpu["wer"])
    return {"name": name, "device": str(device), "amp": amp, "steps": args.steps, "frames_per_clip": frames,
            "batch": m.cfg.data.batch_size, "crop": m.cfg.data.augment.crop, "train_frames_per_s": seen / train_s,
            "train_s": train_s, "loss_first": float(losses[0]), "loss_last": float(losses[-1]), "loss_finite": finite,
            "peak_gpu_gib": peak, "dev_frames_per_s": on_device["frames_per_s"], "wer_device": on_device["wer"],
            "wer_cpu": on_cpu["wer"], "wer_diff": diff, "hyps_equal": f"{agree}/{len(on_cpu['hyps'])}",
            "ok": finite and diff <= args.wer_tolerance}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    rows = []
    with tempfile.TemporaryDirectory(prefix="signkd-gpu-smoke-") as tmp:
        for name in SMOKE_CONFIGS:
            print(f"{name}: {args.steps} steps on {what} ...", flush=True)
            rows.append(smoke(name, device, args, Path(tmp)))
    print("\n| config | train frames/s | dev frames/s | peak GPU GiB | loss first -> last (finite) | "
          "WER device / CPU (fraction) | same hypotheses | ok |\n|---|---:|---:|---:|---|---|---:|---|")
    for r in rows:
        peak = "–" if r["peak_gpu_gib"] is None else f"{r['peak_gpu_gib']:.1f}"
        print(f"| {r['name']} | {r['train_frames_per_s']:,.0f} | {r['dev_frames_per_s']:,.0f} | {peak} | "
              f"{r['loss_first']:.2f} -> {r['loss_last']:.2f} ({'yes' if r['loss_finite'] else 'NO'}) | "
              f"{r['wer_device']:.4f} / {r['wer_cpu']:.4f} | {r['hyps_equal']} | {'yes' if r['ok'] else 'NO'} |")
    print(f"{what}, {'AMP (float16)' if rows[0]['amp'] else 'float32'} steps, batch {rows[0]['batch']} x "
          f"{rows[0]['frames_per_clip']} frames at {rows[0]['crop']} px; dev pass float32, the trained clips")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gpu_smoke-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"device": what, "args": vars(args), "configs": rows}, indent=1) + "\n",
                    encoding="utf-8")
    print(f"all numbers: {path}")
    failed = [r["name"] for r in rows if not r["ok"]]
    if failed:
        print(f"gpu_smoke: failed for {', '.join(failed)} (non-finite loss or WER differs from the CPU's)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
