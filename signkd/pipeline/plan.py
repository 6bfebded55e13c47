"""Fingerprints: whether a stage's last run is still valid for its inputs, resumable, or stale."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Optional


from signkd.atomic import sha256_file

from signkd.errors import SignkdError
from signkd.pipeline.spec import Pipeline
from signkd.pipeline.resolve import _flat, _inline, StageRun
from signkd.training.run_dir import previous_run


def file_sha256(path: Path, known: Optional[dict] = None) -> dict:
    """{sha256, size, mtime_ns} of a file; `known` (an earlier record of it) is reused while the
    size and modification time are unchanged, so an unchanged checkpoint is hashed once."""
    st = path.stat()
    if known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns and known.get("sha256"):
        return dict(known)
    return {"sha256": sha256_file(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _loaded_files(run: StageRun, folders: list[Path]) -> dict[str, str]:
    """Files the stage reads from outside the pipeline whose content its result depends on:
    {what: path}. Checkpoints it loads, and the annotation file of each split (a corpus regenerated
    or corrected in place reruns its stages; frames are not hashed: there are too many, but a
    synthetic corpus's corpus.json records how they were made)."""
    from signkd.data.corpora import FORMATS, annotation_file, corpus_format

    inside = [str(f) for f in folders]
    paths = {"weights": run.weights} if run.weights else {}
    paths.update({f"ensemble[{i}]": p for i, p in enumerate(run.ensemble)})
    if run.cfg is None:
        return _outside(paths, inside)
    cfg = run.cfg
    paths.update({f"train.init[{i}].checkpoint": init.checkpoint for i, init in enumerate(cfg.train.init)})
    d = cfg.data
    for role in ("train", "dev", "test"):
        if getattr(d, role):
            try:
                paths[f"data.{role} annotations"] = str(annotation_file(d.format, d.root, getattr(d, role),
                                                                        annotations=d.annotations, dialogue=d.dialogue))
            except SignkdError:   # absent: the dry run says so, or training scores without it
                pass
    if d.root and d.format in FORMATS:   # e.g. a synthetic corpus's corpus.json: how its frames were rendered
        paths.update({name: str(Path(d.root) / name) for name in corpus_format(d.format).extra_files})
    return _outside(paths, inside)


def _outside(paths: dict[str, str], inside: list[str]) -> dict[str, str]:
    """The files of `paths` that exist and lie outside every stage folder."""
    return {k: p for k, p in paths.items()
            if p and not any(p == f or p.startswith(f + os.sep) for f in inside) and Path(p).is_file()}


def inputs_of(run: StageRun, needs: dict[str, str], folders: list[Path], known: Optional[dict] = None) -> dict:
    """What the stage's fingerprint covers: the command, the config as written (placeholders kept,
    so moving the output folder changes nothing), the results of the stages it needs and the
    sha256 of the files it reads from outside the pipeline (`_loaded_files`)."""
    known = (known or {}).get("files", {})
    files = {}
    for key, path in sorted(_loaded_files(run, folders).items()):
        earlier = known.get(key) if (known.get(key) or {}).get("path") == path else None
        files[key] = dict(file_sha256(Path(path), earlier), path=path)
    return {"command": run.stage.command, "config": run.config, "needs": dict(sorted(needs.items())), "files": files}


def fingerprint(inputs: dict) -> str:
    stable = dict(inputs, files={k: v["sha256"] for k, v in inputs["files"].items()})
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:20]


def _changes(old: dict, new: dict) -> str:
    """Why a stage's inputs differ from its last run's, in a few words."""
    why = []
    if old.get("command") != new["command"]:
        why.append(f"command {old.get('command')} -> {new['command']}")
    a, b = _flat(old.get("config") or {}), _flat(new["config"])
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    shown = lambda flat, key: _inline(flat[key]) if key in flat else "(unset)"  # noqa: E731
    why += [f"{k}: {shown(a, k)} -> {shown(b, k)}" for k in keys[:2]]
    if len(keys) > 2:
        why.append(f"{len(keys) - 2} more config keys")
    for dep in sorted(set(old.get("needs") or {}) | set(new["needs"])):
        if (old.get("needs") or {}).get(dep) != new["needs"].get(dep):
            why.append(f"the result of {dep} changed")
    for key in sorted(set(old.get("files") or {}) | set(new["files"])):
        if ((old.get("files") or {}).get(key) or {}).get("sha256") != (new["files"].get(key) or {}).get("sha256"):
            why.append(f"{key} changed" if key in new["files"] else f"{key} no longer read")
    return "; ".join(why) or "inputs changed"


@dataclasses.dataclass
class Verdict:
    action: str                  # "up to date" | "run" | "resume" | "blocked"
    why: str
    inputs: Optional[dict] = None
    fingerprint: str = ""


def assess(run: StageRun, needs: dict[str, str], folders: list[Path], forced: bool = False) -> Verdict:
    """Is the stage's last run in its folder still valid for these inputs, resumable, or stale?"""
    state = run.state()
    inputs = inputs_of(run, needs, folders, known=(state or {}).get("inputs"))
    fp = fingerprint(inputs)
    verdict = lambda action, why: Verdict(action, why, inputs, fp)  # noqa: E731
    if state is None:
        if run.folder.is_dir() and previous_run(run.folder) and not forced:
            return verdict("blocked", f"{run.folder} holds files this pipeline did not write; move them away "
                                      f"(or rerun the stage with --from {run.name})")
        return verdict("run", "--from" if forced else "never run")
    if forced:
        return verdict("run", "--from")
    if state.get("fingerprint") != fp:
        return verdict("run", _changes(state.get("inputs") or {}, inputs))
    status = state.get("status")
    if status == "done":
        product, recorded = run.product(), state.get("product") or {}
        if not product.is_file():
            return verdict("run", f"its {product.name} is gone")
        if file_sha256(product, recorded).get("sha256") != recorded.get("sha256"):
            return verdict("run", f"its {product.name} changed since the pipeline recorded it")
        return verdict("up to date", f"{status} {state.get('finished', '')[:16].replace('T', ' ')}, "
                                     f"{_duration(state.get('seconds'))}".rstrip(", "))
    last, stale = run.folder / "last.pt", state.get("stale_last")
    if run.stage.command == "train" and last.is_file() and (not stale or _identity(last) != stale):
        return verdict("resume", f"{status} after epoch {_epochs_done(run.folder)} of "
                                 f"{run.cfg.train.epochs if run.cfg else '?'}")
    return verdict("run", f"{status} before its first checkpoint")


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _epochs_done(folder: Path) -> str:
    try:
        return str(len(json.loads((folder / "metrics.json").read_text(encoding="utf-8")).get("history") or []))
    except (OSError, ValueError, AttributeError):
        return "?"


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def plan(pipe: Pipeline, runs: dict[str, StageRun], forced: set[str]) -> dict[str, Verdict]:
    """What a run would do now, stage by stage: a stage after one that runs waits for its result."""
    folders = [r.folder for r in runs.values()]
    verdicts: dict[str, Verdict] = {}
    for name in pipe.order:
        run = runs[name]
        waiting = [n for n in run.stage.needs if verdicts[n].action != "up to date"]
        if waiting:
            verdicts[name] = Verdict("run", "--from" if name in forced else f"after {', '.join(waiting)}")
        else:
            needs = {n: _product_sha(runs[n]) for n in run.stage.needs}
            verdicts[name] = assess(run, needs, folders, forced=name in forced)
    return verdicts


def _product_sha(run: StageRun) -> str:
    return ((run.state() or {}).get("product") or {}).get("sha256", "")


