"""`signkd synth OUT`: write the synthetic signing corpus (see signkd.data.synthetic)."""
from __future__ import annotations

import json
import time

HELP = "write a synthetic signing corpus (PHOENIX-2014-T layout + dialogue files + corpus.json)"


def add_arguments(p):
    from signkd.data.synthetic.params import PRESETS
    p.add_argument("out", help="output folder (created; must be empty unless --force)")
    p.add_argument("--preset", choices=list(PRESETS), default="demo",
                   help="tiny (tests), quick (make demo-quick), demo (default), large (GPU runs)")
    p.add_argument("--seed", type=int, default=0, help="same seed and settings -> byte-identical corpus")
    p.add_argument("--format", dest="fmt", choices=["png", "mp4"], default="png",
                   help="png: one folder of images0001.png... per clip (what the readers expect); "
                        "mp4: one lossless <name>/<name>.mp4 per clip instead")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change a generation parameter, e.g. --set n_train=100 --set width=64 (repeatable); "
                        "--show-params lists them")
    p.add_argument("--workers", type=int, default=None, help="processes rendering clips (default: the preset's)")
    p.add_argument("--force", action="store_true", help="replace an existing synthetic corpus in OUT")
    p.add_argument("--show-params", action="store_true", help="print the resolved parameters and exit")


def run(args) -> int:
    from signkd.data.synthetic import generate_corpus, load_description, resolve_params
    from signkd.data.synthetic.params import parse_set_options

    overrides = parse_set_options(args.overrides)
    if args.workers is not None:
        overrides["workers"] = str(args.workers)
    if args.show_params:
        print(json.dumps(resolve_params(args.preset, overrides).__dict__, indent=1))
        return 0
    start = time.perf_counter()
    out = generate_corpus(args.out, args.preset, args.seed, args.fmt, overwrite=args.force, **overrides)
    seconds = time.perf_counter() - start
    info = load_description(out)
    print(f"wrote {out} ({args.preset}, seed {args.seed}, {args.fmt}) in {seconds:.1f} s")
    for split, s in info["splits"].items():
        length = s["frame_length"] or {"min": 0, "max": 0}
        print(f"  {split:5s} {s['samples']:6d} clips {s['frames']:8d} frames ({length['min']}-{length['max']} per clip) "
              f"{s['gloss_types']:3d} glosses {s['translation_types']:4d} words")
    print(f"  frames: {info['frames']}  (read with data.frames={info['frames']})")
    return 0
