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

REPO = Path(__file__).resolve().parents[1]
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


def test_bench_text_seeds_score_each_run_and_their_ensemble(tmp_path):
    """`benchmarks/text_teachers.py --seeds`: one run per seed (own folder and seed), each scored, and
    the ensemble of all of them scored with every run's best.pt as a member."""
    import json
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import text_teachers

    data = _slice(tmp_path)
    dev = (DATA / "PHOENIX-2014-T.dev.corpus.csv").read_text(encoding="utf-8").splitlines()[:9]
    (data / "PHOENIX-2014-T.dev.corpus.csv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    out = tmp_path / "bench"
    rc = text_teachers.main(["--data", str(data), "--out", str(out), "--only", "gloss2text", "--seeds", "3", "5", "--back-translation", "none",
                             "--beams", "1", "--set", "train.epochs=1", "--set", "data.batch_size=8", "--set", "model.hidden=32",
                             "--set", "model.text_teacher_encoder.ff=64", "--set", "model.teacher_decoder.ff=64",
                             "--set", "eval.max_output_factor=0.5"])
    assert rc == 0
    teachers = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["teachers"]
    assert list(teachers) == ["gloss2text", "gloss2text-seed5", "gloss2text x2"]
    assert [teachers[k]["seed"] for k in ("gloss2text", "gloss2text-seed5")] == [3, 5]
    for name, seed in (("gloss2text", 3), ("gloss2text-seed5", 5)):
        assert load_config(out / name / "config.yaml").train.seed == seed, name
    assert teachers["gloss2text x2"]["ensemble"] == [str(out / "gloss2text" / "best.pt"),
                                                     str(out / "gloss2text-seed5" / "best.pt")]
    assert teachers["gloss2text x2"]["run"]["seeds"] == [3, 5]
    assert "bleu4" in teachers["gloss2text x2"]["dev"]


TINY_BENCH = ["--beams", "1", "--set", "train.epochs=6", "--set", "train.optim.lr=0.01", "--set", "data.batch_size=4",
              "--set", "model.hidden=32", "--set", "model.text.hidden=32", "--set", "model.text.ff=64",
              "--set", "data.tokenizer_vocab_size=300", "--set", "model.text_teacher_encoder.ff=64",
              "--set", "model.teacher_decoder.ff=64", "--set", "eval.max_output_factor=0.5"]


def test_bench_text_back_translation_pipeline(tmp_path):
    """The default `make bench-text` path: Text2Gloss runs first, the best on dev back-translates the
    train sentences (greedy and dropout, tagged), and each Gloss2Text run trains on its file; --reuse
    keeps every file it can."""
    import json
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import text_teachers

    torch.set_num_threads(1)
    data = _slice(tmp_path)
    dev = (DATA / "PHOENIX-2014-T.dev.corpus.csv").read_text(encoding="utf-8").splitlines()[:9]
    (data / "PHOENIX-2014-T.dev.corpus.csv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    out = tmp_path / "bench"
    args = ["--data", str(data), "--out", str(out), "--text2gloss-seeds", "0", "1"] + TINY_BENCH
    assert text_teachers.main(args) == 0
    results = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    teachers = results["teachers"]
    assert list(teachers) == ["text2gloss", "text2gloss-seed1", "text2gloss x2",
                              "gloss2text", "gloss2text-dropout", "gloss2text x2"]
    bt = results["back_translation"]
    # the ensemble of both Text2Gloss runs back-translates, the better on dev first
    order = sorted(("text2gloss", "text2gloss-seed1"), key=lambda n: -teachers[n]["dev"]["gloss_bleu4"])
    assert bt["checkpoints"] == [str(out / n / "best.pt") for n in order]
    assert bt["variants"]["greedy"]["ensemble"] == [str(out / order[1] / "best.pt")]

    real = (data / "PHOENIX-2014-T.train.corpus.csv").read_text(encoding="utf-8").splitlines()
    for name, variant in (("gloss2text", "greedy"), ("gloss2text-dropout", "dropout")):
        made = bt["variants"][variant]
        path = out / "back-translation" / variant / "PHOENIX-2014-T.train.corpus.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[:len(real)] == real                                   # the real pairs, untouched
        pseudo = lines[len(real):]
        assert len(pseudo) == made["pseudo_rows"] > 0
        assert all(row.split("|")[5].split()[0] == "BTTAG" for row in pseudo)
        assert made["dropout"] == (0.3 if variant == "dropout" else 0.0)
        assert load_config(out / name / "config.yaml").data.train == str(path.resolve())
        assert teachers[name]["back_translation"] == variant
    assert teachers["gloss2text x2"]["ensemble"] == [str(out / "gloss2text" / "best.pt"),
                                                     str(out / "gloss2text-dropout" / "best.pt")]

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")}
    stamps.update({p: p.stat().st_mtime_ns for p in (out / "back-translation").rglob("*.csv")})
    assert text_teachers.main(args + ["--reuse"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps           # nothing trained or written again


def test_bench_text_back_translation_needs_a_text2gloss(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import text_teachers

    data = _slice(tmp_path)
    with pytest.raises(SystemExit, match="needs a Text2Gloss"):
        text_teachers.main(["--data", str(data), "--out", str(tmp_path / "b"), "--only", "gloss2text"])
    with pytest.raises(SystemExit, match="--bt-from .*no such checkpoint"):
        text_teachers.main(["--data", str(data), "--out", str(tmp_path / "b"), "--only", "gloss2text",
                            "--bt-from", str(tmp_path / "missing.pt")])
