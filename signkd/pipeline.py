"""`signkd run PIPELINE.yaml`: one runner for every multi-stage experiment.

Why: every experiment of the method is a graph of `signkd train` runs in which later runs load
earlier checkpoints (VAC baseline -> teachers -> students -> SLT). One runner schedules them in
dependency order (side by side up to --jobs), skips a stage whose config and inputs did not change,
resumes an interrupted one, and checks every input of every stage before the first epoch, so a
typo in the last stage's config does not surface days into a run.

A pipeline file (paths relative to it; `${name}` is the run folder of stage `name`, `${out}` the
output folder; neither needs quoting in YAML):

    out: runs/dialogue_phoenix          # default --out; config strings under it follow --out
    set: {data.root: /data/PHOENIX}     # overrides for every stage
    stages:
      teacher:
        config: teacher_slr_bilstm.yaml
      student:
        config: student_slr_2teacher_bilstm.yaml
        needs: [teacher]
        set:
          train.init: [{checkpoint: ${teacher}/best.pt, prefix: dialogue_teacher.}]
      student_test:                     # command: train (default) | test
        command: test
        config: student_slr_2teacher_bilstm.yaml
        weights: ${student}/best.pt
        needs: [student]

A variant is a file with `base: other_pipeline.yaml`: its `set` and each stage's `set` are merged
key by key over the base's, other fields replace the base's, new stages are added.

A string in a stage's config file that names `<out>/<stage>/...` refers to that stage's run folder
(the shipped configs name their teachers' checkpoints that way, so they also run alone with
`signkd train`); it must be in `needs` like a placeholder. Overrides apply in this order: config
file < pipeline `set` < stage `set` < `--set` on the command line.

Each stage runs as `python -m signkd train CONFIG --work-dir OUT/<stage> --set ...` with its output
in OUT/<stage>/stage.log; OUT/<stage>/stage.json records what it was run with (its fingerprint: the
config as written, minus the keys that only say how fast or verbosely it runs, the sha256 of the
results of the stages it needs, of the checkpoints it loads from elsewhere and of the corpus's
annotation files) and its status.
OUT/pipeline.json holds the plan and every stage's status and time (of the stages run: `--only
STAGE` runs that stage and those it needs).
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import fcntl
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from signkd.atomic import atomic_write_text, sha256_file
import difflib

from signkd.config import ConfigError, _closest, apply_overrides, from_dict, read_yaml, validate
from signkd.errors import SignkdError
from signkd.training.run_dir import STAGE_LOG, STAGE_RECORD, previous_run

TOP_KEYS = ("base", "out", "set", "stages")
STAGE_KEYS = ("config", "command", "needs", "set", "weights")
COMMANDS = ("train", "test")
# What each command leaves for the stages that need it: its fingerprint is the file's sha256.
PRODUCT = {"train": "best.pt", "test": "test_metrics.json"}
STATE_FILE, LOG_FILE, PLAN_FILE = STAGE_RECORD, STAGE_LOG, "pipeline.json"   # the first two are not a run to `train`
# Keys that say how fast, where or how verbosely a run goes, not what it computes: a change to
# them does not make a stage stale (and `signkd train --resume` accepts them changed).
# data.cache holds the same frames as the frame folders, packed (`signkd prepare`). The corpus's
# own location (data.root, ...) does count: the runner cannot tell a moved corpus from another one.
UNFINGERPRINTED = ("work_dir", "name", "data.num_workers", "data.cache", "train.num_threads", "train.device",
                   "train.progress", "train.tensorboard", "train.log_every")

REF = re.compile(r"\$\{([^}]*)\}")
_MARK = re.compile(r"_signkdref([0-9a-f]*)_")
STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
POLL_SECONDS = 0.5


class PipelineError(SignkdError):
    """A pipeline file that cannot run as written, or a stage that failed; one line."""


# --------------------------------------------------------------------------------------------
# The pipeline file
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    config: Path                  # resolved against the pipeline file's folder
    command: str = "train"
    needs: tuple[str, ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()   # its `set:`
    weights: str = ""             # test: the checkpoint scored


@dataclasses.dataclass(frozen=True)
class Pipeline:
    path: Path
    stages: dict[str, Stage]      # in file order
    order: tuple[str, ...]        # dependency order (file order where free)
    out: str = ""
    overrides: tuple[tuple[str, Any], ...] = ()   # the file's top-level `set:`
    # `out` of this file and of the files in its base: chain: config paths under them name stages
    homes: tuple[str, ...] = ()

    def dependents(self, name: str) -> list[str]:
        """`name` and every stage that needs it, directly or not, in dependency order."""
        hit = {name}
        for other in self.order:
            if hit & set(self.stages[other].needs):
                hit.add(other)
        return [n for n in self.order if n in hit]

    def requirements(self, names) -> list[str]:
        """`names` and every stage they need, directly or not, in dependency order."""
        hit = set(names)
        for other in reversed(self.order):
            if other in hit:
                hit.update(self.stages[other].needs)
        return [n for n in self.order if n in hit]

    def subset(self, names, option: str = "--only") -> "Pipeline":
        """The pipeline of `names` and the stages they need; an unknown name is one PipelineError line."""
        for name in names:
            if name not in self.stages:
                raise PipelineError(f"{option}: {name!r} is not a stage of {self.path}{_stage_hint(name, self.stages)}")
        keep = self.requirements(names)
        return dataclasses.replace(self, stages={n: s for n, s in self.stages.items() if n in keep}, order=tuple(keep))


def _stage_hint(name: str, names) -> str:
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else f"; its stages: {', '.join(names)}"


def _mark_refs(text: str) -> str:
    """`${x}` -> a plain-scalar-safe marker, so placeholders need no quotes in YAML flow mappings."""
    return REF.sub(lambda m: f"_signkdref{m.group(1).encode('utf-8').hex()}_", text)


def _unmark(node):
    if isinstance(node, str):
        return _MARK.sub(lambda m: "${" + bytes.fromhex(m.group(1)).decode("utf-8") + "}", node)
    if isinstance(node, dict):
        return {_unmark(k): _unmark(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unmark(v) for v in node]
    return node


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML keeps the last one silently, which would
    drop a whole stage)."""


def _unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"{key!r} given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _refs(node) -> set[str]:
    if isinstance(node, str):
        return set(REF.findall(node))
    if isinstance(node, dict):
        return set().union(*(_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _settings(value, where: str) -> tuple[tuple[str, Any], ...]:
    """A `set:` mapping of dotted config keys to YAML values."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise PipelineError(f"{where}: expected a mapping of config keys to values, e.g. {{train.epochs: 10}}")
    for key in value:
        if not isinstance(key, str) or not all(key.split(".")):
            raise PipelineError(f"{where}: {key!r} is not a dotted config key like train.epochs")
    return tuple(value.items())


def _read_file(path: Path, seen: tuple = ()) -> dict:
    """One pipeline file with its `base:` chain merged in. Stage config paths are joined to the
    folder of the file that names them, so a variant may live elsewhere than its base."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{path}: pipeline file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = _unmark(yaml.load(_mark_refs(text), Loader=_UniqueKeyLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a mapping with 'stages:' at the top level")
    for key in data:
        if key not in TOP_KEYS:
            raise PipelineError(f"{path}: {key}: unknown key{_closest(str(key), TOP_KEYS)}")
    for spec in (data.get("stages") or {}).values() if isinstance(data.get("stages"), dict) else ():
        if isinstance(spec, dict) and isinstance(spec.get("config"), str) and spec["config"]:
            spec["config"] = os.path.normpath(path.parent / spec["config"])
    if "base" not in data:
        data["homes"] = [data["out"]] if isinstance(data.get("out"), str) and data["out"] else []
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base:
        raise PipelineError(f"{path}: base: expected the file name of another pipeline, got {base!r}")
    if path.resolve() in seen:
        raise PipelineError(f"{path}: circular 'base:' chain")
    return _merge(_read_file(path.parent / base, seen + (path.resolve(),)), data)


def _merge(base: dict, over: dict) -> dict:
    """A variant over its base: `out` replaced, `set` merged key by key, each stage's fields
    replaced (its `set` merged key by key), new stages added after the base's."""
    out = dict(base, **{k: v for k, v in over.items() if k not in ("set", "stages")})
    out["homes"] = [*base["homes"], *([over["out"]] if isinstance(over.get("out"), str) and over["out"] else [])]
    for key in ("set", "stages"):
        if isinstance(base.get(key), dict) and isinstance(over.get(key), dict):
            out[key] = {**base[key], **over[key]}
        elif key in over:
            out[key] = over[key]
    for name, spec in (over.get("stages") or {}).items() if isinstance(over.get("stages"), dict) else ():
        old = (base.get("stages") or {}).get(name) if isinstance(base.get("stages"), dict) else None
        if isinstance(old, dict) and isinstance(spec, dict):
            out["stages"][name] = {**old, **spec}
            if isinstance(old.get("set"), dict) and isinstance(spec.get("set"), dict):
                out["stages"][name]["set"] = {**old["set"], **spec["set"]}
    return out


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and check a pipeline file; every structural mistake is one PipelineError line."""
    path = Path(path)
    data = _read_file(path)
    out = data.get("out") or ""
    if not isinstance(out, str):
        raise PipelineError(f"{path}: out: expected a folder name, got {out!r}")
    common = _settings(data.get("set"), f"{path}: set")
    for key, value in common:
        for name in _refs(value) - {"out"}:
            raise PipelineError(f"{path}: set.{key}: ${{{name}}}: a stage's folder belongs in that stage's own "
                                f"set, with the stage in its needs")
    raw_stages = data.get("stages")
    if not isinstance(raw_stages, dict) or not raw_stages:
        raise PipelineError(f"{path}: stages: expected a mapping of stage names to stages")
    names = [str(n) for n in raw_stages]
    stages: dict[str, Stage] = {}
    for name, spec in raw_stages.items():
        where = f"{path}: stages.{name}"
        if not isinstance(name, str) or not STAGE_NAME.match(name) or name == "out":
            raise PipelineError(f"{where}: a stage name is its folder name: letters, digits, '_' and '-' "
                                f"(and not 'out'), got {name!r}")
        if not isinstance(spec, dict):
            raise PipelineError(f"{where}: expected a mapping with at least 'config:'")
        for key in spec:
            if key not in STAGE_KEYS:
                raise PipelineError(f"{where}.{key}: unknown key{_closest(str(key), STAGE_KEYS)}")
        command = spec.get("command", "train")
        if command not in COMMANDS:
            raise PipelineError(f"{where}.command: expected one of {', '.join(COMMANDS)}, got {command!r}"
                                + (_closest(str(command), COMMANDS) if isinstance(command, str) else ""))
        config = spec.get("config")
        if not isinstance(config, str) or not config:
            raise PipelineError(f"{where}.config: expected the stage's config file (a path relative to the "
                                f"pipeline file)")
        needs = spec.get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise PipelineError(f"{where}.needs: expected a list of stage names")
        for need in needs:
            if need == name:
                raise PipelineError(f"{where}.needs: a stage cannot need itself")
            if need not in raw_stages:
                raise PipelineError(f"{where}.needs: {need!r} is not a stage of this pipeline"
                                    f"{_stage_hint(need, names)}")
        if len(set(needs)) != len(needs):
            raise PipelineError(f"{where}.needs: a stage is listed twice")
        weights = spec.get("weights", "")
        if command == "test" and (not isinstance(weights, str) or not weights):
            raise PipelineError(f"{where}.weights: a test stage scores a checkpoint, e.g. "
                                f"weights: ${{train_stage}}/best.pt")
        if command != "test" and weights:
            raise PipelineError(f"{where}.weights: only for command: test (train stages load weights with train.init)")
        overrides = _settings(spec.get("set"), f"{where}.set")
        for key, value in overrides + ((("weights", weights),) if weights else ()):
            for ref in sorted(_refs(value) - {"out"}):
                if ref not in raw_stages:
                    raise PipelineError(f"{where}.{'set.' if key != 'weights' else ''}{key}: ${{{ref}}} names no stage"
                                        f"{_stage_hint(ref, names)}")
                if ref not in needs:
                    raise PipelineError(f"{where}.{'set.' if key != 'weights' else ''}{key}: ${{{ref}}} is the folder "
                                        f"of stage {ref!r}, which is not in its needs")
        stages[name] = Stage(name, Path(config), command, tuple(needs), overrides, weights)
    return Pipeline(path, stages, _order(stages, path), out, common, tuple(dict.fromkeys(data["homes"])))


def _order(stages: dict[str, Stage], path: Path) -> tuple[str, ...]:
    """Dependency order, file order among stages that are free to go; a cycle is one line naming it."""
    done: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = trail[trail.index(name):] + [name]
            raise PipelineError(f"{path}: stages: a cycle: {' -> '.join(cycle)} (each needs the next)")
        state[name] = "visiting"
        for need in stages[name].needs:
            visit(need, trail + [name])
        state[name] = "done"
        done.append(name)

    for name in stages:
        visit(name, [])
    return tuple(done)


# --------------------------------------------------------------------------------------------
# One stage, resolved for one output folder
# --------------------------------------------------------------------------------------------

def _inline(value) -> str:
    """A YAML value on one line that `--set key=...` (yaml.safe_load) reads back unchanged."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30, sort_keys=False).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text


def _walk_strings(node, fn):
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, dict):
        return {k: _walk_strings(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_strings(v, fn) for v in node]
    return node


def _norm(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")


def _out_references(data: dict, homes: tuple[str, ...], stages, prefix: str = "") -> list[tuple[str, Any]]:
    """Overrides that turn the config file's paths under the pipeline's `out` folders (`homes`) into
    placeholders: `<out>/<stage>/x` -> `${stage}/x`, any other `<out>/x` -> `${out}/x`."""
    roots = [_norm(home) for home in homes]

    def rewrite(text: str) -> str:
        norm = _norm(text) if text else text
        root = next((r for r in roots if text and (norm == r or norm.startswith(r + "/"))), None)
        if root is None:
            return text
        rest = norm[len(root):].lstrip("/")
        head, _, tail = rest.partition("/")
        if head in stages:
            return "${" + head + "}" + (f"/{tail}" if tail else "")
        return "${out}" + (f"/{rest}" if rest else "")

    found = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if dotted == "work_dir":
            continue
        if isinstance(value, dict) and key != "weights":
            found += _out_references(value, homes, stages, dotted + ".")
        else:
            new = _walk_strings(value, rewrite)
            if new != value:
                found.append((dotted, new))
    return found


def _drop(data: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def _flat(data, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value and key != "weights":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclasses.dataclass
class StageRun:
    """A stage of one invocation: its command line, its config, and what its fingerprint covers."""
    stage: Stage
    folder: Path
    argv: list[str] = dataclasses.field(default_factory=list)
    cfg: Any = None                                  # the validated Config it trains with (None: invalid)
    config: dict = dataclasses.field(default_factory=dict)   # as written, placeholders kept (fingerprinted)
    problems: list[str] = dataclasses.field(default_factory=list)
    weights: str = ""                                # test: the expanded checkpoint path

    @property
    def name(self) -> str:
        return self.stage.name

    def state(self) -> Optional[dict]:
        path = self.folder / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def product(self) -> Path:
        return self.folder / PRODUCT[self.stage.command]


def resolve(pipe: Pipeline, out: Path, cli_sets: list[str] = (), threads: int = 0) -> dict[str, StageRun]:
    """Every stage's config and command line for output folder `out`. Problems (a config that does
    not load or validate, a folder reference outside `needs`) are collected, not raised."""
    from signkd.config import parse_override

    folders = {name: out / name for name in pipe.stages}
    cli = []
    for text in cli_sets:
        parts, value = parse_override(_mark_refs(text))
        value = _unmark(value)
        for ref in _refs(value) - {"out"}:
            raise PipelineError(f"--set {text}: ${{{ref}}}: a stage's folder belongs in that stage's set in the "
                                f"pipeline file")
        cli.append((".".join(parts), value))
    runner = [("train.num_threads", threads)] if threads > 0 else []

    def expand(value):
        def folder(m: re.Match) -> str:
            return str(out) if m.group(1) == "out" else str(folders.get(m.group(1), m.group(0)))
        return _walk_strings(value, lambda text: REF.sub(folder, text))

    runs = {}
    for name in pipe.order:
        stage = pipe.stages[name]
        run = runs[name] = StageRun(stage, folders[name])
        try:
            written = copy.deepcopy(read_yaml(stage.config))
        except ConfigError as exc:
            run.problems.append(str(exc))
            continue
        rewrites = _out_references(written, pipe.homes, pipe.stages) if pipe.homes else []
        overrides = rewrites + list(pipe.overrides) + list(stage.overrides) + cli + runner
        run.config = apply_overrides(written, [f"{k}={_inline(v)}" for k, v in overrides])
        for ref in sorted(_refs(run.config) - {"out", name} - set(stage.needs)):
            keys = [k for k, v in _flat(run.config).items() if ref in _refs(v)]
            run.problems.append(f"{stage.config}: {keys[0] if keys else 'a value'} names the folder of stage {ref!r} "
                                f"(under {' or '.join(pipe.homes)}); add {ref} to the needs of {name}")
        run.config = copy.deepcopy(run.config)   # apply_overrides shares untouched sub-mappings with `written`
        for key in UNFINGERPRINTED:
            _drop(run.config, key)
        strings = [f"{k}={_inline(expand(v))}" for k, v in overrides]
        try:
            cfg = from_dict(apply_overrides(written, strings))
            validate(cfg)
            cfg.work_dir = str(run.folder)   # what --work-dir gives the stage's process
            run.cfg = cfg
        except ConfigError as exc:
            run.problems.append(f"{stage.config}: {exc}")
        run.weights = expand(stage.weights)
        run.argv = [sys.executable, "-m", "signkd", stage.command, str(stage.config)]
        if stage.command == "test":
            run.argv += ["--load-weights", run.weights]
        run.argv += ["--work-dir", str(run.folder)]
        for text in strings:
            run.argv += ["--set", text]
    return runs


# --------------------------------------------------------------------------------------------
# Fingerprints and the plan
# --------------------------------------------------------------------------------------------

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
    from signkd.data.corpora import annotation_file

    if run.cfg is None:
        return {}
    cfg, inside = run.cfg, [str(f) for f in folders]
    paths = {f"train.init[{i}].checkpoint": init.checkpoint for i, init in enumerate(cfg.train.init)}
    if run.stage.command == "test":
        paths["weights"] = run.weights
    d = cfg.data
    for role in ("train", "dev", "test"):
        if getattr(d, role):
            try:
                paths[f"data.{role} annotations"] = str(annotation_file(d.format, d.root, getattr(d, role),
                                                                        annotations=d.annotations, dialogue=d.dialogue))
            except SignkdError:   # absent: the dry run says so, or training scores without it
                pass
    if d.format == "synthetic" and d.root:   # how its frames were rendered, which the annotations do not show
        paths["corpus.json"] = str(Path(d.root) / "corpus.json")
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


# --------------------------------------------------------------------------------------------
# Checking inputs before any training
# --------------------------------------------------------------------------------------------

def _hub_name(text: str) -> bool:
    """A Hugging Face model id (`bert-base-german-cased`, `org/name`), not a local path."""
    return not text.startswith(("/", ".", "~")) and text.count("/") <= 1 and not Path(text).exists()


class InputChecker:
    """Checks a stage's inputs the way training reads them: the corpus splits through the trainer's
    own reader (annotation files, dialogue files, every frame folder), the packed cache, tokenizer
    and pretrained weights, checkpoints loaded from outside the pipeline. Reads of the same corpus
    are shared between stages."""

    def __init__(self, folders: list[Path]):
        self.folders = [str(f) for f in folders]
        self._reads: dict[tuple, Optional[Exception]] = {}
        self.downloads: dict[str, set[str]] = {}    # name -> config keys that load it by name
        self.absent: list[tuple[str, str]] = []      # (stage, a split that is not there)

    def made_here(self, path: str) -> bool:
        """Whether `path` lies in a stage's folder (made by that stage; its needs say when)."""
        return bool(path) and any(path == f or path.startswith(f + os.sep) for f in self.folders)

    def _read(self, cfg, role: str) -> Optional[Exception]:
        from signkd.models.parts import model_parts
        from signkd.training.data import read_split

        d = cfg.data
        key = (d.format, d.root, d.annotations, d.dialogue, d.frames, d.skip_bad, model_parts(cfg).reads_video,
               getattr(d, role))
        if key not in self._reads:
            try:
                read_split(cfg, role, [])
                self._reads[key] = None
            except SignkdError as exc:
                self._reads[key] = exc
        return self._reads[key]

    def check(self, run: StageRun) -> list[str]:
        """The stage's problems, each one line without the stage's name."""
        from signkd.data.corpora import MissingAnnotationError
        from signkd.models.parts import model_parts
        from signkd.training.data import frame_source

        cfg, problems = run.cfg, []
        if cfg is None:
            return problems
        d, m, parts = cfg.data, cfg.model, model_parts(cfg)
        for role in ("train", "dev", "test"):
            if not getattr(d, role) or self.made_here(getattr(d, role)) or self.made_here(d.annotations):
                continue
            exc = self._read(cfg, role)
            if isinstance(exc, MissingAnnotationError) and role == "test":
                self.absent.append((run.name, f"{exc}; scored on dev only"))
            elif exc is not None and str(exc) not in problems:
                problems.append(str(exc))
        if d.cache and parts.reads_video and not self.made_here(d.cache):
            try:
                frame_source(cfg)
            except SignkdError as exc:
                problems.append(f"data.cache: {exc}")
        named = [("data.tokenizer", d.tokenizer), ("model.text.pretrained", m.text.pretrained)]
        for key, value in named if parts.reads_text else []:
            if not value or self.made_here(value) or Path(value).exists():
                continue
            if _hub_name(value):
                self.downloads.setdefault(value, set()).add(key)
            else:
                problems.append(f"{key}: not found: {value}")
        if parts.reads_video and m.visual.pretrained:
            if m.visual.pretrained == "imagenet":
                self.downloads.setdefault("imagenet", set()).add("model.visual.pretrained")
            elif not Path(m.visual.pretrained).is_file():
                problems.append(f"model.visual.pretrained: not found: {m.visual.pretrained}")
        for i, init in enumerate(cfg.train.init):
            if init.checkpoint and not self.made_here(init.checkpoint) and not Path(init.checkpoint).is_file():
                problems.append(f"train.init[{i}].checkpoint: not found: {init.checkpoint}")
        if run.stage.command == "test" and not self.made_here(run.weights) and not Path(run.weights).is_file():
            problems.append(f"weights: not found: {run.weights}")
        return problems

    def notes(self, stages: list[str]) -> list[str]:
        """Notes for the plan: what will be downloaded, splits that are absent."""
        out = [f"{name} ({', '.join(sorted(keys))}) is loaded by name: downloaded on first use unless cached"
               for name, keys in sorted(self.downloads.items())]
        return out + merge_problems(self.absent, stages)


def merge_problems(problems: list[tuple[str, str]], stages: list[str]) -> list[str]:
    """One line per distinct problem, naming the stages it stops (a missing corpus root is one line,
    not one per stage and split)."""
    where: dict[str, list[str]] = {}
    for stage, text in problems:
        if stage not in where.setdefault(text, []):
            where[text].append(stage)
    lines = []
    for text, names in where.items():
        who = "every stage" if len(names) == len(stages) > 1 else ("stage " if len(names) == 1 else "stages ") + \
            ", ".join(names)
        lines.append(f"{who}: {text}")
    return lines


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------

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
        if run.stage.command == "test":
            scores = json.loads((run.folder / "test_metrics.json").read_text(encoding="utf-8"))
            dev, epoch = scores.get("dev") or {}, None
        else:
            metrics = json.loads((run.folder / "metrics.json").read_text(encoding="utf-8"))
            dev, epoch = (metrics.get("final") or {}).get("dev") or {}, metrics.get("best_epoch")
            if not dev and metrics.get("select_metric") and metrics.get("best_score") is not None:
                dev = {metrics["select_metric"]: metrics["best_score"]}
    except (OSError, ValueError, AttributeError):
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
                 forced: set[str] = frozenset(), log: Callable[[str], None] = print):
        self.pipe, self.runs, self.out, self.jobs, self.threads = pipe, runs, out, jobs, threads
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
        try:
            while pending or running:
                for name in list(pending):
                    if len(running) >= self.jobs:
                        break
                    needs = self.pipe.stages[name].needs
                    broken = [n for n in needs if self.status[n]["status"] in ("failed", "skipped", "interrupted")]
                    if broken:
                        pending.remove(name)
                        self.say(f"{name}: skipped (needs {broken[0]}, which {self.status[broken[0]]['status']})")
                        self.note(name, status="skipped", why=f"needs {broken[0]}")
                        continue
                    if any(self.status[n]["status"] not in ("done", "up to date") for n in needs):
                        continue
                    pending.remove(name)
                    run = self.runs[name]
                    verdict = assess(run, {n: self.sha[n] for n in needs}, self.folders, forced=name in self.forced)
                    if verdict.action == "up to date":
                        self.sha[name] = _product_sha(run)
                        state = run.state() or {}
                        self.note(name, status="up to date", plan="up to date", why=verdict.why,
                                  seconds=state.get("seconds"), load_average=state.get("load_average"),
                                  result=_result(run), log=str(run.folder / LOG_FILE))
                        self.say(f"{name}: up to date ({verdict.why})")
                        continue
                    if verdict.action == "blocked":   # checked before the run; a folder filled meanwhile
                        self.say(f"{name}: FAILED ({verdict.why})")
                        self.note(name, status="failed", error=verdict.why)
                        continue
                    running[name] = self.launch(run, verdict)
                if not running:
                    continue
                time.sleep(POLL_SECONDS)
                for name, job in list(running.items()):
                    self.progress(job)
                    code = job.proc.poll()
                    if code is not None:
                        del running[name]
                        self.finish(job, code)
        except BaseException:   # Ctrl-C, SIGTERM, or the runner's own failure: no stage is left orphaned
            self.interrupt(running)
            raise
        return self.status

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
                 problem: Callable[[str], None] | None = None) -> int:
    """Plan, check, then run a pipeline. Returns 0, or 2 when the checks found problems (each
    passed to `problem`); a failed stage raises PipelineError naming it and its log. `only`: run
    these stages and the stages they need (directly or not), none of the others."""
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
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        runner = Runner(pipe, runs, out, jobs=jobs, threads=threads, forced=forced, log=log)
        runner.save()
        status = runner.execute()
    finally:
        signal.signal(signal.SIGTERM, previous)
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
