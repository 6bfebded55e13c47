"""`signkd run PIPELINE.yaml`: pipeline files are checked line by line, every shipped pipeline
passes --dry-run against a synthetic corpus laid out like its corpus, and a small pipeline runs
end to end: nothing retrains on a second run, a changed stage reruns with its dependents only,
and a killed stage is reported and resumes."""
from __future__ import annotations

import json
import os
import re
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, TINY_CONFIG
from signkd.cli import main as cli_main
from signkd.config import load_config
from signkd.pipeline import PipelineError, SharedSlots, load_pipeline, resolve, run_pipeline
from signkd.pipeline.resolve import _flat
from signkd.pipeline.runner import _Lock

CONFIGS = REPO / "configs"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(args: list[str], capsys) -> tuple[int, str, str]:
    """`signkd ARGS` in this process: (exit code, stdout, stderr)."""
    code = cli_main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----------------------------------------------------------------------------- the file format

TWO = f"""
stages:
  teacher:
    config: {TINY_CONFIG}
  student:
    config: {TINY_CONFIG}
    needs: [teacher]
"""


@pytest.mark.parametrize("text, message", [
    ("stage: {}\n", "stage: unknown key; did you mean 'stages'?"),
    (TWO.replace("    needs: [teacher]", "    need: [teacher]"), "stages.student.need: unknown key; did you mean 'needs'?"),
    (TWO.replace("needs: [teacher]", "needs: [teachr]"),
     "stages.student.needs: 'teachr' is not a stage of this pipeline; did you mean 'teacher'?"),
    (TWO.replace("    config: {}\n  student".format(TINY_CONFIG), f"    config: {TINY_CONFIG}\n    needs: [student]\n  student"),
     "stages: a cycle: teacher -> student -> teacher (each needs the next)"),
    (TWO + "    set: {train.init: [{checkpoint: ${other}/best.pt, prefix: x.}]}\n  other:\n    config: " + str(TINY_CONFIG),
     "stages.student.set.train.init: ${other} is the folder of stage 'other', which is not in its needs"),
    (TWO + "    set: {train.init: [{checkpoint: ${teachr}/best.pt, prefix: x.}]}\n",
     "stages.student.set.train.init: ${teachr} names no stage; did you mean 'teacher'?"),
    (TWO + f"  teacher:\n    config: {TINY_CONFIG}\n", "invalid YAML ('teacher' given twice)"),
    (TWO + "    command: tset\n", "stages.student.command: expected one of train, test, back-translate, got 'tset'; did you mean 'test'?"),
    (TWO + "    command: test\n", "stages.student.weights: a test stage decodes with a checkpoint"),
    (TWO.replace("  student:", "  my/student:"), "a stage name is its folder name"),
    (TWO + "    set: [train.epochs=1]\n", "stages.student.set: expected a mapping of config keys to values"),
    ("set: {train.init: [{checkpoint: ${teacher}/best.pt}]}\n" + TWO,
     "set.train.init: ${teacher}: a stage's folder belongs in that stage's own set"),
])
def test_a_bad_pipeline_file_is_one_line_naming_the_key(tmp_path, capsys, text, message):
    path = write(tmp_path / "p.yaml", text)
    with pytest.raises(PipelineError) as err:
        load_pipeline(path)
    assert message in str(err.value) and str(err.value).startswith(str(path))
    code, out, errtext = run(["run", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and errtext.strip() == f"signkd run: error: {err.value}"
    assert not (tmp_path / "out").exists()


def test_dependency_order_and_placeholders_in_flow_mappings(tmp_path):
    """`${stage}` works unquoted inside YAML flow mappings, expands to the stage's folder under
    --out, and stays a placeholder in the fingerprinted config (moving --out changes nothing)."""
    path = write(tmp_path / "p.yaml", f"""
out: runs/somewhere
stages:
  student:
    config: {TINY_CONFIG}
    needs: [teacher]
    set: {{train.init: [{{checkpoint: ${{teacher}}/best.pt, prefix: dialogue_teacher.}}], data.root: ${{out}}/corpus}}
  teacher:
    config: {TINY_CONFIG}
""")
    pipe = load_pipeline(path)
    assert pipe.order == ("teacher", "student") and pipe.dependents("teacher") == ["teacher", "student"]
    a, b = resolve(pipe, tmp_path / "a"), resolve(pipe, tmp_path / "b")
    student = a["student"]
    assert student.cfg.train.init[0].checkpoint == str(tmp_path / "a" / "teacher" / "best.pt")
    assert student.cfg.data.root == str(tmp_path / "a" / "corpus")
    assert f"train.init=[{{checkpoint: {tmp_path / 'a' / 'teacher' / 'best.pt'}, prefix: dialogue_teacher.}}]" in student.argv
    assert student.argv[student.argv.index("--work-dir") + 1] == str(tmp_path / "a" / "student")
    assert student.config["train"]["init"][0]["checkpoint"] == "${teacher}/best.pt"
    assert student.config == b["student"].config and not student.problems


def test_config_paths_under_out_are_stage_references_that_must_be_needed(tmp_path):
    """A config that names <out>/<stage>/... (as the shipped ones name their teachers' runs) refers
    to that stage, so the shipped configs run unchanged in a pipeline with another --out."""
    config = write(tmp_path / "student.yaml", f"base: {TINY_CONFIG}\n"
                   "train:\n  init: [{checkpoint: runs/x/teacher/best.pt, prefix: dialogue_teacher.}]\n"
                   "data: {tokenizer: runs/x/teacher/tokenizer, cache: runs/x/corpus/cache}\n")
    text = f"out: runs/x\nstages:\n  teacher: {{config: {TINY_CONFIG}}}\n  student: {{config: {config}, needs: [teacher]}}\n"
    runs = resolve(load_pipeline(write(tmp_path / "p.yaml", text)), tmp_path / "out")
    cfg = runs["student"].cfg
    assert cfg.train.init[0].checkpoint == str(tmp_path / "out" / "teacher" / "best.pt")
    assert cfg.data.tokenizer == str(tmp_path / "out" / "teacher" / "tokenizer")
    assert cfg.data.cache == str(tmp_path / "out" / "corpus" / "cache")
    runs = resolve(load_pipeline(write(tmp_path / "p.yaml", text.replace(", needs: [teacher]", ""))), tmp_path / "out")
    assert runs["student"].problems == [f"{config}: data.tokenizer names the folder of stage 'teacher' (under runs/x); "
                                        f"add teacher to the needs of student"]


def test_an_annotation_file_changed_in_place_makes_its_stages_stale(tmp_path, tiny_corpus):
    """The fingerprint covers the corpus's annotation files (not its frames): a corpus regenerated
    or corrected at the same path reruns the stages that read it."""
    from signkd.pipeline.plan import _changes, fingerprint, inputs_of

    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus / "annotations", corpus / "annotations")
    shutil.copytree(tiny_corpus / "dialogue", corpus / "dialogue")
    (corpus / "features").symlink_to(tiny_corpus / "features", target_is_directory=True)
    shutil.copy(tiny_corpus / "corpus.json", corpus / "corpus.json")
    path = write(tmp_path / "p.yaml", f"stages:\n  a: {{config: {TINY_CONFIG}, set: {{data.root: {corpus}}}}}\n")
    run_a = resolve(load_pipeline(path), tmp_path / "out")["a"]
    before = inputs_of(run_a, {}, [run_a.folder])
    assert set(before["files"]) == {"data.train annotations", "data.dev annotations", "data.test annotations",
                                    "corpus.json"}
    dev = corpus / "annotations" / "manual" / "PHOENIX-2014-T.dev.corpus.csv"
    dev.write_text(dev.read_text(encoding="utf-8").replace("|Signer0", "|Signer9"), encoding="utf-8")
    after = inputs_of(run_a, {}, [run_a.folder], known=before)
    assert fingerprint(after) != fingerprint(before) and before["files"]["data.train annotations"] == \
        after["files"]["data.train annotations"]
    assert _changes(before, after) == "data.dev annotations changed"


def test_dry_run_lists_every_problem_once_and_trains_nothing(tmp_path, tiny_corpus, capsys):
    path = write(tmp_path / "p.yaml", f"""
stages:
  a:
    config: {TINY_CONFIG}
    set: {{data.root: {tmp_path / 'no-corpus'}}}
  b:
    config: {TINY_CONFIG}
    set: {{model.sequence.kindd: bilstm}}
  c:
    config: {TINY_CONFIG}
    set: {{train.init: [{{checkpoint: {tmp_path / 'elsewhere.pt'}, prefix: student.}}]}}
  d:
    config: {tmp_path / 'missing.yaml'}
  e:
    config: {TINY_CONFIG}
    needs: [a]
""")
    code, out, err = run(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run",
                          "--set", f"data.root={tiny_corpus}"], capsys)
    assert code == 2
    assert err.splitlines() == [
        f"signkd run: error: stage b: {TINY_CONFIG}: model.sequence.kindd: unknown key; did you mean 'kind'?",
        f"signkd run: error: stage d: {tmp_path / 'missing.yaml'}: config file not found",
        f"signkd run: error: stage c: train.init[0].checkpoint: not found: {tmp_path / 'elsewhere.pt'}",
    ]   # the --set data.root wins over stage a's own data.root, as documented
    assert "4 problem(s)" not in out and "3 problem(s); nothing was trained" in out
    assert not (tmp_path / "out").exists()
    # without the command line's corpus, stages a and e share one problem line
    code, out, err = run(["run", str(path), "--out", str(tmp_path / "out"), "--dry-run"], capsys)
    lines = err.splitlines()
    assert f"signkd run: error: stage a: synthetic: corpus root not found: {tmp_path / 'no-corpus'}" in lines
    assert sum("corpus root not found: data/synthetic-tiny" in ln for ln in lines) == 1
    assert any(ln.startswith("signkd run: error: stages c, e: synthetic: corpus root not found") for ln in lines)


def test_a_folder_the_pipeline_did_not_write_is_never_overwritten(tmp_path, tiny_corpus, capsys):
    path = write(tmp_path / "p.yaml", f"stages:\n  a: {{config: {TINY_CONFIG}}}\n")
    write(tmp_path / "out" / "a" / "best.pt", "someone's run")
    code, _, err = run(["run", str(path), "--out", str(tmp_path / "out"), "--set", f"data.root={tiny_corpus}"], capsys)
    assert code == 2
    assert err.strip() == (f"signkd run: error: stage a: {tmp_path / 'out' / 'a'} holds files this pipeline did not "
                           f"write; move them away (or rerun the stage with --from a)")
    assert (tmp_path / "out" / "a" / "best.pt").read_text() == "someone's run"
    code, _, err = run(["run", str(path), "--out", str(tmp_path / "out"), "--from", "b"], capsys)
    assert code == 2 and err.strip() == f"signkd run: error: --from: 'b' is not a stage of {path}; its stages: a"


def test_one_runner_per_output_folder(tmp_path):
    lock = _Lock(tmp_path)
    try:
        with pytest.raises(PipelineError, match=f"^{tmp_path}: another `signkd run` is using this folder "
                                                f"\\(pid {os.getpid()} since .*\\); wait for it or pick another --out$"):
            _Lock(tmp_path)
    finally:
        lock.release()
    _Lock(tmp_path).release()   # free again once released


# ----------------------------------------------------------------------------- shipped pipelines

def phoenix2014_layout(corpus: Path, root: Path) -> Path:
    """The synthetic corpus laid out as PHOENIX-2014 ships: annotations/manual/<split>.corpus.csv
    (`id|folder|signer|annotation`, header) and features/fullFrame-210x260px/<split>/<id>/1/."""
    from signkd.data.corpora import read_corpus

    for split in ("train", "dev", "test"):
        samples = read_corpus("synthetic", corpus, split)
        write(root / "annotations" / "manual" / f"{split}.corpus.csv", "id|folder|signer|annotation\n" + "".join(
            f"{s.id}|{s.id}/1/*.png|{s.signer}|{' '.join(s.glosses)}\n" for s in samples))
        for s in samples:
            link = root / "features" / "fullFrame-210x260px" / split / s.id / "1"
            link.parent.mkdir(parents=True)
            link.symlink_to(s.frames, target_is_directory=True)
    return root


def csl_daily_layout(corpus: Path, root: Path) -> Path:
    """The synthetic corpus laid out as CSL-Daily ships: sentence_label/csl2020ct_v2.pkl,
    sentence_label/split_1.txt and sentence/frames_512x512/<name>/."""
    from signkd.data.corpora import read_corpus

    info, splits = [], ["Name|Split"]
    for split in ("train", "dev", "test"):
        for s in read_corpus("synthetic", corpus, split):
            info.append({"name": s.id, "length": len(os.listdir(s.frames)), "label_gloss": list(s.glosses),
                         "label_char": list(s.translation.replace(" ", "")), "label_word": s.translation.split(),
                         "signer": s.signer})
            splits.append(f"{s.id}|{split}")
            link = root / "sentence" / "frames_512x512" / s.id
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(s.frames, target_is_directory=True)
    (root / "sentence_label").mkdir(parents=True)
    with open(root / "sentence_label" / "csl2020ct_v2.pkl", "wb") as fh:
        pickle.dump({"info": info, "gloss_map": [], "char_map": []}, fh)
    write(root / "sentence_label" / "split_1.txt", "\n".join(splits) + "\n")
    return root


FRAMES = "data.frames=features/fullFrame-32x32px"


def shipped(name: str, corpus: Path, tmp: Path) -> list[str]:
    """The command-line settings that point pipeline `name` at a synthetic corpus in its layout."""
    if name == "phoenix2014":
        return ["--set", f"data.root={phoenix2014_layout(corpus, tmp / 'phoenix2014')}"]
    if name == "csl_daily":
        return ["--set", f"data.root={csl_daily_layout(corpus, tmp / 'csl')}"]
    if name == "synthetic/demo":
        return ["--set", f"data.root={corpus}", "--set", "data.cache="]
    if name == "synthetic/tiny_dialogue_phoenix":
        return ["--set", f"data.root={corpus}", "--set", f"data.dialogue={corpus / 'dialogue'}"]
    return ["--set", f"data.root={corpus}", "--set", f"data.dialogue={corpus / 'dialogue'}", "--set", FRAMES]


def test_every_pipeline_file_is_tested_below():
    assert sorted(str(p.parent.relative_to(CONFIGS)) for p in CONFIGS.rglob("pipeline.yaml")) == sorted(SHIPPED)


SHIPPED = ["dialogue_phoenix", "phoenix2014t", "csl_daily", "phoenix2014", "synthetic/demo",
           "synthetic/tiny_dialogue_phoenix"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_pipelines_pass_the_dry_run_on_a_synthetic_corpus_in_their_layout(name, tiny_corpus, tmp_path, capsys):
    path = CONFIGS / name / "pipeline.yaml"
    pipe = load_pipeline(path)
    code, out, err = run(["run", str(path), "--dry-run", "--out", str(tmp_path / "out"),
                          *shipped(name, tiny_corpus, tmp_path)], capsys)
    assert (code, err) == (0, ""), err
    assert "every stage's config validates and every input exists" in out
    for stage in pipe.order:   # each stage is in the plan, and it was never run
        assert any(line.split()[:1] == [stage] for line in out.splitlines()), stage
    assert not (tmp_path / "out").exists()
    # and the dry run does look at the corpus: without it every stage names the missing root
    code, out, err = run(["run", str(path), "--dry-run", "--out", str(tmp_path / "out"),
                          "--set", f"data.root={tmp_path / 'nowhere'}"], capsys)
    assert code == 2 and f"corpus root not found: {tmp_path / 'nowhere'}" in err


def test_the_dialogue_pipeline_chains_vac_teachers_and_students(tmp_path):
    """Each teacher's sign encoder and each SLR student start from the VAC baseline of their kind;
    the SLT students from the SLR student and the SLT teacher (the original's chain)."""
    runs = resolve(load_pipeline(CONFIGS / "dialogue_phoenix" / "pipeline.yaml"), tmp_path)
    init = {name: [(i.prefix, Path(i.checkpoint).parent.name) for i in r.cfg.train.init] for name, r in runs.items()}
    for kind in ("bilstm", "transformer"):
        vac = "vac_baseline" + ("_transformer" if kind == "transformer" else "")
        assert runs[vac].cfg.model.sequence.kind == kind and init[vac] == []
        for task in ("slr", "slt"):
            teacher = f"teacher_{task}_{kind}"
            assert runs[teacher].cfg.model.sequence.kind == kind
            assert init[teacher] == [("dialogue_teacher.sign_encoder.", vac)]
        assert init[f"student_slr_2teacher_{kind}"] == [("dialogue_teacher.", f"teacher_slr_{kind}"), ("student.", vac)]
        assert init[f"student_slt_2teacher_{kind}"] == [("student.encoder.", f"student_slr_2teacher_{kind}"),
                                                        ("dialogue_teacher.", f"teacher_slt_{kind}")]


def test_the_phoenix2014t_pipeline_starts_every_distilled_model_from_the_vac_baseline(tmp_path):
    runs = resolve(load_pipeline(CONFIGS / "phoenix2014t" / "pipeline.yaml"), tmp_path)
    init = {name: [(i.prefix, Path(i.checkpoint).parent.name) for i in r.cfg.train.init] for name, r in runs.items()}
    assert init["dialogue_teacher"] == [("dialogue_teacher.sign_encoder.", "slr_baseline")]
    assert init["slr_student_text2gloss"] == [("student.", "slr_baseline")]
    assert init["slr_student_2teacher"] == [("dialogue_teacher.", "dialogue_teacher"), ("student.", "slr_baseline")]
    for slt in ("slt_student", "slt_student_gloss2text"):   # the SLT pair differ only in the distillation
        assert init[slt] == [("student.encoder.", "slr_baseline")]


@pytest.mark.parametrize("corpus", ["dialogue_phoenix", "phoenix2014t", "csl_daily"])
def test_each_config_states_and_carries_the_chain_its_pipeline_runs(corpus, tmp_path):
    """`signkd train CONFIG` alone starts from the same checkpoints as the pipeline stage (the
    pipeline adds nothing but --out), and the config says which chain it reproduces."""
    path = CONFIGS / corpus / "pipeline.yaml"
    pipe = load_pipeline(path)
    runs = resolve(pipe, tmp_path)
    for name, run_ in runs.items():
        stage = pipe.stages[name]
        if any(key == "train.init" for key, _ in stage.overrides):
            continue   # a config shared with another corpus, chained here by the pipeline
        config = stage.config
        alone = load_config(config)
        assert [(i.prefix, Path(i.checkpoint).parent.name) for i in alone.train.init] == \
            [(i.prefix, Path(i.checkpoint).parent.name) for i in run_.cfg.train.init], name
        assert all(Path(i.checkpoint).parts[:2] == ("runs", corpus) for i in alone.train.init), name
        if alone.train.init:
            assert any(line.startswith("# Chain:") for line in config.read_text().splitlines()), config


def test_a_variant_pipeline_composes_its_base(tmp_path):
    """`base:` as for configs: `set` merged key by key (also per stage), other fields replaced, new
    stages added; the base's `out` still marks the configs' stage paths."""
    write(tmp_path / "base" / "p.yaml", """
out: runs/base
set: {train.epochs: 5, train.seed: 1}
stages:
  teacher: {config: ../student.yaml}
  student:
    config: ../student.yaml
    set: {train.optim.lr: 0.5, model.hidden: 16}
""")
    write(tmp_path / "student.yaml", f"base: {TINY_CONFIG}\ndata: {{tokenizer: runs/base/teacher/tokenizer}}\n")
    variant = write(tmp_path / "variants" / "small.yaml", f"""
base: ../base/p.yaml
out: runs/small
set: {{train.epochs: 1}}
stages:
  student:
    needs: [teacher]
    set: {{train.optim.lr: 0.1}}
  extra: {{config: {TINY_CONFIG}}}
""")
    pipe = load_pipeline(variant)
    assert pipe.order == ("teacher", "student", "extra") and pipe.out == "runs/small"
    assert pipe.stages["student"].config == tmp_path / "student.yaml"
    runs = resolve(pipe, tmp_path / "out")
    cfg = runs["student"].cfg
    assert (cfg.train.epochs, cfg.train.seed, cfg.train.optim.lr, cfg.model.hidden) == (1, 1, 0.1, 16)
    assert cfg.data.tokenizer == str(tmp_path / "out" / "teacher" / "tokenizer") and not runs["student"].problems
    write(tmp_path / "loop.yaml", "base: loop.yaml\n")
    with pytest.raises(PipelineError, match="loop.yaml: circular 'base:' chain$"):
        load_pipeline(tmp_path / "loop.yaml")


@pytest.mark.parametrize("preset", ["demo", "quick", "tiny"])
def test_the_demo_pipelines_train_every_stage_of_the_report(preset, tmp_path):
    """`signkd demo` runs its stages from these files: each preset's pipeline has every stage the
    report shows, each stage needs exactly the stages whose folders its config reads (checkpoints it
    loads, tokenizer), and a preset's variant changes only what it sets."""
    from signkd.config import to_dict
    from signkd.demo import pipeline_file
    from signkd.demo_stages import STAGE_KEYS

    pipe = load_pipeline(pipeline_file(preset))
    runs = resolve(pipe, tmp_path, ["train.seed=0"])
    assert set(pipe.order) == set(STAGE_KEYS)
    demo = resolve(load_pipeline(pipeline_file("demo")), tmp_path, ["train.seed=0"])
    variant = set(_flat(dict(pipe.overrides))) | {k for s in pipe.stages.values() for k in _flat(dict(s.overrides))}
    for key in STAGE_KEYS:
        cfg = runs[key].cfg
        assert not runs[key].problems, runs[key].problems
        read = [Path(i.checkpoint).parent for i in cfg.train.init] + ([Path(cfg.data.tokenizer).parent]
                                                                       if cfg.data.tokenizer else [])
        assert {p.name for p in read if p.parent == tmp_path} == set(pipe.stages[key].needs), key
        assert cfg.data.root == str(tmp_path / "corpus") and cfg.work_dir == str(tmp_path / key)
        mine, base = _flat(to_dict(cfg)), _flat(to_dict(demo[key].cfg))
        assert {k for k in mine if mine[k] != base.get(k)} <= variant, key
    assert {runs[k].cfg.train.seed for k in STAGE_KEYS} == {0}


def test_only_runs_the_chosen_stages_and_what_they_need(tiny_corpus, tmp_path, capsys):
    from signkd.demo import pipeline_file

    pipe = load_pipeline(pipeline_file("demo"))
    assert pipe.requirements(["slt_baseline"]) == ["dialogue_teacher", "text2gloss", "slr_distilled", "slt_baseline"]
    assert pipe.subset(["text2gloss", "slr_baseline"]).order == ("text2gloss", "slr_baseline")
    with pytest.raises(PipelineError, match="--only: 'slr_distiled' is not a stage of .*did you mean 'slr_distilled'"):
        pipe.subset(["slr_distiled"])
    code, out, err = run(["run", str(pipe.path), "--dry-run", "--out", str(tmp_path / "out"), "--only", "slt_baseline",
                          *shipped("synthetic/demo", tiny_corpus, tmp_path)], capsys)
    assert (code, err) == (0, ""), err
    planned = {line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()[0] in pipe.stages}
    assert planned == {"dialogue_teacher", "text2gloss", "slr_distilled", "slt_baseline"}
    assert "4 stages, 4 to run" in out


# ----------------------------------------------------------------------------- end to end

def e2e_pipeline(tmp_path: Path, corpus: Path, *, teacher_lr: float = 0.01, other: str = "",
                 score: bool = False) -> Path:
    """A dialogue teacher, a student distilled from it, an independent student (and a test stage
    scoring it)."""
    return write(tmp_path / "p.yaml", f"""
out: runs/e2e
set:
  data.root: {corpus}
  train.epochs: 1
  train.max_steps_per_epoch: 1
  train.test_at_end: false
stages:
  teacher:
    config: {TINY_CONFIG}
    set:
      model.student: false
      model.dialogue_teacher: true
      loss.weights: {{DialogueCTC: 1.0}}
      train.stages: [{{train: [dialogue_teacher]}}]
      train.optim.lr: {teacher_lr}
  student:
    config: {TINY_CONFIG}
    needs: [teacher]
    set:
      model.dialogue_teacher: true
      loss.weights: {{SeqCTCSign: 1.0, DistFusion2SLR: 1.0}}
      train.stages: [{{train: [student], frozen: [dialogue_teacher]}}]
      train.init: [{{checkpoint: ${{teacher}}/best.pt, prefix: dialogue_teacher.}}]
  other:
    config: {TINY_CONFIG}
    set: {{{other}}}
""" + (f"  score:\n    command: test\n    config: {TINY_CONFIG}\n    weights: ${{other}}/best.pt\n"
       f"    needs: [other]\n" if score else ""))


def plan_of(text: str) -> dict[str, tuple[str, str]]:
    """{stage: (status, why)} from the first table `signkd run` prints."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("  stage "))
    width = lines[start].index("status") - 4
    rows = {}
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        rest = line[2 + width + 2:]
        rows[line.split()[0]] = (rest[:11].strip(), rest[21:].strip())
    return rows


def headers(folder: Path) -> list[str]:
    """The header line of each attempt in a stage's stage.log (what ran, and why)."""
    return [ln for ln in (folder / "stage.log").read_text(encoding="utf-8").splitlines() if ln.startswith("=== ")]


def statuses(out: Path) -> dict[str, str]:
    return {k: v["status"] for k, v in json.loads((out / "pipeline.json").read_text())["stages"].items()}


def mtimes(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/best.pt")}


def wait_for_checkpoint(folder: Path, older_than: int, runner: subprocess.Popen) -> int:
    """The pid of the stage process in `folder` once it has written a last.pt newer than
    `older_than` (its first epoch; it has more to go, so it is still running)."""
    deadline = time.monotonic() + 120
    while runner.poll() is None and time.monotonic() < deadline:
        state = json.loads((folder / "stage.json").read_text()) if (folder / "stage.json").is_file() else {}
        last = folder / "last.pt"
        if state.get("status") == "running" and "pid" in state and last.is_file() and \
                last.stat().st_mtime_ns > older_than:
            return state["pid"]
        time.sleep(0.02)
    raise AssertionError(f"no new checkpoint in {folder}: {runner.communicate()}")


@pytest.mark.slow
def test_a_pipeline_end_to_end_skips_reruns_and_resumes(tmp_path, tiny_corpus, capsys):
    out = tmp_path / "out"
    args = ["run", str(e2e_pipeline(tmp_path, tiny_corpus)), "--out", str(out), "--jobs", "2", "--threads", "1"]
    code, text, err = run(args, capsys)
    assert (code, err) == (0, ""), text + err
    assert statuses(out) == dict.fromkeys(["teacher", "student", "other"], "done")
    assert "init: dialogue_teacher. <- " + str(out / "teacher" / "best.pt") in (out / "student" / "train.log").read_text()
    assert "teacher: epoch 1/1" in text and "student: done in" in text      # progress, and the table
    first = mtimes(out)
    assert len(first) == 3
    assert not headers(out / "teacher")[-1].endswith("--force")   # its folder held no run yet

    # the same pipeline again: nothing retrains
    code, text, _ = run(args, capsys)
    assert code == 0 and set(statuses(out).values()) == {"up to date"} and mtimes(out) == first

    # one stage's override changes: it and the stage that needs it rerun, nothing else
    e2e_pipeline(tmp_path, tiny_corpus, teacher_lr=0.005)
    dry = args[:4] + ["--dry-run"]
    code, text, _ = run(dry, capsys)
    assert code == 0 and plan_of(text) == {"teacher": ("run", "train.optim.lr: 0.01 -> 0.005"),
                                           "student": ("run", "after teacher"),
                                           "other": ("up to date", plan_of(text)["other"][1])}
    code, text, _ = run(args, capsys)
    assert code == 0
    assert statuses(out) == {"teacher": "done", "student": "done", "other": "up to date"}
    now = mtimes(out)
    assert sorted(k for k in now if now[k] != first[k]) == ["student", "teacher"]
    assert len(headers(out / "teacher")) == 2 and headers(out / "teacher")[-1].endswith("--force")   # stale run replaced
    # --from reruns a stage and its dependents even when up to date (the plan says so)
    code, text, _ = run(dry + ["--from", "teacher"], capsys)
    assert {k: v[0] for k, v in plan_of(text).items()} == {"teacher": "run", "student": "run", "other": "up to date"}
    assert plan_of(text)["teacher"][1] == plan_of(text)["student"][1] == "--from"

    # a stage killed mid-run: the run names it and its log, skips what needs it; a rerun resumes it
    e2e_pipeline(tmp_path, tiny_corpus, teacher_lr=0.005, other="train.epochs: 8, train.eval_every: 100",
                 score=True)
    before = (out / "other" / "last.pt").stat().st_mtime_ns
    runner = subprocess.Popen([sys.executable, "-m", "signkd", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    pid = wait_for_checkpoint(out / "other", before, runner)
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 2, stdout + stderr
    assert stderr.strip() == (f"signkd run: error: stage other failed (killed by SIGKILL (signal 9)); log: "
                              f"{out / 'other' / 'stage.log'}; not run: score")
    assert statuses(out) == {"teacher": "up to date", "student": "up to date", "other": "failed", "score": "skipped"}
    code, text, _ = run(dry, capsys)
    assert plan_of(text)["other"] == ("resume", plan_of(text)["other"][1]), text
    assert plan_of(text)["other"][1].startswith("failed after epoch ") and plan_of(text)["other"][1].endswith(" of 8")
    code, text, err = run(args, capsys)
    assert (code, err) == (0, ""), text + err
    assert statuses(out) == {"teacher": "up to date", "student": "up to date", "other": "done", "score": "done"}
    assert "signkd run (resume: failed after epoch" in headers(out / "other")[-1]
    assert headers(out / "other")[-1].endswith("--resume")
    assert "resuming from" in (out / "other" / "train.log").read_text()
    state = json.loads((out / "other" / "stage.json").read_text())
    assert state["status"] == "done" and state["attempts"] == 2
    assert json.loads((out / "other" / "metrics.json").read_text())["history"][-1]["epoch"] == 8
    # the test stage scored the resumed run's best.pt on dev and test
    scored = json.loads((out / "score" / "test_metrics.json").read_text())
    assert set(scored) >= {"dev", "test"} and scored["dev"]["wer"] >= 0
    assert f"--load-weights {out / 'other' / 'best.pt'}" in (out / "score" / "stage.log").read_text()


@pytest.mark.slow
def test_ctrl_c_stops_the_stages_and_the_next_run_resumes(tmp_path, tiny_corpus):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it): exit 130, the stage is
    marked interrupted in pipeline.json and stage.json, and the plan then says resume."""
    path = write(tmp_path / "p.yaml", f"stages:\n  long:\n    config: {TINY_CONFIG}\n    set: {{data.root: {tiny_corpus}, "
                                      "train.epochs: 100000, train.max_steps_per_epoch: 1, train.eval_every: 100, "
                                      "train.test_at_end: false}\n")
    out = tmp_path / "out"
    # SIGINT as a terminal delivers it, even where pytest itself runs in the background (`cmd &` in a
    # script starts it with SIGINT ignored, and the runner and its stages would inherit that)
    runner = subprocess.Popen([sys.executable, "-m", "signkd", "run", str(path), "--out", str(out), "--threads", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # 100000 epochs: the stage is still running when the signal comes, however busy the machine
    wait_for_checkpoint(out / "long", 0, runner)
    os.killpg(runner.pid, signal.SIGINT)
    stdout, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 130 and stderr.strip().endswith("signkd run: interrupted"), stdout + stderr
    assert "long: interrupted; the next run picks it up" in stdout
    assert statuses(out) == {"long": "interrupted"}
    assert json.loads((out / "long" / "stage.json").read_text())["status"] == "interrupted"
    plan = subprocess.run([sys.executable, "-m", "signkd", "run", str(path), "--out", str(out), "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0 and plan_of(plan.stdout)["long"][0] == "resume", plan.stdout + plan.stderr
    assert plan_of(plan.stdout)["long"][1].startswith("interrupted after epoch ")


@pytest.mark.slow
def test_pipelines_in_threads_share_their_slots_and_stop_together(tmp_path, tiny_corpus):
    """make bench-demo runs one pipeline per seed folder, each in a thread: together they train no
    more stages at once than their shared slots, a freed slot goes to the folder of the lowest rank
    waiting (the first seeds finish first), every slot comes back, and setting `stop` interrupts a
    running stage (marked so, to resume) without Ctrl-C, which only the main thread gets."""
    stage = (f"stages:\n  one:\n    config: {TINY_CONFIG}\n    set: {{data.root: {tiny_corpus}, train.epochs: EPOCHS, "
             "train.max_steps_per_epoch: 1, train.eval_every: 100, train.test_at_end: false}\n")
    class Slots(SharedSlots):   # counts the stages launched while another holds the slot
        most = 0

        def try_acquire(self, owner, rank):
            got = super().try_acquire(owner, rank)
            Slots.most = max(Slots.most, self.held)
            return got

    slots, stop = Slots(1), threading.Event()
    results: dict = {}

    def go(i: int, epochs: int) -> None:
        path = write(tmp_path / f"p{i}.yaml", stage.replace("EPOCHS", str(epochs)))
        try:
            results[i] = run_pipeline(path, out=tmp_path / f"out{i}", jobs=2, threads=1, slots=slots, rank=i,
                                      stop=stop, log=lambda text: None)
        except BaseException as exc:   # noqa: BLE001 -- what the thread ended with is the assertion
            results[i] = exc

    assert slots.try_acquire("the test", (-1,))   # held until all three wait, so their order is the ranks'
    threads = [threading.Thread(target=go, args=(i, 1)) for i in (2, 0, 1)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while slots.waiting < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slots.waiting == 3
    slots.release()
    for t in threads:
        t.join(300)
    assert results == {0: 0, 1: 0, 2: 0}
    assert statuses(tmp_path / "out0") == statuses(tmp_path / "out1") == statuses(tmp_path / "out2") == {"one": "done"}
    spans = [tuple(json.loads((tmp_path / f"out{i}" / "one" / "stage.json").read_text())[k]
                   for k in ("started", "finished")) for i in range(3)]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans   # one at a time, in the order of their ranks
    assert (Slots.most, slots.held, slots.waiting) == (1, 0, 0)

    long = threading.Thread(target=go, args=(3, 100_000))   # cannot finish within the runner's grace time
    long.start()
    folder = tmp_path / "out3" / "one"
    deadline = time.monotonic() + 120
    while not (folder / "last.pt").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    long.join(120)
    assert isinstance(results[3], KeyboardInterrupt)
    assert statuses(tmp_path / "out3") == {"one": "interrupted"}
    assert json.loads((folder / "stage.json").read_text())["status"] == "interrupted"
    assert (slots.held, slots.waiting) == (0, 0)


def test_a_stage_found_up_to_date_takes_no_shared_slot(tmp_path, tiny_corpus):
    """A runner reports its up-to-date stages at once, even while every shared slot is held
    elsewhere; only a stage that trains waits for one (a re-run bench's later seeds used to wait for
    a slot only to find their stages up to date)."""
    stage = (f"    config: {TINY_CONFIG}\n    set: {{data.root: {tiny_corpus}, train.epochs: 1, "
             "train.max_steps_per_epoch: 1, train.eval_every: 100, train.test_at_end: false}\n")
    out = tmp_path / "out"
    assert run_pipeline(write(tmp_path / "one.yaml", "stages:\n  one:\n" + stage), out=out, threads=1,
                        log=lambda text: None) == 0
    path = write(tmp_path / "two.yaml", "stages:\n  one:\n" + stage + "  two:\n" + stage + "    needs: [one]\n")
    slots, stop, results = SharedSlots(1), threading.Event(), {}
    assert slots.try_acquire("another folder's stage", (-1,))

    def go() -> None:
        try:
            results["code"] = run_pipeline(path, out=out, threads=1, slots=slots, rank=0, stop=stop,
                                           log=lambda text: None)
        except BaseException as exc:   # noqa: BLE001 -- what the thread ended with is the assertion
            results["code"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while slots.waiting < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert slots.waiting == 1          # `two` waits for the slot ...
        assert statuses(out)["one"] == "up to date", statuses(out)   # ... `one` did not need it
        slots.release()
        thread.join(120)
    finally:
        stop.set()
        thread.join(60)
    assert results == {"code": 0} and statuses(out) == {"one": "up to date", "two": "done"}
    assert (slots.held, slots.waiting) == (0, 0)


def test_run_pipeline_refuses_bad_job_counts(tmp_path):
    path = write(tmp_path / "p.yaml", f"stages:\n  a: {{config: {TINY_CONFIG}}}\n")
    with pytest.raises(PipelineError, match="^--jobs: expected a positive number of stages run at once, got 0$"):
        run_pipeline(path, out=tmp_path / "out", jobs=0)
    with pytest.raises(PipelineError, match=f"^{path}: no out: folder in the file; give --out DIR$"):
        run_pipeline(path)


@pytest.mark.slow
def test_the_whole_dialogue_phoenix_chain_runs_at_toy_size(tmp_path, tiny_corpus, capsys):
    """configs/dialogue_phoenix/pipeline.yaml through its toy-size variant, one short epoch per
    stage: every stage trains and every checkpoint of the chain loads strictly into the next."""
    path = CONFIGS / "synthetic" / "tiny_dialogue_phoenix" / "pipeline.yaml"
    out = tmp_path / "out"
    code, text, err = run(["run", str(path), "--out", str(out), "--jobs", "2", "--threads", "1",
                           *shipped("synthetic/tiny_dialogue_phoenix", tiny_corpus, tmp_path)], capsys)
    assert (code, err) == (0, ""), text + err
    runs = resolve(load_pipeline(path), out)
    assert set(statuses(out).values()) == {"done"} and len(runs) == 10
    for name, run_ in runs.items():
        log = (out / name / "train.log").read_text(encoding="utf-8")
        for init in run_.cfg.train.init:
            line = next(ln for ln in log.splitlines() if ln.startswith(f"init: {init.prefix} <- {init.checkpoint}:"))
            assert "; missing 0; unexpected 0)" in line, line


TINY_TEXT_TEACHER = ["model.hidden=32", "model.text.hidden=32", "model.text.heads=2", "model.text.ff=64",
                     "data.tokenizer_vocab_size=200", "data.batch_size=8", "train.eval_every=50",
                     "model.text_teacher_encoder={layers: 1, heads: 2, ff: 64, dropout: 0.0}",
                     "model.teacher_decoder={layers: 1, heads: 2, ff: 64, dropout: 0.3, emb_dropout: 0.0, "
                     "tie_embeddings: true}", "train.cpu_bf16=false", "train.average_last=0", "train.optim.lr=3e-3"]


def test_the_text_teacher_pipeline_passes_the_dry_run(tiny_corpus, tmp_path, capsys):
    path = CONFIGS / "phoenix2014t" / "pipeline_text_teachers.yaml"
    code, out, err = run(["run", str(path), "--dry-run", "--out", str(tmp_path / "out"),
                          "--set", f"data.annotations={tiny_corpus / 'annotations' / 'manual'}"], capsys)
    assert (code, err) == (0, ""), err
    assert len(load_pipeline(path).order) == 12 and not (tmp_path / "out").exists()


def test_a_stage_kind_takes_only_its_own_keys(tmp_path, capsys):
    base = "stages:\n  t:\n    config: c.yaml\n"
    cases = {
        "  bt:\n    command: back-translate\n    config: c.yaml\n    needs: [t]\n": "bt.weights: a back-translate stage",
        "  s:\n    config: c.yaml\n    tune: [{eval.translation_beam: 4}]\n": "s.tune: not a key of a train stage",
        "  s:\n    command: test\n    config: c.yaml\n    weights: ${t}/best.pt\n    needs: [t]\n"
        "    tune: [{train.seed: 1}]\n": "only decoding settings",
        "  s:\n    command: test\n    config: c.yaml\n    weights: x.pt\n    ensemble: [${t}/best.pt]\n":
            "s.ensemble[0]: ${t} is the folder of stage 't', which is not in its needs",
        "  bt:\n    command: back-translate\n    config: c.yaml\n    weights: x.pt\n    options: {beem: 4}\n":
            "bt.options.beem: not a back-translate option; did you mean 'beam'?",
    }
    for extra, message in cases.items():
        with pytest.raises(PipelineError, match=re.escape(message)):
            load_pipeline(write(tmp_path / "p.yaml", base + extra))


@pytest.mark.slow
def test_back_translation_and_tuned_test_stages_run_in_a_pipeline(tiny_corpus, tmp_path, capsys):
    """Text2Gloss (two seeds) -> their ensemble back-translates the train file -> Gloss2Text trains on
    it -> scored with decoding tuned on dev: the chain of `make bench-text`, at toy size."""
    # a variant of the shipped file: Text2Gloss long enough to emit glosses, Gloss2Text one epoch
    path = write(tmp_path / "variant.yaml", f"base: {CONFIGS / 'phoenix2014t' / 'pipeline_text_teachers.yaml'}\nstages:\n"
                 "  text2gloss: {set: {train.epochs: 30}}\n  text2gloss-seed1: {set: {train.epochs: 30}}\n"
                 "  gloss2text: {set: {train.epochs: 1}}\n")
    sets = [f"data.annotations={tiny_corpus / 'annotations' / 'manual'}", *TINY_TEXT_TEACHER]
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--only", "gloss2text-scored"]
    code, out, err = run(args + [a for s in sets for a in ("--set", s)], capsys)
    assert code == 0, err
    out_dir = tmp_path / "out"
    made = out_dir / "back-translation-greedy" / "PHOENIX-2014-T.train.corpus.csv"
    real = (tiny_corpus / "annotations" / "manual" / "PHOENIX-2014-T.train.corpus.csv").read_text().splitlines()
    rows = made.read_text().splitlines()
    summary = json.loads(made.with_name(made.name + ".json").read_text())
    assert rows[:len(real)] == real and len(rows) == len(real) + summary["pseudo_rows"] > len(real)
    assert all("BTTAG" in row for row in rows[len(real):]) and summary["ensemble"]   # tagged, by both seeds
    assert json.loads((out_dir / "back-translation-greedy" / "stage.json").read_text())["inputs"]["needs"].keys() == \
        {"text2gloss", "text2gloss-seed1"}
    scored = json.loads((out_dir / "gloss2text-scored" / "test_metrics.json").read_text())
    assert len(scored["tuning"]["tried"]) == 4 and scored["tuning"]["metric"] == "bleu4"
    assert scored["dev"] == next(t["dev"] for t in scored["tuning"]["tried"]
                                 if t["setting"] == scored["tuning"]["chosen"])
    # unchanged: nothing reruns
    code, out, err = run(args + [a for s in sets for a in ("--set", s)], capsys)
    assert code == 0 and "0 to run" in out
