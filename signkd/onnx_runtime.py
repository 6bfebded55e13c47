"""ONNX Runtime for signkd: a CPU session of an ONNX file, and the student's frame CNN run
through it (`recognize --engine onnxruntime`).

Why its own module: `recognize` runs the frame CNN in ONNX Runtime and `signkd export` writes
the whole student to ONNX and checks it there; both need a session and the frame side the
checkpoint's preprocessing fixes, and neither should import the other for them.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Optional

import torch

from signkd.errors import SignkdError

OPSET = 17


def input_size(preprocessing) -> Optional[int]:
    """Frame side the checkpoint's preprocessing produces (None: varies with the video)."""
    if preprocessing.crop > 0:
        return preprocessing.crop
    if preprocessing.resize > 0 and not preprocessing.keep_aspect:
        return preprocessing.resize
    return None


class FrameCNNSession:
    """The frame CNN alone, exported to a temporary ONNX file and run by ONNX Runtime:
    (n, 3, H, W) -> (n, D). `recognize --engine onnxruntime` uses it for the part that costs."""

    def __init__(self, cnn, side: Optional[int], threads: int = 0, opset: int = OPSET):
        cnn = cnn.eval()
        with tempfile.TemporaryDirectory(prefix="signkd-onnx-") as tmp:
            path = Path(tmp) / "frame_cnn.onnx"
            dummy = torch.zeros(2, 3, side or 64, side or 64)
            axes = {"frames": {0: "n"} if side else {0: "n", 2: "height", 3: "width"}, "features": {0: "n"}}
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(cnn, (dummy,), str(path), dynamo=False, input_names=["frames"],
                                  output_names=["features"], dynamic_axes=axes, opset_version=opset)
            self.session = onnx_session(path, threads)    # ORT keeps the model in memory

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        (features,) = self.session.run(["features"], {"frames": frames.detach().cpu().float().contiguous().numpy()})
        return torch.from_numpy(features)


def onnx_session(path: str | Path, threads: int = 0):
    """An ONNX Runtime CPU session (threads 0 = its default)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SignkdError("onnxruntime is not installed (pip install 'signkd[onnx]')") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
