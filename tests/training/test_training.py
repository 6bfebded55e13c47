"""The training engine on the tiny synthetic corpus: frozen modules stay bit-identical, stages and
loss schedules, NaN batches, optimisation options, an end-to-end run reproduced by `signkd test`,
and every shipped config."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import REPO, TINY_CONFIG, shipped_configs, tiny_overrides
from signkd.cli import main as cli_main
from signkd.config import ConfigError, OptimConfig, load_config
from signkd.training.data import train_loader
from signkd.training.optimizer import Schedule, build_optimizer, param_groups
from signkd.training.stages import active_weights, check_stages, stage_at
from signkd.training.trainer import Trainer

TEACHERS = ["model.dialogue_teacher=true", "model.text2gloss=true",
            "loss.weights={ConvCTCSign: 1, SeqCTCSign: 1, Dist: 1, DistFusion2SLR: 1, FeatureFusion2SLR: 1, "
            "DistTranslation2SLR: 1, FeatureTranslation2SLR: 1, TranslationToGlossCrossEntropy: 1, DialogueCTC: 1}"]


def _trainer(corpus, work, *extra):
    from signkd.training.trainer import Trainer

    cfg = load_config(TINY_CONFIG, tiny_overrides(corpus, work, "train.test_at_end=false", *extra))
    return Trainer(cfg, log_file=False)


def _snapshot(module: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict, after: dict) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_frozen_teachers_stay_bit_identical_and_the_student_moves(tiny_corpus, tmp_path):
    trainer = _trainer(tiny_corpus, tmp_path, *TEACHERS, "train.max_steps_per_epoch=3",
                       "train.stages=[{train: [student], frozen: [dialogue_teacher, text2gloss]}]")
    system = trainer.system
    before = {name: _snapshot(getattr(system, name)) for name in ("student", "dialogue_teacher", "text2gloss")}
    stats = trainer.train_epoch(0)
    assert stats["batches"] == 3 and stats["frozen"] == ["dialogue_teacher", "text2gloss"]
    # the distillation terms ran (so the teachers were used) but TranslationToGlossCrossEntropy and
    # DialogueCTC train frozen modules: they were not even computed
    assert {"DistFusion2SLR", "FeatureFusion2SLR", "DistTranslation2SLR", "FeatureTranslation2SLR"} <= set(stats)
    assert "TranslationToGlossCrossEntropy" not in stats and "DialogueCTC" not in stats
    for name in ("dialogue_teacher", "text2gloss"):     # parameters AND buffers (BatchNorm statistics)
        assert _changed(before[name], _snapshot(getattr(system, name))) == [], name
    moved = _changed(before["student"], _snapshot(system.student))
    params = [k for k, _ in system.student.named_parameters()]
    assert len([k for k in params if k in moved]) == len(params)   # every student parameter trained
    assert not system.dialogue_teacher.training and system.student.training


def test_stages_switch_what_trains(tiny_corpus, tmp_path):
    trainer = _trainer(tiny_corpus, tmp_path, "model.text2gloss=true", "train.max_steps_per_epoch=2",
                       "loss.weights={ConvCTCSign: 1, SeqCTCSign: 1, TranslationToGlossCrossEntropy: 1, "
                       "DistTranslation2SLR: {0: 0, 1: 1}}",
                       "train.stages=[{until_epoch: 1, train: [text2gloss], frozen: [student]}, "
                       "{train: [student], frozen: [text2gloss]}]")
    cfg, system = trainer.cfg, trainer.system
    assert active_weights(cfg, stage_at(cfg, 0), 0) == {"TranslationToGlossCrossEntropy": 1.0}
    assert active_weights(cfg, stage_at(cfg, 1), 1) == {"ConvCTCSign": 1.0, "SeqCTCSign": 1.0, "DistTranslation2SLR": 1.0}
    s0, t0 = _snapshot(system.student), _snapshot(system.text2gloss)
    trainer.train_epoch(0)
    s1, t1 = _snapshot(system.student), _snapshot(system.text2gloss)
    assert _changed(s0, s1) == [] and _changed(t0, t1)
    trainer.train_epoch(1)
    assert _changed(t1, _snapshot(system.text2gloss)) == [] and _changed(s1, _snapshot(system.student))


def test_nan_loss_batches_are_skipped_and_counted(tiny_corpus, tmp_path):
    trainer = _trainer(tiny_corpus, tmp_path, "train.max_steps_per_epoch=4")
    system = trainer.system
    real = system.losses
    calls = {"n": 0}

    def flaky(batch, weights, frozen=()):
        out = real(batch, weights, frozen=frozen)
        calls["n"] += 1
        if calls["n"] % 2 == 1:  # every other batch
            out["total"] = out["total"] * float("nan")
        return out

    system.losses = flaky
    before = _snapshot(system.student)
    stats = trainer.train_epoch(0)
    assert stats["nan_skipped"] == 2 and stats["batches"] == 2 and trainer.state.global_step == 2
    assert all(torch.isfinite(v).all() for v in _snapshot(system.student).values() if v.is_floating_point())
    assert _changed(before, _snapshot(system.student))


def test_end_to_end_loss_decreases_and_signkd_test_reproduces_dev(tiny_corpus, tiny_trained, tmp_path):
    work = tiny_trained                                   # `signkd train` of tiny.yaml, 24 epochs (conftest)
    metrics = json.loads((work / "metrics.json").read_text())
    losses = [r["train"]["loss"] for r in metrics["history"]]
    assert losses[-1] < 0.7 * losses[0], losses
    best = metrics["best_score"]
    assert best < 100.0, [r["dev"]["wer"] for r in metrics["history"] if "dev" in r]
    final = metrics["final"]
    assert final["dev"]["wer"] == best and "test" in final
    # the run names the machine that measured it: the same seed gives other numbers on other CPU kernels
    machine = metrics["machine"]
    assert machine["device"] == "cpu" and machine["torch"] == torch.__version__
    assert torch.backends.cpu.get_cpu_capability() in machine["cpu"]
    for name in ("best.pt", "last.pt", "report.md", "curves.png", "config.yaml", "hypotheses/best-dev.ctm",
                 "hypotheses/final-test.ctm", "hypotheses/final-dev.glosses.txt"):
        assert (work / name).is_file(), name
    assert f"| dev | {best:.2f} |" in (work / "report.md").read_text()
    assert cli_main(["test", str(TINY_CONFIG), "--load-weights", str(work / "best.pt"), "--set",
                     f"data.root={tiny_corpus}", "--work-dir", str(tmp_path / "eval")]) == 0
    scored = json.loads((tmp_path / "eval" / "test_metrics.json").read_text())
    recorded = next(r["dev"] for r in metrics["history"] if r["epoch"] == metrics["best_epoch"])
    for key in ("wer", "sub", "del", "ins", "ref_words"):
        assert scored["dev"][key] == recorded[key], key
    assert scored["test"]["wer"] == final["test"]["wer"]
    # the original's habit: train --phase test --load-weights does the same
    assert cli_main(["train", str(TINY_CONFIG), "--phase", "test", "--load-weights", str(work / "best.pt"),
                     "--set", f"data.root={tiny_corpus}", "--work-dir", str(tmp_path / "eval2")]) == 0
    again = json.loads((tmp_path / "eval2" / "test_metrics.json").read_text())
    assert again["dev"]["wer"] == scored["dev"]["wer"]


# ------------------------------------------------------------------------ optimisation (no data)

class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = nn.Linear(3, 3)
        self.dialogue_teacher = nn.ModuleDict({"text": nn.Linear(3, 3), "fusion": nn.Linear(3, 3)})


def test_lr_multipliers_group_by_longest_prefix():
    groups = param_groups(_Net(), 1e-3, {"dialogue_teacher": 0.1, "dialogue_teacher.text": 0.001})
    by_factor = {g["lr_factor"]: (g["lr"], g["names"]) for g in groups}
    assert by_factor[1.0][1] == ["student.weight", "student.bias"]
    assert by_factor[0.1][1] == ["dialogue_teacher.fusion.weight", "dialogue_teacher.fusion.bias"]
    assert by_factor[0.001] == (pytest.approx(1e-6), ["dialogue_teacher.text.weight", "dialogue_teacher.text.bias"])
    with pytest.raises(ConfigError, match="lr_multipliers.dialog: matches no parameter"):
        param_groups(_Net(), 1e-3, {"dialog": 0.1})


def test_schedules_multistep_and_cosine_with_warmup():
    net = _Net()
    opt = build_optimizer(net, OptimConfig(lr=1.0, milestones=[2, 3], gamma=0.2))
    sched = Schedule(opt, OptimConfig(lr=1.0, milestones=[2, 3], gamma=0.2), epochs=4, steps_per_epoch=5)
    lrs = []
    for _ in range(4):
        lrs.append(sched.lr())
        opt.step()
        sched.after_epoch()
    assert lrs == pytest.approx([1.0, 1.0, 0.2, 0.04])
    cfg = OptimConfig(lr=1.0, scheduler="cosine", warmup_epochs=1)
    opt = build_optimizer(net, cfg)
    sched = Schedule(opt, cfg, epochs=3, steps_per_epoch=2)
    lrs = []
    for _ in range(6):
        lrs.append(sched.lr())
        opt.step()
        sched.after_step()
    assert lrs[:2] == pytest.approx([0.5, 1.0])                # linear warm-up over one epoch
    assert lrs[2] == pytest.approx(1.0) and lrs[2] > lrs[3] > lrs[4] > lrs[5] > 0  # then cosine decay


def test_every_shipped_config_loads_and_its_stages_are_consistent():
    configs = shipped_configs()
    assert len(configs) >= 25
    for path in configs:
        cfg = load_config(path)
        check_stages(cfg)
        for stage in cfg.train.stages:
            assert stage.train, path


def test_inconsistent_stages_fail_with_the_key():
    cfg = load_config(TINY_CONFIG, ["train.stages=[{train: [text2gloss]}]"])
    with pytest.raises(ConfigError, match=r"train.stages\[0\].train: 'text2gloss' is not part of this model"):
        check_stages(cfg)
    cfg = load_config(TINY_CONFIG, ["model.text2gloss=true", "train.stages=[{train: [text2gloss]}]"])
    with pytest.raises(ConfigError, match=r"no loss term with a non-zero weight trains text2gloss"):
        check_stages(cfg)


def test_a_schedule_that_zeroes_every_term_mid_stage_fails_at_config_time_naming_the_epoch():
    """Epochs 3 and 4 of the one stage have no non-zero term: backward() would fail there, mid-run."""
    cfg = load_config(TINY_CONFIG, ["train.epochs=8", "loss.weights={ConvCTCSign: {0: 1.0, 3: 0.0}, "
                                    "SeqCTCSign: {0: 1.0, 3: 0.0}, Dist: {0: 1.0, 3: 0.0, 5: 1.0}}"])
    with pytest.raises(ConfigError, match=r"train.stages\[0\]: no loss term with a non-zero weight trains student "
                                          r"at epoch 3 \(stage 0: epochs 0-7"):
        check_stages(cfg)
    check_stages(load_config(TINY_CONFIG, ["train.epochs=8", "loss.weights={ConvCTCSign: {0: 1.0, 3: 0.0}, "
                                           "SeqCTCSign: 1.0}"]))


def test_slr_three_stage_schedule_of_the_original():
    cfg = load_config(REPO / "configs" / "dialogue_phoenix" / "student_slr_2teacher_bilstm.yaml")
    expect = {0: ({"TranslationToGlossCrossEntropy"}, ["text2gloss"]),
              35: ({"TranslationToGlossCrossEntropy", "ConvCTCSign", "SeqCTCSign", "Dist", "DistFusion2SLR",
                    "FeatureFusion2SLR"}, ["text2gloss", "student"]),
              45: ({"ConvCTCSign", "SeqCTCSign", "Dist", "DistFusion2SLR", "FeatureFusion2SLR", "DistTranslation2SLR",
                    "FeatureTranslation2SLR"}, ["student"])}
    for epoch, (terms, trained) in expect.items():
        stage = stage_at(cfg, epoch)
        assert set(active_weights(cfg, stage, epoch)) == terms, epoch
        assert stage.train == trained
        assert "dialogue_teacher" in stage.frozen



@pytest.mark.parametrize("kind, overrides, metric", [
    ("text2gloss", ["model.student=false", "model.text2gloss=true",
                    "loss.weights={TranslationToGlossCrossEntropy: 1}", "train.stages=[{train: [text2gloss]}]"], "wer"),
    ("gloss2text", ["model.task=slt", "model.student=false", "model.gloss2text=true",
                    "loss.weights={TranslationToGlossCrossEntropy: 1}", "train.stages=[{train: [gloss2text]}]"], "bleu4"),
])
def test_text_teachers_train_and_are_scored_without_video(tiny_corpus, tmp_path, kind, overrides, metric):
    trainer = _trainer(tiny_corpus, tmp_path, "train.epochs=1", "train.max_steps_per_epoch=3", *overrides)
    assert trainer.data.datasets["train"].frame_source is None      # annotation-only: no frame is read
    result = trainer.fit()
    assert result["select"] == metric and result["best_epoch"] == 1
    dev = json.loads((tmp_path / "metrics.json").read_text())["history"][0]["dev"]
    assert metric in dev and dev["utterances" if metric == "wer" else "bleu4"] is not None
    expected = "glosses.txt" if metric == "wer" else "translations.txt"
    assert (tmp_path / "hypotheses" / f"best-dev.{expected}").is_file()


def test_a_frozen_student_is_not_scored_and_slt_selects_on_bleu(tiny_corpus, tmp_path):
    trainer = _trainer(tiny_corpus, tmp_path, "train.epochs=2", "train.max_steps_per_epoch=2", "model.task=slt",
                       "model.gloss2text=true",
                       "loss.weights={SeqCTCSign: 1, TranslationCrossEntropy: 1, TranslationToGlossCrossEntropy: 1}",
                       "train.stages=[{until_epoch: 1, train: [gloss2text], frozen: [student]}, "
                       "{train: [student], frozen: [gloss2text]}]")
    result = trainer.fit()
    history = trainer.state.history
    assert "dev" not in history[0] and "bleu4" in history[1]["dev"] and "wer" in history[1]["dev"]
    assert result["select"] == "bleu4" and result["best_epoch"] == 2


def test_gradient_accumulation_steps_once_per_group(tiny_corpus, tmp_path):
    trainer = _trainer(tiny_corpus, tmp_path, "train.max_steps_per_epoch=2", "train.optim.accumulate=3",
                       "data.batch_size=2", "train.optim.grad_clip=0.5")
    assert trainer.steps_per_epoch == 2
    stats = trainer.train_epoch(0)
    assert stats["batches"] == 6 and trainer.state.global_step == 2


def test_checkpoint_averaging_scores_the_mean_of_the_last_epochs(tiny_corpus, tmp_path):
    from signkd import checkpoint as ckpt_io

    trainer = _trainer(tiny_corpus, tmp_path, "train.epochs=3", "train.max_steps_per_epoch=2", "train.average_last=2")
    result = trainer.fit()
    snaps = sorted((tmp_path / "snapshots").glob("epoch-*.pt"))
    assert [p.name for p in snaps] == ["epoch-002.pt", "epoch-003.pt"]          # only the last N are kept
    states = [ckpt_io.load_checkpoint(p)["model"] for p in snaps]
    key = next(k for k, v in states[0].items() if torch.is_floating_point(v) and not torch.equal(v, states[1][k]))
    mean = (states[0][key].double() + states[1][key].double()).div(2).to(states[0][key].dtype)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["average"]["epochs"] == [2, 3] and "wer" in metrics["average"]["dev"]
    best = ckpt_io.load_checkpoint(tmp_path / "best.pt")
    if metrics["best_is_average_of"]:        # the average won on dev: best.pt holds exactly the mean
        assert result["averaged"] == [2, 3] and torch.equal(best["model"][key], mean)
        assert best["metrics"]["dev"]["wer"] == metrics["average"]["dev"]["wer"] == result["best_score"]
    else:                                    # it lost: best.pt is an ordinary epoch, not the mean
        assert not torch.equal(best["model"][key], mean)
        assert metrics["average"]["dev"]["wer"] >= result["best_score"]


def test_signkd_test_ensembles_text_teacher_checkpoints(tiny_corpus, tmp_path):
    from signkd.errors import CheckpointError
    from signkd.training.testing import run_test

    g2t = ["model.task=slt", "model.student=false", "model.gloss2text=true",
           "loss.weights={TranslationToGlossCrossEntropy: 1}", "train.stages=[{train: [gloss2text]}]",
           "train.epochs=1", "train.max_steps_per_epoch=3"]
    for seed in (0, 1):
        _trainer(tiny_corpus, tmp_path / f"s{seed}", f"train.seed={seed}", *g2t).fit()
    cfg = _trainer(tiny_corpus, tmp_path / "x", *g2t).cfg
    one = run_test(cfg, tmp_path / "s0" / "best.pt", work_dir=tmp_path / "t1", splits=("dev",), log=lambda m: None)
    twice = run_test(cfg, tmp_path / "s0" / "best.pt", work_dir=tmp_path / "t2", splits=("dev",), log=lambda m: None,
                     ensemble=[tmp_path / "s0" / "best.pt"])
    hyps = lambda d: sorted((d / "hypotheses").glob("*translations.txt"))[0].read_text()  # noqa: E731
    assert hyps(tmp_path / "t1") == hyps(tmp_path / "t2") and one["dev"]["bleu4"] == twice["dev"]["bleu4"]
    mixed = run_test(cfg, tmp_path / "s0" / "best.pt", work_dir=tmp_path / "t3", splits=("dev",), log=lambda m: None,
                     ensemble=[tmp_path / "s1" / "best.pt"])
    assert mixed["ensemble"] == [str(tmp_path / "s0" / "best.pt"), str(tmp_path / "s1" / "best.pt")]
    assert "bleu4" in mixed["dev"]
    slr = _trainer(tiny_corpus, tmp_path / "slr", "train.epochs=1", "train.max_steps_per_epoch=1")
    slr.fit()
    with pytest.raises(CheckpointError, match="only the text teachers"):
        run_test(slr.cfg, tmp_path / "slr" / "best.pt", work_dir=tmp_path / "t4", splits=("dev",), log=lambda m: None,
                 ensemble=[tmp_path / "slr" / "best.pt"])


def test_signkd_test_tunes_decoding_on_dev_and_scores_test_with_the_choice(tiny_corpus, tmp_path):
    """`signkd test --tune`: each setting scored on dev, the best decodes test, exactly as a plain
    `signkd test` with that setting would; test never chooses."""
    from signkd.config import ConfigError
    from signkd.training.testing import run_test

    g2t = ["model.task=slt", "model.student=false", "model.gloss2text=true",
           "loss.weights={TranslationToGlossCrossEntropy: 1}", "train.stages=[{train: [gloss2text]}]",
           "train.epochs=2", "train.max_steps_per_epoch=4"]
    trainer = _trainer(tiny_corpus, tmp_path / "run", *g2t)
    trainer.fit()
    best = tmp_path / "run" / "best.pt"
    grid = [{"eval.translation_beam": 1}, {"eval.translation_beam": 3, "eval.length_penalty": 2.0},
            {"eval.translation_beam": 3, "eval.length_penalty": 0.5}]
    tuned = run_test(trainer.cfg, best, work_dir=tmp_path / "tuned", log=lambda m: None, tune=grid,
                     tune_metric="rouge_l")
    tried = tuned["tuning"]["tried"]
    assert [t["setting"] for t in tried] == grid and tuned["tuning"]["metric"] == "rouge_l"
    winner = max(tried, key=lambda t: t["dev"]["rouge_l"])      # the first of equals, as is_better keeps it
    assert tuned["tuning"]["chosen"] == winner["setting"] and tuned["dev"] == winner["dev"]
    fixed = _trainer(tiny_corpus, tmp_path / "fixed", *g2t,
                     *[f"{k}={v}" for k, v in winner["setting"].items()]).cfg
    plain = run_test(fixed, best, work_dir=tmp_path / "plain", log=lambda m: None)
    assert plain["test"] == tuned["test"] and plain["dev"] == tuned["dev"]
    written = json.loads((tmp_path / "tuned" / "test_metrics.json").read_text())
    assert written["tuning"]["chosen"] == winner["setting"]
    with pytest.raises(ConfigError, match="only decoding settings"):
        run_test(trainer.cfg, best, work_dir=tmp_path / "bad", log=lambda m: None, tune=[{"train.seed": 3}])


@pytest.mark.parametrize("bf16", [True, False])
def test_cpu_bf16_autocasts_the_training_forward_only(tiny_corpus, tmp_path, bf16):
    """train.cpu_bf16: training matmuls in bfloat16, weights/optimizer in float32, dev scored in float32."""
    trainer = _trainer(tiny_corpus, tmp_path, "train.epochs=1", "train.max_steps_per_epoch=2", "model.task=slt",
                       "model.student=false", "model.gloss2text=true", f"train.cpu_bf16={str(bf16).lower()}",
                       "loss.weights={TranslationToGlossCrossEntropy: 1}", "train.stages=[{train: [gloss2text]}]")
    seen = {True: set(), False: set()}         # module.training -> output dtypes of every Linear
    for m in trainer.system.gloss2text.modules():
        if isinstance(m, nn.Linear):
            m.register_forward_hook(lambda mod, args, out: seen[mod.training].add(out.dtype))
    result = trainer.fit()
    assert seen[True] == {torch.bfloat16 if bf16 else torch.float32}
    assert seen[False] == {torch.float32}
    assert all(p.dtype == torch.float32 for p in trainer.system.parameters())
    assert torch.isfinite(torch.tensor(trainer.state.history[0]["train"]["loss"]))
    assert result["best_epoch"] == 1


def test_cpu_bf16_without_bf16_units_says_it_is_slower(tiny_corpus, tmp_path, monkeypatch, capsys):
    from signkd.training import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda: False)
    _trainer(tiny_corpus, tmp_path, "train.cpu_bf16=true")
    assert "train.cpu_bf16: this CPU has no bfloat16 units" in capsys.readouterr().out
    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda: True)
    _trainer(tiny_corpus, tmp_path / "other", "train.cpu_bf16=true")
    assert "bfloat16 units" not in capsys.readouterr().out


def test_cpu_bf16_auto_follows_the_cpu_and_says_what_it_chose(tiny_corpus, tmp_path, monkeypatch, capsys):
    from signkd.training import trainer as trainer_module

    for units, work in ((False, tmp_path / "no"), (True, tmp_path / "yes")):
        monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda units=units: units)
        assert _trainer(tiny_corpus, work, "train.cpu_bf16=auto").cpu_bf16 is units
        out = capsys.readouterr().out
        assert f"train.cpu_bf16: auto -> {'bfloat16' if units else 'float32'} training" in out
    assert _trainer(tiny_corpus, tmp_path / "off", "train.cpu_bf16=false").cpu_bf16 is False
    with pytest.raises(ConfigError, match="train.cpu_bf16: expected bool or"):
        load_config(TINY_CONFIG, ["train.cpu_bf16=sometimes"])


def test_no_shipped_config_forces_bfloat16_on_every_cpu():
    """A recipe must not be 14x slower on a CPU without bfloat16 units: `auto`, never `true`."""
    for path in shipped_configs():
        assert load_config(path).train.cpu_bf16 in (False, "auto"), path


@pytest.mark.parametrize("pad", ["vac", "none"])
def test_a_dev_clip_shorter_than_the_receptive_field_is_scored_not_dropped_and_never_stops_evaluation(
        tiny_corpus, tmp_path, pad):
    """5 frames against K5-P2-K5's receptive field of 14: with VAC's edge padding the clip gives
    ceil(5 / 2) = 3 steps and is decoded; without it, it is scored as an empty hypothesis."""
    import shutil

    corpus = Path(shutil.copytree(tiny_corpus, tmp_path / "corpus"))
    dev = sorted((corpus / "features" / "fullFrame-32x32px" / "dev").iterdir())[0]
    for frame in sorted(dev.glob("*.png"))[5:]:
        frame.unlink()
    cfg = load_config(TINY_CONFIG, tiny_overrides(corpus, tmp_path / "run", "train.test_at_end=false", "train.epochs=1",
                                                  "train.max_steps_per_epoch=2", f"model.visual.temporal_pad={pad}"))
    trainer = Trainer(cfg, log_file=False)
    trainer.fit()
    metrics = trainer.state.history[0]["dev"]
    assert metrics["utterances"] == len(trainer.data.samples["dev"])           # every dev clip is scored
    assert metrics.get("too_short", 0) == (1 if pad == "none" else 0)
    assert ("too short for one step" in trainer.evaluator.summary(metrics)) == (pad == "none")
    hyps = (tmp_path / "run" / "hypotheses" / "dev.glosses.txt").read_text()
    assert f"{dev.name}\n  REF: " in hyps


def test_a_removed_dialogue_context_reaches_the_teacher_as_an_empty_turn(tiny_corpus, tmp_path):
    """data.dialogue_context: removed (the controls' switch): every dialogue turn is read as
    [CLS] [SEP], the vocabularies stay those of the given text, and the teacher's output changes."""
    from signkd.training.data import build_data

    given = load_config(TINY_CONFIG, tiny_overrides(tiny_corpus, tmp_path / "a", *TEACHERS))
    removed = load_config(TINY_CONFIG, tiny_overrides(tiny_corpus, tmp_path / "b", *TEACHERS,
                                                      "data.dialogue_context=removed"))
    a = build_data(given, tmp_path / "a", roles=("train", "dev"), log=lambda m: None)
    b = build_data(removed, tmp_path / "b", roles=("train", "dev"), vocabs=a.vocabs, log=lambda m: None)
    empty = list(a.vocabs.tokenizer("")["input_ids"])
    for role in ("train", "dev"):
        assert all(item.ctx == empty for item in b.datasets[role].items)
        assert any(item.ctx != empty for item in a.datasets[role].items)
        assert [i.trans for i in a.datasets[role].items] == [i.trans for i in b.datasets[role].items]
    with pytest.raises(ConfigError, match="data.dialogue_context"):
        load_config(TINY_CONFIG, tiny_overrides(tiny_corpus, tmp_path / "c", "data.dialogue_context=none"))


@pytest.mark.parametrize("every, drawn", [(1e9, [1, 3]), (0.0, [1, 2, 3, 3])])
def test_curves_are_redrawn_at_most_every_interval_and_always_at_the_end(tiny_corpus, tmp_path, monkeypatch,
                                                                        every, drawn):
    import signkd.training.report as report
    import signkd.training.trainer as trainer_module

    calls = []
    monkeypatch.setattr(report, "write_curves", lambda history, path: calls.append(len(history)))
    monkeypatch.setattr(trainer_module, "CURVES_EVERY_S", every)
    with _trainer(tiny_corpus, tmp_path, "train.epochs=3", "train.max_steps_per_epoch=1") as trainer:
        trainer.fit()
    assert calls == drawn       # the first epoch's, then when due, and the whole run's at the end
    assert json.loads((tmp_path / "metrics.json").read_text())["history"][-1]["epoch"] == 3


def test_a_video_translator_in_gloss2texts_place_teaches_the_slt_student_word_by_word(tiny_corpus, tmp_path):
    """The SLT control's teacher: a frozen, video-only translator (an SLT student's architecture)
    gives the word-level terms their targets instead of Gloss2Text, and stays bit-identical."""
    trainer = _trainer(tiny_corpus, tmp_path, "train.max_steps_per_epoch=2", "model.task=slt",
                       "model.video_translator=true",
                       "loss.weights={SeqCTCSign: 1, TranslationCrossEntropy: 1, DistTranslation2SLR: 1, "
                       "FeatureTranslation2SLR: 1}",
                       "train.stages=[{train: [student], frozen: [video_translator]}]")
    system = trainer.system
    assert system.gloss2text is None and type(system.video_translator) is type(system.student)
    before, student = _snapshot(system.video_translator), _snapshot(system.student)
    stats = trainer.train_epoch(0)
    assert stats["DistTranslation2SLR"] > 0 and stats["FeatureTranslation2SLR"] > 0
    assert _changed(before, _snapshot(system.video_translator)) == []
    assert _changed(student, _snapshot(system.student))
    # a teacher that is the student itself (same weights, both in eval mode) has nothing to teach
    system.video_translator.load_state_dict(system.student.state_dict())
    system.eval()
    batch = next(iter(train_loader(trainer.data.datasets["train"], trainer.cfg, trainer.dist, 0)))
    with torch.no_grad():
        terms = system.losses(batch, {"DistTranslation2SLR": 1.0}, frozen={"video_translator"})
    assert float(terms["DistTranslation2SLR"]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("overrides, message", [
    (["model.video_translator=true"], "needs model.task: slt"),
    (["model.task=slt", "model.video_translator=true", "model.gloss2text=true"], "set model.gloss2text: false"),
])
def test_a_video_translator_needs_an_slt_student_and_no_gloss2text(tiny_corpus, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=f"model.video_translator: .*{message}"):
        load_config(TINY_CONFIG, tiny_overrides(tiny_corpus, tmp_path, *overrides))
