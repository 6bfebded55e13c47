from signkd.commands import load_command_config
from signkd.config import dump_yaml

HELP = "print the resolved config (defaults < YAML < --set overrides)"


def add_arguments(p):
    p.add_argument("action", choices=["show"])
    p.add_argument("config", help="YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=10 (repeatable)")


def run(args) -> int:
    cfg = load_command_config(args.config, args.overrides)
    print(dump_yaml(cfg), end="")
    return 0
