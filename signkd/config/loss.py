"""The loss section's names and values: term names and the original's aliases (read from the
table in signkd.loss_terms), per-term temperatures, and piecewise-constant weight schedules.
"""
from __future__ import annotations

import math

from signkd.config.messages import ConfigError, did_you_mean, _show_key
from signkd.config.schema import LossConfig, Weight
from signkd.loss_terms import KL_TERMS, LOSS_ALIASES, LOSS_NAMES, TERMS, canonical_name


def normalize_kl_term_keys(mapping: dict, key: str) -> dict:
    """A per-term mapping of loss.temperatures / loss.t2_factor with the original's aliases mapped
    to canonical names; a name that is not a KL term is refused with the valid ones."""
    out = {}
    for name, value in mapping.items():
        canonical = canonical_name(name)
        if canonical not in KL_TERMS:
            raise ConfigError(f"{key}.{_show_key(name)}: not a temperature-KL loss term; expected one of "
                              f"{', '.join(KL_TERMS)}")
        out[canonical] = value
    return out


def normalize_loss_weights(weights: dict, key: str = "loss.weights") -> dict:
    """Map the original's aliases to canonical names; reject unknown names with a suggestion, and
    weights that are negative or not finite (a negative weight would train the model to make that
    loss worse; a NaN one turns every parameter into NaN at the first step)."""
    out: dict = {}
    for name, w in weights.items():
        where = f"{key}.{_show_key(name)}"
        canonical = canonical_name(name)
        if canonical is None:
            raise ConfigError(f"{where}: unknown loss{did_you_mean(name, list(LOSS_NAMES) + list(LOSS_ALIASES))}")
        if canonical in out:
            raise ConfigError(f"{where}: given twice (as '{canonical}' and an alias)")
        for epoch, value in (w.items() if isinstance(w, dict) else [(None, w)]):
            if epoch is not None and epoch < 0:
                raise ConfigError(f"{where}: schedule epochs must be >= 0, got {epoch}")
            if not (math.isfinite(value) and value >= 0):
                at = "" if epoch is None else f" (from epoch {epoch})"
                raise ConfigError(f"{where}: expected a finite weight >= 0{at}, got {value}")
        out[canonical] = w
    return out


def kl_temperature(loss: LossConfig, term: str) -> tuple[float, bool]:
    """(temperature T, whether to multiply by T^2) of KL term `term` (a name of loss_terms.KL_TERMS):
    loss.temperatures[term], else the loss config field its table row names."""
    default = getattr(loss, TERMS[term].temperature)
    return loss.temperatures.get(term, default), loss.t2_factor.get(term, True)


def weight_at(weight: Weight, epoch: int) -> float:
    """Value of a constant or piecewise-constant ({first_epoch: value}) weight at `epoch`."""
    if not isinstance(weight, dict):
        return float(weight)
    value = 0.0
    for start in sorted(weight):
        if epoch >= start:
            value = float(weight[start])
    return value
