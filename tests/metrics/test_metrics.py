"""WER (sclite alignment), CTM/STM files, PHOENIX clean-up rules and translation metrics."""
import itertools
import random

import pytest
import sacrebleu

from signkd import metrics as M
from signkd.errors import DataError, SignkdError

# ---------------------------------------------------------------------------------------------
# sclite alignment and WER, with values worked out by hand
# ---------------------------------------------------------------------------------------------


def ops(ref, hyp):
    return "".join(op for op, _, _ in M.sclite_align(ref.split(), hyp.split()))


def test_alignment_basic_cases():
    assert ops("A B C", "A B C") == "CCC"
    assert ops("A B C", "A X C") == "CSC"
    assert ops("A B C", "A C") == "CDC"
    assert ops("A C", "A B C") == "CIC"
    assert ops("A B", "") == "DD"
    assert ops("", "A B") == "II"


def test_alignment_tie_breaking_matches_sclite():
    # "A B" vs "B A": D C I and I C D both cost 6 (< S S = 8); sclite deletes first (seen in its pra)
    assert M.sclite_align(["A", "B"], ["B", "A"]) == [("D", "A", None), ("C", "B", "B"), ("I", None, "A")]
    # a substitution (4) beats a deletion plus an insertion (6); on equal cost the diagonal wins
    assert ops("A B", "X Y") == "SS"
    # repeated glosses: the trace-back from the end keeps the *last* copy as the match
    assert M.sclite_align(["A"], ["A", "A"]) == [("I", None, "A"), ("C", "A", "A")]
    assert M.sclite_align(["A", "A"], ["A"]) == [("D", "A", None), ("C", "A", "A")]


def test_alignment_is_case_insensitive_like_sclite():
    assert ops("Regen Sonne", "REGEN sonne") == "CC"
    assert "".join(o for o, _, _ in M.sclite_align(["a"], ["A"], case_sensitive=True)) == "S"


def test_alignment_cost_is_minimal_against_brute_force():
    """The chosen path always has the minimal weighted cost (checked by enumerating edit paths)."""
    rng = random.Random(1)

    def best_cost(r, h):
        if not r:
            return 3 * len(h)
        if not h:
            return 3 * len(r)
        return min(best_cost(r[1:], h[1:]) + (0 if r[0] == h[0] else 4),
                   best_cost(r[1:], h) + 3, best_cost(r, h[1:]) + 3)

    for _ in range(200):
        r = [rng.choice("AB") for _ in range(rng.randint(0, 5))]
        h = [rng.choice("ABC") for _ in range(rng.randint(0, 5))]
        ali = M.sclite_align(r, h)
        cost = sum({"C": 0, "S": 4, "D": 3, "I": 3}[o] for o, _, _ in ali)
        assert cost == best_cost(r, h)
        assert [x for _, x, _ in ali if x is not None] == r
        assert [y for _, _, y in ali if y is not None] == h


def test_wer_hand_made_cases():
    refs = {"u1": "A B C D".split(), "u2": "E F".split(), "u3": "G G H".split(), "u4": "X".split()}
    hyps = {
        "u1": [],                         # empty hypothesis: 4 deletions
        "u2": "E F E F".split(),          # only insertions: 2
        "u3": "G H H".split(),            # repeated glosses: C S C (cost 4) beats C D C I (6)
    }                                     # u4 missing: 1 deletion
    res = M.sclite_wer(refs, hyps)
    assert (res.sub, res.dele, res.ins) == (1, 5, 2)
    assert res.ref_words == 10 and res.utterances == 4
    assert res.wer == pytest.approx(100 * 8 / 10)
    assert res.per_utterance["u1"].dele == 4 and res.per_utterance["u4"].dele == 1
    assert res.per_utterance["u2"].ins == 2 and res.per_utterance["u3"].sub == 1
    assert res.correct == 10 - 1 - 5
    d = res.to_dict()
    assert {k: d[k] for k in ("wer", "sub", "del", "ins", "ref_words", "utterances")} == {
        "wer": 80.0, "sub": 1, "del": 5, "ins": 2, "ref_words": 10, "utterances": 4}


def test_wer_errors():
    with pytest.raises(DataError, match="no reference"):
        M.sclite_wer({}, {})
    with pytest.raises(DataError, match="'zz' has no reference"):
        M.sclite_wer({"a": ["A"]}, {"zz": ["A"]})
    with pytest.raises(DataError, match="no words"):
        M.sclite_wer({"a": []}, {"a": ["A"]})


def test_alignment_report_shows_each_utterance():
    res = M.sclite_wer({"u1": "A B C".split()}, {"u1": "A X".split()})
    text = M.format_alignment_report(res)
    assert "id: u1" in text and "Scores: (#C #S #D #I) 1 1 1 0" in text
    assert "REF:  a B C" in text and "HYP:  a * X" in text and "Eval:   D S" in text


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def test_stm_ctm_round_trip_sorted_case_insensitively(tmp_path):
    refs = {"b2": ["X", "Y"], "A1": ["P"], "c3": ["R", "S", "T"]}
    stm = M.write_stm(tmp_path / "r.stm", refs, speakers={"A1": "Signer01"})
    lines = stm.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["A1", "b2", "c3"]
    assert lines[0] == "A1 1 Signer01 0.0 1.79769e+308 P"
    speakers = {}
    assert M.read_stm(stm, speakers) == refs and speakers["A1"] == "Signer01"

    hyps = {"c3": ["R", "T"], "A1": [], "b2": ["Y"]}
    ctm = M.write_ctm(tmp_path / "h.ctm", hyps)
    lines = ctm.read_text().splitlines()
    assert lines == ["b2 1 0.00 0.01 Y", "c3 1 0.00 0.01 R", "c3 1 0.01 0.01 T"]
    assert M.read_ctm(ctm) == {"b2": ["Y"], "c3": ["R", "T"]}   # no line for an empty hypothesis


def test_readers_accept_comments_labels_confidence_and_time_order(tmp_path):
    stm = tmp_path / "r.stm"
    stm.write_text(";; comment\nu1 1 spk 0.0 9.9 <o,f0,male> A B\n\n")
    assert M.read_stm(stm) == {"u1": ["A", "B"]}
    ctm = tmp_path / "h.ctm"
    ctm.write_text("u1 1 0.05 0.01 B 0.9\nu1 1 0.01 0.01 A 0.8\n")
    assert M.read_ctm(ctm) == {"u1": ["A", "B"]}
    lines = tmp_path / "h.txt"
    lines.write_text("u1 A B\nu2\n")
    assert M.read_hypotheses(lines) == {"u1": ["A", "B"], "u2": []}


@pytest.mark.parametrize("name,text,reader,pattern", [
    ("bad.ctm", "u1 1 0.0 A\n", M.read_ctm, r"bad.ctm:1: expected 'FILE CHANNEL START"),
    ("bad2.ctm", "u1 1 zero 0.01 A\n", M.read_ctm, r"bad2.ctm:1: expected"),
    ("bad.stm", "u1 1 spk\n", M.read_stm, r"bad.stm:1: expected 'FILE CHANNEL SPEAKER"),
    ("dup.stm", "u1 1 s 0 1 A\nu1 1 s 1 2 B\n", M.read_stm, r"dup.stm:2: utterance 'u1'"),
    ("dup.txt", "u1 A\nu1 B\n", M.read_id_lines, r"dup.txt:2: utterance 'u1' appears twice"),
])
def test_malformed_files_raise_one_line_data_errors(tmp_path, name, text, reader, pattern):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=pattern) as exc:
        reader(path)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("text, reader", [
    ("u1 1 0.0\x1b[2J A\n", M.read_ctm),           # a terminal escape (clears the screen) in a bad line
    ("u1 1 spk\x85x 0.0\n", M.read_stm),           # U+0085 is a line break for str.splitlines()
])
def test_malformed_line_is_quoted_with_control_characters_escaped(tmp_path, text, reader):
    path = tmp_path / "odd.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"odd.txt:1: expected") as exc:
        reader(path)
    assert str(exc.value).isprintable()


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        M.read_ctm(tmp_path / "nope.ctm")


def test_sclite_missing_gives_one_clear_line(monkeypatch):
    monkeypatch.setattr("signkd.metrics.sclite.find_sclite", lambda: None)   # where run_sclite looks it up
    with pytest.raises(SignkdError, match="sclite not found .*sctk.*--scorer python"):
        M.run_sclite({"a": ["A"]}, {"a": ["A"]})


def test_parse_sclite_outputs():
    rsum = ("        | SPKR | # Snt # Wrd | Corr    Sub    Del    Ins    Err  S.Err |\n"
            "        | s1   |    3      8 |    3      0      5      1      6      3 |\n"
            "        | Sum  |    3      8 |    3      0      5      1      6      3 |\n")
    assert M.parse_sclite_rsum(rsum) == {"s1": (3, 8, 3, 0, 5, 1), "Sum": (3, 8, 3, 0, 5, 1)}
    pra = "id: (s1-000)\nFile: utt1\nChannel: 1\nScores: (#C #S #D #I) 2 0 1 0\nREF:  a B c\n"
    assert M.parse_sclite_pra(pra) == {"utt1": (2, 0, 1, 0)}


# ---------------------------------------------------------------------------------------------
# PHOENIX clean-up: one test per rule, then the pipelines
# ---------------------------------------------------------------------------------------------


def toks(s):
    return s.split()


@pytest.mark.parametrize("rule,before,after", [
    (M.strip_annotation_prefixes, "loc-REGION cl-KOMMEN qu-WAS poss-EUCH lh-X neg-HABEN",
     "REGION KOMMEN WAS EUCH X neg-HABEN"),
    (M.fix_gloss_typos, "S0NNE HABEN2 SONNE", "SONNE HABEN SONNE"),
    (M.drop_markers_2014, "__EMOTION__ A __PU__ __LEFTHAND__ __ON__", "A __ON__"),
    (M.drop_markers_2014t, "__ON__ A __EPENTHESIS__ __OFF__ __LEFTHAND__ B", "A B"),
    (M.strip_loc_cl_prefixes, "loc-SUED cl-KOMMEN poss-EUCH", "SUED KOMMEN poss-EUCH"),
    (M.join_wie_aussehen, "WIE AUSSEHEN WIE WETTER AUSSEHEN", "WIE-AUSSEHEN WIE WETTER AUSSEHEN"),
    (M.zeigen_bildschirm, "ZEIGEN ZEIGEN-BILDSCHIRM", "ZEIGEN-BILDSCHIRM ZEIGEN-BILDSCHIRM"),
    (M.join_spelled_letters, "A B C WETTER SCH E WETTER NN A E NN A+B C",
     "A+B+C WETTER SCH+E WETTER NN+A+E+NN+A+B+C"),
    (M.join_spelled_letters, "A SCH B-X C", "A SCH B-X C"),   # letter+SCH and B-X do not join
    (M.strip_raum_2014, "SUEDRAUM NORDWESTRAUM TRAUM RAUM", "SUED NORDWEST TRAUM RAUM"),
    (M.strip_raum_2014t, "OSTRAUM TRAUM RAUM RAUMX", "OST T RAUM RAUMX"),
    (M.strip_plusplus, "REGEN-PLUSPLUS WIE-IMMER-PLUSPLUS", "REGEN WIE-IMMER"),
    (M.strip_plusplus_2014t, "REGEN-PLUSPLUS A-PLUSPLUSX", "REGEN A-PLUSPLUSX"),
    (M.collapse_repeats, "A A B A B B B", "A B A B"),
])
def test_each_cleanup_rule(rule, before, after):
    assert rule(toks(before)) == toks(after)


def test_phoenix2014_pipeline_runs_rules_in_order():
    hyp = toks("__ON__ loc-ZEIGEN S0NNE __EMOTION__ WIE AUSSEHEN cl-KOMMEN KOMMEN A B loc-SUEDRAUM "
               "loc-REGEN-PLUSPLUS REGEN")
    # loc-ZEIGEN -> ZEIGEN -> ZEIGEN-BILDSCHIRM; KOMMEN KOMMEN and REGEN REGEN collapse after clean-up
    assert M.cleanup_glosses(hyp, "phoenix2014") == toks(
        "__ON__ ZEIGEN-BILDSCHIRM SONNE WIE-AUSSEHEN KOMMEN A+B SUED REGEN")


def test_phoenix2014t_pipeline():
    hyp = toks("__ON__ loc-REGION REGION poss-EUCH S0NNE WETTERRAUM E R Z REGEN-PLUSPLUS __OFF__")
    assert M.cleanup_glosses(hyp, "phoenix2014t") == toks("REGION poss-EUCH S0NNE WETTER E+R+Z REGEN")


def test_no_cleanup_for_csl_daily_and_none_keeps_genuine_repeats():
    for corpus in ("csl-daily", "none"):
        assert M.cleanup_glosses(toks("A A loc-B"), corpus) == toks("A A loc-B")
    with pytest.raises(SignkdError, match="unknown corpus 'phoenix'"):
        M.cleanup_glosses(["A"], "phoenix")
    assert M.cleanup_for_format("auto", "dialogue-phoenix") == "phoenix2014t"
    assert M.cleanup_for_format("auto", "synthetic") == "none"
    assert M.cleanup_for_format("phoenix2014", "synthetic") == "phoenix2014"


@pytest.mark.parametrize("side, wer", [(None, 100.0), ("hyp", 100.0), ("both", 0.0)])
def test_evaluator_cleans_the_side_eval_cleanup_side_names_by_default_hypotheses_only(tmp_path, side, wer):
    """The original scored with VAC's evaluation, which cleans the hypotheses only (the default)."""
    from pathlib import Path as P

    from signkd.config import load_config
    from signkd.data.corpus_reader import Sample
    from signkd.training.data import DataBundle
    from signkd.training.distributed import DistInfo
    from signkd.training.evaluate import Evaluator

    tiny = P(__file__).resolve().parents[2] / "configs" / "synthetic" / "tiny.yaml"
    cfg = load_config(tiny, ["eval.cleanup=phoenix2014t"] + ([f"eval.cleanup_side={side}"] if side else []))
    dev = [Sample("u1", "dev", "", ["loc-REGEN", "SONNE"], "", "", "S1")]
    evaluator = Evaluator(cfg, DataBundle(None, {}, {"dev": dev}, []), DistInfo(), tmp_path)
    got = evaluator.score("dev", {"u1": ["REGEN", "SONNE"]}, {})
    assert got["wer"] == pytest.approx(wer / 2)
    with pytest.raises(SignkdError, match="eval.cleanup_side"):
        M.cleanup_for_scoring({}, {}, "phoenix2014t", "references")


# ---------------------------------------------------------------------------------------------
# Translation metrics
# ---------------------------------------------------------------------------------------------

REFS = ["das wetter ist heute gut und warm im sueden",
        "morgen gibt es regen im norden und im osten",
        "am wochenende wird es sonnig und warm",
        "in der nacht bleibt es trocken und kalt"]
HYPS = ["das wetter ist heute gut und warm im norden",
        "morgen gibt es viel regen im norden und osten",
        "am wochenende wird es sonnig und sehr warm",
        "in der nacht bleibt es kalt und trocken"]


def test_bleu4_equals_sacrebleu_corpus_bleu():
    m = M.translation_metrics(HYPS, REFS)
    assert m["bleu4"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS], tokenize="none").score)
    assert m["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert "tok:none" in m["signature"] and "nrefs:1" in m["signature"]


def test_bleu_n_are_cumulative_geometric_means():
    m = M.translation_metrics(HYPS, REFS)
    stats = sacrebleu.corpus_bleu(HYPS, [REFS], tokenize="none")
    precisions, bp = stats.precisions, stats.bp
    for n in range(1, 5):
        geo = 1.0
        for p in precisions[:n]:
            geo *= p / 100
        assert m[f"bleu{n}"] == pytest.approx(100 * bp * geo ** (1 / n))
    assert m["bleu1"] > m["bleu2"] > m["bleu3"] > m["bleu4"]


def test_bleu_is_zero_without_a_four_gram_match_as_in_signjoey():
    # signjoey's raw_corpus_bleu uses floor smoothing with value 0: no 4-gram match -> BLEU-4 = 0
    m = M.translation_metrics(["a b c x"], ["a b c d"])
    assert m["bleu4"] == 0.0 and m["bleu3"] > 0


def test_rouge_l_equals_brute_force_lcs():
    rng = random.Random(0)

    def brute_lcs(a, b):
        for k in range(min(len(a), len(b)), 0, -1):
            subs = set(itertools.combinations(a, k))
            if any(s in subs for s in itertools.combinations(b, k)):
                return k
        return 0

    hyps, refs, expected = [], [], []
    for _ in range(60):
        h = [rng.choice("abcd") for _ in range(rng.randint(0, 7))]
        r = [rng.choice("abcd") for _ in range(rng.randint(1, 7))]
        lcs = brute_lcs(h, r)
        if lcs == 0:
            f = 0.0
        else:
            p, rec = lcs / len(h), lcs / len(r)
            f = (1 + 1.2 ** 2) * p * rec / (rec + 1.2 ** 2 * p)
        hyps.append(" ".join(h))
        refs.append(" ".join(r))
        expected.append(f)
    assert M.rouge_l(hyps, refs) == pytest.approx(100 * sum(expected) / len(expected))


def test_char_level_scores_characters():
    m = M.translation_metrics(["今天天气很好"], ["今天天气好"], char_level=True)
    assert m["rouge_l"] == pytest.approx(100 * M.rouge_l_sentence(list("今天天气很好"), list("今天天气好")))
    assert m["bleu1"] > 0
    word = M.translation_metrics(["今天天气很好"], ["今天天气好"])
    assert word["bleu1"] == 0.0   # one whitespace "word" each, and they differ


def test_translation_metrics_length_mismatch():
    with pytest.raises(DataError, match="2 hypotheses but 1 references"):
        M.translation_metrics(["a", "b"], ["a"])
