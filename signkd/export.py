"""ONNX export of a student's recognition path: frame CNN -> temporal conv -> sequence encoder ->
classifiers, for one clip with a dynamic number of frames.

What is exported is `signkd.models.recognizer.SingleClipStudent`, the single-clip path `recognize` runs,
temporal edge padding included (`model.visual.temporal_pad`: the graph takes the clip's own frames):
training batches clips of different lengths with packed sequences (BiLSTM) and masks, which do
not export (packing) or would freeze the traced length (masks built from `int(lengths.max())`).
For one clip every frame is real, so the same weights run without packing or masking and give
the same numbers (tests/test_export.py holds ONNX Runtime to <= 1e-4 of the PyTorch student).
An SLT student exports its encoder (glosses); its word decoder is autoregressive and stays in
PyTorch.

The ONNX file carries the checkpoint's preprocessing, the gloss list and the temporal geometry
as metadata (`signkd.*` keys), so it can be used without the checkpoint.
"""
from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import torch

from signkd.atomic import atomic_write
from signkd.errors import SignkdError
from signkd.models.recognizer import SingleClipStudent
from signkd.onnx_runtime import OPSET, input_size, onnx_session

INPUT_NAME = "video"
OUTPUT_NAMES = ("conv_logits", "seq_logits")


def export_onnx(bundle, out: str | Path, *, frames: int = 0, size: int = 0, opset: int = OPSET) -> Path:
    """Write `bundle`'s (signkd.inference.StudentBundle) recognition path to `out` as ONNX with
    a dynamic time axis ("frames" in, "steps" out). `size` is needed only when the preprocessing
    does not fix the frame side (no crop, keep_aspect resize); then H and W are dynamic too."""
    try:
        import onnx
    except ImportError:
        raise SignkdError("export: the onnx package is not installed (pip install 'signkd[onnx]')") from None
    encoder = bundle.encoder.cpu().eval()
    model = SingleClipStudent(encoder).eval()
    fixed = input_size(bundle.preprocessing)
    side = fixed or size
    if not side:
        raise SignkdError("export --size: this checkpoint's preprocessing does not fix the frame size; give one")
    temporal = encoder.front.spec
    frames = frames or max(32, 2 * temporal.min_conv_input_length)
    if temporal.output_length(frames) < 1:
        raise SignkdError(f"export --frames: {frames} frames give no output step (need >= {temporal.min_input_length})")
    dummy = torch.zeros(1, frames, 3, side, side)
    axes = {INPUT_NAME: {1: "frames"} if fixed else {1: "frames", 3: "height", 4: "width"}}
    axes.update({name: {1: "steps"} for name in OUTPUT_NAMES})
    out = Path(out)
    try:   # fail before the export's minutes of tracing, not after
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SignkdError(f"export --onnx: cannot create the folder {out.parent} ({exc.strerror or exc})") from None
    if out.is_dir():
        raise SignkdError(f"export --onnx: {out} is a folder; give a file name like student.onnx")
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)   # the fused Transformer kernel has no ONNX form
    with tempfile.TemporaryDirectory(prefix="signkd-export-") as tmp:
        traced = Path(tmp) / "model.onnx"
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")     # tracer notes about LSTM batch size and shape asserts
                torch.onnx.export(model, (dummy,), str(traced), dynamo=False, input_names=[INPUT_NAME],
                                  output_names=list(OUTPUT_NAMES), dynamic_axes=axes, opset_version=opset,
                                  do_constant_folding=True)
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
        proto = onnx.load(str(traced))
    meta = {
        "signkd.preprocessing": json.dumps(vars(bundle.preprocessing)),
        "signkd.glosses": json.dumps(["<blank>"] + [bundle.gloss_vocab.decode([i])[0]
                                                    for i in range(1, bundle.gloss_vocab.num_classes)]),
        "signkd.temporal": json.dumps({"specs": temporal.names, "stride": temporal.stride,
                                       "receptive_field": temporal.receptive_field, "pad": temporal.pad,
                                       "pad_left": temporal.pad_left}),
        "signkd.sequence": bundle.cfg.model.sequence.kind,
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write(out, lambda fh: onnx.save(proto, fh), what="ONNX model")
    return out


@torch.no_grad()
def parity(bundle, path: str | Path, video: torch.Tensor) -> float:
    """Max |ONNX Runtime - PyTorch student| over both logit outputs for video (1, T, 3, H, W)."""
    session = onnx_session(path)
    got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: video.numpy()})
    ref = bundle.encoder(video, torch.tensor([video.shape[1]]))
    return max(float((torch.from_numpy(g) - ref[name]).abs().max()) for g, name in zip(got, OUTPUT_NAMES))
