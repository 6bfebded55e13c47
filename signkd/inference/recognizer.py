"""`Recognizer`: a student checkpoint that reads videos, `Recognizer.from_checkpoint(ckpt).recognize("clip.mp4")`.

Why this shape:
- **Memory stays bounded on long videos.** Frames are decoded one at a time (`inputs.FrameReader`),
  every kept frame goes through the frame CNN in chunks of `cnn_chunk` frames, and only the small
  per-frame CNN features (D floats each) wait in a buffer. The temporal conv + sequence encoder
  then run over overlapping windows of `window` frames, and the step outputs are stitched
  (`windows`, which says where windowed equals whole-clip).
- **The checkpoint's temporal padding too.** With ``model.visual.temporal_pad: vac`` the model
  pads every clip's frame features with copies of its first and last frame before the temporal
  conv (`signkd.models.visual.TemporalEdgePad`); here the copies are put into the feature stream
  itself (`Recognizer.padded_features`), and the windows run over the padded stream, so the
  geometry is the whole-clip model's.

Time spans: the decoded glosses are CTC-force-aligned (`signkd.alignment`) to the stitched
log-probabilities; output step t covers the kept frames [t*S + o, (t+1)*S + o) with
o = (R - S) / 2 - left (R = receptive field, left = the temporal padding's left copies: o = 0
with `vac` padding; `signkd.temporal.TemporalSpec.step_start`), i.e. the middle of what it sees,
and frame k (after the frame interval) starts at k * interval / fps seconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np
import torch

from signkd.errors import SignkdError
from signkd.inference.inputs import DEFAULT_FPS, ClipSource, FrameReader, resolve_inputs
from signkd.inference.results import GlossSpan, Recognition
from signkd.inference.student import StudentBundle, load_student
from signkd.inference.translation import translate_features
from signkd.inference.windows import DEFAULT_CONTEXT, DEFAULT_WINDOW, WindowPlan, plan_windows, stitch_windows

DEFAULT_CNN_CHUNK = 32      # frames per frame-CNN call


class Recognizer:
    """A student checkpoint ready to read videos. ``beam``: CTC beam width (1 = greedy best
    path; None = the checkpoint's eval.ctc_decoder / eval.beam_width, i.e. what `signkd test`
    does). ``window`` / ``context``: frames per temporal window and of sequence context per
    inner edge (see `signkd.inference.windows`); ``window=0`` = the whole clip in one call.
    ``precision="bf16"`` runs the frame CNN (almost all the compute) under bfloat16 autocast,
    which CPUs with AMX / AVX512-BF16 run up to ~2x faster; posteriors then differ slightly from
    fp32 (bfloat16 keeps 8 mantissa bits), so a hypothesis can rarely differ from `signkd test`.
    ``engine="onnxruntime"`` runs the frame CNN through ONNX Runtime instead (exported in memory
    at start-up; 1.2-2x faster than PyTorch fp32 on our CPU, same numbers to ~1e-5); the rest
    stays in PyTorch."""

    def __init__(self, bundle: StudentBundle, *, device: str | torch.device = "cpu", beam: Optional[int] = None,
                 window: int = DEFAULT_WINDOW, context: int = DEFAULT_CONTEXT, cnn_chunk: int = DEFAULT_CNN_CHUNK,
                 fps: float = DEFAULT_FPS, progress: bool = False, precision: str = "fp32", engine: str = "torch"):
        self.bundle = bundle
        self.device = torch.device(device)
        self.beam = beam
        if beam is not None and beam < 1:
            raise SignkdError(f"--beam: expected >= 1 (1 = greedy), got {beam}")
        if window < 0 or context < 0 or cnn_chunk < 1:
            raise SignkdError(f"--window/--context: expected >= 0 frames, got {window}/{context}")
        self.window, self.context, self.cnn_chunk = window, context, cnn_chunk
        if precision not in ("fp32", "bf16"):
            raise SignkdError(f"--precision: expected fp32 or bf16, got {precision!r}")
        if fps <= 0:
            raise SignkdError(f"--fps: expected a positive frame rate, got {fps}")
        self.fps = fps
        self.progress = progress
        self.precision = precision
        if engine not in ("torch", "onnxruntime"):
            raise SignkdError(f"--engine: expected torch or onnxruntime, got {engine!r}")
        if engine == "onnxruntime" and (self.device.type != "cpu" or precision != "fp32"):
            raise SignkdError("--engine onnxruntime: runs on the CPU in fp32 (drop --device/--precision)")
        self.engine = engine
        from signkd.models.recognizer import SingleClipStudent

        self.temporal = bundle.encoder.front.spec      # the windows' and time spans' geometry (signkd.temporal)
        self.single = SingleClipStudent(bundle.encoder)
        self._onnx_cnn = None
        if engine == "onnxruntime":
            from signkd.onnx_runtime import FrameCNNSession, input_size

            self._onnx_cnn = FrameCNNSession(bundle.encoder.front.cnn, input_size(bundle.preprocessing),
                                             threads=torch.get_num_threads())
        if self.device.type == "cpu":       # oneDNN's faster layout for the frame CNN; same numbers
            bundle.encoder.front.cnn.to(memory_format=torch.channels_last)

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "cpu", **kwargs) -> "Recognizer":
        device = _resolve_device(device)
        return cls(load_student(path, device), device=device, **kwargs)

    # ------------------------------------------------------------------------- model pieces

    def output_length(self, frames: int) -> int:
        """Output steps T' of a clip of `frames` frames (temporal padding included)."""
        return self.temporal.output_length(frames)

    def conv_output_length(self, frames: int) -> int:
        """Output steps of the temporal conv over `frames` already padded frames: the window geometry."""
        return self.temporal.conv_output_length(frames)

    def padded_features(self, features: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Per-frame feature chunks (n, D) -> the same stream with model.visual.temporal_pad's
        edge copies: `left` copies of the first frame before it, and after the last chunk copies of
        the last frame up to the padded length. Windows then run over the padded stream exactly as
        the whole-clip model runs over the padded clip."""
        spec, first, last, total = self.temporal, True, None, 0
        for chunk in features:
            if not len(chunk):
                continue
            if first and spec.pad_left:
                chunk = torch.cat([chunk[:1].expand(spec.pad_left, -1), chunk])
            first, last = False, chunk[-1:]
            total += len(chunk)
            yield chunk
        right = spec.padded_length(total - spec.pad_left) - total if last is not None else 0
        if right:
            yield last.expand(right, -1)

    @torch.no_grad()
    def frame_features(self, chunks: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Normalised frame chunks (n, 3, h, w) -> frame-CNN features (n, D), as the model's
        `VisualFrontEnd.frame_features` (+ its dropout, identity in eval) computes them."""
        front = self.bundle.encoder.front
        bf16 = self.precision == "bf16"
        for chunk in chunks:
            if self._onnx_cnn is not None:
                yield self._onnx_cnn(chunk)
                continue
            chunk = chunk.to(self.device)
            if self.device.type == "cpu":
                chunk = chunk.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                feats = front.cnn(chunk)
            yield front.dropout(feats.float())

    @torch.no_grad()
    def run_window(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """(1, n, D) frame features -> {conv_logits, seq_logits (n', C), features (n', H)}
        through the student's temporal conv, sequence encoder and classifiers (single clip)."""
        return {name: value[0] for name, value in self.single.steps(feats).items()}

    def plan(self) -> WindowPlan:
        window = self.window if self.window > 0 else 1 << 62
        return plan_windows(window, self.context, self.temporal.stride, self.conv_output_length)

    def encode_frames(self, frames: Iterable[torch.Tensor], where: str = "clip") -> dict[str, torch.Tensor]:
        """Normalised frame chunks -> stitched {conv_logits, seq_logits, features} (T', .)."""
        return stitch_windows(self.padded_features(self.frame_features(frames)), self.run_window,
                              self.conv_output_length, self.plan(), where)

    # ------------------------------------------------------------------------- decoding

    def decode_glosses(self, log_probs: torch.Tensor) -> list[int]:
        """(T', C) log-probs -> gloss ids, with the checkpoint's decoder unless --beam is given."""
        from signkd import decoding

        ev = self.bundle.cfg.eval
        lengths = torch.tensor([log_probs.shape[0]])
        greedy = self.beam == 1 if self.beam is not None else ev.ctc_decoder == "greedy"
        if greedy:
            return decoding.ctc_greedy(log_probs[None], lengths)[0]
        width = self.beam if self.beam is not None else ev.beam_width
        return decoding.ctc_beam_search(log_probs[None], lengths, beam_width=width)[0]

    def spans(self, log_probs: torch.Tensor, ids: list[int], fps: float) -> list[tuple[float, float]]:
        """[start, end) seconds per decoded gloss, from a CTC forced alignment of `ids`."""
        from signkd.alignment import ctc_forced_alignment

        if not ids:
            return []
        alignment = ctc_forced_alignment(log_probs.float().cpu(), torch.tensor(ids))
        if alignment is None:   # cannot happen for a CTC decoder's own output; be safe anyway
            raise SignkdError("CTC alignment of the decoded glosses failed")
        step_start, seconds = self.temporal.step_start, self.bundle.preprocessing.frame_interval / fps
        return [(step_start(int(a)) * seconds, step_start(int(b)) * seconds) for a, b in alignment.segments.tolist()]

    def translate_features(self, features: torch.Tensor) -> str:
        """(T', H) stitched sequence features -> sentence, as `signkd test` decodes it."""
        return translate_features(self.bundle, features, self.device)

    # ------------------------------------------------------------------------- end to end

    def recognize(self, source: ClipSource | str) -> Recognition:
        if isinstance(source, str):
            (source,) = resolve_inputs([source])
        reader = FrameReader(source, self.fps)
        try:
            frames: Iterable[np.ndarray] = reader
            if self.progress:
                from tqdm import tqdm

                frames = tqdm(reader, desc=Path(source.name).name, unit="frame", leave=False, disable=None)
            chunks = self.bundle.preprocessing.frame_chunks(frames, self.cnn_chunk, source.name)
            out = self.encode_frames(chunks, source.name)
        finally:
            reader.close()
        log_probs = torch.log_softmax(out["seq_logits"].float(), -1).cpu()    # (T', C)
        ids = self.decode_glosses(log_probs)
        duration = reader.frames_read / reader.fps
        spans = [GlossSpan(self.bundle.gloss_vocab.decode([i])[0], max(0.0, min(a, duration)),
                           max(0.0, min(e, duration)))
                 for i, (a, e) in zip(ids, self.spans(log_probs, ids, reader.fps))]
        translation = self.translate_features(out["features"]) if self.bundle.is_slt else None
        return Recognition(source.name, reader.frames_read, reader.fps, duration, spans, translation,
                           steps=log_probs.shape[0], log_probs=log_probs)


def _resolve_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SignkdError(f"--device {device}: CUDA is not available on this machine")
    if device != "cpu" and not device.startswith("cuda"):
        raise SignkdError(f"--device: expected cpu or cuda[:N], got {device!r}")
    return device
