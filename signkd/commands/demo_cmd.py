"""`signkd demo [--preset demo|quick|tiny] [--out DIR] [--seed N]`: the whole method on the
synthetic corpus (teachers, baseline and distilled students, SLT), then runs/demo/report.md.
The stages run through `signkd run`'s runner from configs/synthetic/demo/pipeline.yaml (see
signkd/demo.py and signkd/pipeline/); configs/synthetic/demo/ says what each one trains."""
from __future__ import annotations

HELP = "generate the synthetic corpus, train teachers and students from the shipped configs, write a report"


def add_arguments(p):
    from signkd.demo import PIPELINES
    from signkd.demo_stages import STAGE_KEYS

    p.add_argument("--preset", default="demo", choices=sorted(PIPELINES),
                   help="corpus preset (demo: the full demo, quick: ~5 min, tiny: smoke test)")
    p.add_argument("--out", default="runs/demo", help="output folder (corpus, one folder per stage, report.md)")
    p.add_argument("--seed", type=int, default=0, help="training seed of every stage")
    p.add_argument("--corpus-seed", type=int, default=0, help="seed of the synthetic corpus")
    p.add_argument("--synth", dest="synth", action="append", default=[], metavar="KEY=VALUE",
                   help="change a parameter of the synthetic corpus, e.g. --synth twin_context=0.8 "
                        "(`signkd synth OUT --show-params` lists them)")
    p.add_argument("--stages", nargs="+", choices=STAGE_KEYS, default=None, metavar="STAGE",
                   help=f"run only these stages and the stages they need: {', '.join(STAGE_KEYS)}")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value in every stage config, e.g. --set train.epochs=2")
    p.add_argument("--force", action="store_true", help="retrain stages even when an up-to-date run exists")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (default: torch's choice; 1 is faster on a machine shared with other jobs)")
    p.add_argument("--jobs", type=int, default=1,
                   help="stages trained at the same time, each in its own process (2 on a 2-core machine with --threads 1)")
    p.add_argument("--no-report", dest="report", action="store_false", help="skip report.md and the figures")


def run(args) -> int:
    from signkd.data.synthetic.params import parse_set_options
    from signkd.demo import run_demo

    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    run_demo(preset=args.preset, out=args.out, seed=args.seed, corpus_seed=args.corpus_seed,
             synth=parse_set_options(args.synth), stages=args.stages,
             overrides=args.overrides, force=args.force, report=args.report,
             jobs=args.jobs, threads=args.threads)
    return 0
