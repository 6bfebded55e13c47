"""`signkd test CONFIG --load-weights CKPT`: score a checkpoint on dev and test."""
from __future__ import annotations

HELP = "score a checkpoint on the dev and test splits (WER; BLEU/ROUGE for translation)"


def add_arguments(p):
    p.add_argument("config", help="YAML config file the checkpoint was trained with")
    p.add_argument("--load-weights", required=True, metavar="CKPT", help="checkpoint to score (e.g. runs/x/best.pt)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--work-dir", default="", help="where test_metrics.json and hypotheses go (default: work_dir)")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="CKPT",
                   help="more checkpoints of the same text teacher: decode the Gloss2Text / Text2Gloss "
                        "translations with the ensemble of all of them")
    p.add_argument("--splits", nargs="+", default=["dev", "test"], choices=["train", "dev", "test"])
    p.add_argument("--tune", action="append", default=[], metavar="SETTING",
                   help="a decoding setting to try, as a YAML mapping of eval.* keys, e.g. "
                        "'{eval.translation_beam: 4, eval.length_penalty: 2}' (repeatable): each is scored on dev "
                        "and the best decodes the other splits; test_metrics.json records them all")
    p.add_argument("--tune-metric", default="", metavar="METRIC",
                   help="the dev metric that picks the --tune setting (default: the config's train.select_metric)")


def read_setting(text: str, where: str):
    """A YAML flow mapping given on the command line (`{eval.translation_beam: 4}`)."""
    import yaml

    from signkd.config import ConfigError

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not a YAML mapping ({str(exc).splitlines()[0]})") from None


def run(args) -> int:
    from signkd.commands import load_command_config
    from signkd.training import distributed as D
    from signkd.training.testing import run_test

    cfg = load_command_config(args.config, args.overrides)
    tune = [read_setting(text, f"--tune {text}") for text in args.tune]
    if args.work_dir:
        cfg.work_dir = args.work_dir
    dist = D.setup(cfg.train.device)
    try:
        run_test(cfg, args.load_weights, splits=tuple(args.splits), dist=dist, ensemble=args.ensemble, tune=tune,
                 tune_metric=args.tune_metric)
    finally:
        D.teardown()
    return 0
