"""The checkpoints a server holds: one `Recognizer` each, under a short name, with a queue that
lets one request at a time run the model and up to `queue` more wait (a model is a few hundred MB
of activations per request on real sizes; running requests side by side would only share the CPU
and multiply memory). Past that the request is answered "busy" at once instead of piling up."""
from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path

from signkd.errors import SignkdError
from signkd.inference import Recognition, Recognizer


class Busy(Exception):
    """The model is running a request and `queue` more are waiting."""


class ServedModel:
    def __init__(self, name: str, recognizer: Recognizer, checkpoint: str = "", queue: int = 4):
        if queue < 0:
            raise SignkdError(f"--queue: expected >= 0 waiting requests, got {queue}")
        self.name = name
        self.recognizer = recognizer
        self.checkpoint = checkpoint
        self.queue = queue
        self._run_lock = threading.Lock()      # held while the model runs
        self._count_lock = threading.Lock()
        self.pending = 0                       # running + waiting

    def admit(self) -> None:
        """Count a request in, or raise Busy when one runs and `queue` already wait."""
        with self._count_lock:
            if self.pending >= 1 + self.queue:
                raise Busy(f"model '{self.name}' is busy: one request running and {self.queue} waiting; "
                           "try again shortly")
            self.pending += 1

    def run(self, job):
        """Run `job(recognizer)` when the model is free (blocking; called in a worker thread),
        for a request that `admit` counted in."""
        try:
            with self._run_lock:
                return job(self.recognizer)
        finally:
            with self._count_lock:
                self.pending -= 1

    def describe(self) -> dict:
        """What GET /api/models lists."""
        bundle = self.recognizer.bundle
        return {"name": self.name, "task": "slt" if bundle.is_slt else "slr",
                "glosses": bundle.gloss_vocab.num_classes - 1,
                "words": len(bundle.word_vocab) if bundle.is_slt and bundle.word_vocab is not None else None,
                "preprocessing": asdict(bundle.preprocessing),
                "frame_archive_fps": self.recognizer.fps,   # the rate assumed for a zip of frames
                "checkpoint": Path(self.checkpoint).name if self.checkpoint else ""}

    def posterior(self, result: Recognition, top: int = 8) -> dict:
        """The clip's CTC posterior for the page's plot, kept small: the start time of every
        output step, the blank's probability per step and, for each recognised gloss, its
        probability per step ((T',) lists; the full (T', C) matrix would be C times bigger)."""
        if result.log_probs is None or not result.steps:
            return {"times": [], "step": 0.0, "blank": [], "glosses": {}}
        vocab = self.recognizer.bundle.gloss_vocab
        shown = list(dict.fromkeys(result.gloss_sequence))[:top]
        columns = [vocab.blank] + [vocab.encode([gloss])[0] for gloss in shown]
        probs = result.log_probs[:, columns].float().exp().T.tolist()    # (1 + glosses, T'): no (T', C) copy
        seconds = self.recognizer.bundle.preprocessing.frame_interval / result.fps
        spec = self.recognizer.temporal
        times = [round(max(0.0, spec.step_start(t) * seconds), 4) for t in range(result.log_probs.shape[0])]
        rounded = [[round(p, 4) for p in row] for row in probs]
        return {"times": times, "step": round(spec.stride * seconds, 4), "blank": rounded[0],
                "glosses": dict(zip(shown, rounded[1:]))}


def model_name(checkpoint: str) -> str:
    """A short name for a checkpoint path: its run folder for best.pt / last.pt, else its stem."""
    path = Path(checkpoint)
    return path.parent.name if path.stem in ("best", "last") and path.parent.name else path.stem


def load_models(specs: list[str], *, queue: int = 4, device: str = "cpu", **recognizer_options) -> list[ServedModel]:
    """CKPT or NAME=CKPT arguments -> loaded models (CheckpointError for a bad checkpoint;
    SignkdError when two get the same name)."""
    models: list[ServedModel] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or Path(spec).exists():
            name, path = model_name(spec), spec
        if not name or not path:
            raise SignkdError(f"{spec}: expected CKPT or NAME=CKPT")
        if any(m.name == name for m in models):
            raise SignkdError(f"{spec}: a second checkpoint named '{name}'; name them with NAME=CKPT")
        recognizer = Recognizer.from_checkpoint(path, device=device, **recognizer_options)
        models.append(ServedModel(name, recognizer, path, queue))
    return models
