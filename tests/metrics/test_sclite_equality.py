"""Our WER equals the real NIST sclite's: S, D, I, N and WER, per hypothesis set and per utterance.

Hundreds of randomly perturbed hypothesis sets (substitutions, deletions, insertions, swaps,
repeats, case changes, empty and missing hypotheses) are built from the PHOENIX-2014 dev STM and
the PHOENIX-2014-T dev corpus. All sets go into one STM/CTM pair, each set as its own sclite
"speaker", so one sclite run reports every set's totals (rsum) and every utterance (pra).
"""
import random
from pathlib import Path

import pytest

from signkd import metrics as M

pytestmark = pytest.mark.sclite

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
STM_2014 = DATA / "phoenix2014" / "phoenix2014-groundtruth-dev.stm"
CSV_2014T = DATA / "phoenix2014t" / "PHOENIX-2014-T.dev.corpus.csv"
SETS_2014, SETS_2014T, UTTS_PER_SET = 130, 100, 60


@pytest.fixture(scope="module")
def sclite():
    path = M.find_sclite()
    if path is None:
        pytest.skip("sclite not installed (Debian package sctk)")
    return path


def read_2014t_orth(path: Path) -> dict[str, list[str]]:
    """The orth (gloss) column of a PHOENIX-2014-T corpus file, header row or not."""
    refs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("|")
        if len(parts) >= 7 and parts[0] != "name":
            refs[parts[0]] = parts[5].split()
    return refs


@pytest.fixture(scope="module")
def corpora():
    if not (STM_2014.is_file() and CSV_2014T.is_file()):
        pytest.skip("PHOENIX annotation files not found under ../shared/data")
    return {"phoenix2014": M.read_stm(STM_2014), "phoenix2014t": read_2014t_orth(CSV_2014T)}


def perturb(ref: list[str], vocab: list[str], rng: random.Random, rates: dict) -> list[str] | None:
    """A noisy copy of ref; None = no hypothesis at all (the utterance has no CTM line)."""
    if rng.random() < rates["missing"]:
        return None
    if rng.random() < rates["empty"]:
        return []
    hyp = []
    for i, word in enumerate(ref):
        r = rng.random()
        if r < rates["del"]:
            pass
        elif r < rates["del"] + rates["sub"]:
            # substitute with a corpus gloss, or with a neighbour (creates alignment ties)
            hyp.append(rng.choice(vocab) if rng.random() < 0.6 else rng.choice(ref))
        elif r < rates["del"] + rates["sub"] + rates["repeat"]:
            hyp += [word, word]
        else:
            hyp.append(word.lower() if rng.random() < rates["lower"] else word)
        if rng.random() < rates["ins"]:
            hyp.append(rng.choice(vocab) if rng.random() < 0.5 else rng.choice(ref))
    if len(hyp) > 1 and rng.random() < rates["swap"]:
        j = rng.randrange(len(hyp) - 1)
        hyp[j], hyp[j + 1] = hyp[j + 1], hyp[j]
    return hyp


def build_sets(corpora, seed=0):
    rng = random.Random(seed)
    sets = []
    for corpus, count in (("phoenix2014", SETS_2014), ("phoenix2014t", SETS_2014T)):
        refs = corpora[corpus]
        vocab = sorted({w for ws in refs.values() for w in ws})
        ids = sorted(refs)
        for _ in range(count):
            rates = {"del": rng.uniform(0, 0.35), "sub": rng.uniform(0, 0.35), "ins": rng.uniform(0, 0.3),
                     "repeat": rng.uniform(0, 0.1), "swap": rng.uniform(0, 0.5), "lower": rng.uniform(0, 0.2),
                     "empty": rng.choice([0.0, 0.03, 0.15]), "missing": rng.choice([0.0, 0.03, 0.15])}
            chosen = rng.sample(ids, UTTS_PER_SET)
            set_refs = {u: refs[u] for u in chosen}
            set_hyps = {}
            for u in chosen:
                h = perturb(refs[u], vocab, rng, rates)
                if h is not None:
                    set_hyps[u] = h
            sets.append((corpus, set_refs, set_hyps))
    return sets


def test_at_least_200_perturbed_sets_match_sclite(tmp_path, sclite, corpora):
    sets = build_sets(corpora)
    assert len(sets) >= 200
    all_refs, all_hyps, speakers = {}, {}, {}
    for k, (_, refs, hyps) in enumerate(sets):
        for u, words in refs.items():
            uid = f"s{k:03d}_{u}"
            all_refs[uid], speakers[uid] = words, f"s{k:03d}"
            if u in hyps:
                all_hyps[uid] = hyps[u]
    stm = M.write_stm(tmp_path / "ref.stm", all_refs, speakers)
    ctm = M.write_ctm(tmp_path / "hyp.ctm", all_hyps)
    out = M.run_sclite_files(stm, ctm, sclite, outputs=("rsum", "pra"))
    per_set = M.parse_sclite_rsum(out)
    per_utt = M.parse_sclite_pra(out)
    assert len(per_utt) == len(all_refs)

    empty_or_missing = 0
    for k, (corpus, refs, hyps) in enumerate(sets):
        ours = M.sclite_wer(refs, hyps)
        snt, n, c, s, d, i = per_set[f"s{k:03d}"]
        assert (ours.sub, ours.dele, ours.ins, ours.ref_words, ours.utterances) == (s, d, i, n, snt), \
            f"set {k} ({corpus})"
        assert ours.wer == 100.0 * (s + d + i) / n
        for u, score in ours.per_utterance.items():
            assert (score.correct, score.sub, score.dele, score.ins) == per_utt[f"s{k:03d}_{u}".lower()], \
                f"set {k} utterance {u}: ref {score.ref} hyp {score.hyp}"
        empty_or_missing += sum(1 for u in refs if not hyps.get(u))
    assert empty_or_missing > 100   # the sets really exercise empty and missing hypotheses
    total = per_set["Sum"]
    assert total[1] == sum(len(w) for w in all_refs.values())


def test_run_sclite_wrapper_agrees_on_the_full_dev_set(sclite, corpora):
    rng = random.Random(7)
    refs = corpora["phoenix2014"]
    vocab = sorted({w for ws in refs.values() for w in ws})
    rates = {"del": 0.1, "sub": 0.1, "ins": 0.1, "repeat": 0.05, "swap": 0.3, "lower": 0.05,
             "empty": 0.02, "missing": 0.02}
    hyps = {u: h for u in refs if (h := perturb(refs[u], vocab, rng, rates)) is not None}
    ours, theirs = M.sclite_wer(refs, hyps), M.run_sclite(refs, hyps, sclite=sclite)
    assert theirs.scorer == "sclite"
    assert (ours.sub, ours.dele, ours.ins, ours.ref_words, ours.wer) == \
        (theirs.sub, theirs.dele, theirs.ins, theirs.ref_words, theirs.wer)
    assert {u: (s.correct, s.sub, s.dele, s.ins) for u, s in ours.per_utterance.items()} == \
        {u: (s.correct, s.sub, s.dele, s.ins) for u, s in theirs.per_utterance.items()}


def test_tie_heavy_tiny_vocabulary_alignments_match_sclite_word_for_word(tmp_path, sclite):
    """Two-letter vocabularies make most cells ties: the REF/HYP rows of sclite's pra must equal
    our alignment, not only the counts."""
    rng = random.Random(3)
    refs, hyps = {}, {}
    for k in range(1500):
        voc = rng.choice(["AB", "ABC", "AaB"])
        refs[f"u{k:04d}"] = [rng.choice(voc) for _ in range(rng.randint(1, 9))]
        hyps[f"u{k:04d}"] = [rng.choice(voc) for _ in range(rng.randint(0, 9))]
    out = M.run_sclite_files(M.write_stm(tmp_path / "r.stm", refs), M.write_ctm(tmp_path / "h.ctm", hyps),
                             sclite, outputs=("pra",))
    blocks = out.split("\nid: ")[1:]
    assert len(blocks) == len(refs)
    for block in blocks:
        lines = {ln.split(":")[0]: ln for ln in block.splitlines() if ":" in ln}
        uid = lines["File"].split()[1]
        ref_row, hyp_row = lines["REF"].split()[1:], lines["HYP"].split()[1:]
        ours = M.sclite_align(refs[uid], hyps[uid])
        assert [(r or "*").lower() for _, r, _ in ours] == [w.lower() for w in ref_row], uid
        assert [(h or "*").lower() for _, _, h in ours] == [w.lower() for w in hyp_row], uid
