"""One module per `signkd` sub-command. Each defines HELP, add_arguments(parser) and run(args) -> int.

Modules are imported lazily (only the chosen command's), so `signkd score` does not import torch.
"""


def load_command_config(path, overrides):
    """`signkd.config.load_config`, then `data.format` against the corpus formats: the config layer
    sits below their registry (signkd/data), so a command that loads a config checks it here."""
    from signkd.config import load_config
    from signkd.data.corpora import check_config_format

    cfg = load_config(path, overrides)
    check_config_format(cfg.data.format)
    return cfg
