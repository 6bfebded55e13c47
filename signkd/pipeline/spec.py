"""The pipeline file: stages, their commands and needs, `base:` variants, dependency order."""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml


from signkd.config import did_you_mean
from signkd.errors import SignkdError
from signkd.training.run_dir import STAGE_LOG, STAGE_RECORD



TOP_KEYS = ("base", "out", "set", "stages")
STAGE_KEYS = ("config", "command", "needs", "set", "weights", "ensemble", "tune", "split", "options")
COMMANDS = ("train", "test", "back-translate")
# The keys each command takes besides `command` and `needs`; the first group is required.
COMMAND_KEYS = {"train": (("config",), ("set",)),
                "test": (("config", "weights"), ("set", "ensemble", "tune")),
                "back-translate": (("config", "weights"), ("set", "split", "ensemble", "options"))}
# `signkd back-translate` options a stage may set (its `options:` mapping).
BACK_TRANSLATE_OPTIONS = ("beam", "length_penalty", "copies", "dropout", "tag", "seed", "batch_size")
# What each command leaves for the stages that need it: its fingerprint is the file's sha256
# (back-translate: the annotation file it writes, named as its input).
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


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    config: Path                  # resolved against the pipeline file's folder
    command: str = "train"
    needs: tuple[str, ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()   # its `set:`
    weights: str = ""             # test: the checkpoint scored; back-translate: the Text2Gloss checkpoint
    ensemble: tuple[str, ...] = ()                 # test / back-translate: more checkpoints decoding together
    tune: tuple[dict, ...] = ()                    # test: decoding settings tried on dev (`signkd test --tune`)
    split: str = "train"                           # back-translate: the config's split whose file it reads
    options: tuple[tuple[str, Any], ...] = ()      # back-translate: its command-line options


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
            raise PipelineError(f"{path}: {key}: unknown key{did_you_mean(str(key), TOP_KEYS)}")
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
                raise PipelineError(f"{where}.{key}: unknown key{did_you_mean(str(key), STAGE_KEYS)}")
        command = spec.get("command", "train")
        if command not in COMMANDS:
            raise PipelineError(f"{where}.command: expected one of {', '.join(COMMANDS)}, got {command!r}"
                                + (did_you_mean(str(command), COMMANDS) if isinstance(command, str) else ""))
        required, optional = COMMAND_KEYS[command]
        for key in spec:
            if key not in ("command", "needs") + required + optional:
                raise PipelineError(f"{where}.{key}: not a key of a {command} stage (it takes "
                                    f"{', '.join(required + optional)})")
        config = spec.get("config", "")
        if "config" in required and (not isinstance(config, str) or not config):
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
        if "weights" in required and (not isinstance(weights, str) or not weights):
            raise PipelineError(f"{where}.weights: a {command} stage decodes with a checkpoint, e.g. "
                                f"weights: ${{train_stage}}/best.pt")
        if "weights" not in required and "weights" in spec:
            raise PipelineError(f"{where}.weights: only for command: test or back-translate (train stages load "
                                f"weights with train.init)")
        split = spec.get("split", "train")
        if split not in ("train", "dev", "test"):
            raise PipelineError(f"{where}.split: expected train, dev or test (the split of the stage's config whose "
                                f"annotation file is back-translated), got {split!r}")
        ensemble = spec.get("ensemble") or []
        if not isinstance(ensemble, list) or not all(isinstance(e, str) and e for e in ensemble):
            raise PipelineError(f"{where}.ensemble: expected a list of checkpoint paths")
        tune = spec.get("tune") or []
        if not isinstance(tune, list) or not all(isinstance(s, dict) and s for s in tune):
            raise PipelineError(f"{where}.tune: expected a list of decoding settings, e.g. "
                                f"[{{eval.translation_beam: 1}}, {{eval.translation_beam: 4}}]")
        for i, setting in enumerate(tune):
            for key in setting:
                if not isinstance(key, str) or not key.startswith("eval."):
                    raise PipelineError(f"{where}.tune[{i}]: {key!r}: only decoding settings (eval.*) are tuned")
        options = _settings(spec.get("options"), f"{where}.options")
        for key, _ in options:
            if key not in BACK_TRANSLATE_OPTIONS:
                raise PipelineError(f"{where}.options.{key}: not a back-translate option"
                                    f"{did_you_mean(key, BACK_TRANSLATE_OPTIONS)}")
        overrides = _settings(spec.get("set"), f"{where}.set")
        paths = [("weights", weights)] + [(f"ensemble[{i}]", e) for i, e in enumerate(ensemble)]
        for key, value in [(f"set.{k}", v) for k, v in overrides] + [(k, v) for k, v in paths if v]:
            for ref in sorted(_refs(value) - {"out"}):
                if ref not in raw_stages:
                    raise PipelineError(f"{where}.{key}: ${{{ref}}} names no stage{_stage_hint(ref, names)}")
                if ref not in needs:
                    raise PipelineError(f"{where}.{key}: ${{{ref}}} is the folder of stage {ref!r}, which is not "
                                        f"in its needs")
        stages[name] = Stage(name, Path(config) if config else Path(), command, tuple(needs), overrides, weights,
                             tuple(ensemble), tuple(tune), split, options)
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


