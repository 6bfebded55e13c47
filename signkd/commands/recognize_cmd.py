"""`signkd recognize CKPT INPUT…`: glosses with time spans (and the translation of an SLT student)
for video files, frame folders or globs, with the preprocessing stored in the checkpoint.
Output: readable text, or one JSON object per input and line with --json (docs/inference.md)."""
from __future__ import annotations

import json

from signkd.inference import DEFAULT_CONTEXT, DEFAULT_FPS, DEFAULT_WINDOW

HELP = "recognise glosses (with time spans) in videos, frame folders or globs with a student checkpoint"


def add_arguments(p) -> None:
    p.add_argument("checkpoint", help="student checkpoint (best.pt / last.pt of a run with model.student: true)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video file (mp4/avi/webm/...), folder of frames, or a quoted glob of frame images")
    p.add_argument("--json", action="store_true", help="one JSON object per input, one per line")
    p.add_argument("--beam", type=int, default=None, metavar="N",
                   help="CTC beam width (1 = greedy); default: the checkpoint's eval.ctc_decoder/beam_width")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW, metavar="FRAMES",
                   help=f"frames per temporal window on long videos (0 = whole clip; default {DEFAULT_WINDOW})")
    p.add_argument("--context", type=int, default=DEFAULT_CONTEXT, metavar="FRAMES",
                   help=f"frames of sequence context dropped at each inner window edge (default {DEFAULT_CONTEXT})")
    p.add_argument("--fps", type=float, default=DEFAULT_FPS,
                   help=f"frame rate of frame folders/globs (videos carry their own; default {DEFAULT_FPS:g})")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16 runs the frame CNN under bfloat16 autocast (fast on AMX/AVX512-BF16 CPUs)")
    p.add_argument("--engine", choices=["torch", "onnxruntime"], default="torch",
                   help="onnxruntime runs the frame CNN through ONNX Runtime (CPU; usually faster than PyTorch fp32)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args, mode: str = "recognize") -> int:
    from signkd.errors import CheckpointError
    from signkd.inference import Recognizer, resolve_inputs

    clips = resolve_inputs(args.inputs)          # fail on a missing input before loading the model
    recognizer = Recognizer.from_checkpoint(
        args.checkpoint, device=args.device, beam=args.beam, window=args.window, context=args.context,
        fps=args.fps, progress=not args.no_progress, precision=args.precision,
        engine=args.engine)
    if mode == "translate" and not recognizer.bundle.is_slt:
        raise CheckpointError(f"{args.checkpoint}: an SLR student (model.task: slr) has no translation decoder; "
                              "use `signkd recognize`, or give an SLT student checkpoint")
    for clip in clips:
        result = recognizer.recognize(clip)
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
        elif mode == "translate":
            print(f"{result.input}: {result.translation}", flush=True)
        else:
            print(format_text(result), flush=True)
    return 0


def format_text(result) -> str:
    lines = [f"{result.input} ({result.frames} frames at {result.fps:g} fps, {result.duration:.2f} s): "
             f"{' '.join(result.gloss_sequence) or '(no gloss)'}"]
    lines += [f"  {g.start:7.2f} - {g.end:7.2f} s  {g.gloss}" for g in result.glosses]
    if result.translation is not None:
        lines.append(f"  translation: {result.translation}")
    return "\n".join(lines)
