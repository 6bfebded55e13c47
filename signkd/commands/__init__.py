"""One module per `signkd` sub-command. Each defines HELP, add_arguments(parser) and run(args) -> int.

Modules are imported lazily (only the chosen command's), so `signkd score` does not import torch.
"""
