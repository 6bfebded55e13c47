"""Running the stages: processes side by side, their records, progress and the final table."""
from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional


from signkd.atomic import atomic_write_text

from signkd.pipeline.spec import load_pipeline, LOG_FILE, Pipeline, PipelineError, PLAN_FILE, POLL_SECONDS, _stage_hint, STATE_FILE
from signkd.pipeline.resolve import resolve, StageRun
from signkd.pipeline.plan import assess, _duration, file_sha256, _identity, plan, _product_sha, Verdict
from signkd.pipeline.checks import InputChecker, merge_problems
from signkd.pipeline.slots import SharedSlots
from signkd.training.run_dir import previous_run


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _last_line(path: Path) -> str:
    """The last non-empty line of a log (a failed command's one-line error), progress bars removed."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 8192))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.split("\r")[-1].strip() for ln in tail.splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1][:300] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def _result(run: StageRun) -> str:
    """A stage's headline result for the table: its dev score from metrics.json / test_metrics.json."""
    try:
        if run.stage.command == "back-translate":
            made = json.loads(run.product().with_name(run.product().name + ".json").read_text(encoding="utf-8"))
            return f"{made['pseudo_rows']} pseudo rows, gloss WER {made['copies'][0]['wer']:.1f}"
        if run.stage.command == "test":
            scores = json.loads((run.folder / "test_metrics.json").read_text(encoding="utf-8"))
            dev, epoch = scores.get("dev") or {}, None
        else:
            metrics = json.loads((run.folder / "metrics.json").read_text(encoding="utf-8"))
            dev, epoch = (metrics.get("final") or {}).get("dev") or {}, metrics.get("best_epoch")
            if not dev and metrics.get("select_metric") and metrics.get("best_score") is not None:
                dev = {metrics["select_metric"]: metrics["best_score"]}
    except (OSError, ValueError, AttributeError, KeyError, IndexError, TypeError):
        return ""
    for key, label in (("wer", "WER"), ("bleu4", "BLEU-4"), ("gloss_bleu4", "gloss BLEU-4")):
        if isinstance(dev.get(key), (int, float)):
            return f"dev {label} {dev[key]:.2f}" + (f" (epoch {epoch})" if epoch else "")
    return ""


@dataclasses.dataclass
class Running:
    run: StageRun
    proc: subprocess.Popen
    log: Any
    started: float
    verdict: Verdict
    log_size: int = 0


class Runner:
    """Runs the stages of a pipeline in dependency order, up to `jobs` at a time."""

    def __init__(self, pipe: Pipeline, runs: dict[str, StageRun], out: Path, *, jobs: int = 1, threads: int = 0,
                 forced: set[str] = frozenset(), log: Callable[[str], None] = print,
                 slots: Optional[SharedSlots] = None, rank: int = 0, stop: Optional[threading.Event] = None):
        self.pipe, self.runs, self.out, self.jobs, self.threads = pipe, runs, out, jobs, threads
        # slots: shared with runners of other folders (one per thread), so that together they train
        # at most that many stages at once, this folder's stages at `rank` among theirs (lower first);
        # stop: set by the thread that owns them to interrupt this one
        self.slots, self.rank, self.stop = slots, rank, stop
        self.forced, self.log = set(forced), log
        self.folders = [r.folder for r in runs.values()]
        self.status = {n: {"status": "pending", "plan": "", "why": ""} for n in pipe.order}
        self.sha: dict[str, str] = {}
        self.start = time.perf_counter()
        self.record = {"pipeline": str(pipe.path), "out": str(out), "started": _now(), "jobs": jobs,
                       "threads": threads, "from": sorted(forced), "stages": self.status}

    # --- bookkeeping
    def save(self) -> None:
        self.record["updated"] = _now()
        self.record["seconds"] = round(time.perf_counter() - self.start, 1)
        atomic_write_text(self.out / PLAN_FILE, json.dumps(self.record, indent=1, default=str) + "\n",
                          error=PipelineError, what="pipeline record")

    def note(self, name: str, **fields) -> None:
        self.status[name].update(fields)
        self.save()

    def say(self, text: str) -> None:
        self.log(f"[{_duration(time.perf_counter() - self.start):>7}] {text}")

    # --- one stage
    def launch(self, run: StageRun, verdict: Verdict) -> Running:
        run.folder.mkdir(parents=True, exist_ok=True)
        previous = run.state() or {}
        carried = previous.get("seconds", 0.0) if verdict.action == "resume" else 0.0
        argv = list(run.argv)
        if verdict.action == "resume":
            argv.append("--resume")
        elif run.stage.command == "train" and previous_run(run.folder):
            argv.append("--force")   # the pipeline decided that the run in its folder is stale: start over
        last = run.folder / "last.pt"
        state = {"stage": run.name, "status": "running", "fingerprint": verdict.fingerprint, "inputs": verdict.inputs,
                 "started": _now(), "argv": argv, "seconds": carried,
                 "attempts": (previous.get("attempts", 0) if verdict.action == "resume" else 0) + 1,
                 # an earlier run's last.pt, until this run replaces it: never resumed from
                 "stale_last": _identity(last) if verdict.action == "run" and last.is_file() else None}
        self._write_state(run, state)
        log = open(run.folder / LOG_FILE, "a", encoding="utf-8")
        log.write(f"\n=== {_now()} signkd run ({verdict.action}: {verdict.why}): {shlex.join(argv)}\n")
        log.flush()
        env = dict(os.environ)
        if self.threads > 0:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        state["pid"] = proc.pid
        self._write_state(run, state)
        self.note(run.name, status="running", plan=verdict.action, why=verdict.why, started=state["started"],
                  log=str(run.folder / LOG_FILE), argv=argv)
        self.say(f"{run.name}: {'resuming' if verdict.action == 'resume' else 'started'} ({verdict.why}); "
                 f"log: {run.folder / LOG_FILE}")
        train_log = run.folder / "train.log"
        return Running(run, proc, log, time.perf_counter(), verdict,
                       train_log.stat().st_size if train_log.is_file() else 0)

    def _write_state(self, run: StageRun, state: dict) -> None:
        atomic_write_text(run.folder / STATE_FILE, json.dumps(state, indent=1, default=str) + "\n",
                          error=PipelineError, what="stage record")

    def progress(self, job: Running) -> None:
        """Relay the epoch lines the stage's train.log gained since the last look."""
        path = job.run.folder / "train.log"
        try:
            size = path.stat().st_size
            if size <= job.log_size:
                return
            with open(path, "rb") as fh:
                fh.seek(job.log_size)
                text = fh.read(size - job.log_size).decode("utf-8", errors="replace")
        except OSError:
            return
        job.log_size = size
        for line in text.splitlines():
            if line.startswith("epoch "):
                self.say(f"{job.run.name}: {line.strip()}")

    def finish(self, job: Running, code: int) -> None:
        run, seconds = job.run, time.perf_counter() - job.started
        job.log.close()
        self.progress(job)
        state = run.state() or {}
        state.update(seconds=round(float(state.get("seconds", 0.0)) + seconds, 1), finished=_now(), exit_code=code,
                     load_average=round(os.getloadavg()[0], 2))   # times measured on a busy machine say so
        product = run.product()
        if code == 0 and product.is_file():
            state.update(status="done", product=dict(file_sha256(product), file=product.name))
            self._write_state(run, state)
            self.sha[run.name] = state["product"]["sha256"]
            result = _result(run)
            self.say(f"{run.name}: done in {_duration(seconds)}" + (f" ({result})" if result else ""))
            self.note(run.name, status="done", seconds=state["seconds"], result=result, finished=state["finished"],
                      load_average=state["load_average"])
            return
        if code == 0:
            error = f"exit 0 without writing {product.name}"
        elif code < 0:   # its log ends wherever it was stopped; there is no error line to show
            error = f"killed by {_signal_name(-code)}"
        else:
            line = _last_line(run.folder / LOG_FILE)
            error = f"exit {code}" + (f": {line}" if line else "")
        state["status"] = "failed"
        self._write_state(run, state)
        self.say(f"{run.name}: FAILED ({error}); log: {run.folder / LOG_FILE}")
        self.note(run.name, status="failed", seconds=state["seconds"], exit_code=code, error=error,
                  finished=state["finished"])

    # --- the whole graph
    def execute(self) -> dict[str, dict]:
        pending, running = list(self.pipe.order), {}
        verdicts: dict = {}   # stage -> its assessment, made once its needs are done
        try:
            while pending or running:
                if self.stop is not None and self.stop.is_set():
                    raise KeyboardInterrupt
                waiting = False   # for a shared slot, with a stage that is ready
                for name in list(pending):
                    needs = self.pipe.stages[name].needs
                    broken = [n for n in needs if self.status[n]["status"] in ("failed", "skipped", "interrupted")]
                    if broken:
                        pending.remove(name)
                        self.say(f"{name}: skipped (needs {broken[0]}, which {self.status[broken[0]]['status']})")
                        self.note(name, status="skipped", why=f"needs {broken[0]}")
                        continue
                    if any(self.status[n]["status"] not in ("done", "up to date") for n in needs):
                        continue
                    # assessed once its needs are done (nothing else writes this folder meanwhile), and
                    # before a slot is asked for: finding a stage up to date takes no slot from anyone
                    if name not in verdicts:
                        verdicts[name] = assess(self.runs[name], {n: self.sha[n] for n in needs}, self.folders,
                                                forced=name in self.forced)
                    verdict, run = verdicts[name], self.runs[name]
                    if verdict.action == "up to date":
                        pending.remove(name)
                        self.sha[name] = _product_sha(run)
                        state = run.state() or {}
                        self.note(name, status="up to date", plan="up to date", why=verdict.why,
                                  seconds=state.get("seconds"), load_average=state.get("load_average"),
                                  result=_result(run), log=str(run.folder / LOG_FILE))
                        self.say(f"{name}: up to date ({verdict.why})")
                        continue
                    if verdict.action not in ("run", "resume"):   # blocked: a folder filled since the checks
                        pending.remove(name)
                        self.say(f"{name}: FAILED ({verdict.why})")
                        self.note(name, status="failed", error=verdict.why)
                        continue
                    if waiting or len(running) >= self.jobs:
                        continue   # no slot for it now; later stages may still be up to date
                    if self.slots is not None and not self.slots.try_acquire(
                            self, (self.rank, self.pipe.order.index(name))):   # this folder's rank, then file order
                        waiting = True   # every free slot is taken or due to a better rank: look again at the next poll
                        continue
                    pending.remove(name)
                    try:
                        running[name] = self.launch(run, verdict)
                    except BaseException:
                        self._free_slot()
                        raise
                if self.slots is not None and not waiting:
                    self.slots.withdraw(self)
                if not running:
                    if pending and self.slots is not None:
                        time.sleep(POLL_SECONDS)   # waiting for a slot that another runner holds
                    continue
                time.sleep(POLL_SECONDS)
                for name, job in list(running.items()):
                    self.progress(job)
                    code = job.proc.poll()
                    if code is not None:
                        del running[name]
                        try:
                            self.finish(job, code)
                        finally:
                            self._free_slot()
        except BaseException:   # Ctrl-C, SIGTERM, or the runner's own failure: no stage is left orphaned
            self.interrupt(running)
            raise
        finally:
            if self.slots is not None:
                self.slots.withdraw(self)
        return self.status

    def _free_slot(self) -> None:
        if self.slots is not None:
            self.slots.release()

    def interrupt(self, running: dict[str, Running]) -> None:
        """Ctrl-C reached the stages too (one process group); give them time to stop cleanly, then
        stop them; each is marked interrupted and resumes on the next run."""
        for sig, grace in ((None, 5.0), (signal.SIGINT, 10.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            alive = [job for job in running.values() if job.proc.poll() is None]
            if not alive:
                break
            for job in alive:
                if sig is not None:
                    job.proc.send_signal(sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(job.proc.poll() is None for job in alive):
                time.sleep(0.1)
        for name, job in running.items():
            if job.proc.poll() == 0:   # it finished within the grace time
                self.finish(job, 0)
                continue
            job.log.close()
            state = job.run.state() or {}
            state.update(status="interrupted", finished=_now(), exit_code=job.proc.poll(),
                         seconds=round(float(state.get("seconds", 0.0)) + time.perf_counter() - job.started, 1))
            self._write_state(job.run, state)
            self.status[name].update(status="interrupted", seconds=state["seconds"])
            self.say(f"{name}: interrupted; the next run picks it up (from its last.pt when it wrote one)")
        for _ in running:
            self._free_slot()
        self.save()


def table(pipe: Pipeline, rows: dict[str, dict]) -> str:
    """The plan or the outcome, one line per stage."""
    width = max(len(n) for n in (*pipe.order, "stage"))
    lines = [f"  {'stage':<{width}}  {'status':<11} {'time':>8}  why / result"]
    for name in pipe.order:
        row = rows[name]
        detail = row.get("result") or row.get("error") or row.get("why") or ""
        lines.append(f"  {name:<{width}}  {row.get('status', ''):<11} {_duration(row.get('seconds')):>8}  {detail}")
    return "\n".join(lines)


class _Lock:
    """One runner per output folder: two would start the same stage twice."""

    def __init__(self, out: Path):
        self.path = out / ".pipeline.lock"
        out.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.seek(0)
            holder = " ".join(self.fh.read().split())[:120]
            self.fh.close()
            raise PipelineError(f"{out}: another `signkd run` is using this folder ({holder or 'pid unknown'}); "
                                f"wait for it or pick another --out") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} since {_now()}\n")
        self.fh.flush()

    def release(self) -> None:
        self.fh.close()


def run_pipeline(path: str | Path, *, out: str | Path | None = None, jobs: int = 1, threads: int = 0,
                 dry_run: bool = False, from_stages: list[str] = (), overrides: list[str] = (),
                 only: list[str] = (), log: Callable[[str], None] = print,
                 problem: Callable[[str], None] | None = None,
                 slots: Optional[SharedSlots] = None, rank: int = 0, stop: Optional[threading.Event] = None) -> int:
    """Plan, check, then run a pipeline. Returns 0, or 2 when the checks found problems (each
    passed to `problem`); a failed stage raises PipelineError naming it and its log. `only`: run
    these stages and the stages they need (directly or not), none of the others.

    Several pipelines (other folders) may run side by side, one per thread, sharing `slots` (the
    stages trained at once across all of them, granted to the lowest `rank` first, then in file
    order) and `stop` (set it to interrupt them all; only the main thread receives Ctrl-C and SIGTERM)."""
    problem = problem or (lambda text: print(f"signkd run: error: {text}", file=sys.stderr))
    pipe = load_pipeline(path)
    if jobs < 1:
        raise PipelineError(f"--jobs: expected a positive number of stages run at once, got {jobs}")
    if threads < 0:
        raise PipelineError(f"--threads: expected 0 (torch's default) or more, got {threads}")
    if out is None and not pipe.out:
        raise PipelineError(f"{pipe.path}: no out: folder in the file; give --out DIR")
    out = Path(out if out is not None else pipe.out)
    forced: set[str] = set()
    for name in from_stages or []:
        if name not in pipe.stages:
            raise PipelineError(f"--from: {name!r} is not a stage of {pipe.path}{_stage_hint(name, pipe.stages)}")
        forced.update(pipe.dependents(name))
    runs = resolve(pipe, out, list(overrides), threads)   # the whole pipeline: its stage names mark the configs' paths
    if only:
        pipe = pipe.subset(only)
        runs = {n: runs[n] for n in pipe.order}
        forced &= set(pipe.order)
    verdicts = plan(pipe, runs, forced)
    rows = {n: {"status": v.action, "why": v.why} for n, v in verdicts.items()}
    todo = [n for n in pipe.order if verdicts[n].action != "up to date"]
    log(f"signkd run: {pipe.path} -> {out} ({len(pipe.order)} stages, {len(todo)} to run, {jobs} at a time)")
    log(table(pipe, rows))
    found = [(n, p) for n in pipe.order for p in runs[n].problems]
    found += [(n, verdicts[n].why) for n in todo if verdicts[n].action == "blocked"]
    checker = InputChecker([r.folder for r in runs.values()])
    for name in todo:
        found += [(name, p) for p in checker.check(runs[name])]
    for text in checker.notes(list(pipe.order)):
        log(f"note: {text}")
    if jobs > 1 and threads == 0 and len(todo) > 1:
        log(f"note: --jobs {jobs} without --threads: each stage takes torch's default thread count (every core), "
            f"so {jobs} stages compete for the cores; --threads N sets it")
    problems = merge_problems(found, list(pipe.order))
    for text in problems:
        problem(text)
    if problems:
        log(f"signkd run: {len(problems)} problem(s); nothing was trained")
        return 2
    if dry_run:
        log("signkd run: dry run: every stage's config validates and every input exists; nothing was trained")
        return 0
    lock = _Lock(out)
    try:
        with sigterm_interrupts():
            runner = Runner(pipe, runs, out, jobs=jobs, threads=threads, forced=forced, log=log, slots=slots,
                            rank=rank, stop=stop)
            runner.save()
            status = runner.execute()
    finally:
        lock.release()
    log(table(pipe, status))
    log(f"wrote {out / PLAN_FILE}")
    failed = [n for n in pipe.order if status[n]["status"] == "failed"]
    if failed:
        first = failed[0]
        skipped = [n for n in pipe.order if status[n]["status"] == "skipped"]
        raise PipelineError(f"stage {first} failed ({status[first].get('error') or 'see its log'}); log: "
                            f"{runs[first].folder / LOG_FILE}"
                            + (f"; also failed: {', '.join(failed[1:])}" if failed[1:] else "")
                            + (f"; not run: {', '.join(skipped)}" if skipped else ""))
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def sigterm_interrupts():
    """SIGTERM raised as KeyboardInterrupt, as Ctrl-C is, so that a runner stops and marks its
    stages on either. Only the main thread may install the handler (and only it receives the
    signal); elsewhere this does nothing, and the thread that started the runners stops them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
