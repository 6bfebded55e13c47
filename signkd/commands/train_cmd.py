"""`signkd train CONFIG [--set k=v ...] [--work-dir DIR] [--resume] [--force] [--phase train|test] [--load-weights CKPT]`.

Under `torchrun --nproc_per_node N -m signkd train CONFIG` every process runs this command; they
join one process group (NCCL on GPUs, gloo on CPUs) and only rank 0 writes.
"""
from __future__ import annotations

HELP = "train a model from a YAML config (torchrun for several devices)"


def add_arguments(p):
    p.add_argument("config", help="YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=10 (repeatable)")
    p.add_argument("--work-dir", default="", help="output folder (default: the config's work_dir)")
    p.add_argument("--resume", action="store_true", help="continue from WORK_DIR/last.pt exactly where it stopped")
    p.add_argument("--force", action="store_true",
                   help="overwrite the run already in WORK_DIR, or --resume it with a changed config "
                        "(both are refused otherwise; train.log records it)")
    p.add_argument("--phase", choices=["train", "test"], default="train",
                   help="test = score --load-weights on dev and test (the original's habit)")
    p.add_argument("--load-weights", default="", metavar="CKPT",
                   help="start from these weights (train) or score them (test)")


def run(args) -> int:
    from signkd.commands import load_command_config
    from signkd.config import ConfigError
    from signkd.training import distributed as D

    cfg = load_command_config(args.config, args.overrides)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    if args.phase == "test":
        if not args.load_weights:
            raise ConfigError("--phase test: give the checkpoint to score with --load-weights CKPT")
        if args.resume:
            raise ConfigError("--phase test: --resume only applies to training")
    dist = D.setup(cfg.train.device)
    try:
        if args.phase == "test":
            from signkd.training.testing import run_test

            run_test(cfg, args.load_weights, dist=dist)
        else:
            from signkd.training.trainer import Trainer

            with Trainer(cfg, resume=args.resume, load_weights=args.load_weights, dist=dist,
                         force=args.force) as trainer:
                trainer.fit()   # the work dir stays locked through fit and the final test
    finally:
        D.teardown()
    return 0
