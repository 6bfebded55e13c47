"""`signkd run PIPELINE.yaml [--jobs N] [--threads T] [--dry-run] [--from STAGE] [--only STAGE] [--out DIR]
[--set k=v ...]`: the stages of a pipeline file in dependency order (signkd/pipeline/ says why and how)."""
from __future__ import annotations

HELP = ("run a pipeline of training stages: dependency order, side by side, finished stages kept, "
        "interrupted ones resumed, every input checked first")


def add_arguments(p) -> None:
    p.add_argument("pipeline", help="pipeline file (e.g. configs/dialogue_phoenix/pipeline.yaml)")
    p.add_argument("--out", default=None, help="output folder, one sub-folder per stage (default: the file's out:)")
    p.add_argument("--jobs", type=int, default=1,
                   help="stages run at the same time, one process each (e.g. 2 on a 2-core machine with --threads 1)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads per stage (0: torch's default; 1 is fastest for small models on a "
                        "shared machine)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and check every config and input; train nothing")
    p.add_argument("--from", dest="from_stages", action="append", default=[], metavar="STAGE",
                   help="rerun this stage and every stage that needs it, even if up to date (repeatable)")
    p.add_argument("--only", action="append", default=[], metavar="STAGE",
                   help="run only this stage and the stages it needs, directly or not (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value in every stage, e.g. --set data.root=/data/PHOENIX-2014-T "
                        "(repeatable)")


def run(args) -> int:
    from signkd.pipeline import run_pipeline

    return run_pipeline(args.pipeline, out=args.out, jobs=args.jobs, threads=args.threads, dry_run=args.dry_run,
                        from_stages=args.from_stages, overrides=args.overrides,
                        only=args.only)
