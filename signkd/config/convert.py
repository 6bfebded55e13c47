"""Config <-> plain data: a YAML file's (or a checkpoint's) mappings converted into the typed
schema, strictly (``true`` is not a number), with one-line errors naming the key and the closest
valid one.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal, Union

import yaml

from signkd.config.loss import normalize_kl_term_keys, normalize_loss_weights
from signkd.config.messages import ConfigError, did_you_mean, _show, _show_key
from signkd.config.schema import LossConfig


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp, key: str):
    """Check/convert `value` against annotation `tp`; raise a one-line ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {_show(value)}")
        return _build(tp, value, key)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(a) for a in args)}, got {_show(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {', '.join(map(repr, args))}, got {_show(value)}"
                              + (did_you_mean(str(value), [str(a) for a in args]) if isinstance(value, str) else ""))
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {_show(value)}")
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {_show(value)}")
        return {_convert(k, args[0], f"{key} (key {_show(k)})"): _convert(v, args[1], f"{key}.{_show_key(k)}")
                for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and len(value) < 100 and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {_show(value)}")
    if tp is float:
        # no bool (true would silently become 1.0) and no bytes; strings are allowed because
        # YAML 1.1 reads `1e-4` (no dot) as a string
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except (ValueError, OverflowError):
                pass
        raise ConfigError(f"{key}: expected a number, got {_show(value)}")
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {_show(value)}")
        try:
            return str(value)
        except ValueError:   # an int past Python's 4300-digit str() limit
            raise ConfigError(f"{key}: expected a string, got {_show(value)}") from None
    raise ConfigError(f"{key}: unsupported type {tp}")


def _build(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key is True and "on" in fields:
            key = "on"   # YAML 1.1 reads a bare `on:` key as the boolean true
        full = f"{prefix}.{_show_key(key)}" if prefix else _show_key(key)
        if not isinstance(key, str) or key not in fields:
            raise ConfigError(f"{full}: unknown key{did_you_mean(_show_key(key), fields)}")
        kwargs[key] = _convert(value, hints[key], full)
    obj = cls(**kwargs)
    if cls is LossConfig:
        obj.weights = normalize_loss_weights(obj.weights, f"{prefix}.weights" if prefix else "weights")
        loss = f"{prefix}." if prefix else ""
        obj.temperatures = normalize_kl_term_keys(obj.temperatures, f"{loss}temperatures")
        obj.t2_factor = normalize_kl_term_keys(obj.t2_factor, f"{loss}t2_factor")
    return obj


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)
