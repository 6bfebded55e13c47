"""`signkd export CKPT --onnx OUT.onnx`: the student's recognition path (frame CNN, temporal conv,
sequence encoder, classifiers) as ONNX with a dynamic number of frames, checked against PyTorch
with ONNX Runtime when it is installed."""
from __future__ import annotations

HELP = "export a student checkpoint's recognition path to ONNX (dynamic time axis)"


def add_arguments(p) -> None:
    p.add_argument("checkpoint", help="student checkpoint")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="file to write")
    p.add_argument("--frames", type=int, default=0, help="frames of the example clip used for tracing (default: auto)")
    p.add_argument("--size", type=int, default=0,
                   help="frame side, only needed when the checkpoint's preprocessing does not fix it")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison")


def run(args) -> int:
    import importlib.util

    import torch

    from signkd.export import export_onnx, parity
    from signkd.onnx_runtime import input_size
    from signkd.inference import load_student

    bundle = load_student(args.checkpoint, "cpu")
    out = export_onnx(bundle, args.onnx, frames=args.frames, size=args.size, opset=args.opset)
    size_mb = out.stat().st_size / 2**20
    line = f"wrote {out} ({size_mb:.1f} MiB): input 'video' (1, frames, 3, H, W) -> 'conv_logits', 'seq_logits' (1, steps, C)"
    if bundle.is_slt:
        line += "; the SLT word decoder is not exported"
    print(line)
    if not args.no_check and importlib.util.find_spec("onnxruntime") is not None:
        side = input_size(bundle.preprocessing) or args.size
        frames = max(48, 3 * bundle.encoder.front.spec.min_conv_input_length)
        video = torch.randn(1, frames, 3, side, side, generator=torch.Generator().manual_seed(0))
        print(f"check: ONNX Runtime vs PyTorch on a random {frames}-frame clip: max |diff| = {parity(bundle, out, video):.2e}")
    return 0
