"""Typed, validated configuration: defaults < YAML file < ``--set a.b=c`` overrides.

Why hand-rolled on dataclasses: we need one-line errors that name the offending key *and* the
closest valid key (``model.sequence.kindd: unknown key; did you mean 'kind'?``), alias support for
the original research code's loss names, and YAML ``base:`` composition, with no extra dependency.

A YAML file may start with ``base: other.yaml`` (a path relative to the file); its values are
merged over the base's, recursively for mappings.

The package: `schema` (the dataclasses), `convert` (plain data <-> Config), `loading` (YAML files,
``--set``, stored configs), `validation` (ranges, cross-field rules), `loss` (loss names and
values, from the table in signkd.loss_terms), `messages` (the one-line messages); the temporal
layer specs are signkd.temporal's. Import from ``signkd.config``; the layout inside may change.
"""
from signkd.config.convert import dump_yaml, to_dict
from signkd.config.loading import (MAX_BASE_CHAIN, MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_VALUES,
                                   apply_overrides, check_size, from_dict, load_config, parse_override, read_yaml,
                                   upgrade_stored_config)
from signkd.config.loss import kl_temperature, normalize_loss_weights, weight_at
from signkd.config.messages import ConfigError, did_you_mean
from signkd.config.schema import (MODULE_NAMES, AugmentConfig, Config, DataConfig, DecoderConfig,
                                  EvalConfig, FusionConfig, InitConfig, LossConfig, ModelConfig, OptimConfig,
                                  Seq2SeqEncoderConfig, SequenceConfig, StageConfig, TextEncoderConfig, TrainConfig,
                                  VisualConfig, Weight)
from signkd.config.validation import (GENERATED_GLOSS_METRICS, GLOSS_METRICS, SELECT_METRICS, TRANSLATION_METRICS,
                                      check_stage_epochs, validate)

__all__ = [
    "AugmentConfig", "Config", "ConfigError", "DataConfig", "DecoderConfig", "EvalConfig",
    "FusionConfig", "GENERATED_GLOSS_METRICS", "GLOSS_METRICS", "InitConfig", "LossConfig", "MAX_BASE_CHAIN",
    "MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH", "MAX_CONFIG_VALUES", "MODULE_NAMES", "ModelConfig", "OptimConfig",
    "SELECT_METRICS", "Seq2SeqEncoderConfig", "SequenceConfig", "StageConfig", "TRANSLATION_METRICS",
    "TextEncoderConfig", "TrainConfig", "VisualConfig", "Weight", "apply_overrides", "check_size",
    "check_stage_epochs", "dump_yaml", "from_dict", "kl_temperature", "load_config", "normalize_loss_weights",
    "did_you_mean", "parse_override", "read_yaml", "to_dict", "upgrade_stored_config", "validate", "weight_at",
]
