"""Student inference speed on this CPU: frames/s and multiple of real time (25 fps) for the frame
CNN + temporal conv + BiLSTM + classifiers, at 224 px and 112 px, ResNet18 and the small CNN,
PyTorch vs ONNX Runtime.

Engines: `pytorch fp32` and `pytorch bf16-cnn` (frame CNN under bfloat16 autocast; only where the
CPU has BF16 units) are `signkd recognize` with `--precision fp32|bf16`; `onnxruntime cnn` is
`recognize --engine onnxruntime` (frame CNN in ONNX Runtime, the rest in PyTorch); `onnxruntime
graph` runs the whole graph `signkd export` writes. What is timed is the network on
already-normalised frames (frame CNN in chunks of 32, then the temporal model over the clip);
video decoding, resizing and CTC decoding are left out (cheap next to ResNet18). Weights are random: speed
does not depend on them. Default model = the original's geometry (hidden 768, 2-layer BiLSTM,
~1.1k gloss classes as PHOENIX-2014-T).

The machine is shared: engines take turns in every round, each number is the best of --repeats
rounds, the load average is printed with the table, and a second column estimates the idle-machine
speed from the process's CPU time.

    python benchmarks/bench_inference.py [--threads 2] [--frames 100] [--repeats 3] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signkd.hardware import cpu_has_bf16  # noqa: E402

REAL_TIME_FPS = 25.0


def build(backbone: str, size: int, classes: int):
    from signkd.config import Config
    from signkd.data.vocab import GlossVocab
    from signkd.inference import Preprocessing, StudentBundle
    from signkd.models.recognizer import SLRStudent

    cfg = Config()
    cfg.model.visual.backbone = backbone
    torch.manual_seed(0)
    student = SLRStudent(cfg.model, classes).eval()
    vocab = GlossVocab([f"G{i:04d}" for i in range(1, classes)])
    return StudentBundle(student, cfg, vocab, None, Preprocessing(crop=size), {})


def recognizer_runner(bundle, video: torch.Tensor, **options):
    """The network part of `signkd recognize` with these options, as a zero-argument callable."""
    from signkd.inference import Recognizer

    recognizer = Recognizer(bundle, **options)
    chunks = list(video[0].split(recognizer.cnn_chunk))
    return lambda: recognizer.encode_frames(iter(chunks))


def onnx_graph_runner(bundle, video: torch.Tensor, threads: int, folder: Path):
    """The whole graph `signkd export` writes, in ONNX Runtime."""
    from signkd.export import INPUT_NAME, export_onnx
    from signkd.onnx_runtime import onnx_session

    session = onnx_session(export_onnx(bundle, folder / "student.onnx"), threads=threads)
    feed = {INPUT_NAME: video.numpy()}
    return lambda: session.run(None, feed)


def measure(runners: dict, repeats: int) -> dict:
    """Best wall-clock and best process-CPU seconds per runner; the runners take turns in every
    round, so a change in the machine's load hits all of them alike."""
    for run in runners.values():
        run()   # warm-up: allocations, oneDNN / ORT kernel selection
    wall = {name: float("inf") for name in runners}
    cpu = dict(wall)
    for _ in range(repeats):
        for name, run in runners.items():
            w0, c0 = time.perf_counter(), time.process_time()
            run()
            wall[name] = min(wall[name], time.perf_counter() - w0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    return {name: (wall[name], cpu[name]) for name in runners}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch and ONNX Runtime (default 2)")
    parser.add_argument("--frames", type=int, default=100, help="clip length in frames (default 100 = 4 s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--classes", type=int, default=1116, help="gloss classes incl. blank")
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "small"], choices=["resnet18", "small"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[224, 112])
    parser.add_argument("--quick", action="store_true", help="32 frames, 1 repeat (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.repeats = 32, 1
    torch.set_num_threads(args.threads)
    try:
        import onnxruntime  # noqa: F401
        have_ort = True
    except ImportError:
        have_ort = False
    bf16 = cpu_has_bf16()

    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for backbone in args.backbones:
            for size in args.sizes:
                bundle = build(backbone, size, args.classes)
                video = torch.randn(1, args.frames, 3, size, size, generator=torch.Generator().manual_seed(0))
                runners = {"pytorch fp32": recognizer_runner(bundle, video)}
                if bf16:
                    runners["pytorch bf16-cnn"] = recognizer_runner(bundle, video, precision="bf16")
                if have_ort:
                    runners["onnxruntime cnn"] = recognizer_runner(bundle, video, engine="onnxruntime")
                    runners["onnxruntime graph"] = onnx_graph_runner(bundle, video, args.threads, Path(tmp))
                for name, (wall, cpu) in measure(runners, args.repeats).items():
                    fps, cpu_fps = args.frames / wall, args.frames * args.threads / cpu
                    rows.append((backbone, size, name, fps, fps / REAL_TIME_FPS, cpu_fps / REAL_TIME_FPS))
                    print(f"  {backbone:8s} {size:3d} px  {name:17s} {fps:8.1f} frames/s", file=sys.stderr, flush=True)

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nStudent inference on {args.threads} CPU thread(s), {args.frames}-frame clips, best of {args.repeats} "
          f"(load average {load}; {os.cpu_count()} CPUs)")
    print(f"{'backbone':9s} {'size':>5s}  {'engine':17s} {'frames/s':>9s}  {'x real time':>11s}  {'x RT, CPU-time est.':>19s}")
    print("-" * 78)
    for backbone, size, name, fps, rt, cpu_rt in rows:
        print(f"{backbone:9s} {size:>4d}px  {name:17s} {fps:9.1f}  {rt:10.2f}x  {cpu_rt:18.2f}x")
    print("x real time = measured frames/s / 25. CPU-time estimate = frames / (process CPU seconds / threads):\n"
          "what the same threads would give on an idle machine (spin-waiting counts as work, so it errs low).")
    best = {}
    for backbone, size, name, fps, rt, _ in rows:
        key = (backbone, size)
        if rt > best.get(key, (0, ""))[0]:
            best[key] = (rt, name)
    goal = best.get(("resnet18", 224))
    if goal:
        verdict = "meets" if goal[0] >= 1.0 else "misses"
        print(f"goal >= 1x real time at 224 px with ResNet18: best {goal[0]:.2f}x ({goal[1]}) -> {verdict} it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
