"""Each stage of one invocation: its config with every override applied, its command line."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Optional

import yaml


from signkd.config import ConfigError, apply_overrides, from_dict, read_yaml, validate
from signkd.errors import SignkdError
from signkd.pipeline.spec import _mark_refs, Pipeline, PipelineError, PRODUCT, REF, _refs, Stage, STATE_FILE, UNFINGERPRINTED, _unmark


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


def read_stage_state(folder: Path) -> Optional[dict]:
    """A stage folder's record (its stage.json, what the runner last wrote there); None when it is
    missing or unreadable, which the planner treats as never run."""
    try:
        state = json.loads((Path(folder) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


@dataclasses.dataclass
class StageRun:
    """A stage of one invocation: its command line, its config, and what its fingerprint covers."""
    stage: Stage
    folder: Path
    argv: list[str] = dataclasses.field(default_factory=list)
    cfg: Any = None                                  # the validated Config it trains with (None: invalid)
    config: dict = dataclasses.field(default_factory=dict)   # as written, placeholders kept (fingerprinted)
    problems: list[str] = dataclasses.field(default_factory=list)
    weights: str = ""                                # test / back-translate: the expanded checkpoint path
    ensemble: list[str] = dataclasses.field(default_factory=list)   # expanded
    corpus: str = ""                                 # back-translate: the annotation file of its split

    @property
    def name(self) -> str:
        return self.stage.name

    def state(self) -> Optional[dict]:
        return read_stage_state(self.folder)

    def product(self) -> Path:
        if self.stage.command == "back-translate":
            return self.folder / (Path(self.corpus).name if self.corpus else "back-translation.txt")
        return self.folder / PRODUCT[self.stage.command]


def resolve(pipe: Pipeline, out: Path, cli_sets: list[str] = (), threads: int = 0) -> dict[str, StageRun]:
    """Every stage's config and command line for output folder `out`. Problems (a config that does
    not load or validate, a folder reference outside `needs`) are collected, not raised."""
    from signkd.config import parse_override
    from signkd.data.corpora import check_config_format

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
        run.weights, run.ensemble = expand(stage.weights), [expand(e) for e in stage.ensemble]
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
            check_config_format(cfg.data.format)   # the registry sits above the config layer
            cfg.work_dir = str(run.folder)   # what --work-dir gives the stage's process
            run.cfg = cfg
        except ConfigError as exc:
            run.problems.append(f"{stage.config}: {exc}")
        if stage.command == "back-translate":
            _back_translation_command(run)
            continue
        run.argv = [sys.executable, "-m", "signkd", stage.command, str(stage.config)]
        if stage.command == "test":
            run.argv += ["--load-weights", run.weights]
            run.argv += ["--ensemble", *run.ensemble] if run.ensemble else []
            for setting in stage.tune:
                run.argv += ["--tune", json.dumps(setting)]
            if stage.ensemble or stage.tune:   # what it decodes with is part of what it computes
                run.config = dict(run.config, stage={"ensemble": list(stage.ensemble), "tune": list(stage.tune)})
        run.argv += ["--work-dir", str(run.folder)]
        for text in strings:
            run.argv += ["--set", text]
    return runs


def _back_translation_command(run: StageRun) -> None:
    """`signkd back-translate WEIGHTS <the split's annotation file> --out <stage>/<its name>`; what it
    is given (placeholders kept) joins the fingerprinted config."""
    from signkd.data.corpora import annotation_file

    stage = run.stage
    run.config = dict(run.config, stage={"weights": stage.weights, "ensemble": list(stage.ensemble),
                                         "split": stage.split, "options": dict(stage.options)})
    if run.cfg is None:
        return
    d = run.cfg.data
    try:
        run.corpus = str(annotation_file(d.format, d.root, getattr(d, stage.split), annotations=d.annotations,
                                         dialogue=d.dialogue))
    except SignkdError as exc:
        run.problems.append(f"split {stage.split}: {exc}")
        return
    run.argv = [sys.executable, "-m", "signkd", "back-translate", run.weights, run.corpus, "--out", str(run.product())]
    run.argv += ["--ensemble", *run.ensemble] if run.ensemble else []
    for key, value in stage.options:
        run.argv += [f"--{key.replace('_', '-')}", str(value)]


