"""A run's directory is its own (signkd/training/run_dir.py): one training at a time (a flock that a
dead holder never leaves behind), no finished run overwritten without --force, no --resume with a
changed config without --force, and an unusable work dir is one line through the CLI."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, TINY_CONFIG, tiny_overrides
from signkd.cli import main as cli_main
from signkd.config import load_config, to_dict
from signkd.training import run_dir as rd
from signkd.training.run_dir import RunDirError

FAST = ["train.max_steps_per_epoch=2", "train.test_at_end=false"]


def _cli_train(corpus, work, *flags, sets=()):
    args = ["train", str(TINY_CONFIG), "--set", f"data.root={corpus}", "--work-dir", str(work), *flags]
    for s in [*FAST, "train.epochs=1", *sets]:
        args += ["--set", s]
    return cli_main(args)


def _one_error_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("signkd train: error: ") and "Traceback" not in err[0]
    return err[0]


def _files(work, *names) -> dict:
    return {n: ((work / n).read_bytes(), (work / n).stat().st_mtime_ns) for n in names}


# ------------------------------------------------------------------------ the resume check (pure)

def _config(*overrides):
    return to_dict(load_config(TINY_CONFIG, list(overrides)))


def test_config_changes_lists_what_matters_and_lets_locations_speed_and_epochs_pass():
    old = _config()
    assert rd.config_changes(old, _config()) == []
    # where the corpus and run lie, hardware, verbosity and a longer run are not another experiment
    moved = _config("data.root=/elsewhere/corpus", "data.cache=/fast/cache", "work_dir=/moved/run",
                    "data.num_workers=4", "train.device=cpu", "train.num_threads=8", "train.progress=true",
                    "train.tensorboard=true", "train.log_every=5", "train.epochs=30", "train.test_at_end=false")
    assert rd.config_changes(old, moved) == []
    changed = rd.config_changes(old, _config("train.optim.lr=0.001", "data.batch_size=2",
                                             "train.stages=[{until_epoch: 1, train: [student], frozen: []}, {train: [student]}]"))
    assert ("train.optim.lr", 0.01, 0.001) in changed and ("data.batch_size", 4, 2) in changed
    assert [k for k, _, _ in changed if k.startswith("train.stages")] == ["train.stages"]   # other length: whole list
    # inside a list of mappings the key names the element
    assert rd.config_changes(_config("train.stages=[{train: [student]}]"),
                             _config("train.stages=[{train: [student], frozen: [text2gloss]}]")) == \
        [("train.stages[0].frozen", [], ["text2gloss"])]
    # a cosine schedule is stretched over train.epochs: there a new total is a change
    cosine = _config("train.optim.scheduler=cosine")
    assert rd.config_changes(cosine, _config("train.optim.scheduler=cosine", "train.epochs=30")) == \
        [("train.epochs", 2, 30)]
    # a field added to the schema after the checkpoint was written counts with its default
    older = _config()
    del older["train"]["average_last"], older["model"]["decoder"]["token_dropout"]
    assert rd.config_changes(older, _config()) == []
    assert rd.config_changes(older, _config("train.average_last=3")) == [("train.average_last", 0, 3)]
    assert rd.config_changes(None, _config())[0][0] == "config"


def test_check_resume_config_refuses_in_one_line_and_logs_when_forced():
    old, new = _config(), _config("train.optim.lr=0.001", "train.optim.gamma=0.5", "data.batch_size=2",
                                  "loss.temperature=3", "train.seed=7")
    with pytest.raises(RunDirError) as info:
        rd.check_resume_config(old, new, where="runs/x/last.pt")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("runs/x/last.pt: --resume with a changed config: ")
    assert "(+2 more)" in msg and "--force" in msg
    logged = []
    assert len(rd.check_resume_config(old, new, where="x", force=True, log=logged.append)) == 5
    assert len(logged) == 1 and "train.optim.lr 0.01 -> 0.001" in logged[0] and "train.seed 0 -> 7" in logged[0]


# ------------------------------------------------------------------------ the lock and the refusal

def test_claim_locks_refuses_a_second_holder_and_releases(tmp_path):
    work = tmp_path / "run"
    first = rd.claim_local(work)
    with pytest.raises(RunDirError, match=rf"{work}: another training is using this work dir \(pid {os.getpid()} on "):
        rd.claim_local(work, force=True)
    first.release()
    first.release()
    rd.claim_local(work).release()      # the lock file alone is no run
    assert os.listdir(work) == [rd.LOCK_NAME]


def test_the_files_signkd_run_keeps_beside_a_run_are_no_run(tmp_path):
    """`signkd run` writes its stage record and log into the stage's work dir before training there."""
    work = tmp_path / "stage"
    work.mkdir()
    for name in (rd.STAGE_RECORD, rd.STAGE_LOG):
        (work / name).write_text("{}", encoding="utf-8")
    claim = rd.claim_local(work)
    assert claim.previous == []
    claim.release()
    (work / "best.pt").write_bytes(b"x")
    with pytest.raises(RunDirError, match="holds"):
        rd.claim_local(work)


_HOLD = """
import sys
from signkd.training.run_dir import claim_local
claim = claim_local(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_lock_held_by_another_process_refuses_and_dies_with_it(tmp_path):
    work = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(work)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirError, match=rf"another training is using this work dir \(pid {child.pid} on "):
            rd.claim_local(work)
    finally:
        child.kill()            # SIGKILL: no clean-up of any kind runs in the holder
        child.wait(timeout=30)
    assert (work / rd.LOCK_NAME).read_text().startswith(f"pid {child.pid} ")   # its record is still there ...
    rd.claim_local(work).release()                                            # ... and blocks nothing


def test_force_deletes_only_the_old_checkpoints_and_says_so(tmp_path):
    work = tmp_path / "run"
    (work / "snapshots").mkdir(parents=True)
    for name in ("last.pt", "best.pt", "best.next.pt", "snapshots/epoch-002.pt", "metrics.json", "notes.txt"):
        (work / name).write_text("old")
    with pytest.raises(RunDirError, match=r"already holds a run \(best.next.pt, best.pt, last.pt, \.\.\. \(6 entries\)\); "
                                          "pass --resume to continue it, --force to overwrite it"):
        rd.claim_local(work)
    assert (work / "best.pt").read_text() == "old"
    claim = rd.claim_local(work, force=True)       # the refused claim released its lock
    assert sorted(claim.removed) == ["best.next.pt", "best.pt", "last.pt", "snapshots/epoch-002.pt"]
    assert not (work / "best.pt").exists() and (work / "notes.txt").read_text() == "old"
    assert "overwrites a previous run" in claim.overwrite_note() and "snapshots/epoch-002.pt" in claim.overwrite_note()
    claim.release()
    resumed = rd.claim_local(work, resume=True)    # --resume continues what is there
    assert resumed.previous == [] and resumed.overwrite_note() == ""
    resumed.release()


def _ddp_claim_worker(rank: int, init_file: str, work: str, out: str) -> None:
    import torch.distributed as dist

    from signkd.training.distributed import DistInfo

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        claim = rd.claim(work, DistInfo(rank=rank, world_size=2))
        verdict = f"claimed locked={claim.locked}"
    except RunDirError as exc:
        verdict = f"refused {exc}"
    with open(f"{out}.{rank}", "w", encoding="utf-8") as fh:
        fh.write(verdict)
    dist.destroy_process_group()


def test_under_ddp_rank_0_locks_and_every_rank_gets_its_verdict(tmp_path):
    import torch.multiprocessing as mp

    work, out = tmp_path / "run", tmp_path / "verdict"

    def run(init: str) -> list[str]:
        mp.start_processes(_ddp_claim_worker, args=(str(tmp_path / init), str(work), str(out)), nprocs=2,
                           join=True, start_method="fork")
        return [open(f"{out}.{r}", encoding="utf-8").read() for r in (0, 1)]

    assert run("init1") == ["claimed locked=True", "claimed locked=False"]
    (work / "best.pt").write_text("a finished run")
    verdicts = run("init2")     # the other rank stops too, with rank 0's line, instead of waiting for it
    assert verdicts[0] == verdicts[1] and verdicts[0].startswith(f"refused {work}: already holds a run (best.pt)")


# ------------------------------------------------------------------------ through Trainer and the CLI

def test_two_trainers_on_one_dir_the_second_is_refused_while_the_first_holds_it(tiny_corpus, tmp_path, capsys):
    from signkd.errors import CheckpointError
    from signkd.training.trainer import Trainer

    work = tmp_path / "run"
    cfg = load_config(TINY_CONFIG, tiny_overrides(tiny_corpus, work, *FAST))
    first = Trainer(cfg, log_file=False)
    held = rf"{work}: another training is using this work dir \(pid {os.getpid()} on "
    with pytest.raises(RunDirError, match=held):
        Trainer(cfg, log_file=False, force=True)
    with pytest.raises(RunDirError, match=held):
        Trainer(cfg, log_file=False, resume=True)
    assert _cli_train(tiny_corpus, work, "--force") == 2
    assert "another training is using this work dir" in _one_error_line(capsys)
    first.close()
    # a constructor that fails after taking the lock gives it back
    with pytest.raises(CheckpointError, match="nothing to resume"):
        Trainer(cfg, log_file=False, resume=True)
    with Trainer(cfg, log_file=False, force=True) as second:
        assert second.run_dir.locked and second.run_dir.previous
    assert not second.run_dir.locked


def test_a_finished_run_is_kept_unless_resumed_or_forced(tiny_corpus, tmp_path, capsys):
    work = tmp_path / "run"
    assert _cli_train(tiny_corpus, work) == 0
    kept = _files(work, "metrics.json", "best.pt", "last.pt", "train.log")
    assert _cli_train(tiny_corpus, work) == 2
    line = _one_error_line(capsys)
    assert f"{work}: already holds a run (" in line and "--resume" in line and "--force" in line
    assert _files(work, *kept) == kept
    # scoring a run's checkpoint into its own folder is no new training
    assert cli_main(["train", str(TINY_CONFIG), "--phase", "test", "--load-weights", str(work / "best.pt"),
                     "--set", f"data.root={tiny_corpus}", "--work-dir", str(work)]) == 0
    assert _files(work, *kept) == kept
    # --force replaces it and says so in the run's log
    assert _cli_train(tiny_corpus, work, "--force", sets=["train.epochs=2"]) == 0
    assert len(json.loads((work / "metrics.json").read_text())["history"]) == 2
    log = (work / "train.log").read_text()
    assert f"--force: this run overwrites a previous run in {work}" in log and "deleted its checkpoints" in log


def test_resume_refuses_a_changed_config_but_takes_more_epochs(tiny_corpus, tmp_path, capsys):
    work = tmp_path / "run"
    assert _cli_train(tiny_corpus, work) == 0
    kept = _files(work, "metrics.json", "best.pt", "last.pt")
    assert _cli_train(tiny_corpus, work, "--resume", sets=["train.optim.lr=0.001"]) == 2
    line = _one_error_line(capsys)
    assert f"{work / 'last.pt'}: --resume with a changed config: train.optim.lr 0.01 -> 0.001;" in line
    assert _files(work, *kept) == kept
    # more epochs: the commonest reason to resume a finished run
    assert _cli_train(tiny_corpus, work, "--resume", sets=["train.epochs=2"]) == 0
    assert [r["epoch"] for r in json.loads((work / "metrics.json").read_text())["history"]] == [1, 2]
    # --force resumes anyway and records what changed
    assert _cli_train(tiny_corpus, work, "--resume", "--force", sets=["train.epochs=3", "train.optim.lr=0.001"]) == 0
    log = (work / "train.log").read_text()
    assert "--force: resumed with 1 changed config key(s)" in log and "train.optim.lr 0.01 -> 0.001" in log


# ------------------------------------------------------------------------ unusable work dirs: one line

def test_a_work_dir_that_cannot_be_used_is_one_line(tiny_corpus, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    assert _cli_train(tiny_corpus, a_file) == 2
    assert f"{a_file}: is a file, not a folder" in _one_error_line(capsys)
    assert _cli_train(tiny_corpus, a_file / "run" / "sub") == 2
    assert f"{a_file / 'run' / 'sub'}: cannot create the work dir: {a_file} is a file" in _one_error_line(capsys)
    assert a_file.read_text() == "not a folder"
    # a folder whose files can be written but that takes no new file (read-only mount, chmod'd dir
    # where the lock file already exists): simulated at the os level, as tests may run as root
    work = tmp_path / "read-only"
    rd.claim_local(work).release()
    real_open = os.open

    def no_new_files(path, flags, *args, **kwargs):
        if str(path).startswith(str(work)) and flags & os.O_CREAT and not os.path.exists(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_new_files)
    assert _cli_train(tiny_corpus, work) == 2
    assert f"{work}: the work dir is not writable (Read-only file system)" in _one_error_line(capsys)
    monkeypatch.undo()
    assert os.listdir(work) == [rd.LOCK_NAME]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod'd folder anyway")
def test_a_chmod_read_only_work_dir_or_parent_is_one_line(tiny_corpus, tmp_path, capsys):
    parent = tmp_path / "locked-parent"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        assert _cli_train(tiny_corpus, parent / "run") == 2
        assert f"{parent / 'run'}: cannot create the work dir" in _one_error_line(capsys)
        assert _cli_train(tiny_corpus, parent) == 2
        assert f"{parent}: cannot write to the work dir" in _one_error_line(capsys)
    finally:
        parent.chmod(0o755)
