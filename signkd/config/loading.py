"""Reading configs: YAML files (untrusted input: size limits, ``base:`` chains), ``--set``
overrides, and configs stored in checkpoints; `load_config` is defaults < YAML < overrides, validated.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from signkd.config.convert import _build
from signkd.config.messages import ConfigError, _show, _show_key
from signkd.config.schema import Config
from signkd.config.validation import validate


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "weights":
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# Limits on what a config file may hold. Real configs are a few KiB with a few hundred values
# nested at most six deep; the limits only stop pathological input: a huge file, deep nesting
# (the YAML composer recurses), or YAML aliases that expand to billions of values ("billion
# laughs": safe_load shares the aliased nodes, but merging, converting or printing them walks
# every expanded path).
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 32
MAX_BASE_CHAIN = 16

# What yaml.safe_load raises besides YAMLError on bad input: ValueError for an impossible date
# (2020-13-01) or an int past Python's 4300-digit limit, RecursionError for deep nesting.
_YAML_FAILURES = (yaml.YAMLError, ValueError, OverflowError, RecursionError)


def check_size(data, where: str) -> None:
    """Refuse a loaded YAML value with more than MAX_CONFIG_VALUES values once aliases are
    expanded, or nested deeper than MAX_CONFIG_DEPTH. Stops counting at the limit, so the check
    itself is cheap on a bomb."""
    count, stack = 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(f"{where}: more than {MAX_CONFIG_VALUES} values (with YAML aliases expanded); "
                              f"expected a config")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_CONFIG_DEPTH} levels deep; expected a config")
        if isinstance(node, dict):
            items = node.values()
        elif isinstance(node, (list, tuple, set, frozenset)):
            items = node
        else:
            continue
        if len(items) > MAX_CONFIG_VALUES:
            raise ConfigError(f"{where}: more than {MAX_CONFIG_VALUES} values; expected a config")
        stack.extend((child, depth + 1) for child in items)


def read_yaml(path: str | Path, _seen: tuple = ()) -> dict:
    """Read a YAML config, resolving `base:` chains (relative to the file).

    The file is untrusted input (configs are shared): only yaml.safe_load reads it, it must be
    UTF-8 (a BOM is fine) and within the limits above, and `base:` must name another such file."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        if path.resolve() in _seen:
            raise ConfigError(f"{path}: circular 'base:' chain")
        if len(_seen) >= MAX_BASE_CHAIN:
            raise ConfigError(f"{path}: 'base:' chain longer than {MAX_BASE_CHAIN} files")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB; expected a YAML config")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:   # exc.object is the input after a BOM
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (bad byte 0x{exc.object[exc.start]:02x}); "
                          f"expected a YAML config") from None
    try:
        data = yaml.safe_load(text)
    except yaml.reader.ReaderError as exc:   # a character YAML does not allow (NUL, most controls)
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(f"{path}:{line}: invalid YAML (character {char} is not allowed)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML (nested too deeply)") from None
    except (ValueError, OverflowError) as exc:
        raise ConfigError(f"{path}: invalid YAML value ({exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    check_size(data, str(path))
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: base: expected the file name of another YAML config, got {_show(base)}")
    return _deep_merge(read_yaml(path.parent / base, _seen + (path.resolve(),)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (['a','b','c'], parsed YAML value). A value that is not valid YAML is
    taken as the literal string (`--set name=a: b`)."""
    if "=" not in text:
        raise ConfigError(f"--set {_show(text)}: expected key=value, e.g. train.epochs=10")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {_show(text)}: malformed key {_show(key)}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except _YAML_FAILURES:
        value = raw
    check_size(value, f"--set {_show_key(key)}")
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    data = dict(data)
    for text in overrides or []:
        parts, value = parse_override(text)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def from_dict(data: dict) -> Config:
    """Build a Config from plain data (a YAML file's, or the one stored in a checkpoint)."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping, got {type(data).__name__}")
    check_size(data, "config")
    return _build(Config, data)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """defaults < YAML file (with `base:` chain) < `--set` overrides, validated."""
    data = read_yaml(path) if path else {}
    data = apply_overrides(data, overrides)
    cfg = from_dict(data)
    validate(cfg)
    return cfg


def upgrade_stored_config(data: dict) -> dict:
    """A config stored in a checkpoint, with the fields whose default changed meaning set to what
    runs saved before them did: a stored config holds every field of its time, so a missing one was
    not there yet. model.visual.temporal_pad absent: "none" (those runs did not pad);
    loss.dist_temperature absent: loss.temperature (their Dist used the one shared temperature)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    model = out.get("model")
    if isinstance(model, dict) and isinstance(model.get("visual"), dict) and "temporal_pad" not in model["visual"]:
        out["model"] = {**model, "visual": {**model["visual"], "temporal_pad": "none", "temporal_pad_multiple": 0}}
    loss = out.get("loss")
    if isinstance(loss, dict) and "dist_temperature" not in loss and "temperature" in loss:
        out["loss"] = {**loss, "dist_temperature": loss["temperature"]}
    return out
