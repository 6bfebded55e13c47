"""`signkd import {vac,original} CKPT --gloss-dict FILE --out OUT.pt`: a published checkpoint
(VAC's release, the original method's student or its dialogue teacher's sign encoder) as a signkd
student checkpoint for `signkd test`, `recognize` and `export`, or the original's whole dialogue
teacher or Text2Gloss teacher as a signkd teacher checkpoint (signkd/importers/ says how)."""
from __future__ import annotations

HELP = "convert a VAC or original-method checkpoint into a signkd student checkpoint"


def add_arguments(p) -> None:
    p.add_argument("source", choices=["vac", "original"],
                   help="vac: VAC_CSLR's SLRModel; original: the distillation code's SLRModel (its VACModel parts)")
    p.add_argument("checkpoint", help="their checkpoint file (a torch.save dict with model_state_dict)")
    p.add_argument("--gloss-dict", metavar="FILE",
                   help="their gloss dictionary: gloss_dict.npy (VAC) or vocab.txt (original, one gloss per line)")
    p.add_argument("--config", metavar="CONFIG",
                   help="signkd config of the same architecture (default: configs/phoenix2014/vac_baseline.yaml "
                        "for vac, configs/phoenix2014t/slr_baseline.yaml for original)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--part", default="student",
                   choices=["student", "teacher-sign-encoder", "dialogue-teacher", "text2gloss"],
                   help="original only: the student (sign_encoder_2) or the dialogue teacher's sign encoder "
                        "(sign_encoder), each as a signkd student; or the whole dialogue teacher (sign encoder, "
                        "BERT context, hybrid fusion, classifier_combine; default config "
                        "configs/dialogue_phoenix/teacher_slr_bilstm.yaml); or the SLR model's Text2Gloss teacher "
                        "(default config configs/dialogue_phoenix/text2gloss.yaml)")
    p.add_argument("--tokenizer", metavar="DIR",
                   help="--part dialogue-teacher / text2gloss: their BERT's folder (bert-base-german-cased-v1) "
                        "or its vocab.txt")
    p.add_argument("--out", required=True, metavar="OUT.pt", help="signkd checkpoint to write")


def run(args) -> int:
    from signkd.importers import import_checkpoint, write_imported

    result = import_checkpoint(args.source, args.checkpoint, gloss_dict=args.gloss_dict, config=args.config,
                               overrides=args.overrides, part=args.part, tokenizer=args.tokenizer)
    out = write_imported(result, args.out)
    info = result.payload["imported"]
    glosses = len(result.payload["vocab"]["gloss"]["glosses"])
    layouts = ", ".join(f"{k} {v}" for k, v in info["classifier_layout"].items())
    print(f"wrote {out}: {args.source} {args.part} ({glosses} glosses, {info['gloss_order']}; {layouts}; "
          f"config {info['config']})")
    for note in result.notes:
        print(f"note: {note}")
    return 0
