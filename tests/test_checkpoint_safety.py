"""Hostile and damaged checkpoints, and a run that is killed between any two of its writes.

A checkpoint may come from anywhere (a colleague, a model zoo): it must not write outside its
place, and every command that reads one goes through the same typed `Checkpoint` and `restore()`,
so each check here guards them all. The run's own files must survive a kill at any moment:
resuming gives the same weights and metrics as a run that was never interrupted.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, TINY_CONFIG, random_clip, tiny_overrides, write_frames
from signkd.cli import main as cli_main
from signkd.config import load_config
from signkd.errors import CheckpointError, TrainingDiverged
from signkd import checkpoint as ckpt_io
from signkd.checkpoint import Checkpoint

FAST = ["train.max_steps_per_epoch=3", "train.test_at_end=false"]
TEACHER = ["model.student=false", "model.dialogue_teacher=true", "loss.weights={DialogueCTC: 1.0}",
           "train.stages=[{train: [dialogue_teacher]}]"]


def _train(corpus, work, *extra, resume=False, force=False):
    from signkd.training.trainer import Trainer

    cfg = load_config(TINY_CONFIG, tiny_overrides(corpus, work, *FAST, *extra))
    trainer = Trainer(cfg, resume=resume, log_file=False, force=force)
    return trainer, trainer.fit()


@pytest.fixture(scope="module")
def teacher_ckpt(tiny_corpus, tmp_path_factory) -> Path:
    """A trained dialogue teacher: its checkpoint carries the WordPiece tokenizer files."""
    work = tmp_path_factory.mktemp("teacher")
    _train(tiny_corpus, work, "train.epochs=1", *TEACHER)
    return work / "last.pt"


def _doctored(src: Path, dst: Path, **changes) -> Path:
    raw = ckpt_io.load_checkpoint(src)
    for dotted, value in changes.items():
        node, *path, key = [raw, *dotted.split("__")]
        for part in path:
            node = node[part]
        if value is _DELETE:
            del node[key]
        else:
            node[key] = value
    torch.save(raw, dst)
    return dst


_DELETE = object()


def _blob(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(text.encode()), dtype=torch.uint8).clone()


@pytest.mark.parametrize("name", ["../escaped.pth", "/tmp/signkd-escaped-absolute.pth", "sub/vocab.txt",
                                  "evil.pth"])
def test_a_tokenizer_file_name_from_a_checkpoint_never_becomes_a_path(teacher_ckpt, tiny_corpus, tmp_path, name):
    from signkd.restore import restore

    files = dict(ckpt_io.load_checkpoint(teacher_ckpt)["vocab"]["tokenizer"])
    files[name] = _blob("import os; os.system('touch /tmp/signkd-pwned')\n")
    bad = _doctored(teacher_ckpt, tmp_path / "bad.pt", vocab__tokenizer=files)
    work = tmp_path / "work"
    with pytest.raises(CheckpointError, match=r"holds a file named .*only vocab\.txt"):
        restore(bad, work_dir=work)
    # every entry point reads it through the same check
    cfg_args = [str(TINY_CONFIG), "--set", f"data.root={tiny_corpus}", *sum((["--set", o] for o in TEACHER), [])]
    assert cli_main(["test", *cfg_args, "--load-weights", str(bad), "--work-dir", str(work)]) == 2
    assert cli_main(["train", *cfg_args, "--load-weights", str(bad), "--work-dir", str(tmp_path / "w2"),
                     "--set", "train.epochs=1"]) == 2
    written = [p for p in (tmp_path / "escaped.pth", Path("/tmp/signkd-escaped-absolute.pth"),
                           Path("/tmp/signkd-pwned"), work / "tokenizer" / "evil.pth", work / "escaped.pth")
               if p.exists()]
    assert written == []


def test_a_train_init_of_a_text_teacher_checks_the_tokenizer_files_too(teacher_ckpt, tiny_corpus, tmp_path):
    files = dict(ckpt_io.load_checkpoint(teacher_ckpt)["vocab"]["tokenizer"])
    files["../../escaped.pth"] = _blob("x")
    bad = _doctored(teacher_ckpt, tmp_path / "bad.pt", vocab__tokenizer=files)
    cfg = load_config(TINY_CONFIG, tiny_overrides(tiny_corpus, tmp_path / "student", *FAST, "train.epochs=1",
                                                  "model.dialogue_teacher=true",
                                                  f"train.init=[{{checkpoint: {bad}, prefix: dialogue_teacher.}}]"))
    from signkd.training.trainer import Trainer

    with pytest.raises(CheckpointError, match="escaped.pth"):
        Trainer(cfg, log_file=False)
    assert not (tmp_path / "escaped.pth").exists() and not (tmp_path.parent / "escaped.pth").exists()


def test_a_tokenizer_config_asking_for_custom_code_is_refused(teacher_ckpt, tmp_path):
    from signkd.data.vocab import Vocabs

    files = dict(ckpt_io.load_checkpoint(teacher_ckpt)["vocab"]["tokenizer"])
    conf = json.loads(bytes(files["tokenizer_config.json"].tolist()).decode())
    conf["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    files["tokenizer_config.json"] = _blob(json.dumps(conf))
    state = dict(ckpt_io.load_checkpoint(teacher_ckpt)["vocab"], tokenizer=files)
    with pytest.raises(CheckpointError, match="custom tokenizer class"):
        Vocabs.from_state(state, tmp_path)


def test_a_stored_tokenizer_restores_into_the_work_dir_without_stale_files(teacher_ckpt, tmp_path):
    from signkd.data.vocab import Vocabs

    stale = tmp_path / "tokenizer" / "special_tokens_map.json"
    stale.parent.mkdir()
    stale.write_text("{broken")
    state = ckpt_io.load_checkpoint(teacher_ckpt)["vocab"]
    vocabs = Vocabs.from_state(state, tmp_path)
    assert sorted(p.name for p in (tmp_path / "tokenizer").iterdir()) == sorted(state["tokenizer"])
    assert vocabs.tokenizer("Guten Morgen")["input_ids"]


@pytest.mark.parametrize("change, message", [
    ({"vocab": _DELETE}, "field 'vocab' missing"),
    ({"epoch": _DELETE}, "field 'epoch' missing"),
    ({"epoch": "3"}, "field 'epoch' missing or not a non-negative integer"),
    ({"model": {"w": [1, 2]}}, "field 'model' missing or not a state dict"),
    ({"vocab__gloss": _DELETE}, "holds no gloss vocabulary"),
    ({"version": 99}, "format version 99"),
])
def test_a_checkpoint_missing_a_field_is_one_line_for_every_command(teacher_ckpt, tmp_path, capsys, change, message):
    bad = _doctored(teacher_ckpt, tmp_path / "bad.pt", **change)
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.read(bad)
    clip = write_frames(tmp_path / "clip", random_clip(20, 32, 32))
    for args in (["recognize", str(bad), str(clip)], ["export", str(bad), "--onnx", str(tmp_path / "x.onnx")]):
        assert cli_main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, err


def test_an_empty_or_torn_checkpoint_is_one_line(teacher_ckpt, tmp_path, capsys):
    clip = write_frames(tmp_path / "clip", random_clip(20, 32, 32))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    torn = tmp_path / "torn.pt"
    torn.write_bytes(teacher_ckpt.read_bytes()[:5000])
    for path, message in ((empty, "empty file (0 bytes)"), (torn, "not a readable PyTorch checkpoint")):
        assert cli_main(["recognize", str(path), str(clip)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, err


def test_a_student_checkpoint_of_a_teacher_run_is_refused_by_recognize(teacher_ckpt, tmp_path, capsys):
    clip = write_frames(tmp_path / "clip", random_clip(20, 32, 32))
    assert cli_main(["recognize", str(teacher_ckpt), str(clip)]) == 2
    assert "a teacher checkpoint (dialogue_teacher)" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# A diverged run stops, keeping the last good checkpoint
# --------------------------------------------------------------------------------------------

def test_a_diverged_run_stops_after_consecutive_non_finite_batches(tiny_corpus, tmp_path, monkeypatch):
    from signkd.models.system import SignKDSystem

    real = SignKDSystem.losses
    epochs_seen = []

    def nan_from_epoch_2(self, batch, weights, frozen=()):
        terms = real(self, batch, weights, frozen=frozen)
        if len(epochs_seen) > 0:
            terms["total"] = terms["total"] * float("nan")
        return terms

    from signkd.training.trainer import Trainer

    real_epoch = Trainer.train_epoch

    def count_epochs(self, epoch):
        out = real_epoch(self, epoch)
        epochs_seen.append(epoch)
        return out

    monkeypatch.setattr(SignKDSystem, "losses", nan_from_epoch_2)
    monkeypatch.setattr(Trainer, "train_epoch", count_epochs)
    with pytest.raises(TrainingDiverged, match=r"3 consecutive batches with a non-finite loss in epoch 2 "
                                               r"\(train.max_nonfinite_batches=3\)"):
        _train(tiny_corpus, tmp_path, "train.epochs=3", "train.max_nonfinite_batches=3",
               "train.max_steps_per_epoch=5")
    last = Checkpoint.read(tmp_path / "last.pt")
    assert last.epoch == 1
    assert all(bool(torch.isfinite(v).all()) for v in last.model.values() if v.is_floating_point())


def test_non_finite_weights_are_never_checkpointed(tiny_corpus, tmp_path, monkeypatch):
    from signkd.training.trainer import Trainer

    real_step = Trainer._optimizer_step

    def poison_in_epoch_2(self, params):
        real_step(self, params)
        if self.state.epoch == 1:
            with torch.no_grad():
                params[0].fill_(float("inf"))

    monkeypatch.setattr(Trainer, "_optimizer_step", poison_in_epoch_2)
    with pytest.raises(TrainingDiverged, match="is not finite after epoch 2; stopped without saving it"):
        _train(tiny_corpus, tmp_path, "train.epochs=2", "train.max_nonfinite_batches=0")
    assert Checkpoint.read(tmp_path / "last.pt").epoch == 1


# --------------------------------------------------------------------------------------------
# Killed between any two writes, then resumed: the same result as never interrupted
# --------------------------------------------------------------------------------------------

KILL_RUN = ["train.epochs=2", "train.average_last=2", "train.max_steps_per_epoch=2", "train.test_at_end=true"]


class _Killed(BaseException):
    """Stands for a SIGKILL: nothing after the raise point runs (no handler catches BaseException)."""


def _outcome(work: Path) -> tuple[dict, dict]:
    metrics = json.loads((work / "metrics.json").read_text())
    keep = {k: metrics[k] for k in ("best_epoch", "best_score", "best_is_average_of")}
    keep["final"] = {s: metrics["final"][s] for s in ("dev", "test")}
    keep["history"] = [{"epoch": h["epoch"], "dev": h.get("dev")} for h in metrics["history"]]
    weights = {name: Checkpoint.read(work / name).model for name in ("last.pt", "best.pt")}
    return keep, weights


def _same_weights(a: dict, b: dict) -> bool:
    return all(a[f].keys() == b[f].keys() and all(torch.equal(a[f][k], b[f][k]) for k in a[f]) for f in a)


@pytest.fixture(scope="module")
def uninterrupted(tiny_corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("uninterrupted")
    _train(tiny_corpus, work, *KILL_RUN)
    return _outcome(work)


def _replaces(tiny_corpus, work) -> int:
    """How many files the uninterrupted run commits (each ends in an os.replace)."""
    calls = {"n": 0}
    real = os.replace

    def counting(a, b):
        calls["n"] += 1
        return real(a, b)

    os.replace = counting
    try:
        _train(tiny_corpus, work, *KILL_RUN)
    finally:
        os.replace = real
    return calls["n"]


def test_a_kill_before_any_commit_then_resume_gives_the_uninterrupted_result(tiny_corpus, tmp_path, uninterrupted):
    """Kill the run just before its k-th rename (every checkpoint, snapshot, best promotion and
    metrics file ends in one), for every k; resuming must give the same weights and metrics."""
    total = _replaces(tiny_corpus, tmp_path / "count")
    assert total >= 10   # 2 epochs x (last, metrics, snapshot) + best(s) + averaging + final
    real = os.replace
    for k in range(1, total + 1):
        work = tmp_path / f"kill-{k}"
        calls = {"n": 0}

        def kill_at_k(a, b):
            calls["n"] += 1
            if calls["n"] == k:
                raise _Killed
            return real(a, b)

        os.replace = kill_at_k
        try:
            with pytest.raises(_Killed):
                _train(tiny_corpus, work, *KILL_RUN)
        finally:
            os.replace = real
        if (work / "last.pt").is_file():
            _train(tiny_corpus, work, *KILL_RUN, resume=True)
        else:   # killed before the first epoch committed: the run starts over (its folder is not empty)
            _train(tiny_corpus, work, *KILL_RUN, force=True)
        metrics, weights = _outcome(work)
        assert metrics == uninterrupted[0], f"killed before rename {k}"
        assert _same_weights(weights, uninterrupted[1]), f"killed before rename {k}"
        assert not (work / "best.next.pt").exists()


def test_a_real_kill_between_last_and_best_then_resume(tiny_corpus, tmp_path, uninterrupted):
    """The same with a real process death (os._exit) right after last.pt commits epoch 1, before
    its better weights are promoted from best.next.pt to best.pt."""
    script = f"""
import os, sys
sys.path.insert(0, {str(REPO / 'tests')!r})
import signkd.checkpoint as ck
real = ck.save_checkpoint
def save(path, payload):
    out = real(path, payload)
    if str(path).endswith("last.pt") and payload["epoch"] == 1:
        os._exit(9)
    return out
ck.save_checkpoint = save
from signkd.cli import main
sys.exit(main(sys.argv[1:]))
"""
    args = ["train", str(TINY_CONFIG), "--work-dir", str(tmp_path),
            *sum((["--set", o] for o in tiny_overrides(tiny_corpus, tmp_path, *FAST, *KILL_RUN)), [])]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 9, done.stderr[-2000:]
    assert (tmp_path / "best.next.pt").is_file() and not (tmp_path / "best.pt").exists()
    assert Checkpoint.read(tmp_path / "last.pt").epoch == 1
    assert cli_main([*args, "--resume"]) == 0
    metrics, weights = _outcome(tmp_path)
    assert metrics == uninterrupted[0]
    assert _same_weights(weights, uninterrupted[1])


def test_resume_refuses_a_best_pt_that_is_not_the_recorded_best(tiny_corpus, tmp_path):
    _train(tiny_corpus, tmp_path, "train.epochs=1")
    recorded = Checkpoint.read(tmp_path / "last.pt").trainer["best_epoch"]
    _doctored(tmp_path / "best.pt", tmp_path / "best.pt", trainer__best_epoch=7)
    with pytest.raises(CheckpointError, match=rf"best\.pt: holds epoch 7 but .*last\.pt records epoch {recorded} "
                                              "as the best"):
        _train(tiny_corpus, tmp_path, "train.epochs=2", resume=True)
