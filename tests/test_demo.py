"""`signkd demo` on the tiny preset: every stage runs from the shipped configs, teachers feed the
distilled students through `train.init`, and report.md copies its numbers from each metrics.json."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO
from signkd.config import to_dict
from signkd.demo import pipeline_file, run_demo
from signkd.demo_report import _minutes
from signkd.demo_stages import CONTROLS, DEMO_STAGE_KEYS, PAIRS, SLT_CONTROLS, STAGE_KEYS, STAGES
from signkd.loss_terms import TEACHER_TERMS
from signkd.pipeline import load_pipeline, resolve

# every stage that another one loads, plus the two students that load them
SMOKE_STAGES = ["dialogue_teacher", "text2gloss", "slr_baseline", "slr_distilled", "gloss2text", "slt_distilled"]


def stage_config(key: str, out: Path, *, seed: int, preset: str = "demo"):
    """The Config stage `key` trains with in a demo in folder `out` (as `signkd demo` runs it)."""
    run = resolve(load_pipeline(pipeline_file(preset)), out, [f"train.seed={seed}"])[key]
    assert not run.problems, run.problems
    return run.cfg


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("demo")
    timings = run_demo(preset="tiny", out=out, seed=0, stages=SMOKE_STAGES, threads=1, log=lambda m: None)
    return out, timings


def _table(report: str) -> dict[str, list[str]]:
    """{stage title: [dev WER, test WER, dev BLEU-4, test BLEU-4, dev ROUGE-L, test ROUGE-L, time]}"""
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0].isdigit():
            rows[cells[1]] = cells[2:]
    return rows


def test_report_numbers_come_from_each_runs_metrics(demo_dir):
    out, _ = demo_dir
    report = (out / "report.md").read_text(encoding="utf-8")
    table = _table(report)
    shown = [st for st in STAGES if st.role != "control"]    # no control was trained: none is shown
    assert len(table) == len(shown)
    keys = [("dev", "wer"), ("test", "wer"), ("dev", "bleu4"), ("test", "bleu4"), ("dev", "rouge_l"), ("test", "rouge_l")]
    checked = 0
    for stage in shown:
        cells = table[stage.title]
        metrics_path = out / stage.key / "metrics.json"
        if stage.key not in SMOKE_STAGES:
            assert not metrics_path.exists() and cells[:6] == ["-"] * 6
            continue
        final = json.loads(metrics_path.read_text(encoding="utf-8"))["final"]
        for (split, key), cell in zip(keys, cells):
            value = final[split].get(key)
            assert cell == ("-" if value is None else f"{value:.2f}"), (stage.key, split, key)
            checked += value is not None
    assert checked >= 2 * len(SMOKE_STAGES)   # every stage has a WER or BLEU on dev and test
    record = json.loads((out / "pipeline.json").read_text(encoding="utf-8"))["stages"]
    for stage in shown:   # the time column: each stage's time as the runner recorded it
        seconds = record[stage.key]["seconds"] if stage.key in SMOKE_STAGES else None
        assert table[stage.title][6] == _minutes(seconds), stage.key
    ratio = re.search(r"\(Transformer student\): [0-9.]+ / [0-9.]+ = \*\*([0-9.]+)\*\*", report)
    base = json.loads((out / "slr_baseline" / "metrics.json").read_text())["final"]["test"]["wer"]
    dist = json.loads((out / "slr_distilled" / "metrics.json").read_text())["final"]["test"]["wer"]
    assert ratio and abs(float(ratio.group(1)) - dist / base) < 1e-3
    # the report names the CPU kernels that measured it (other kernels, other numbers for the same seed)
    assert f"torch kernels {torch.backends.cpu.get_cpu_capability()}" in report


def test_controls_and_figures(demo_dir):
    out, _ = demo_dir
    analysis = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    for key in ("dialogue_teacher", "dialogue_teacher_no_text"):
        assert set(analysis[key]) == {"dev", "test"}
        assert analysis[key]["test"]["wer"] >= 0
    assert analysis["has_segments"], "the synthetic corpus should record each gloss's true frames"
    share = analysis["dialogue_teacher"]["test"]["spike_share"]
    assert share is None or 0.0 <= share <= 100.0
    teacher = analysis["dialogue_teacher"]["test"]
    assert teacher["confusable_refs"] > 0 and 0 <= teacher["twin_swaps"] <= teacher["confusable_refs"]
    assert "read as their twin" in (out / "report.md").read_text(encoding="utf-8")
    for name in ("curves.png", "posteriors.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_report_says_through_which_terms_each_student_learns_from_its_teachers(demo_dir, tmp_path):
    """The BiLSTM and Transformer students take different teacher terms: the report names them from each run."""
    from signkd.demo_report import _weight, teacher_terms

    out, _ = demo_dir
    report = (out / "report.md").read_text(encoding="utf-8")
    for key in ("slr_distilled", "slt_distilled"):
        weights = stage_config(key, tmp_path, seed=0, preset="tiny").loss.weights
        shipped = {t: w for t, w in weights.items() if t in TEACHER_TERMS and w}
        assert shipped and teacher_terms(out / key) == shipped
        title = next(st.title for st in STAGES if st.key == key)
        line = next(ln for ln in report.splitlines() if ln.startswith(f'Teacher terms of "{title}"'))
        assert all(f"{t} {_weight(w)}" in line for t, w in shipped.items()), line
    assert teacher_terms(out / "slr_baseline") == {}
    assert teacher_terms(tmp_path / "no-such-run") is None
    run = tmp_path / "scheduled"
    run.mkdir()
    (run / "config.yaml").write_text("loss:\n  weights: {Dist: 1.0, DistFusion2SLR: {0: 10.0, 8: 0.0}, "
                                     "FeatureFusion2SLR: 0.0, FeatureTranslation2SLR: {0: 0.0}}\n", encoding="utf-8")
    assert teacher_terms(run) == {"DistFusion2SLR": {0: 10.0, 8: 0.0}}
    # a schedule's epochs as the training log counts them
    assert _weight({0: 10.0, 8: 0.0}) == "{from epoch 1: 10, from epoch 9: 0}" and _weight(2.5) == "2.5"


def test_teachers_reach_the_students_through_init(demo_dir):
    out, _ = demo_dir
    log = (out / "slr_distilled" / "train.log").read_text(encoding="utf-8")
    assert "init: dialogue_teacher." in log and "init: text2gloss." in log
    teacher = torch.load(out / "dialogue_teacher" / "best.pt", map_location="cpu", weights_only=True)["model"]
    student = torch.load(out / "slr_distilled" / "best.pt", map_location="cpu", weights_only=True)["model"]
    name = next(k for k in teacher if k.startswith("dialogue_teacher.") and k.endswith("weight"))
    assert torch.equal(teacher[name], student[name])   # frozen teacher, carried over unchanged


def test_second_run_keeps_up_to_date_stages(demo_dir):
    out, first = demo_dir
    again = run_demo(preset="tiny", out=out, seed=0, stages=SMOKE_STAGES, report=False, threads=1, log=lambda m: None)
    assert all(again[k]["cached"] for k in SMOKE_STAGES)
    assert all(again[k]["seconds"] == first[k]["seconds"] for k in SMOKE_STAGES)
    assert again["corpus"]["cached"]


def test_stage_configs_point_into_the_demo_folder(tmp_path):
    cfg = stage_config("slr_distilled", tmp_path / "x", seed=3)
    assert cfg.work_dir == str(tmp_path / "x" / "slr_distilled") and cfg.train.seed == 3
    assert cfg.data.root == str(tmp_path / "x" / "corpus")
    assert [i.checkpoint for i in cfg.train.init] == [str(tmp_path / "x" / "dialogue_teacher" / "best.pt"),
                                                      str(tmp_path / "x" / "text2gloss" / "best.pt")]


def _student_side(cfg) -> dict:
    """What the student sees and how it trains, teacher-only fields removed."""
    d = to_dict(cfg)
    for key in ("name", "work_dir"):
        d.pop(key)
    d["data"].pop("tokenizer")
    d["data"].pop("dialogue_context")      # what the teacher reads; the student reads no text
    for key in ("dialogue_teacher", "text2gloss", "gloss2text", "video_translator"):
        d["model"].pop(key)
    d["train"].pop("init")
    d["train"]["stages"] = [{k: v for k, v in s.items() if k != "frozen"} for s in d["train"]["stages"]]
    d["loss"]["weights"] = {k: v for k, v in d["loss"]["weights"].items() if k not in TEACHER_TERMS}
    return d


@pytest.mark.parametrize("baseline,distilled", [("slr_baseline", "slr_distilled"), ("slr_baseline_bilstm", "slr_distilled_bilstm"),
                                                ("slt_baseline", "slt_distilled"),
                                                ("slt_baseline", "slt_control_video_translator")]
                         + [(base, control) for base, control, _, _ in CONTROLS])
def test_distilled_student_differs_from_its_baseline_only_by_the_teachers(tmp_path, baseline, distilled):
    """A fair comparison: same student, data, augmentation, schedule and seed; only the teachers' terms differ."""
    a = _student_side(stage_config(baseline, tmp_path, seed=0))
    b = _student_side(stage_config(distilled, tmp_path, seed=0))
    a["train"].pop("select_metric", None), b["train"].pop("select_metric", None)
    a_init = [i for i in stage_config(baseline, tmp_path, seed=0).train.init]
    assert a == b
    assert all(key in STAGE_KEYS for key in (baseline, distilled)) and len(a_init) <= 1


def test_each_control_keeps_its_students_dialogue_terms_and_drops_the_text(tmp_path):
    """The controls are the distilled students minus the privileged text: the same dialogue-teacher
    terms and weights, no Text2Gloss terms, a teacher that reads no dialogue turn."""
    distilled_of = {label: dist for _, dist, label in PAIRS}
    for _, control, label, teacher in CONTROLS:
        cfg = stage_config(control, tmp_path, seed=0)
        dist = stage_config(distilled_of[label], tmp_path, seed=0)
        kept = {k: v for k, v in dist.loss.weights.items() if "Translation2SLR" not in k and v}
        assert {k: v for k, v in cfg.loss.weights.items() if v} == kept, control
        assert not cfg.model.text2gloss and cfg.model.dialogue_teacher
        assert cfg.data.dialogue_context == "removed" and dist.data.dialogue_context == "given"
        source = "video_teacher" if "video-only" in teacher else "dialogue_teacher"
        assert [i.checkpoint for i in cfg.train.init] == [str(tmp_path / source / "best.pt")]
    video = stage_config("video_teacher", tmp_path, seed=0)
    dialogue = stage_config("dialogue_teacher", tmp_path, seed=0)
    assert video.data.dialogue_context == "removed"
    assert to_dict(video.model) == to_dict(dialogue.model) and to_dict(video.train) == to_dict(dialogue.train)


def test_the_slt_controls_swap_the_teacher_or_smooth_the_targets_and_change_nothing_else(tmp_path):
    """The video-translator control is the Gloss2Text-distilled student with the same seed's SLT
    baseline as its teacher (same terms and weights); the label-smoothing control is the baseline
    with smoothed word targets."""
    base, dist = (stage_config(k, tmp_path, seed=0) for k in ("slt_baseline", "slt_distilled"))
    video = stage_config("slt_control_video_translator", tmp_path, seed=0)
    assert video.loss.weights == dist.loss.weights and video.model.video_translator and not video.model.gloss2text
    teacher = [i for i in video.train.init if i.prefix == "video_translator."]
    assert [(i.checkpoint, i.source_prefix) for i in teacher] == [(str(tmp_path / "slt_baseline" / "best.pt"),
                                                                   "student.")]
    smooth = stage_config("slt_control_label_smoothing", tmp_path, seed=0)
    assert smooth.loss.label_smoothing == 0.1 and base.loss.label_smoothing == 0.0
    a, b = _student_side(base), _student_side(smooth)
    b["loss"]["label_smoothing"] = a["loss"]["label_smoothing"]
    assert a == b and to_dict(smooth.train) == to_dict(base.train)
    assert {c for _, c, _ in SLT_CONTROLS} == {s.key for s in STAGES if s.role == "control" and s.kind == "translator"}


def test_the_slt_pair_starts_from_one_slr_checkpoint(tmp_path):
    """Gloss2Text distillation is the only difference: both SLT students load the same encoder."""
    base, dist = (stage_config(k, tmp_path, seed=0) for k in ("slt_baseline", "slt_distilled"))
    encoder = [to_dict(i) for i in base.train.init]
    assert encoder and encoder == [to_dict(i) for i in dist.train.init if i.prefix.startswith("student.")]


def test_the_demo_trains_no_control_unless_asked():
    pipe = load_pipeline(pipeline_file("demo"))
    controls = {s.key for s in STAGES if s.role == "control"}
    assert controls and controls <= set(pipe.order) and not controls & set(DEMO_STAGE_KEYS)


def test_parallel_stages_give_the_same_runs_as_one_after_another(demo_dir, tmp_path):
    """--jobs 2: stages in their own processes, started as soon as the runs they load are done. A
    stage folder left by the demo's older runner (demo_stage.json, no stage.json) is retrained."""
    out, _ = demo_dir
    pipe = load_pipeline(pipeline_file("tiny"))
    assert set(pipe.stages["slr_distilled"].needs) == {"dialogue_teacher", "text2gloss"}
    assert set(pipe.stages["slt_distilled"].needs) == {"slr_distilled", "gloss2text"}
    assert not pipe.stages["text2gloss"].needs and not pipe.stages["slr_baseline"].needs
    older = tmp_path / "text2gloss"
    older.mkdir()
    for name in ("best.pt", "metrics.json", "train.log"):
        (older / name).write_bytes((out / "text2gloss" / name).read_bytes())
    (older / "demo_stage.json").write_text('{"fingerprint": "0123", "seconds": 1.0}', encoding="utf-8")
    (older / "console.log").write_text("", encoding="utf-8")
    lines = []
    stages = ["slr_distilled", "slr_baseline"]   # and the teachers slr_distilled needs
    timings = run_demo(preset="tiny", out=tmp_path, seed=0, stages=stages, report=False, jobs=2, threads=1,
                       log=lines.append)
    stages = ["dialogue_teacher", "text2gloss", "slr_baseline", "slr_distilled"]
    assert sorted(k for k in timings if k in STAGE_KEYS) == sorted(stages)
    assert not any(timings[k]["cached"] for k in stages)
    assert any("text2gloss: trained by an older `signkd demo`" in line for line in lines)
    assert not (older / "demo_stage.json").exists() and not (older / "console.log").exists()
    for key in stages:
        ours = json.loads((tmp_path / key / "metrics.json").read_text())["final"]["dev"]
        theirs = json.loads((out / key / "metrics.json").read_text())["final"]["dev"]
        assert ours.get("wer") == theirs.get("wer"), key
        assert json.loads((tmp_path / key / "stage.json").read_text())["status"] == "done"
    for key in stages:    # bit for bit: the same seed on the same machine gives the same weights
        a = torch.load(tmp_path / key / "best.pt", weights_only=True)["model"]
        b = torch.load(out / key / "best.pt", weights_only=True)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), key


def test_twin_swaps_count_only_a_pair_gloss_read_as_its_twin():
    from signkd.demo_report import twin_swaps

    twins = {"REGEN": "SCHNEE", "SCHNEE": "REGEN", "OST": "WEST", "WEST": "OST"}
    refs = {"a": ["MORGEN", "REGEN", "OST"], "b": ["SCHNEE", "WARM"]}
    hyps = {"a": ["MORGEN", "SCHNEE", "NORD"], "b": ["WARM"]}        # a swap, another error, a deletion
    assert twin_swaps(refs, hyps, twins) == (1, 3)
    assert twin_swaps(refs, refs, twins) == (0, 3) and twin_swaps(refs, hyps, {}) == (0, 0)


def test_error_anatomy_splits_a_hypothesis_file_into_twin_swaps_and_other_errors(tmp_path):
    """bench-demo's "where the errors are": read back the glosses file a run writes, and every sclite
    error is either a twin swap or another error, never both."""
    from signkd.demo_report import error_anatomy, read_gloss_hypotheses

    path = tmp_path / "final-test.glosses.txt"
    path.write_text("synth_test_00001\n  REF: MORGEN REGEN OST\n  HYP: MORGEN SCHNEE NORD\n"
                    "synth_test_00002\n  REF: SCHNEE WARM\n  HYP: WARM WARM KALT\nsynth_test_00003\n  REF: OST\n  HYP: \n",
                    encoding="utf-8")
    refs, hyps = read_gloss_hypotheses(path)
    assert refs["synth_test_00002"] == ["SCHNEE", "WARM"] and hyps["synth_test_00003"] == []
    twins = {"REGEN": "SCHNEE", "SCHNEE": "REGEN", "OST": "WEST", "WEST": "OST"}
    # a swap and a substitution; a substitution (SCHNEE read as WARM: not its twin) and an insertion; a deletion
    assert error_anatomy(refs, hyps, twins) == {"twin_swaps": 1, "twin_refs": 4, "other_errors": 4, "ref_words": 6}


def test_bench_demo_reports_every_seed_the_controls_and_the_goals(demo_dir, capsys):
    """make bench-demo at the tiny preset (numbers meaningless): two seeds sharing the first seed's
    teachers, both student pairs, the controls and the SLT pair; table and JSON agree with each
    stage's metrics.json, and the goals are stated over seeds."""
    out, _ = demo_dir
    bench = _bench_demo()
    assert bench.main(["--seeds", "0", "1", "--slt-seeds", "0", "--preset", "tiny", "--out", str(out),
                       "--threads", "1", "--jobs", "2"]) == 0     # two stages at a time, as make bench-demo
    printed = capsys.readouterr().out
    record = json.loads((out / "bench_demo.json").read_text(encoding="utf-8"))
    second = out.with_name(f"{out.name}-seed1")
    assert (second / "dialogue_teacher").is_symlink() and (second / "video_teacher").is_symlink()
    assert not (second / "slt_baseline").exists()          # SLT only at --slt-seeds
    for seed, folder in ((0, out), (1, second)):
        for key, value in record["rows"][str(seed)].items():
            final = json.loads((folder / key / "metrics.json").read_text())["final"]
            assert value["test_wer"] == final["test"]["wer"], (seed, key)
    summary = record["summary"]
    for _, dist_key, label in PAIRS:
        ratios = [record["rows"][s][dist_key]["test_wer"] / record["rows"][s][base]["test_wer"]
                  for s in ("0", "1") for base, d, lab in PAIRS if d == dist_key]
        assert summary["students"][label]["ratios"] == pytest.approx(ratios)
        assert summary["students"][label]["seeds"] == 2
    assert {c for _, c, _, _ in CONTROLS} == set(summary["controls"])
    assert summary["slt"]["seeds"] == 1 and summary["slt"]["per_seed"][0][0] == 0
    for _, control, name in SLT_CONTROLS:   # the SLT pair's controls, at the SLT seeds
        bleu = json.loads((out / control / "metrics.json").read_text())["final"]["test"]["bleu4"]
        assert summary["slt"]["controls"][control]["per_seed"] == [bleu] and f"Control, {name}" in printed
    assert not (second / "slt_control_label_smoothing").exists()
    assert "ratio per seed (0 / 1)" in printed and "### Controls" in printed and "### SLT" in printed
    assert f"torch kernels {torch.backends.cpu.get_cpu_capability()}" in record["cpu"] and record["cpu"] in printed
    assert record["trained_on"] == [record["cpu"]]       # every stage's metrics.json names this machine
    # where the errors are: every test error of a stage is a twin swap or another error
    for seed, folder in ((0, out), (1, second)):
        for key, value in record["rows"][str(seed)].items():
            if key.startswith("slr_"):
                final = json.loads((folder / key / "metrics.json").read_text())["final"]["test"]
                e = value["test_errors"]
                assert e["twin_swaps"] + e["other_errors"] == final["sub"] + final["del"] + final["ins"], (seed, key)
    errors = summary["errors"]
    assert set(errors["students"]) == {label for _, _, label in PAIRS}
    assert {"dialogue_teacher", "video_teacher", "text2gloss"} <= set(errors["teachers"])
    assert "### Where the errors are" in printed
    # what the bench costs from scratch: every stage's training time, each teacher once
    spent = [json.loads((out / k / "stage.json").read_text())["seconds"] for k in record["teachers"]]
    spent += [json.loads((folder / k / "stage.json").read_text())["seconds"]
              for seed, folder in ((0, out), (1, second)) for k in record["rows"][str(seed)]]
    assert summary["training_time"]["total_min"] == pytest.approx(sum(spent) / 60, abs=0.06)
    assert summary["training_time"]["stages_without_record"] == 0 and "Training summed over every stage" in printed
    # the demo's report now prints the spread beside its single-seed ratios
    from signkd.demo_report import seed_spread_lines

    spread = seed_spread_lines(out)
    assert "Over seeds 0, 1" in spread[0]
    assert spread[1].startswith("SLT test BLEU-4 over seeds 0: ") and all(n in spread[1] for _, _, n in SLT_CONTROLS)


def test_a_corpus_made_with_other_parameters_is_made_again(tmp_path):
    """The demo keeps its corpus only when every generation parameter is the same: a corpus left by
    an older preset (its marker without the parameters), or one asked for with --synth, is remade."""
    from signkd.demo import prepare_corpus

    lines: list = []
    first = prepare_corpus(tmp_path, "tiny", 0, lines.append)
    assert not first.get("cached") and prepare_corpus(tmp_path, "tiny", 0, lines.append).get("cached")
    marker = tmp_path / "corpus" / "demo_corpus.json"
    old = json.loads(marker.read_text())
    old["request"].pop("params")
    marker.write_text(json.dumps(old))
    assert not prepare_corpus(tmp_path, "tiny", 0, lines.append).get("cached")
    again = prepare_corpus(tmp_path, "tiny", 0, lines.append, synth={"twin_context": "0.5"})
    assert not again.get("cached") and "twin_context=0.5" in lines[-1]
    assert json.loads((tmp_path / "corpus" / "corpus.json").read_text())["params"]["twin_context"] == 0.5


def _bench_demo():
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_seeds", REPO / "benchmarks" / "demo_seeds.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
def test_bench_demo_stopped_by_sigterm_leaves_no_stage_running(tmp_path):
    """The seeds train in threads; SIGTERM reaches only the bench's main thread, which must stop
    every runner: no stage process is left behind, and each one it stopped is marked interrupted
    (so the next run resumes it)."""
    out = tmp_path / "bench"
    bench = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "demo_seeds.py"), "--seeds", "0", "1",
                              "--slt-seeds", "--no-controls", "--preset", "tiny", "--out", str(out), "--threads", "1",
                              "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running: dict = {}
    deadline = time.monotonic() + 180
    while not running and bench.poll() is None and time.monotonic() < deadline:
        for path in list(out.glob("*/stage.json")) + list(out.with_name("bench-seed1").glob("*/stage.json")):
            state = json.loads(path.read_text()) if path.is_file() else {}
            if state.get("status") == "running" and state.get("pid") and (path.parent / "last.pt").is_file():
                running[path.parent] = state["pid"]
        time.sleep(0.05)
    assert running, bench.communicate()[0][-2000:]
    bench.send_signal(signal.SIGTERM)
    printed = bench.communicate(timeout=120)[0]
    assert bench.returncode != 0, printed[-2000:]
    for folder, pid in running.items():
        with pytest.raises(ProcessLookupError):   # the stage process is gone, not orphaned
            os.kill(pid, 0)
        # stopped and marked to resume, or finished within the runner's grace time (tiny stages do)
        assert json.loads((folder / "stage.json").read_text())["status"] in ("interrupted", "done"), folder
    for folder in (out, out.with_name("bench-seed1")):   # every runner recorded how its stages ended
        stages = json.loads((folder / "pipeline.json").read_text())["stages"]
        assert "running" not in {v["status"] for v in stages.values()}, (folder, stages)


def test_bench_demo_counts_epochs_to_the_baselines_converged_wer():
    """What holds where converged WERs do not separate: how soon a student reaches the level its
    baseline converges to (the mean dev WER of the baseline's last 3 epochs)."""
    bench = _bench_demo()
    rows = {0: {"b": {"dev_wer_curve": [100, 60, 30, 21, 20, 19]}, "d": {"dev_wer_curve": [90, 25, 19, 18, 18, 18]},
                "c": {"dev_wer_curve": [100, 90, 80, 70, 60, 50]}},
            1: {"b": {"dev_wer_curve": [100, 40, 20, 10, 10, 10]}, "d": {"dev_wer_curve": [100, 50, 30, 20, 11, 9]},
                "c": {"dev_wer_curve": [100, 100, 100, 100, 100, 10]}}}
    d = bench.convergence(rows, [0, 1], "b", "d")
    assert [(r["level"], r["baseline_epoch"], r["epoch"]) for r in d["per_seed"]] == [(20, 5, 3), (10, 4, 6)]
    assert d["reached"] == 2 and d["faster"] == 1 and d["epoch"][0] == 4.5
    c = bench.convergence(rows, [0, 1], "b", "c")
    assert c["reached"] == 1 and c["faster"] == 0 and [r["epoch"] for r in c["per_seed"]] == [None, 6]
