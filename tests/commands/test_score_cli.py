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


def test_phoenix2014t_cleans_the_hypotheses_only_unless_asked_for_both(capsys, files):
    """The original (VAC's evaluation) cleans hypotheses only; signjoey cleans the references too."""
    ref = files["dir"] / "ref_t.stm"
    ref.write_text("u1 1 S 0.0 1.79769e+308 loc-REGEN __ON__ SONNE\n")
    hyp = files["dir"] / "hyp_t.txt"
    hyp.write_text("u1 REGEN SONNE\n")
    base = ["--ref", str(ref), "--hyp", str(hyp), "--corpus", "phoenix2014t", "--json"]
    _, out, _ = score(capsys, *base)
    got = json.loads(out)
    assert (got["sub"], got["del"], got["cleanup_side"]) == (1, 1, "hyp")   # loc-REGEN vs REGEN, __ON__ deleted
    _, out, _ = score(capsys, *base, "--cleanup-side", "both")
    assert json.loads(out)["wer"] == 0.0
    _, out, _ = score(capsys, *base[:-1])
    assert "clean-up: phoenix2014t (hypotheses)" in out


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
    monkeypatch.setattr("signkd.metrics.sclite.find_sclite", lambda: None)   # where run_sclite looks it up
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


# ---------------------------------------------------------------------------------------------
# Encodings and odd files: scored as intended or one line naming file:line, never a traceback
# ---------------------------------------------------------------------------------------------

def test_bom_and_crlf_score_like_plain_lf_files(capsys, files):
    """Files saved by Windows editors: a UTF-8 BOM before the first id and CRLF line ends."""
    rc, plain, _ = score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]), "--json")
    d = files["dir"]
    for name in ("ref.stm", "hyp.txt"):
        text = (d / name).read_bytes()
        (d / f"win-{name}").write_bytes(b"\xef\xbb\xbf" + text.replace(b"\n", b"\r\n"))
    ctm = M.write_ctm(d / "win-hyp.ctm", M.read_id_lines(files["hyp"]))
    ctm.write_bytes(b"\xef\xbb\xbf" + ctm.read_bytes().replace(b"\n", b"\r\n"))
    for hyp in (d / "win-hyp.txt", ctm):
        rc2, windows, err = score(capsys, "--ref", str(d / "win-ref.stm"), "--hyp", str(hyp), "--json")
        assert rc == rc2 == 0, err
        assert json.loads(windows) == json.loads(plain)


@pytest.mark.parametrize("which, data, pattern", [
    ("hyp", b"u1 REGEN\nu2 NORD \xff WIND\n", r"hyp\.bad:2: not UTF-8 text \(bad byte 0xff\)"),
    ("hyp", b"\xef\xbb\xbfu1 REGEN\r\n\r\nu2 \xc3\x28\r\n", r"hyp\.bad:3: not UTF-8 text \(bad byte 0xc3\)"),
    ("ref", "u1 1 S 0.0 1.0 SCH\u00d6N\n".encode("latin-1"), r"ref\.bad:1: not UTF-8 text \(bad byte 0xd6\)"),
    ("hyp", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"hyp\.bad:1: not UTF-8 text \(bad byte 0x89\)"),
    ("hyp", b"u1 REGEN\r\n\x1a\n\x00\x00\x00\rIHDR", r"hyp\.bad:3: NUL byte; expected a text file"),
    ("ref", b"u1 REGEN\n\x00\x00\n", r"ref\.bad:2: NUL byte"),
    ("hyp", b"u1 REGEN\nx\x1b[31mred WIND\n", r"hypothesis id 'x\\x1b\[31mred' is not in"),
    ("ctm", b"u1 1 nan 0.01 REGEN\n", r"hyp\.ctm:1: expected 'FILE CHANNEL START DURATION WORD"),
])
def test_undecodable_binary_empty_and_odd_inputs_are_one_line(capsys, files, which, data, pattern):
    d = files["dir"]
    ref, hyp = files["stm"], files["hyp"]
    if which == "ref":
        ref = d / "ref.bad"
        ref.write_bytes(data)
    elif which == "ctm":
        hyp = d / "hyp.ctm"
        hyp.write_bytes(data)
    else:
        hyp = d / "hyp.bad"
        hyp.write_bytes(data)
    rc, out, err = score(capsys, "--ref", str(ref), "--hyp", str(hyp))
    assert rc == 2 and out == ""
    assert err.startswith("signkd score: error: ") and err.count("\n") == 1 and "\x1b" not in err
    assert re.search(pattern, err), err


def test_empty_stm_reference_names_the_file(capsys, files):
    empty = files["dir"] / "empty.stm"
    empty.write_text(";; no segments\n")
    rc, out, err = score(capsys, "--ref", str(empty), "--hyp", str(files["hyp"]))
    assert rc == 2 and "empty.stm: no STM segments found" in err and err.count("\n") == 1


def test_unwritable_report_is_one_line(capsys, files):
    report = files["dir"] / "no-such-dir" / "align.pra"
    rc, out, err = score(capsys, "--ref", str(files["stm"]), "--hyp", str(files["hyp"]), "--report", str(report))
    assert rc == 2 and err.count("\n") == 1 and "--report" in err and "cannot write" in err


def test_a_reader_that_leaves_early_gets_no_traceback(files):
    """`signkd score ... | true`: the reader is gone before the report is printed."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    cmd = f"{sys.executable} -m signkd score --ref {files['stm']} --hyp {files['hyp']} --json | true"
    done = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr[-1500:]
