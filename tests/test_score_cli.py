"""`signkd score`: references in every supported format, CTM or id-line hypotheses, JSON output,
the sclite scorer, translation metrics, and one-line errors."""
import json
import re

import pytest
import sacrebleu

from signkd import metrics as M
from signkd.cli import main


def score(capsys, *argv):
    rc = main(["score", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def files(tmp_path):
    stm = tmp_path / "ref.stm"
    stm.write_text("u1 1 Signer01 0.0 1.79769e+308 REGEN SONNE WOLKE\n"
                   "u2 1 Signer02 0.0 1.79769e+308 NORD WIND\n"
                   "u3 1 Signer02 0.0 1.79769e+308 MORGEN\n")
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("u1 loc-REGEN SONNE SONNE NEBEL WOLKE\nu2 NORD\n")       # u3 missing
    csv = tmp_path / "dev.corpus.csv"
    csv.write_text("name|video|start|end|speaker|orth|translation\n"
                   "u1|u1/1/*.png|-1|-1|Signer01|REGEN SONNE WOLKE|es regnet und die sonne scheint\n"
                   "u2|u2/1/*.png|-1|-1|Signer02|NORD WIND|wind aus norden\n"
                   "u3|u3/1/*.png|-1|-1|Signer02|MORGEN|morgen\n")
    return {"stm": stm, "hyp": hyp, "csv": csv, "dir": tmp_path}


def test_json_wer_with_phoenix2014_cleanup(capsys, files):
    rc, out, _ = score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]),
                       "--corpus", "phoenix2014", "--json")
    assert rc == 0
    got = json.loads(out)
    # clean-up: loc-REGEN -> REGEN, SONNE SONNE -> SONNE; so u1 has one insertion (NEBEL),
    # u2 one deletion, u3 (missing) one deletion
    assert {k: got[k] for k in ("wer", "sub", "del", "ins", "ref_words", "utterances")} == {
        "wer": pytest.approx(100 * 3 / 6), "sub": 0, "del": 2, "ins": 1, "ref_words": 6, "utterances": 3}
    assert got["missing_hyps"] == 1 and got["cleanup"] == "phoenix2014"


def test_without_cleanup_and_plain_text_output(capsys, files):
    rc, out, _ = score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]))
    assert rc == 0
    # loc-REGEN is a substitution, SONNE SONNE NEBEL two insertions
    assert out.startswith("WER 83.33% (sub 1, del 2, ins 2; 6 reference words, 3 utterances; python)")
    assert "1 utterances without a hypothesis" in out


def test_corpus_file_reference_and_ctm_hypothesis_give_the_same_wer(capsys, files):
    ctm = M.write_ctm(files["dir"] / "hyp.ctm", M.read_id_lines(files["hyp"]))
    rc, out_stm, _ = score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]), "--json")
    rc2, out_csv, _ = score(capsys, "--ref", str(files["csv"]), "--hyp", str(ctm), "--json")
    assert rc == rc2 == 0 and json.loads(out_stm)["wer"] == json.loads(out_csv)["wer"]


def test_dialogue_phoenix_reference_strips_the_split_prefix(capsys, files):
    dlg = files["dir"] / "dev.txt"
    dlg.write_text("dev/u1 es regnet%Wie ist das Wetter%REGEN SONNE WOLKE\n"
                   "dev/u2 wind aus norden%Woher kommt der Wind%NORD WIND\n"
                   "dev/u3 morgen%Wann%MORGEN\n")
    rc, out, _ = score(capsys, "--ref", str(dlg), "--hyp", str(files["hyp"]), "--json")
    assert rc == 0 and json.loads(out)["ref_words"] == 6


def test_report_file(capsys, files):
    report = files["dir"] / "align.pra"
    score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]), "--report", str(report))
    text = report.read_text()
    assert "id: u3" in text and "Scores: (#C #S #D #I) 0 0 1 0" in text


def test_sclite_scorer_matches_python(capsys, files):
    if M.find_sclite() is None:
        pytest.skip("sclite not installed")
    outs = []
    for scorer in ("python", "sclite"):
        rc, out, _ = score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]),
                           "--corpus", "phoenix2014", "--scorer", scorer, "--json")
        assert rc == 0
        outs.append({k: v for k, v in json.loads(out).items() if k != "scorer"})
    assert outs[0] == outs[1]


def test_sclite_scorer_missing_binary_is_one_line(capsys, files, monkeypatch):
    monkeypatch.setattr(M, "find_sclite", lambda: None)
    rc, out, err = score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]), "--scorer", "sclite")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "sclite not found" in err


def test_translation_task(capsys, files):
    hyp = files["dir"] / "trans.txt"
    hyp.write_text("u1 es regnet und die sonne scheint heute\nu2 wind aus dem norden\nu3 morgen\n")
    rc, out, _ = score(capsys, "--task", "translation", "--ref", str(files["csv"]), "--hyp", str(hyp), "--json")
    assert rc == 0
    got = json.loads(out)
    hyps = ["es regnet und die sonne scheint heute", "wind aus dem norden", "morgen"]
    refs = ["es regnet und die sonne scheint", "wind aus norden", "morgen"]
    bleu1 = sacrebleu.metrics.BLEU(tokenize="none", max_ngram_order=1).corpus_score(hyps, [refs])
    assert got["bleu1"] == pytest.approx(bleu1.score)
    assert got["bleu4"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score)
    assert set(got) >= {"bleu1", "bleu2", "bleu3", "bleu4", "chrf", "rouge_l", "signature"}
    rc, out, _ = score(capsys, "--task", "translation", "--ref", str(files["csv"]), "--hyp", str(hyp))
    assert out.startswith("BLEU-1 ") and "ROUGE-L" in out and "tok:none" in out


@pytest.mark.parametrize("case,pattern", [
    ("missing_hyp", r"nope\.ctm: file not found"),
    ("malformed_ctm", r"bad\.ctm:2: expected 'FILE CHANNEL START DURATION WORD"),
    ("unknown_id", r"hypothesis id 'zz' is not in"),
    ("stm_for_translation", r"an STM file holds glosses"),
])
def test_bad_inputs_give_one_line_errors(capsys, files, case, pattern):
    d = files["dir"]
    args = {"missing_hyp": ["--ref", str(files["stm"]), "--hyp", str(d / "nope.ctm")]}
    if case == "malformed_ctm":
        (d / "bad.ctm").write_text("u1 1 0.00 0.01 REGEN\nu1 1 0.01 REGEN\n")
        args[case] = ["--ref", str(files["stm"]), "--hyp", str(d / "bad.ctm")]
    if case == "unknown_id":
        (d / "h.txt").write_text("zz REGEN\n")
        args[case] = ["--ref", str(files["stm"]), "--hyp", str(d / "h.txt")]
    if case == "stm_for_translation":
        args[case] = ["--task", "translation", "--ref", str(files["stm"]), "--hyp", str(files["hyp"])]
    rc, out, err = score(capsys, *args[case])
    assert rc == 2 and out == ""
    assert err.startswith("signkd score: error: ") and err.count("\n") == 1
    assert re.search(pattern, err), err
