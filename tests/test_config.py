"""The config contract: defaults < YAML < --set, one-line errors naming the key and a suggestion."""
import pytest

from signkd.cli import main
from signkd.config import (ConfigError, LOSS_ALIASES, load_config, parse_override, weight_at)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_precedence_defaults_yaml_set(tmp_path):
    cfg_file = write(tmp_path, "a.yaml", "train:\n  epochs: 7\n  optim:\n    lr: 0.5\n")
    cfg = load_config(cfg_file, ["train.optim.lr=0.25"])
    assert cfg.train.epochs == 7              # from YAML
    assert cfg.train.optim.lr == 0.25         # --set beats YAML
    assert cfg.train.optim.gamma == 0.2       # default kept (the original's gamma)


def test_base_composition(tmp_path):
    write(tmp_path, "base.yaml", "model:\n  sequence:\n    kind: transformer\n    layers: 4\n")
    child = write(tmp_path, "child.yaml", "base: base.yaml\nmodel:\n  sequence:\n    layers: 2\n")
    cfg = load_config(child)
    assert cfg.model.sequence.kind == "transformer"
    assert cfg.model.sequence.layers == 2


@pytest.mark.parametrize("text, expected", [
    ("model:\n  sequence:\n    kindd: bilstm\n", "model.sequence.kindd: unknown key; did you mean 'kind'?"),
    ("train:\n  epochs: many\n", "train.epochs: expected an integer, got 'many'"),
    ("model:\n  sequence:\n    kind: gru\n", "model.sequence.kind: expected one of 'bilstm', 'transformer', got 'gru'"),
    ("loss:\n  weights:\n    SeqCTCSing: 1\n", "loss.weights.SeqCTCSing: unknown loss; did you mean 'SeqCTCSign'?"),
    ("model:\n  text_teacher_encoder:\n    token_dropout: 1.0\n",
     "model.text_teacher_encoder.token_dropout: expected a probability in [0, 1), got 1.0"),
    ("model:\n  teacher_decoder:\n    token_dropout: -0.1\n",
     "model.teacher_decoder.token_dropout: expected a probability in [0, 1), got -0.1"),
    ("model:\n  sequence:\n    dropout: 1.5\n", "model.sequence.dropout: expected a probability in [0, 1), got 1.5"),
    ("model:\n  teacher_sequence:\n    dropout: 1.0\n",
     "model.teacher_sequence.dropout: expected a probability in [0, 1), got 1.0"),
    ("model:\n  decoder:\n    emb_dropout: -0.5\n", "model.decoder.emb_dropout: expected a probability in [0, 1), got -0.5"),
])
def test_bad_keys_give_one_line_naming_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, "bad.yaml", text))
    message = str(exc.value)
    assert "\n" not in message
    assert expected in message


def test_loss_aliases_map_to_canonical_names(tmp_path):
    cfg = load_config(None, ["loss.weights={DistFusion2SLRFeature: 25, TranslationGlossCrossEntropy: 1}"])
    assert cfg.loss.weights == {"FeatureFusion2SLR": 25.0, "TranslationToGlossCrossEntropy": 1.0}
    assert set(LOSS_ALIASES.values()) <= set(__import__("signkd.config").config.LOSS_NAMES)


def test_alias_and_canonical_given_twice_is_an_error():
    with pytest.raises(ConfigError, match="given twice"):
        load_config(None, ["loss.weights={DistFusion2SLRFeature: 1, FeatureFusion2SLR: 2}"])


def test_weight_schedule_is_piecewise_constant():
    schedule = {0: 0.0, 30: 1.0, 40: 25.0}
    assert [weight_at(schedule, e) for e in (0, 29, 30, 39, 40, 99)] == [0, 0, 1, 1, 25, 25]
    assert weight_at(2.5, 10) == 2.5


def test_stage_module_names_are_checked():
    with pytest.raises(ConfigError, match="did you mean 'text2gloss'"):
        load_config(None, ["train.stages=[{train: [text2glos]}]"])


@pytest.mark.parametrize("bad", ["train.epochs", "=3", "a..b=1"])
def test_malformed_override(bad):
    with pytest.raises(ConfigError):
        parse_override(bad)


def test_config_show_cli(tmp_path, capsys):
    cfg_file = write(tmp_path, "a.yaml", "name: demo\n")
    assert main(["config", "show", str(cfg_file), "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "name: demo" in out and "epochs: 3" in out


def test_config_show_cli_error_is_one_line(tmp_path, capsys):
    cfg_file = write(tmp_path, "a.yaml", "trian: {}\n")
    assert main(["config", "show", str(cfg_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "trian: unknown key; did you mean 'train'?" in err


def test_every_command_prints_help(capsys):
    """`signkd CMD --help` works for every registered command (argparse formats help lazily)."""
    from signkd.cli import COMMANDS, _available
    for name, _ in _available():
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        assert "usage: signkd" in capsys.readouterr().out
    assert set(n for n, _ in _available()) <= set(COMMANDS)


def test_bare_yaml_on_key_means_the_field_on(tmp_path):
    """YAML 1.1 turns `on:` into True; `model.fusion.on` must still work unquoted."""
    cfg = load_config(write(tmp_path, "a.yaml", "model:\n  fusion:\n    on: conv\n"))
    assert cfg.model.fusion.on == "conv"
