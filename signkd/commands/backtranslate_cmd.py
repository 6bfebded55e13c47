"""`signkd back-translate CKPT CORPUS --out FILE`: pseudo-gloss training pairs for the Gloss2Text
teacher from a Text2Gloss teacher checkpoint (signkd/backtranslation.py says why)."""
from __future__ import annotations

HELP = "write an annotation file with Text2Gloss pseudo glosses added (back-translation for Gloss2Text)"


def add_arguments(p) -> None:
    p.add_argument("checkpoint", help="Text2Gloss teacher checkpoint (e.g. runs/phoenix2014t/text2gloss/best.pt)")
    p.add_argument("corpus", help="annotation file whose sentences are back-translated (e.g. PHOENIX-2014-T.train.corpus.csv)")
    p.add_argument("--out", required=True, help="annotation file to write: the input rows + the pseudo rows")
    p.add_argument("--beam", type=int, default=1, help="beam size (1 = greedy)")
    p.add_argument("--length-penalty", type=float, default=1.0, help="length penalty alpha with --beam > 1")
    p.add_argument("--copies", type=int, default=1, help="pseudo rows per sentence (differ only with --dropout)")
    p.add_argument("--dropout", type=float, default=0.0, metavar="P",
                   help="decode with the teacher's dropout layers on at rate P (noisier glosses; copies differ)")
    p.add_argument("--tag", default="", metavar="GLOSS",
                   help="put this gloss before every pseudo gloss sequence (tagged back-translation; e.g. BT)")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="CKPT",
                   help="more Text2Gloss checkpoints (same vocabularies) that decode together with CHECKPOINT")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=0, help="sentences per batch (0 = the checkpoint's eval batch size)")


def run(args) -> int:
    import json
    from pathlib import Path

    from signkd.backtranslation import back_translate

    result = back_translate(args.checkpoint, args.corpus, args.out, beam=args.beam, length_penalty=args.length_penalty,
                            copies=args.copies, dropout=args.dropout, seed=args.seed, tag=args.tag,
                            ensemble=args.ensemble, device=args.device, batch_size=args.batch_size)
    info = Path(args.out).with_name(Path(args.out).name + ".json")
    info.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"wrote {info}")
    return 0
