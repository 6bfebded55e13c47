"""Checkpoints: exact resume, atomic writes, weights_only loading, `init:` prefixes, and one-line
errors for checkpoints that do not fit."""
from __future__ import annotations

import os
import pickle

import pytest
import torch
from torch import nn

from conftest import TINY_CONFIG, tiny_overrides
from signkd.cli import main as cli_main
from signkd.config import load_config
from signkd.errors import CheckpointError
from signkd import checkpoint as ckpt_io

FAST = ["train.max_steps_per_epoch=3", "train.test_at_end=false"]


def _train(corpus, work, *extra, resume=False):
    from signkd.training.trainer import Trainer

    cfg = load_config(TINY_CONFIG, tiny_overrides(corpus, work, *FAST, *extra))
    trainer = Trainer(cfg, resume=resume, log_file=False)
    trainer.fit()
    return trainer


def _assert_same_tensors(a: dict, b: dict, what: str):
    assert a.keys() == b.keys(), what
    for k in a:
        assert torch.equal(a[k], b[k]), f"{what}: {k} differs"


def test_resume_is_bit_identical(tiny_corpus, tmp_path, monkeypatch):
    from signkd.training.trainer import Trainer

    _train(tiny_corpus, tmp_path / "straight", "train.epochs=2")
    # the same run, interrupted in the middle of epoch 2 (after its first optimizer step) ...
    real_step, calls = Trainer._optimizer_step, {"n": 0}

    def step_then_interrupt(self, params):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        real_step(self, params)

    monkeypatch.setattr(Trainer, "_optimizer_step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_corpus, tmp_path / "resumed", "train.epochs=2")
    monkeypatch.undo()
    assert ckpt_io.load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 1
    # ... then resumed: whatever state the new process starts in must not matter
    torch.manual_seed(12345)
    torch.rand(7)
    _train(tiny_corpus, tmp_path / "resumed", "train.epochs=2", resume=True)
    a = ckpt_io.load_checkpoint(tmp_path / "straight" / "last.pt")
    b = ckpt_io.load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    _assert_same_tensors(a["model"], b["model"], "model")
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        _assert_same_tensors(sa, sb, "optimizer state")
    assert a["scheduler"] == b["scheduler"]
    assert a["trainer"]["history"][-1]["train"]["loss"] == b["trainer"]["history"][-1]["train"]["loss"]
    # the checkpoint is self-contained and loads with weights_only=True
    assert {"model", "optimizer", "scheduler", "rng", "config", "vocab", "preprocessing", "metrics"} <= set(a)
    assert a["vocab"]["gloss"]["glosses"] and a["config"]["data"]["root"] == str(tiny_corpus)


def test_resume_without_last_checkpoint_says_so(tiny_corpus, tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        _train(tiny_corpus, tmp_path / "empty", resume=True)


def test_checkpoint_from_a_different_model_fails_with_one_line(tiny_corpus, tmp_path, capsys):
    _train(tiny_corpus, tmp_path / "bilstm", "train.epochs=1", "train.max_steps_per_epoch=1")
    best = tmp_path / "bilstm" / "best.pt"
    args = ["test", str(TINY_CONFIG), "--load-weights", str(best), "--set", f"data.root={tiny_corpus}",
            "--set", f"work_dir={tmp_path / 'eval'}", "--set", "model.sequence.kind=transformer"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "model.sequence.kind is 'bilstm' in the checkpoint but 'transformer' here" in err[0]
    assert "missing key" in err[0] and "unexpected key" in err[0]
    # a file that is no checkpoint at all
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    args[3] = str(junk)
    assert cli_main(args) == 2
    assert "not a readable PyTorch checkpoint" in capsys.readouterr().err


def test_disk_full_while_saving_keeps_the_old_file_and_leaves_no_partial_one(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "last.pt"
    ckpt_io.save_checkpoint(path, {"epoch": 1, "model": {"w": torch.ones(2)}})

    def disk_full(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match=r"last\.pt: cannot write the checkpoint \(No space left on device\)"):
        ckpt_io.save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(2)}})
    monkeypatch.undo()
    assert ckpt_io.load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_unwritable_checkpoint_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CheckpointError, match="cannot write the checkpoint"):
        ckpt_io.save_checkpoint(blocker / "last.pt", {"epoch": 1, "model": {"w": torch.ones(2)}})


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_arbitrary_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="SIGNKD_TRUST_CHECKPOINTS"):
        ckpt_io.load_checkpoint(path)


def test_rng_round_trip():
    import random

    import numpy as np

    state = ckpt_io.capture_rng()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    ckpt_io.restore_rng(pickle.loads(pickle.dumps(state)))
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and (expected[1] == got[1]).all() and expected[2] == got[2]


class _Toy(nn.Module):
    def __init__(self, width=3, extra=False):
        super().__init__()
        self.student = nn.Sequential(nn.Linear(2, width), nn.Linear(width, 2))
        self.teacher = nn.Linear(2, 2)
        if extra:
            self.student.add_module("head", nn.Linear(2, 2))


def test_init_prefix_loading_strict_report_and_renaming():
    src = _Toy()
    dst = _Toy()
    rep = ckpt_io.load_prefix(dst, src.state_dict(), prefix="student.", where="init[0]")
    assert rep["loaded"] == 4 and not rep["missing"] and not rep["unexpected"]
    assert torch.equal(dst.student[0].weight, src.student[0].weight)
    assert not torch.equal(dst.teacher.weight, src.teacher.weight)        # only the prefix moved
    # renaming a prefix: the source's teacher into the destination's student head
    bigger = _Toy(extra=True)
    rep = ckpt_io.load_prefix(bigger, src.state_dict(), prefix="student.head.", source_prefix="teacher.", where="x")
    assert torch.equal(bigger.student.head.weight, src.teacher.weight)
    # strict: a key the checkpoint lacks is an error naming it; non-strict reports it
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\), e.g. student.head.weight|2 missing"):
        ckpt_io.load_prefix(_Toy(extra=True), src.state_dict(), prefix="student.", where="init[1]")
    rep = ckpt_io.load_prefix(_Toy(extra=True), src.state_dict(), prefix="student.", strict=False, where="init[1]")
    assert sorted(rep["missing"]) == ["student.head.bias", "student.head.weight"]
    # shapes never load silently, and prefixes that match nothing are named
    with pytest.raises(CheckpointError, match="shape mismatch"):
        ckpt_io.load_prefix(_Toy(width=5), src.state_dict(), prefix="student.", strict=False, where="init[2]")
    with pytest.raises(CheckpointError, match="no entry under 'decoder.'"):
        ckpt_io.load_prefix(_Toy(), src.state_dict(), prefix="student.", source_prefix="decoder.", where="init[3]")
    with pytest.raises(CheckpointError, match="matches no parameter"):
        ckpt_io.load_prefix(_Toy(), src.state_dict(), prefix="gloss2text.", where="init[4]")


def test_slr_student_checkpoint_initialises_the_slt_encoder(tiny_corpus, tmp_path):
    _train(tiny_corpus, tmp_path / "slr", "train.epochs=1", "train.max_steps_per_epoch=1")
    from signkd.training.trainer import Trainer

    slr = ckpt_io.load_checkpoint(tmp_path / "slr" / "best.pt")["model"]
    cfg = load_config(TINY_CONFIG, tiny_overrides(
        tiny_corpus, tmp_path / "slt", *FAST, "model.task=slt", "loss.weights={TranslationCrossEntropy: 1.0}",
        f"train.init=[{{checkpoint: {tmp_path / 'slr' / 'best.pt'}, prefix: student.encoder., source_prefix: student.}}]"))
    trainer = Trainer(cfg, log_file=False)
    own = trainer.system.state_dict()
    for key, value in slr.items():
        assert torch.equal(own["student.encoder." + key[len("student."):]], value), key


def test_teacher_from_its_own_run_loads_with_its_tokenizer_and_vocabulary(tiny_corpus, tmp_path):
    from signkd.training.trainer import Trainer

    _train(tiny_corpus, tmp_path / "teacher", "train.epochs=1", "train.max_steps_per_epoch=1", "model.student=false",
           "model.dialogue_teacher=true", "loss.weights={DialogueCTC: 1.0}", "train.stages=[{train: [dialogue_teacher]}]",
           "data.tokenizer_vocab_size=150")
    teacher = ckpt_io.load_checkpoint(tmp_path / "teacher" / "best.pt")
    init = f"train.init=[{{checkpoint: {tmp_path / 'teacher' / 'best.pt'}, prefix: dialogue_teacher.}}]"
    overrides = tiny_overrides(tiny_corpus, tmp_path / "student", *FAST, "model.dialogue_teacher=true", init,
                               "loss.weights={SeqCTCSign: 1.0, DistFusion2SLR: 1.0}",
                               "train.stages=[{train: [student], frozen: [dialogue_teacher]}]")
    trainer = Trainer(load_config(TINY_CONFIG, overrides), log_file=False)
    own = trainer.system.state_dict()
    for key, value in teacher["model"].items():
        assert torch.equal(own[key], value), key
    # the student run did not train a WordPiece of its own (150 here vs 200 in tiny.yaml): same BERT ids
    assert trainer.data.vocabs.tokenizer_files.keys() == teacher["vocab"]["tokenizer"].keys()
    for name, blob in teacher["vocab"]["tokenizer"].items():
        assert torch.equal(trainer.data.vocabs.tokenizer_files[name], blob), name
    # a teacher trained with other gloss ids is refused, naming the difference
    teacher["vocab"]["gloss"]["glosses"] = sorted(teacher["vocab"]["gloss"]["glosses"] + ["ZZZ-EXTRA"])
    ckpt_io.save_checkpoint(tmp_path / "other.pt", {k: v for k, v in teacher.items() if k not in ("format", "version")})
    bad = [o.replace(str(tmp_path / "teacher" / "best.pt"), str(tmp_path / "other.pt")) for o in overrides]
    bad.append(f"work_dir={tmp_path / 'student-other'}")   # the first student's run holds its folder
    with pytest.raises(CheckpointError, match="gloss vocabulary differs.*'ZZZ-EXTRA'"):
        Trainer(load_config(TINY_CONFIG, bad), log_file=False)


def test_a_checkpoint_saved_before_temporal_padding_existed_restores_without_it(tmp_path):
    """Its stored config has no model.visual.temporal_pad: that run did not pad, so neither does any
    command that restores it, whatever the default or a given config says."""
    from signkd.restore import restore
    from signkd.training.run_dir import config_changes
    from test_inference import write_student_checkpoint

    path = write_student_checkpoint(tmp_path / "student.pt")
    raw = ckpt_io.load_checkpoint(path)
    assert raw["config"]["model"]["visual"]["temporal_pad"] == "vac"
    restored = restore(path)
    assert restored.system.student.front.pad.mode == "vac"
    old = dict(raw["config"])
    old["model"] = dict(old["model"], visual={k: v for k, v in old["model"]["visual"].items()
                                             if not k.startswith("temporal_pad")})
    ckpt_io.save_checkpoint(tmp_path / "old.pt", {**{k: v for k, v in raw.items() if k not in ("format", "version")},
                                                  "config": old})
    for cfg in (None, load_config(TINY_CONFIG)):
        restored = restore(tmp_path / "old.pt", cfg=cfg)
        assert restored.cfg.model.visual.temporal_pad == "none" and restored.system.student.front.pad.mode == "none"
    changes = config_changes(old, raw["config"])       # resuming it with today's default is a change
    assert ("model.visual.temporal_pad", "none", "vac") in changes


def test_test_resume_and_init_restore_offline_without_the_pretrained_weights_they_overwrite(tiny_corpus, tmp_path):
    """A run that loaded a BERT (model.text.pretrained) and ImageNet-style ResNet18 weights
    (model.visual.pretrained) by name; then the names stop resolving (offline, another machine).
    `signkd test`, --resume and train.init of whole modules rebuild from the checkpoint alone, the
    BERT in the checkpoint's geometry (4 heads here, where model.text.heads says 2)."""
    import shutil

    from transformers import BertConfig, BertModel

    from signkd.models.visual import ResNet18
    from signkd.checkpoint import Checkpoint
    from signkd.restore import restore
    from signkd.training.testing import run_test
    from signkd.training.trainer import Trainer

    bert, resnet = tmp_path / "bert", tmp_path / "resnet18.pth"
    BertModel(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                         max_position_embeddings=64), add_pooling_layer=False).save_pretrained(bert)
    torch.save(ResNet18().state_dict(), resnet)
    model = ["model.dialogue_teacher=true", "model.visual.backbone=resnet18", "model.text.layers=1",
             "loss.weights={ConvCTCSign: 1.0, SeqCTCSign: 1.0, DialogueCTC: 1.0}",
             "train.stages=[{train: [student, dialogue_teacher]}]"]

    def config(work, *extra, text=str(bert), visual=str(resnet)):
        return load_config(TINY_CONFIG, tiny_overrides(tiny_corpus, work, *FAST, "train.max_steps_per_epoch=1",
                                                        "train.epochs=1", *model, f"model.text.pretrained={text}",
                                                        f"model.visual.pretrained={visual}", *extra))

    with Trainer(config(tmp_path / "run"), log_file=False) as trained:
        trained.fit()
    last = tmp_path / "run" / "last.pt"
    stored = Checkpoint.read(last).architecture["dialogue_teacher.text_encoder."]
    assert (stored["num_attention_heads"], stored["num_hidden_layers"], stored["hidden_size"]) == (4, 1, 32)
    shutil.rmtree(bert)
    resnet.unlink()

    gone = {"text": "/nonexistent/bert", "visual": "/nonexistent.pth"}
    restored = restore(last, cfg=config(tmp_path / "t", **gone))                    # what `signkd test` builds
    assert restored.system.dialogue_teacher.text_encoder.bert.config.num_attention_heads == 4
    _assert_same_tensors(restored.system.state_dict(), Checkpoint.read(last).model, "restored")
    assert "wer" in run_test(config(tmp_path / "t", **gone), last, work_dir=tmp_path / "t", splits=("dev",),
                             log=lambda m: None)["dev"]

    with Trainer(config(tmp_path / "run", "train.epochs=2"), resume=True, log_file=False) as resumed:   # same names
        resumed.fit()
    assert resumed.state.epoch == 2

    init = f"train.init=[{{checkpoint: {last}, prefix: student.}}, {{checkpoint: {last}, prefix: dialogue_teacher.}}]"
    with Trainer(config(tmp_path / "init", init, **gone), log_file=False) as seeded:
        pass
    assert seeded.system.dialogue_teacher.text_encoder.bert.config.num_attention_heads == 4
    # an init that leaves the text encoder to the pretrained BERT still needs it, and says so
    partial = (f"train.init=[{{checkpoint: {last}, prefix: student.}}, "
               f"{{checkpoint: {last}, prefix: dialogue_teacher.sign_encoder.}}]")
    with pytest.raises(Exception, match="model.text.pretrained: cannot load BERT '/nonexistent/bert'"):
        Trainer(config(tmp_path / "partial", partial, **gone), log_file=False)
