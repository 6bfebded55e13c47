"""The config contract: defaults < YAML < --set, one-line errors naming the key and a suggestion."""
import pytest

from conftest import shipped_configs
from signkd.cli import main
from signkd.config import ConfigError, load_config, parse_override, weight_at


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


# ------------------------------------------------------------------------------------------------
# Values that used to crash later (or do nothing) are rejected when the config is loaded
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    (["train.optim.lr=0"], "train.optim.lr: expected a number > 0, got 0.0"),
    (["train.optim.lr=-1e-4"], "train.optim.lr: expected a number > 0"),
    (["train.optim.lr=.nan"], "train.optim.lr: expected a finite number, got nan"),
    (["train.optim.lr=.inf"], "train.optim.lr: expected a finite number, got inf"),
    (["train.optim.lr=true"], "train.optim.lr: expected a number, got True"),
    (["data.batch_size=0"], "data.batch_size: expected an integer >= 1, got 0"),
    (["data.eval_batch_size=0"], "data.eval_batch_size: expected an integer >= 1, got 0"),
    (["train.epochs=0"], "train.epochs: expected an integer >= 1, got 0"),
    (["data.num_workers=-1"], "data.num_workers: expected an integer >= 0, got -1"),
    (["train.eval_every=0"], "train.eval_every: expected an integer >= 1, got 0"),
    (["train.average_last=-1"], "train.average_last: expected an integer >= 0, got -1"),
    (["train.max_steps_per_epoch=-1"], "train.max_steps_per_epoch: expected an integer >= 0, got -1"),
    (["data.frame_interval=0"], "data.frame_interval: expected an integer >= 1, got 0"),
    (["eval.beam_width=0"], "eval.beam_width: expected an integer >= 1, got 0"),
    (["eval.translation_beam=0"], "eval.translation_beam: expected an integer >= 1, got 0"),
    (["train.optim.gamma=0"], "train.optim.gamma: expected a number > 0, got 0.0"),
    (["train.optim.weight_decay=-0.1"], "train.optim.weight_decay: expected a number >= 0 (0 = off), got -0.1"),
    (["train.optim.grad_clip=-1"], "train.optim.grad_clip: expected a number >= 0 (0 = off), got -1.0"),
    (["train.optim.betas=[0.9, 1.0]"], "train.optim.betas: expected two values in [0, 1), got [0.9, 1.0]"),
    (["train.optim.warmup_epochs=-1"], "train.optim.warmup_epochs: expected an integer >= 0, got -1"),
    (["loss.temperature=.nan"], "loss.temperature: expected a finite number, got nan"),
    (["loss.rdrop=-1"], "loss.rdrop: expected a number >= 0 (0 = off), got -1.0"),
    (["data.augment.flip=1.5"], "data.augment.flip: expected a probability in [0, 1], got 1.5"),
    (["data.augment.temporal_rescale=1"], "data.augment.temporal_rescale: expected a ratio in [0, 1), got 1.0"),
    (["data.augment.crop=-1"], "data.augment.crop: expected an integer >= 0, got -1"),
    (["data.augment.resize=-1"], "data.augment.resize: expected an integer >= 0, got -1"),
    (["data.augment.resize=100", "data.augment.crop=112"],
     "data.augment.crop: 112 is larger than data.augment.resize 100"),
    (["data.augment.std=[0.5, 0, 0.5]"], "data.augment.std: expected 3 values > 0, got [0.5, 0.0, 0.5]"),
    (["data.augment.mean=[0.5, 0.5]"], "data.augment.mean: expected 3 values (R, G, B), got 2"),
    (["data.augment.mean=[0.5, .nan, 0.5]"], "data.augment.mean[1]: expected a finite number, got nan"),
    (["loss.weights={SeqCTCSign: -1}"], "loss.weights.SeqCTCSign: expected a finite weight >= 0, got -1.0"),
    (["loss.weights={SeqCTCSign: .inf}"], "loss.weights.SeqCTCSign: expected a finite weight >= 0, got inf"),
    (["loss.weights={SeqCTCSign: {0: 1, 10: -2}}"],
     "loss.weights.SeqCTCSign: expected a finite weight >= 0 (from epoch 10), got -2.0"),
    (["loss.weights={SeqCTCSign: {0: .nan}}"], "loss.weights.SeqCTCSign: expected a finite weight >= 0 (from epoch 0)"),
    (["train.epochs=50", "train.stages=[{until_epoch: 30, train: [student]}]"],
     "train.stages[0].until_epoch: the last stage ends at epoch 30 but train.epochs is 50"),
    (["train.stages=[{until_epoch: 0, train: [student]}, {train: [student]}]"],
     "train.stages[0].until_epoch: expected an epoch > 0, got 0"),
    (["train.stages=[{until_epoch: 10, train: [student]}, {until_epoch: 10, train: [student]}, {train: [student]}]"],
     "train.stages[1].until_epoch: expected an epoch > 10"),
    (["train.stages=[{train: [student]}, {until_epoch: 10, train: [student]}]"],
     "train.stages[0].until_epoch: only the last stage may leave it empty"),
    (["train.stages=[]"], "train.stages: at least one stage is needed"),
    (["train.select_metric=blue4"], "train.select_metric: 'blue4' is not a dev metric the evaluator reports; "
                                    "did you mean 'bleu4'?"),
    (["train.select_metric=loss"], "train.select_metric: 'loss' is not a dev metric the evaluator reports"),
])
def test_out_of_range_values_fail_at_load_naming_the_key(overrides, expected):
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides)
    assert "\n" not in str(exc.value)
    assert expected in str(exc.value)


@pytest.mark.parametrize("rejected, accepted", [
    ("train.epochs=0", "train.epochs=1"),
    ("data.num_workers=-1", "data.num_workers=0"),
    ("train.average_last=-1", "train.average_last=0"),
    ("data.augment.flip=1.01", "data.augment.flip=1"),
    ("data.augment.temporal_rescale=-0.1", "data.augment.temporal_rescale=0"),
    ("data.augment.crop=-1", "data.augment.crop=0"),
    ("train.optim.weight_decay=-1e-9", "train.optim.weight_decay=0"),
    ("loss.weights={SeqCTCSign: {0: -1, 5: 1}}", "loss.weights={SeqCTCSign: {0: 0, 5: 1}}"),
    ("train.stages=[{until_epoch: 2, train: [student]}]", "train.stages=[{until_epoch: 3, train: [student]}]"),
])
def test_range_limits_sit_exactly_at_the_documented_bound(rejected, accepted):
    with pytest.raises(ConfigError):
        load_config(None, ["train.epochs=3", rejected])
    load_config(None, ["train.epochs=3", accepted])


def test_eval_cleanup_choices_are_the_rules_metrics_applies():
    """The config sits below signkd.metrics, so EvalConfig spells the clean-up rule names and sides
    out in its Literals; they must stay exactly the ones metrics applies (plus `auto`)."""
    import typing

    from signkd.config import EvalConfig
    from signkd.metrics import CLEANUP_RULES, CLEANUP_SIDES

    hints = typing.get_type_hints(EvalConfig)
    assert set(typing.get_args(hints["cleanup"])) == {*CLEANUP_RULES, "auto"}
    assert typing.get_args(hints["cleanup_side"]) == CLEANUP_SIDES


def test_select_metric_must_be_one_the_model_reports():
    """Checked against what this model's dev evaluation reports: a recogniser has no BLEU, so
    `select_metric: bleu4` would never find a better epoch and best.pt would never be written."""
    from signkd.training.evaluate import select_metric

    text2gloss = ["model.student=false", "model.text2gloss=true", "loss.weights={TranslationToGlossCrossEntropy: 1}",
                  "train.stages=[{train: [text2gloss]}]"]
    for model, metric in ((["model.task=slr"], "bleu4"), (["model.task=slr"], "gloss_bleu4"),
                          (text2gloss, "rouge_l")):
        with pytest.raises(ConfigError, match=rf"train.select_metric: '{metric}' is not among this model's dev "
                                              r"metrics \(wer, sub, del, ins"):
            select_metric(load_config(None, [*model, f"train.select_metric={metric}"]))
    for model, metric in ((["model.task=slr"], "sub"), (["model.task=slt"], "bleu4"), (text2gloss, "gloss_bleu4")):
        assert select_metric(load_config(None, [*model, f"train.select_metric={metric}"])) == metric
    for path in shipped_configs():
        select_metric(load_config(path))   # every shipped config names a metric its model reports


# ------------------------------------------------------------------------------------------------
# Malformed files: a one-line ConfigError naming the file or key, never a traceback
# ------------------------------------------------------------------------------------------------

def _bomb(levels: int = 8) -> str:
    """'Billion laughs': each level repeats the previous anchor ten times (10**levels strings)."""
    anchors = ["&l0 [x, x, x, x, x, x, x, x, x, x]"]
    anchors += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "[" + ", ".join(anchors) + "]"


@pytest.mark.parametrize("data, expected", [
    (b"train:\n  epochs: 3\n  seed: \xff\n", "bad.yaml:3: not UTF-8 text (bad byte 0xff)"),
    (b"\xef\xbb\xbftrain:\r\n  epochs: 3\r\n  seed: \xfe\n", "bad.yaml:3: not UTF-8 text (bad byte 0xfe)"),
    (b"name: {a: " + b"x" * 5000 + b"}\n", "name: expected a string, got {'a': 'xxxxxxxxxxxxxxxxxxxxxxxxxx"),
    (b"- a\n- b\n", "bad.yaml: expected a mapping at the top level, got list"),
    (b"name: a\ntrain: \x00\n", "bad.yaml:2: invalid YAML (character U+0000 is not allowed)"),
    (b"\"a\\nb\": 2\n", "a\\nb: unknown key"),                        # the newline is escaped: one line
    ("train:\n  epochs: \u00b2\n".encode(), "train.epochs: expected an integer, got '\u00b2'"),
    ("model:\n  visual:\n    temporal: [K\u00b2]\n".encode(), "model.visual.temporal: 'K\u00b2' is not a layer spec"),
    (b"train:\n  optim:\n    lr: " + b"9" * 400 + b"\n", "train.optim.lr: expected a number, got 9999"),
    (b"train:\n  seed: 2020-13-01\n", "bad.yaml: invalid YAML value (month must be in 1..12)"),
    (b"train:\n  seed: " + b"9" * 5000 + b"\n", "bad.yaml: invalid YAML value (Exceeds the limit"),
    (b"name: " + b"[" * 600 + b"\n", "bad.yaml: invalid YAML (nested too deeply)"),
    (b"train: &a {optim: *a}\n", "bad.yaml: nested more than 32 levels deep"),
    (f"name: {_bomb()}\n".encode(), "bad.yaml: more than 100000 values (with YAML aliases expanded)"),
    (b"base: 5\n", "bad.yaml: base: expected the file name of another YAML config, got 5"),
    (b"base: [a.yaml]\n", "bad.yaml: base: expected the file name of another YAML config, got ['a.yaml']"),
    (b"base: ''\n", "bad.yaml: base: expected the file name of another YAML config, got ''"),
    (b"base: " + b"a" * 300 + b".yaml\n", ": cannot read (File name too long)"),
    (b"base: list.yaml\n", "list.yaml: expected a mapping at the top level, got list"),
    (b"base: frames.png\n", "frames.png:1: not UTF-8 text (bad byte 0x89)"),
])
def test_malformed_config_files_give_one_line(tmp_path, data, expected):
    (tmp_path / "list.yaml").write_text("- 1\n")
    (tmp_path / "frames.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert len(message.splitlines()) == 1 and len(message) < 500 + len(str(tmp_path)), message
    assert expected in message


def test_base_chain_is_limited(tmp_path):
    """A chain of ~1000 distinct files used to end in a RecursionError traceback."""
    for i in range(20):
        (tmp_path / f"c{i}.yaml").write_text(f"base: c{i + 1}.yaml\n")
    (tmp_path / "c20.yaml").write_text("name: end\n")
    assert load_config(tmp_path / "c5.yaml").name == "end"          # c5 .. c20: 16 files, fine
    with pytest.raises(ConfigError, match=r"c16.yaml: 'base:' chain longer than 16 files"):
        load_config(tmp_path / "c0.yaml")


def test_too_large_config_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ConfigError, match="big.yaml: larger than 1 MiB"):
        load_config(path)


@pytest.mark.parametrize("override, expected", [
    ("train.epochs=\u00b2", "train.epochs: expected an integer, got '\u00b2'"),
    ("train.seed=2020-13-01", "train.seed: expected an integer, got '2020-13-01'"),   # taken as a string
    ("name=" + _bomb(), "--set name: more than 100000 values"),
    ("train\n.epochs=3", "train\\n: unknown key; did you mean 'train'?"),
    ("train..epochs=3", "--set 'train..epochs=3': malformed key"),
])
def test_malformed_overrides_give_one_line(override, expected):
    with pytest.raises(ConfigError) as exc:
        load_config(None, [override])
    assert len(str(exc.value).splitlines()) == 1
    assert expected in str(exc.value)


def test_checkpoint_config_of_the_wrong_shape_is_a_config_error():
    from signkd.config import from_dict

    with pytest.raises(ConfigError, match="config: expected a mapping, got list"):
        from_dict([1, 2])


def test_check_stages_rejects_a_stage_list_that_ends_before_the_last_epoch():
    """Also for a Config that did not pass through load_config (e.g. one stored in a checkpoint):
    today's alternative is a ConfigError when the uncovered epoch comes, mid-run."""
    from signkd.config import from_dict
    from signkd.training.stages import check_stages

    cfg = from_dict({"train": {"epochs": 5, "stages": [{"until_epoch": 3, "train": ["student"]}]}})
    with pytest.raises(ConfigError, match=r"train.stages\[0\].until_epoch: the last stage ends at epoch 3 but "
                                          r"train.epochs is 5"):
        check_stages(cfg)
