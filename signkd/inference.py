"""Run a trained student on new video: `Recognizer.from_checkpoint(ckpt).recognize("clip.mp4")`.

Why this shape:
- **The checkpoint decides the preprocessing.** Resize, centre crop, normalisation and frame
  interval come from the checkpoint's ``preprocessing`` entry and are applied with the very
  functions training used (`signkd.data.video.resize_frame`, `ClipTransform` in eval mode), so a
  video is seen exactly as the dev set was. Nothing is specified twice.
- **Memory stays bounded on long videos.** Frames are decoded one at a time (PyAV), every kept
  frame goes through the frame CNN in chunks of `cnn_chunk` frames, and only the small per-frame
  CNN features (D floats each) wait in a buffer. The temporal conv + sequence encoder then run
  over overlapping windows of `window` frames, and the step outputs are stitched.
- **The checkpoint's temporal padding too.** With ``model.visual.temporal_pad: vac`` the model
  pads every clip's frame features with copies of its first and last frame before the temporal
  conv (`signkd.models.visual.TemporalEdgePad`); here the copies are put into the feature stream
  itself (`Recognizer.padded_features`), and the windows below run over the padded stream, so the
  geometry is the whole-clip model's.
- **Windowed equals whole-clip where it can, and says where it cannot.** Windows start at
  multiples of the temporal stride S, so every window's temporal-conv grid coincides with the
  whole clip's; consecutive windows overlap by the conv's receptive field, so each kept step sees
  exactly the frames it sees in the whole clip: conv outputs are exact. The sequence encoder is
  not local: a window keeps only its central steps and throws away `context` frames' worth of
  steps at each inner edge, which the BiLSTM uses to warm its state up (forward direction from
  the left, backward from the right). An LSTM forgets its initial state within a few dozen steps,
  so with the default context (128 frames ≈ 5 s each side) the stitched posteriors match the
  whole-clip ones to ~1e-5 after training; it is an approximation, exact only when one window
  holds the clip. A Transformer encoder also sees window-relative positions, so keep its windows
  near the clip lengths it was trained on.

Time spans: the decoded glosses are CTC-force-aligned (`signkd.alignment`) to the stitched
log-probabilities; output step t covers the kept frames [t*S + o, (t+1)*S + o) with
o = (R - S) / 2 - left (R = receptive field, left = the temporal padding's left copies: o = 0
with `vac` padding; `signkd.temporal.TemporalSpec.step_start`), i.e. the middle of what it sees, and frame k (after the frame interval)
starts at k * interval / fps seconds.
"""
from __future__ import annotations

import glob as globlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np
import torch

from signkd.errors import CheckpointError, DataError, SignkdError

DEFAULT_FPS = 25.0          # PHOENIX frame rate; frame folders carry no rate of their own
DEFAULT_WINDOW = 1024       # frames per temporal window (after the frame interval)
DEFAULT_CONTEXT = 128       # frames of sequence context kept on each inner window edge
DEFAULT_CNN_CHUNK = 32      # frames per frame-CNN call


# --------------------------------------------------------------------------------------------
# Inputs: video files, frame folders, globs
# --------------------------------------------------------------------------------------------

@dataclass
class ClipSource:
    """One clip to recognise: a video file, or an ordered list of frame image files."""
    name: str
    video: Optional[Path] = None
    images: list[Path] = field(default_factory=list)


def _is_image(path: Path) -> bool:
    from signkd.data.video import IMAGE_SUFFIXES
    return path.suffix.lower() in IMAGE_SUFFIXES


def _is_video(path: Path) -> bool:
    from signkd.data.video import VIDEO_SUFFIXES
    return path.suffix.lower() in VIDEO_SUFFIXES


def _folder_source(folder: Path) -> ClipSource:
    """A folder of frames (the first image suffix present, natural order), or a folder holding
    exactly one video file (the synthetic corpus's mp4 layout)."""
    from signkd.data.video import IMAGE_SUFFIXES, frame_files

    for suffix in IMAGE_SUFFIXES:
        for pattern in (f"*{suffix}", f"*{suffix.upper()}"):
            if any(folder.glob(pattern)):
                return ClipSource(str(folder), images=frame_files(folder, pattern))
    videos = sorted(p for p in folder.iterdir() if p.is_file() and _is_video(p))
    if len(videos) == 1:
        return ClipSource(str(folder), video=videos[0])
    raise DataError(f"{folder}: no frame images ({', '.join(IMAGE_SUFFIXES)}) and not exactly one video file")


def resolve_inputs(inputs: Sequence[str]) -> list[ClipSource]:
    """INPUT arguments -> clips. Each is a video file, a frame folder or a (quoted) glob of
    frame images. Image files given one by one (a glob the shell expanded) are taken, in natural
    order, as the frames of one clip, so `recognize ckpt frames/*.png` does what it looks like."""
    from signkd.data.video import natural_key

    clips: list[ClipSource] = []
    loose: list[Path] = []

    def flush() -> None:
        if loose:
            name = str(loose[0].parent / "*") if len({p.parent for p in loose}) == 1 else str(loose[0])
            clips.append(ClipSource(name, images=sorted(loose, key=natural_key)))
            loose.clear()

    for text in inputs:
        path = Path(text)
        if any(ch in text for ch in "*?["):
            flush()
            files = sorted((Path(p) for p in globlib.glob(text, recursive=True)), key=natural_key)
            images = [p for p in files if p.is_file() and _is_image(p)]
            if not images:
                raise DataError(f"{text}: the glob matches no frame images")
            clips.append(ClipSource(text, images=images))
        elif path.is_dir():
            flush()
            clips.append(_folder_source(path))
        elif path.is_file() and _is_image(path):
            loose.append(path)
        elif path.is_file():
            flush()
            clips.append(ClipSource(text, video=path))   # any other file: let the decoder judge
        else:
            raise DataError(f"{text}: no such video file, frame folder or glob")
    flush()
    return clips


class FrameReader:
    """Streams a clip's raw frames as (H, W, 3) uint8 RGB, one at a time, so a long video is
    never held in memory. Decoding mirrors `signkd.data.video.read_video_file` (PyAV, first video
    stream, rgb24; tests check both give the same frames) and `read_image` for images."""

    def __init__(self, source: ClipSource, default_fps: float = DEFAULT_FPS):
        self.source = source
        self.fps = float(default_fps)
        self.frames_read = 0
        self._container = None
        if source.video is not None:
            self._open_video(source.video)

    def _open_video(self, path: Path) -> None:
        import av

        try:
            self._container = av.open(str(path))
            stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError, UnicodeDecodeError) as exc:
            self.close()
            reason = "no video stream" if isinstance(exc, IndexError) else str(exc).splitlines()[0][:120]
            raise DataError(f"{path}: cannot decode video ({reason})") from None
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        if rate and float(rate) > 0:
            self.fps = float(rate)
        self._stream = stream

    def __iter__(self) -> Iterator[np.ndarray]:
        from signkd.data.video import read_image

        if self.source.video is None:
            for path in self.source.images:
                self.frames_read += 1
                yield read_image(path)
            return
        import av

        try:
            for frame in self._container.decode(self._stream):
                self.frames_read += 1
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise DataError(f"{self.source.video}: cannot decode video ({str(exc).splitlines()[0][:120]})") from None
        finally:
            self.close()
        if self.frames_read == 0:
            raise DataError(f"{self.source.video}: video has no frames")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


# --------------------------------------------------------------------------------------------
# Preprocessing, exactly as stored in the checkpoint
# --------------------------------------------------------------------------------------------

@dataclass
class Preprocessing:
    """What training did to every eval frame (checkpoint ``preprocessing``): resize (0 = keep),
    keep_aspect, centre crop (0 = none), mean/std in [0, 1] units, keep every n-th frame."""
    resize: int = 0
    keep_aspect: bool = False
    crop: int = 0
    mean: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    frame_interval: int = 1
    frame_size: Optional[list] = None   # [H, W] training read, when it did not resize (resize 0)

    @classmethod
    def from_checkpoint(cls, stored: dict, cfg) -> "Preprocessing":
        from signkd.data.preprocessing import preprocessing_of

        stored = stored or preprocessing_of(cfg)   # older files: same function on its config
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in stored.items() if k in names})

    def transform(self):
        """The eval ClipTransform: uint8 (T, H, W, 3) -> normalised (T, 3, h, w)."""
        from signkd.config import AugmentConfig
        from signkd.data.augment import ClipTransform

        augment = AugmentConfig(resize=self.resize, keep_aspect=self.keep_aspect, crop=self.crop,
                                mean=list(self.mean), std=list(self.std))
        return ClipTransform(augment, train=False)

    def frame_chunks(self, frames: Iterable[np.ndarray], chunk: int, where: str = "clip") -> Iterator[torch.Tensor]:
        """Raw frames -> normalised (n <= chunk, 3, h, w) tensors, keeping every n-th frame."""

        transform, buf = self.transform(), []
        for i, frame in enumerate(frames):
            if i % self.frame_interval:
                continue
            buf.append(self.fit(frame))
            if len(buf) == chunk:
                yield transform(_stack(buf, where))
                buf = []
        if buf:
            yield transform(_stack(buf, where))


    def fit(self, frame: np.ndarray) -> np.ndarray:
        """One raw frame at the size training saw: its resize, or -- when training kept its frames'
        own size -- the recorded training frame size (a 640 x 480 video centre-cropped to a
        32-pixel crop would show the model a sliver)."""
        from signkd.data.video import resize_frame

        if self.resize or not self.frame_size:
            return resize_frame(frame, self.resize, self.keep_aspect)
        h, w = self.frame_size
        if frame.shape[:2] == (h, w):
            return frame
        from PIL import Image

        return np.asarray(Image.fromarray(frame).resize((w, h), Image.LANCZOS))


def _stack(frames: list[np.ndarray], where: str) -> np.ndarray:
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise DataError(f"{where}: frames of different sizes {sorted(shapes)} after this checkpoint's resize; "
                        "one clip needs one frame size")
    return np.stack(frames)


# --------------------------------------------------------------------------------------------
# Windowed temporal model with stitching
# --------------------------------------------------------------------------------------------

@dataclass
class WindowPlan:
    """Windows of `window` frames whose starts are `step` frames apart (a multiple of the stride
    S), so neighbours share `window - step` frames; each keeps its output steps except
    `context_steps` at every inner edge."""
    window: int
    step: int
    context_steps: int
    stride: int


def plan_windows(window: int, context: int, stride: int, output_length: Callable[[int], int]) -> WindowPlan:
    """Context is given in frames and turned into whole output steps; it shrinks (to what fits)
    when the window is too small to keep at least one step besides it."""
    out = output_length(window)
    if out < 1:
        raise SignkdError(f"--window: {window} frames give no output step; this model needs more frames per window")
    steps = min(max(0, math.ceil(context / stride)), (out - 1) // 2)
    return WindowPlan(window, (out - 2 * steps) * stride, steps, stride)


def stitch_windows(features: Iterable[torch.Tensor], run: Callable[[torch.Tensor], dict],
                   output_length: Callable[[int], int], plan: WindowPlan, where: str = "clip") -> dict[str, torch.Tensor]:
    """Stream per-frame features (chunks of (n, D)) through `run` over overlapping windows.

    run((1, n, D)) -> {name: (n', X)} for n' = output_length(n) steps. Returns {name: (T', X)}
    with T' = output_length(total frames), the same length as one whole-clip call. Window k
    starts at frame k * step, so its step j is whole-clip step k * step / S + j."""
    buf: Optional[torch.Tensor] = None        # (n, D) frames not yet fully used
    start = 0                                 # whole-clip index of buf[0]
    kept = 0                                  # next whole-clip step to fill
    pieces: dict[str, list[torch.Tensor]] = {}

    def take(chunk: torch.Tensor, last: bool) -> None:
        nonlocal kept
        out = run(chunk[None])
        first = start // plan.stride
        n_out = next(iter(out.values())).shape[0]
        hi = first + n_out if last else first + n_out - plan.context_steps
        for name, value in out.items():
            pieces.setdefault(name, []).append(value[kept - first: hi - first])
        kept = hi

    for chunk in features:
        buf = chunk if buf is None else torch.cat([buf, chunk])
        while buf.shape[0] > plan.window:     # more frames follow this window: not the last one
            take(buf[: plan.window], last=False)
            buf = buf[plan.step:]
            start += plan.step
    total = output_length(start + (0 if buf is None else buf.shape[0]))
    if buf is None or total < 1:
        raise DataError(f"{where}: {start + (0 if buf is None else buf.shape[0])} frames (after the frame interval) "
                        f"are too short for this model's temporal conv")
    take(buf, last=True)
    result = {name: torch.cat(parts) for name, parts in pieces.items()}
    assert kept == total, (kept, total)       # the stitching covered every step exactly once
    return result


# --------------------------------------------------------------------------------------------
# Loading a student checkpoint
# --------------------------------------------------------------------------------------------

@dataclass
class StudentBundle:
    student: torch.nn.Module      # SLRStudent or SLTStudent, eval mode
    cfg: object                   # signkd.config.Config of the run
    gloss_vocab: object
    word_vocab: object
    preprocessing: Preprocessing
    max_lengths: dict

    @property
    def is_slt(self) -> bool:
        from signkd.models.recognizer import SLTStudent
        return isinstance(self.student, SLTStudent)

    @property
    def encoder(self):
        """The SLR part (frame CNN, temporal conv, sequence encoder, classifiers)."""
        return self.student.encoder if self.is_slt else self.student


def load_student(path: str | Path, device: str | torch.device = "cpu") -> StudentBundle:
    """A signkd checkpoint -> its student, config, vocabularies and preprocessing.
    CheckpointError (one line) for files that are not signkd checkpoints or hold no student."""
    from signkd.checkpoint import Checkpoint
    from signkd.models.parts import model_parts
    from signkd.restore import restore

    ckpt = Checkpoint.read(path)
    cfg = ckpt.run_config()
    if not cfg.model.student or not any(k.startswith("student.") for k in ckpt.model):
        present = model_parts(cfg).teachers
        what = f"a teacher checkpoint ({', '.join(present)})" if present else "a checkpoint without a student"
        raise CheckpointError(f"{path}: {what}; recognize/translate/export need a student checkpoint "
                              "(a run with model.student: true)")
    if cfg.model.task == "slt" and not ckpt.vocab.get("word"):
        raise CheckpointError(f"{path}: an SLT student checkpoint without its word vocabulary")
    restored = restore(ckpt, cfg=cfg, device=device, modules=("student",))
    return StudentBundle(restored.system.student, restored.cfg, restored.vocabs.gloss, restored.vocabs.word,
                         Preprocessing.from_checkpoint(ckpt.preprocessing, restored.cfg),
                         dict(ckpt.preprocessing.get("max_lengths") or {}))


# --------------------------------------------------------------------------------------------
# Recognition
# --------------------------------------------------------------------------------------------

@dataclass
class GlossSpan:
    gloss: str
    start: float     # seconds
    end: float       # seconds


@dataclass
class Recognition:
    """One clip's result; `to_dict` is the --json schema (docs/inference.md)."""
    input: str
    frames: int                      # source frames decoded (before the frame interval)
    fps: float                       # source frame rate used for the time spans
    duration: float                  # frames / fps, seconds
    glosses: list[GlossSpan]
    translation: Optional[str] = None
    steps: int = 0                   # output steps T' (for diagnostics)
    log_probs: Optional[torch.Tensor] = field(default=None, repr=False)   # (T', C) sequence log-probs

    @property
    def gloss_sequence(self) -> list[str]:
        return [g.gloss for g in self.glosses]

    def to_dict(self) -> dict:
        return {"input": self.input, "frames": self.frames, "fps": round(self.fps, 6),
                "duration": round(self.duration, 4),
                "glosses": [{**asdict(g), "start": round(g.start, 3), "end": round(g.end, 3)} for g in self.glosses],
                "translation": self.translation}


class Recognizer:
    """A student checkpoint ready to read videos. ``beam``: CTC beam width (1 = greedy best
    path; None = the checkpoint's eval.ctc_decoder / eval.beam_width, i.e. what `signkd test`
    does). ``window`` / ``context``: frames per temporal window and of sequence context per
    inner edge (see the module docstring); ``window=0`` = the whole clip in one call.
    ``precision="bf16"`` runs the frame CNN (almost all the compute) under bfloat16 autocast,
    which CPUs with AMX / AVX512-BF16 run up to ~2x faster; posteriors then differ slightly from
    fp32 (bfloat16 keeps 8 mantissa bits), so a hypothesis can rarely differ from `signkd test`. ``engine="onnxruntime"``
    runs the frame CNN through ONNX Runtime instead (exported in memory at start-up; 1.2-2x
    faster than PyTorch fp32 on our CPU, same numbers to ~1e-5); the rest stays in PyTorch."""

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

    @torch.no_grad()
    def translate_features(self, features: torch.Tensor) -> str:
        """(T', H) stitched sequence features -> sentence, as `signkd test` decodes it."""
        from signkd import decoding

        b, ev = self.bundle, self.bundle.cfg.eval
        student, vocab = b.student, b.word_vocab
        longest = b.max_lengths.get("words", 30)
        max_len = max(2, int(round(ev.max_output_factor * longest)))
        memories = (features[None].to(self.device), torch.tensor([features.shape[0]], device=self.device))
        if ev.translation_beam <= 1:
            ids = decoding.seq2seq_greedy(student.decode_step, memories, 1, vocab.bos, vocab.eos, max_len)
        else:
            ids = decoding.seq2seq_beam_search(student.decode_step, memories, 1, vocab.bos, vocab.eos, max_len,
                                               beam_size=ev.translation_beam, alpha=ev.length_penalty)
        return vocab.decode(ids[0])

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
        spans = [GlossSpan(self.bundle.gloss_vocab.decode([i])[0], max(0.0, min(a, duration)), max(0.0, min(e, duration)))
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
