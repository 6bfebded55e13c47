"""The PHOENIX-2014-T text-teacher configs on a slice of the real annotations: the same path as
`make bench-text` (config -> data bundle -> system -> loss -> decoding), shrunk to a tiny model
and a few steps so it runs in seconds. Skipped when ../shared/data is absent."""
from pathlib import Path

import pytest
import torch

from signkd.config import load_config
from signkd.models.build import build_system
from signkd.training.data import build_data, eval_loader
from signkd.training.distributed import setup

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "phoenix2014t"
CONFIGS = REPO / "configs" / "phoenix2014t"
SLICE = 24          # sentences: one fixed batch, overfitted
STEPS = 40

pytestmark = pytest.mark.skipif(not (DATA / "PHOENIX-2014-T.train.corpus.csv").is_file(),
                                reason="../shared/data/phoenix2014t is not available")


def _slice(tmp_path: Path) -> Path:
    """The first SLICE lines of the real train file, under the PHOENIX-2014-T file name."""
    folder = tmp_path / "annotations"
    folder.mkdir()
    lines = (DATA / "PHOENIX-2014-T.train.corpus.csv").read_text(encoding="utf-8").splitlines()[:SLICE]
    (folder / "PHOENIX-2014-T.train.corpus.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _tiny(config: str, annotations: Path):
    return load_config(CONFIGS / config, [
        f"data.annotations={annotations}", "data.dev=", "data.batch_size=" + str(SLICE),
        "data.eval_batch_size=" + str(SLICE), "data.tokenizer_vocab_size=300",
        "model.hidden=32", "model.text.hidden=32", "model.text.heads=2", "model.text.ff=64", "model.text.dropout=0",
        "model.text_teacher_encoder={layers: 1, heads: 2, ff: 64, dropout: 0.0}",
        "model.teacher_decoder={layers: 1, heads: 2, ff: 64, dropout: 0.0, emb_dropout: 0.0, tie_embeddings: true}",
    ])


@pytest.mark.parametrize("config, module", [("gloss2text.yaml", "gloss2text"), ("text2gloss.yaml", "text2gloss")])
def test_teacher_learns_and_decodes_real_slice(tmp_path, config, module):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = _tiny(config, _slice(tmp_path))
    assert cfg.model.student is False and getattr(cfg.model, module) is True
    data = build_data(cfg, tmp_path / "run", roles=("train",), log=lambda m: None)
    assert len(data.datasets["train"]) == SLICE                     # text-only: nothing filtered, no frames read
    v = data.vocabs
    torch.manual_seed(0)   # the same initial weights whatever reading the data drew
    system = build_system(cfg, v.gloss, v.word, v.tokenizer)
    assert getattr(system, module) is not None and system.student is None
    batch = next(iter(eval_loader(data.datasets["train"], cfg, setup("cpu"))))
    assert batch.video is None

    weights = {k: float(w) for k, w in cfg.loss.weights.items()}
    optimizer = torch.optim.Adam(system.parameters(), lr=1e-2)
    losses = []
    for _ in range(STEPS):
        loss = system.losses(batch, weights)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.6 * losses[0], losses

    ids = system.translate(batch, beam=1, max_len=40, model=module)
    if module == "gloss2text":
        hyps, refs = [v.word.decode(x) for x in ids], [" ".join(s.translation.lower().split()) for s in data.samples["train"]]
    else:
        hyps, refs = [" ".join(v.gloss.decode(x)) for x in ids], [" ".join(s.glosses) for s in data.samples["train"]]
    assert len(hyps) == SLICE and all(h.strip() for h in hyps), hyps
    by_id = dict(zip([s.id for s in data.samples["train"]], refs))
    overlap = sum(len(set(h.split()) & set(by_id[i].split())) for h, i in zip(hyps, batch.ids))
    assert overlap >= SLICE, (hyps[:3], overlap)                     # the words/glosses it learnt, not noise
    beams = system.translate(batch, beam=3, max_len=40, model=module)
    assert len(beams) == SLICE and sum(map(bool, beams)) == SLICE


TINY_BENCH = ["train.epochs=4", "train.optim.lr=0.01", "data.batch_size=8", "model.hidden=32",
              "model.text.hidden=32", "model.text.ff=64", "data.tokenizer_vocab_size=300",
              "model.text_teacher_encoder.ff=64", "model.teacher_decoder.ff=64", "eval.max_output_factor=0.5"]


def test_bench_text_runs_the_pipeline_and_tabulates_every_scored_stage(tmp_path, capsys):
    """`make bench-text` = `signkd run configs/phoenix2014t/pipeline_text_teachers.yaml` + one table: each
    scored stage (one run, the ensemble of two) with the decoding it chose on dev; a second
    invocation trains nothing and prints the same table."""
    import json
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import text_teachers

    data = _slice(tmp_path)
    dev = (DATA / "PHOENIX-2014-T.dev.corpus.csv").read_text(encoding="utf-8").splitlines()[:9]
    (data / "PHOENIX-2014-T.dev.corpus.csv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    out = tmp_path / "bench"
    args = ["--data", str(data), "--out", str(out), "--only", "text2gloss-scored", "text2gloss-x2-scored",
            *[a for o in TINY_BENCH for a in ("--set", o)]]
    assert text_teachers.main(args) == 0
    first = capsys.readouterr().out
    teachers = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["teachers"]
    assert list(teachers) == ["text2gloss", "text2gloss-x2"]
    assert teachers["text2gloss-x2"]["members"] == ["text2gloss", "text2gloss-seed1"]
    assert teachers["text2gloss-x2"]["ensemble"] == [str(out / "text2gloss" / "best.pt"),
                                                      str(out / "text2gloss-seed1" / "best.pt")]
    for label, r in teachers.items():
        assert len(r["tuning"]["tried"]) == 4 and r["tuning"]["metric"] == "gloss_bleu4"
        row = next(line for line in first.splitlines() if line.split()[:2] == [label, "dev"])
        assert f"{r['dev']['gloss_bleu4']:.2f}" in row.split()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")}
    assert text_teachers.main(args) == 0
    again = capsys.readouterr().out
    assert "0 to run" in again and {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert first.split("PHOENIX-2014-T text teachers")[1].split("wrote")[0] == \
        again.split("PHOENIX-2014-T text teachers")[1].split("wrote")[0]
