"""`signkd synth OUT`: write the synthetic signing corpus (see signkd.data.synthetic)."""
from __future__ import annotations

import json
import time

HELP = "write a synthetic signing corpus (PHOENIX-2014-T layout + dialogue files + corpus.json)"


def add_arguments(p):
    from signkd.data.synthetic.params import PRESETS
    p.add_argument("out", help="output folder (created; must be empty unless --force; an unfinished run there "
                               "with the same settings is resumed)")
    p.add_argument("--preset", choices=list(PRESETS), default="demo",
                   help="tiny (tests), quick (make demo-quick), demo (default), large (GPU runs), "
                        "phoenix-scale (PHOENIX-2014-T sizes: 210x260 px, its split sizes and clip lengths)")
    p.add_argument("--like", metavar="ANNOTATIONS", default=None,
                   help="folder of PHOENIX-2014-T *.corpus.csv files: take their splits, ids, signers, gloss "
                        "sequences and translations (splits without a file are left out)")
    p.add_argument("--dialogue", metavar="DIR", default=None,
                   help="with --like: folder of dialogue-PHOENIX <split>.txt files giving the contexts")
    p.add_argument("--seed", type=int, default=0, help="same seed and settings -> byte-identical corpus")
    p.add_argument("--format", dest="fmt", choices=["png", "mp4"], default="png",
                   help="png: one folder of images0001.png... per clip (what the readers expect); "
                        "mp4: one lossless <name>/<name>.mp4 per clip instead")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change a generation parameter, e.g. --set n_train=100 --set width=64 (repeatable); "
                        "--show-params lists them")
    p.add_argument("--workers", type=int, default=None, help="processes rendering clips (default: the preset's)")
    p.add_argument("--force", action="store_true", help="replace an existing synthetic corpus in OUT")
    p.add_argument("--show-params", action="store_true",
                   help="print the resolved parameters and the expected clip length per gloss, and exit")


def resolved_summary(preset: str, overrides: dict, like: str | None = None) -> dict:
    """The parameters a run would use and the clip length they give per gloss, next to PHOENIX's."""
    from signkd.data.synthetic import resolve_params
    from signkd.data.synthetic.params import (PHOENIX_FRAMES_PER_GLOSS, PHOENIX_GLOSSES_PER_SENTENCE,
                                              expected_frames_per_gloss)
    params = resolve_params(preset, overrides)
    per_sentence = PHOENIX_GLOSSES_PER_SENTENCE
    if like:
        from signkd.data.synthetic.like import read_like
        rows = [s for split in read_like(like).samples.values() for s in split]
        per_sentence = sum(len(s.glosses) for s in rows) / len(rows)
    return {**params.__dict__, "expected": {
        "glosses_per_sentence": round(per_sentence, 3),
        "frames_per_gloss": round(expected_frames_per_gloss(params, per_sentence), 3),
        "phoenix2014t_frames_per_gloss": round(PHOENIX_FRAMES_PER_GLOSS, 3),
        "source": "PHOENIX-2014-T train: 827,354 frames (Camgoz et al. 2018, Table 1) / 55,247 glosses "
                  "(the released train annotation; the table's 67,781 would give 12.21)"}}


def run(args) -> int:
    from signkd.data.synthetic import generate_corpus, load_description
    from signkd.data.synthetic.params import parse_set_options

    overrides = parse_set_options(args.overrides)
    if args.workers is not None:
        overrides["workers"] = str(args.workers)
    if args.show_params:
        print(json.dumps(resolved_summary(args.preset, overrides, args.like), indent=1, ensure_ascii=False))
        return 0
    start = time.perf_counter()
    out = generate_corpus(args.out, args.preset, args.seed, args.fmt, overwrite=args.force, like=args.like,
                          dialogue=args.dialogue, **overrides)
    seconds = time.perf_counter() - start
    info = load_description(out)
    source = f", like {args.like}" if args.like else ""
    print(f"wrote {out} ({args.preset}{source}, seed {args.seed}, {args.fmt}) in {seconds:.1f} s")
    for split, s in info["splits"].items():
        length = s["frame_length"] or {"min": 0, "max": 0}
        print(f"  {split:5s} {s['samples']:6d} clips {s['frames']:8d} frames ({length['min']}-{length['max']} per clip) "
              f"{s['gloss_types']:3d} glosses {s['translation_types']:4d} words")
    print(f"  frames: {info['frames']}  (read with data.frames={info['frames']})")
    return 0
