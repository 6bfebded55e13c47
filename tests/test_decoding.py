"""CTC greedy / prefix beam search (NumPy and flashlight-text) and seq2seq greedy / beam search."""
import itertools
import math

import numpy as np
import pytest
import torch

from signkd import decoding as D
from signkd.errors import SignkdError

needs_flashlight = pytest.mark.skipif(not D.flashlight_available(), reason="flashlight-text not installed")


def random_log_probs(rng, b, t, c, sharpness=1.0):
    x = torch.tensor(rng.normal(size=(b, t, c)) * sharpness, dtype=torch.float32)
    return x.log_softmax(-1)


def collapse(path, blank=0):
    return tuple(c for i, c in enumerate(path) if c != blank and (i == 0 or path[i - 1] != c))


def best_labelling_by_enumeration(lp: np.ndarray, blank=0):
    """Sum the probability of every frame path per collapsed labelling; return the best."""
    t, c = lp.shape
    totals = {}
    for path in itertools.product(range(c), repeat=t):
        p = math.exp(sum(float(lp[i, k]) for i, k in enumerate(path)))
        key = collapse(path, blank)
        totals[key] = totals.get(key, 0.0) + p
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return ranked[0][0], ranked[0][1], ranked[1][1] if len(ranked) > 1 else 0.0


# ---------------------------------------------------------------------------------------------
# CTC
# ---------------------------------------------------------------------------------------------


def test_greedy_equals_collapsed_argmax_path():
    rng = np.random.default_rng(0)
    lp = random_log_probs(rng, 5, 12, 4, sharpness=2.0)
    lengths = torch.tensor([12, 7, 1, 0, 12])
    out = D.ctc_greedy(lp, lengths)
    for b in range(5):
        path = lp[b, : lengths[b]].argmax(-1).tolist()
        assert tuple(out[b]) == collapse(path)
    assert out[3] == []


@pytest.mark.parametrize("impl", ["python", pytest.param("flashlight", marks=needs_flashlight)])
def test_large_beam_finds_the_most_probable_labelling(impl):
    rng = np.random.default_rng(1)
    checked = 0
    while checked < 40:
        t, c = int(rng.integers(1, 7)), int(rng.integers(2, 5))
        lp = random_log_probs(rng, 1, t, c, sharpness=float(rng.choice([0.5, 1.5, 3.0])))
        best, p1, p2 = best_labelling_by_enumeration(lp[0].numpy())
        if p1 - p2 < 1e-6:
            continue   # a near tie: either answer is right
        got = D.ctc_beam_search(lp, torch.tensor([t]), beam_width=5000, impl=impl)[0]
        assert tuple(got) == best, (t, c)
        checked += 1


def test_genuine_repeat_separated_by_blank_is_kept():
    # frames: A, blank, A  (one-hot-ish) -> "A A", not "A"
    p = np.full((1, 3, 3), 0.01)
    p[0, 0, 1] = p[0, 1, 0] = p[0, 2, 1] = 0.98
    lp = torch.tensor(np.log(p / p.sum(-1, keepdims=True)), dtype=torch.float32)
    assert D.ctc_greedy(lp, [3]) == [[1, 1]]
    assert D.ctc_beam_search(lp, [3], beam_width=10, impl="python") == [[1, 1]]
    labels, frames = D.ctc_beam_search(lp, [3], beam_width=10, impl="python", return_frames=True)
    assert frames == [[0, 2]]


def test_beam_prefers_summed_probability_over_the_best_path():
    # best single path is blank-blank (0.36) but "A" collects A-A, A-_, _-A (0.16+0.24+0.24 = 0.64)
    p = np.array([[[0.6, 0.4], [0.6, 0.4]]])
    lp = torch.tensor(np.log(p), dtype=torch.float32)
    assert D.ctc_greedy(lp, [2]) == [[]]
    assert D.ctc_beam_search(lp, [2], beam_width=4, impl="python") == [[1]]


def test_return_frames_are_emission_frames():
    rng = np.random.default_rng(2)
    lp = random_log_probs(rng, 3, 30, 6, sharpness=4.0)
    labels, frames = D.ctc_beam_search(lp, [30, 20, 5], beam_width=8, impl="python", return_frames=True)
    for b, (seq, fr) in enumerate(zip(labels, frames)):
        assert len(seq) == len(fr)
        assert fr == sorted(fr) and len(set(fr)) == len(fr)
        assert all(0 <= f < [30, 20, 5][b] for f in fr)


@needs_flashlight
@pytest.mark.parametrize("beam,top_k,threshold", [(1, None, None), (3, None, None), (10, None, None),
                                                  (10, 3, None), (6, None, 4.0)])
def test_numpy_and_flashlight_give_identical_hypotheses(beam, top_k, threshold):
    rng = np.random.default_rng(3)
    for _ in range(60):
        b, t, c = 3, int(rng.integers(1, 30)), int(rng.integers(2, 9))
        lp = random_log_probs(rng, b, t, c, sharpness=float(rng.choice([0.5, 1.0, 3.0])))
        lengths = torch.tensor([t, int(rng.integers(0, t + 1)), int(rng.integers(1, t + 1))])
        kw = dict(beam_width=beam, token_top_k=top_k, beam_threshold=threshold, return_frames=True)
        ours = D.ctc_beam_search(lp, lengths, impl="python", **kw)
        theirs = D.ctc_beam_search(lp, lengths, impl="flashlight", **kw)
        assert ours == theirs


@needs_flashlight
def test_identical_on_a_large_vocabulary():
    rng = np.random.default_rng(4)
    lp = random_log_probs(rng, 2, 40, 300, sharpness=3.0)
    assert D.ctc_beam_search(lp, [40, 33], 10, impl="python") == D.ctc_beam_search(lp, [40, 33], 10, impl="flashlight")


def test_auto_uses_flashlight_when_installed(monkeypatch):
    calls = []
    real = D._prefix_beam_numpy
    monkeypatch.setattr(D, "_prefix_beam_numpy", lambda *a: calls.append(1) or real(*a))
    lp = random_log_probs(np.random.default_rng(5), 1, 5, 3)
    D.ctc_beam_search(lp, [5], impl="auto")
    assert bool(calls) != D.flashlight_available()
    monkeypatch.setattr(D, "flashlight_available", lambda: False)
    with pytest.raises(SignkdError, match="flashlight-text is not installed"):
        D.ctc_beam_search(lp, [5], impl="flashlight")


def test_bad_arguments():
    lp = torch.zeros(1, 4, 3).log_softmax(-1)
    with pytest.raises(SignkdError, match="beam_width"):
        D.ctc_beam_search(lp, [4], beam_width=0)
    with pytest.raises(SignkdError, match=r"shape \(B, T, C\)"):
        D.ctc_greedy(torch.zeros(4, 3), [4])
    with pytest.raises(SignkdError, match="lengths"):
        D.ctc_greedy(lp, [5])


# ---------------------------------------------------------------------------------------------
# Sequence to sequence
# ---------------------------------------------------------------------------------------------

BOS, EOS, V = 1, 2, 8


def random_step_fn(seed):
    """A deterministic 'decoder': next-token log-probs depend on the prefix and a memory."""
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(V, V, generator=gen) * 2.0

    def step(tokens, memory):                       # tokens (N, U), memory (N, V)
        h = table[tokens[:, -1]] + 0.3 * tokens.shape[1] * table[:, EOS][None, :] + memory
        h[:, BOS] = -1e9
        return h.log_softmax(-1)
    return step


def test_greedy_decodes_argmax_until_eos():
    step = random_step_fn(0)
    mem = torch.randn(4, V)
    out = D.seq2seq_greedy(step, (mem,), 4, BOS, EOS, max_len=12)
    for b in range(4):
        tokens = [BOS]
        while len(tokens) <= 12:
            nxt = int(step(torch.tensor([tokens]), mem[b:b + 1]).argmax(-1))
            if nxt == EOS:
                break
            tokens.append(nxt)
        assert out[b] == tokens[1:]
        assert EOS not in out[b] and BOS not in out[b]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_of_one_is_greedy(alpha):
    for seed in range(5):
        step = random_step_fn(seed)
        mem = torch.randn(6, V)
        assert D.seq2seq_beam_search(step, (mem,), 6, BOS, EOS, 15, beam_size=1, alpha=alpha) == \
            D.seq2seq_greedy(step, (mem,), 6, BOS, EOS, 15)


def test_beam_finds_a_better_sequence_than_greedy():
    # step 1: token 3 (p .6) or 4 (p .4); after 3 every continuation is flat, after 4 eos is certain
    def step(tokens, memory):
        n = tokens.shape[0]
        probs = torch.full((n, V), 1e-6)
        for i, row in enumerate(tokens.tolist()):
            if len(row) == 1:
                probs[i, 3], probs[i, 4] = 0.6, 0.4
            elif row[-1] == 3:
                probs[i, 3:8] = 0.2
            else:
                probs[i, EOS] = 1.0
        return (probs / probs.sum(-1, keepdim=True)).log()

    mem = torch.zeros(2, 1)
    greedy = D.seq2seq_greedy(step, (mem,), 2, BOS, EOS, 3)
    beam = D.seq2seq_beam_search(step, (mem,), 2, BOS, EOS, 3, beam_size=3, alpha=0.0)
    assert greedy[0][0] == 3 and beam == [[4], [4]]

    def logprob(seq):
        tokens, total = [BOS], 0.0
        for tok in seq + [EOS]:
            total += float(step(torch.tensor([tokens]), mem[:1])[0, tok])
            tokens.append(tok)
        return total
    assert logprob(beam[0]) > logprob(greedy[0])


def test_length_penalty_favours_longer_hypotheses():
    assert D.length_penalty(5, 0.0) == 1.0
    assert D.length_penalty(7, 1.0) == pytest.approx(2.0)

    # step 1: eos .4 (finishes "" with log .4), token 5 .6; step 2 after 5: eos .6 ("5": log .36)
    def step(tokens, memory):
        n, u = tokens.shape
        probs = torch.full((n, V), 1e-9)
        if u == 1:
            probs[:, EOS], probs[:, 5] = 0.4, 0.6
        else:
            probs[:, EOS], probs[:, 6] = 0.6, 0.4
        return (probs / probs.sum(-1, keepdim=True)).log()
    mem = torch.zeros(1, 1)
    # alpha 0: log .4 = -0.92 beats log .36 = -1.02; alpha 1: -0.92 / 1 loses to -1.02 / (7/6) = -0.88
    assert D.seq2seq_beam_search(step, (mem,), 1, BOS, EOS, 5, beam_size=2, alpha=0.0) == [[]]
    assert D.seq2seq_beam_search(step, (mem,), 1, BOS, EOS, 5, beam_size=2, alpha=1.0) == [[5]]


def test_beam_repeats_memories_per_beam_and_respects_max_len():
    seen = []

    def step(tokens, memory, mask):
        seen.append((tokens.shape[0], memory.shape[0], mask.shape[0]))
        out = torch.zeros(tokens.shape[0], V)
        out[:, EOS] = -1e9   # never ends
        return out.log_softmax(-1)
    mem, mask = torch.zeros(3, 4, 5), torch.ones(3, 4, dtype=torch.bool)
    out = D.seq2seq_beam_search(step, (mem, mask), 3, BOS, EOS, max_len=4, beam_size=2)
    assert all(s == (6, 6, 6) for s in seen) and len(seen) == 4
    assert all(len(seq) == 4 for seq in out)


def test_max_output_length_scales_the_longest_training_target():
    assert D.max_output_length(52, 1.5) == 78 and D.max_output_length(52, 1.0) == 52
    assert D.max_output_length(5, 0.5) == 2 and D.max_output_length(0, 1.5) == 2    # a token and </s>
    assert D.max_output_length(None, 1.5) == 45     # no longest target stored: the original's 30


def test_evaluation_decodes_within_the_one_budget():
    """The evaluator (and `signkd translate`, tests/test_inference.py) take max_output_length's budget."""
    from types import SimpleNamespace

    from signkd.config import Config
    from signkd.training.evaluate import Evaluator

    cfg = Config()
    cfg.eval.max_output_factor = 1.3
    evaluator = Evaluator(cfg, SimpleNamespace(datasets={}), None, ".", max_lengths={"words": 7})
    assert evaluator._max_len("words") == D.max_output_length(7, 1.3) == 9
    assert evaluator._max_len("glosses") == D.max_output_length(None, 1.3) == 39
