"""`signkd back-translate`: a Text2Gloss checkpoint adds pseudo-gloss rows to an annotation file,
which the corpus reader and the Gloss2Text training then take like any other (tiny synthetic
corpus, a Text2Gloss teacher over-fitted on it in a few seconds)."""
from pathlib import Path

import pytest
import torch

from signkd.backtranslation import back_translate
from signkd.cli import main as cli_main
from signkd.data.corpora import read_corpus
from signkd.errors import CheckpointError, DataError

REPO = Path(__file__).resolve().parents[1]
TINY_TEXT_TEACHER = ["model.hidden=32", "model.text.hidden=32", "model.text.heads=2", "model.text.ff=64",
                     "data.tokenizer_vocab_size=200", "data.batch_size=8", "train.eval_every=50",
                     "model.text_teacher_encoder={layers: 1, heads: 2, ff: 64, dropout: 0.0}",
                     "model.teacher_decoder={layers: 1, heads: 2, ff: 64, dropout: 0.3, emb_dropout: 0.0, "
                     "tie_embeddings: true}", "train.cpu_bf16=false", "train.average_last=0", "train.progress=false"]


def _train(teacher: str, annotations: Path, work: Path, *extra: str) -> Path:
    overrides = [f"data.annotations={annotations}", *TINY_TEXT_TEACHER, *extra]
    args = ["train", str(REPO / "configs" / "phoenix2014t" / f"{teacher}.yaml"), "--work-dir", str(work)]
    assert cli_main(args + [a for o in overrides for a in ("--set", o)]) == 0
    return work / "best.pt"


@pytest.fixture(scope="module")
def text2gloss(tiny_corpus, tmp_path_factory) -> tuple[Path, Path]:
    """(Text2Gloss best.pt, the tiny corpus' train file)."""
    torch.manual_seed(0)
    annotations = tiny_corpus / "annotations" / "manual"
    ckpt = _train("text2gloss", annotations, tmp_path_factory.mktemp("t2g"), "train.epochs=60",
                  "train.optim.lr=3e-3")
    return ckpt, annotations / "PHOENIX-2014-T.train.corpus.csv"


def test_pseudo_rows_follow_the_real_ones(text2gloss, tmp_path):
    ckpt, train = text2gloss
    out = tmp_path / "bt" / "PHOENIX-2014-T.train.corpus.csv"
    result = back_translate(ckpt, train, out, device="cpu", progress=False, log=lambda m: None)

    real_lines = train.read_text(encoding="utf-8").splitlines()
    lines = out.read_text(encoding="utf-8").splitlines()
    n = len(real_lines) - 1                                              # the tiny file has a header
    assert lines[: n + 1] == real_lines                                 # the input, untouched, first
    assert result["rows"] == n and result["pseudo_rows"] == len(lines) - n - 1 == n
    real = {s.id: s for s in read_corpus("phoenix2014t", "", str(train))}
    both = read_corpus("phoenix2014t", "", str(out))
    assert len(both) == 2 * n
    pseudo = [s for s in both if s.id.endswith("-bt0")]
    assert len(pseudo) == n
    for s in pseudo:
        twin = real[s.id[: -len("-bt0")]]
        assert s.translation == twin.translation and s.signer == twin.signer and s.glosses
    # the teacher learnt the corpus: its glosses are mostly the real ones, not noise
    assert result["copies"][0]["wer"] < 50.0, result
    assert sum(s.glosses == real[s.id[:-4]].glosses for s in pseudo) >= n // 2


def test_copies_differ_only_with_dropout(text2gloss, tmp_path):
    ckpt, train = text2gloss

    def pseudo(**kw) -> list[list[str]]:
        out = tmp_path / f"{len(kw)}.csv"
        back_translate(ckpt, train, out, device="cpu", progress=False, log=lambda m: None, copies=2, **kw)
        rows = [r.split("|") for r in out.read_text(encoding="utf-8").splitlines()]
        return [[r[5] for r in rows if r[0].endswith(f"-bt{c}")] for c in (0, 1)]

    plain = pseudo()
    assert plain[0] == plain[1] and len(plain[0]) == 24
    noisy = pseudo(dropout=0.3, seed=3)
    assert noisy[0] != noisy[1] and min(map(len, noisy)) >= 12             # empty outputs are left out
    assert noisy == pseudo(dropout=0.3, seed=3)                        # seeded: reproducible


def test_tag_marks_every_pseudo_row_and_nothing_else(text2gloss, tmp_path):
    ckpt, train = text2gloss
    plain, tagged = tmp_path / "plain.csv", tmp_path / "tagged.csv"
    back_translate(ckpt, train, plain, device="cpu", progress=False, log=lambda m: None)
    result = back_translate(ckpt, train, tagged, device="cpu", progress=False, log=lambda m: None, tag="BT")
    assert result["tag"] == "BT"
    real = {s.id: s.glosses for s in read_corpus("phoenix2014t", "", str(plain))}
    for s in read_corpus("phoenix2014t", "", str(tagged)):
        assert s.glosses == (["BT"] + real[s.id] if s.id.endswith("-bt0") else real[s.id])
    with pytest.raises(DataError, match="one gloss"):
        back_translate(ckpt, train, tmp_path / "x.csv", device="cpu", tag="B T")
    with pytest.raises(DataError, match="is a gloss of the corpus"):
        back_translate(ckpt, train, tmp_path / "x.csv", device="cpu", tag="HEUTE")


def test_cli_writes_file_and_summary(text2gloss, tmp_path):
    import json

    ckpt, train = text2gloss
    out = tmp_path / "train+bt.csv"
    assert cli_main(["back-translate", str(ckpt), str(train), "--out", str(out), "--device", "cpu", "--beam", "2"]) == 0
    info = json.loads(out.with_name("train+bt.csv.json").read_text(encoding="utf-8"))
    assert info["pseudo_rows"] == 24 and info["beam"] == 2 and info["out"] == str(out)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + 48


def test_bad_input_is_one_clear_error(text2gloss, tmp_path, tiny_corpus, capsys, monkeypatch):
    ckpt, train = text2gloss
    with monkeypatch.context() as m:
        m.setenv("WORLD_SIZE", "2")
        with pytest.raises(DataError, match="without torchrun"):
            back_translate(ckpt, train, tmp_path / "out.csv", device="cpu")
    with pytest.raises(DataError, match="overwrite its input"):
        back_translate(ckpt, train, train, device="cpu")
    with pytest.raises(DataError, match="no such annotation file"):
        back_translate(ckpt, tmp_path / "missing.csv", tmp_path / "out.csv", device="cpu")
    # a Gloss2Text checkpoint cannot write glosses
    g2t = _train("gloss2text", train.parent, tmp_path / "g2t", "train.epochs=1")
    with pytest.raises(CheckpointError, match="needs a Text2Gloss teacher checkpoint"):
        back_translate(g2t, train, tmp_path / "out.csv", device="cpu")
    assert cli_main(["back-translate", str(g2t), str(train), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Text2Gloss" in err[0]
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "o.csv").exists()


def test_an_ensemble_of_teachers_back_translates_together(text2gloss, tmp_path):
    """`--ensemble`: the checkpoints decode together (averaged log-probabilities); an ensemble of a
    teacher with itself writes exactly the teacher's own glosses."""
    ckpt, train = text2gloss
    alone, both = tmp_path / "alone.csv", tmp_path / "both.csv"
    back_translate(ckpt, train, alone, device="cpu", progress=False, log=lambda m: None)
    result = back_translate(ckpt, train, both, ensemble=[ckpt], device="cpu", progress=False, log=lambda m: None)
    assert result["ensemble"] == [str(ckpt)]
    assert both.read_text(encoding="utf-8") == alone.read_text(encoding="utf-8")
    with pytest.raises(CheckpointError, match="missing.pt"):
        back_translate(ckpt, train, tmp_path / "x.csv", ensemble=[tmp_path / "missing.pt"], device="cpu",
                       progress=False, log=lambda m: None)
