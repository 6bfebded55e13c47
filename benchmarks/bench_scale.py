"""The cost of one training step at PHOENIX size for each of the original's configs, on this CPU.

Why: the runbook (docs/reproduce.md) needs what a step of the real configs costs — 224 px crops,
the configs' batch size, clips as long as PHOENIX-2014-T's, a gloss vocabulary of its size — and
nothing had measured it. Per config this builds the system from the shipped config (random weights:
ImageNet / BERT weights change no cost; BERT's geometry is kept), puts it in the stage the config
trains longest (the last), and times forward + backward + optimizer step on random clips of the
mean PHOENIX-2014-T train length (827,354 frames / 7,096 videos ≈ 117, Camgoz et al. 2018, table 1),
then one evaluation pass of the student over the same batch with CTC beam search (beam 10, as the
configs evaluate). Peak resident memory is the process's (`ru_maxrss`), read after each config.

    python benchmarks/bench_scale.py [--steps 2] [--frames 117] [--threads 0] [--only NAME ...]

Not here (issue #23, point 4, still open): a dev pass over the whole split, forced alignment per
batch, memory over several epochs, and the projection to a GPU.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {   # name -> the original's config it measures
    "VAC baseline (BiLSTM)": "configs/dialogue_phoenix/vac_baseline.yaml",
    "dialogue teacher (SLR)": "configs/dialogue_phoenix/teacher_slr_bilstm.yaml",
    "2-teacher SLR student, BiLSTM": "configs/dialogue_phoenix/student_slr_2teacher_bilstm.yaml",
    "2-teacher SLR student, Transformer": "configs/dialogue_phoenix/student_slr_2teacher_transformer.yaml",
    "2-teacher SLT student, BiLSTM": "configs/dialogue_phoenix/student_slt_2teacher_bilstm.yaml",
}
GLOSSES = 1085          # PHOENIX-2014-T's gloss vocabulary (+ blank = 1,086 classes)
WORDS = 2887            # its German vocabulary
BERT_VOCAB = 30000      # bert-base-german-cased


class _SizedTokenizer:
    """build_system reads only the tokenizer's size."""

    def __len__(self) -> int:
        return BERT_VOCAB


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2, help="timed training steps per config (after one warm-up)")
    p.add_argument("--frames", type=int, default=117, help="frames per clip (PHOENIX-2014-T train mean)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--only", nargs="+", default=[], help="measure only configs whose name contains this text")
    return p.parse_args(argv)


def make_batch(cfg, frames: int, glosses: int, words: int, generator):
    import torch

    from signkd.data.batch import Batch, pad_sequences

    b, size = cfg.data.batch_size, cfg.data.augment.crop
    lengths = [frames] * b
    gloss_seqs = [[int(g) for g in torch.randint(1, glosses + 1, (12,), generator=generator)] for _ in range(b)]
    word_seqs = [[int(w) for w in torch.randint(4, words, (14,), generator=generator)] for _ in range(b)]
    text = [[2] + [int(t) for t in torch.randint(5, BERT_VOCAB, (20,), generator=generator)] + [3] for _ in range(b)]
    c = glosses + 1
    gl, gl_len = pad_sequences(gloss_seqs)
    gin, _ = pad_sequences([[c] + s for s in gloss_seqs])
    gout, _ = pad_sequences([s + [c + 1] for s in gloss_seqs])
    din, d_len = pad_sequences([[1] + s for s in word_seqs])
    dout, _ = pad_sequences([s + [2] for s in word_seqs])
    tx, tx_len = pad_sequences(text)
    video = torch.randn(b, frames, 3, size, size, generator=generator)
    return Batch(ids=[f"clip{i}" for i in range(b)], video=video, video_lengths=torch.tensor(lengths), glosses=gl,
                 gloss_lengths=gl_len, gloss_in=gin, gloss_out=gout, dec_in=din, dec_out=dout, dec_lengths=d_len,
                 ctx_ids=tx, ctx_lengths=tx_len, trans_ids=tx, trans_lengths=tx_len)


def measure(name: str, path: Path, args) -> dict:
    import torch

    from signkd.config import load_config
    from signkd.data.vocab import GlossVocab, WordVocab
    from signkd.models.build import build_system
    from signkd.training.stages import active_weights, apply_stage

    cfg = load_config(path, ["model.visual.pretrained=", "model.text.pretrained=", "train.init=[]"])
    stage = cfg.train.stages[-1]
    epoch = max([s.until_epoch for s in cfg.train.stages[:-1] if s.until_epoch] or [0])
    gloss_vocab = GlossVocab([f"G{i:04d}" for i in range(GLOSSES)])
    word_vocab = WordVocab([f"w{i}" for i in range(WORDS)])
    torch.manual_seed(0)
    system = build_system(cfg, gloss_vocab, word_vocab, _SizedTokenizer())
    trained, frozen = apply_stage(system, stage)
    weights = active_weights(cfg, stage, epoch)
    params = [p for p in system.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=1e-4)
    batch = make_batch(cfg, args.frames, GLOSSES, WORDS, torch.Generator().manual_seed(0))
    times = []
    for step in range(args.steps + 1):                 # the first is a warm-up
        start = time.perf_counter()
        out = system.losses(batch, weights, frozen=frozen)
        optim.zero_grad(set_to_none=True)
        out["total"].backward()
        optim.step()
        if step:
            times.append(time.perf_counter() - start)
        if not torch.isfinite(out["total"]):
            raise SystemExit(f"{name}: the loss is not finite")
    decode = None
    if system.student is not None:
        from signkd.decoding import ctc_beam_search

        system.eval()
        start = time.perf_counter()
        with torch.no_grad():
            student = system.student.encoder if system.is_slt else system.student
            out = student(batch.video, batch.video_lengths)
            ctc_beam_search(out["seq_logits"].log_softmax(-1), out["lengths"], beam_width=10)   # (B, T', C)
        decode = (time.perf_counter() - start) / cfg.data.batch_size
    return {"name": name, "config": str(path.relative_to(REPO)), "batch": cfg.data.batch_size,
            "trained": sorted(trained), "terms": sorted(weights), "step_s": min(times),
            "decode_s_per_clip": decode, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "params_trained_m": sum(p.numel() for p in params) / 1e6}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, rel in CONFIGS.items():
        if args.only and not any(text in name for text in args.only):
            continue
        print(f"measuring {name} ({rel}) ...", flush=True)
        rows.append(measure(name, REPO / rel, args))
    print(f"\nOne training step at 224 px, {args.frames}-frame clips, {GLOSSES + 1} classes, the configs' batch "
          f"size, {torch.get_num_threads()} torch threads (best of {args.steps} after a warm-up)")
    print(f"{'config':<36} {'batch':>5} {'step s':>8} {'s/clip':>7} {'eval s/clip':>13} {'peak RSS MB':>11} "
          f"{'trained M':>9}  terms")
    for r in rows:
        decode = f"{r['decode_s_per_clip']:13.2f}" if r["decode_s_per_clip"] is not None else f"{'-':>13}"
        print(f"{r['name']:<36} {r['batch']:>5} {r['step_s']:8.1f} {r['step_s'] / r['batch']:7.1f} {decode} "
              f"{r['peak_rss_mb']:11.0f} {r['params_trained_m']:9.1f}  {', '.join(r['terms'])}")
    print("peak RSS: the process's maximum so far (it only grows down the table)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
