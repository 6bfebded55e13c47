"""CTC forced alignment (Viterbi) against brute force; segments; frame/gloss pairs; peaks mode."""
from __future__ import annotations

import itertools

import pytest
import torch

from signkd.alignment import (batch_forced_alignment, ctc_forced_alignment, forced_pairs, gather_positions,
                              gloss_segments, peak_pairs, text2gloss_pairs)


def collapse(path) -> list[int]:
    out, prev = [], None
    for c in path:
        if c != prev and c != 0:
            out.append(c)
        prev = c
    return out


def brute_force_best_path(log_probs: torch.Tensor, targets: list[int]):
    """Highest-scoring frame labelling that CTC-collapses to `targets` (None if there is none)."""
    t_max, c = log_probs.shape
    best = None
    for path in itertools.product(range(c), repeat=t_max):
        if collapse(path) == targets:
            score = float(sum(log_probs[t, k] for t, k in enumerate(path)))
            if best is None or score > best[0]:
                best = (score, list(path))
    return best


def test_forced_alignment_equals_brute_force_on_tiny_cases():
    g = torch.Generator().manual_seed(0)
    checked_infeasible = 0
    for _ in range(60):
        t_max = int(torch.randint(1, 7, (1,), generator=g))
        targets = torch.randint(1, 3, (int(torch.randint(0, 4, (1,), generator=g)),), generator=g)
        log_probs = torch.randn(t_max, 3, generator=g).log_softmax(-1)
        best = brute_force_best_path(log_probs, targets.tolist())
        result = ctc_forced_alignment(log_probs, targets)
        if best is None:
            assert result is None
            checked_infeasible += 1
            continue
        assert result.score == pytest.approx(best[0], abs=1e-5)
        assert result.labels.tolist() == best[1]
    assert checked_infeasible > 0


def test_segments_are_ordered_disjoint_and_cover_each_gloss():
    g = torch.Generator().manual_seed(1)
    log_probs = torch.randn(20, 6, generator=g).log_softmax(-1)
    targets = torch.tensor([3, 3, 1, 5])
    result = ctc_forced_alignment(log_probs, targets)
    seg = result.segments.tolist()
    assert len(seg) == 4
    for j, (start, end) in enumerate(seg):
        assert 0 <= start < end <= 20
        assert set(result.frame_gloss[start:end].tolist()) == {j}
        if j:
            assert start >= seg[j - 1][1] + (1 if targets[j] == targets[j - 1] else 0)   # a blank between repeats
    assert collapse(result.labels.tolist()) == targets.tolist()


def test_batched_alignment_equals_per_sample_alignment_with_padding():
    g = torch.Generator().manual_seed(2)
    log_probs = torch.randn(3, 12, 5, generator=g).log_softmax(-1)
    lengths = torch.tensor([12, 7, 3])
    targets = torch.tensor([[1, 2, 2, 4], [3, 1, 0, 0], [4, 4, 4, 0]])
    target_lengths = torch.tensor([4, 2, 3])
    result = batch_forced_alignment(log_probs, lengths, targets, target_lengths)
    assert result.feasible.tolist() == [True, True, False]          # "4 4 4" needs 5 frames, has 3
    assert result.frame_gloss[2].tolist() == [-1] * 12 and result.score[2] == float("-inf")
    for i in range(2):
        single = ctc_forced_alignment(log_probs[i, : lengths[i]], targets[i, : target_lengths[i]])
        assert result.frame_gloss[i, : lengths[i]].tolist() == single.frame_gloss.tolist()
        assert float(result.score[i]) == pytest.approx(single.score, abs=1e-5)
        assert (result.frame_gloss[i, lengths[i]:] == -1).all()
    assert not torch.isnan(result.score).any()


def test_gloss_segments_from_frame_gloss():
    frame_gloss = torch.tensor([[-1, 0, 0, -1, 1, 2, 2, -1]])
    assert gloss_segments(frame_gloss, 3).tolist() == [[[1, 3], [4, 5], [5, 7]]]


def test_forced_pairs_skip_blank_frames_and_infeasible_samples():
    log_probs = torch.full((2, 5, 4), -10.0)
    log_probs[0, :, 0] = 0.0                                        # blank everywhere except:
    log_probs[0, 1, 2], log_probs[0, 3, 3] = 5.0, 5.0
    log_probs = log_probs.log_softmax(-1)
    pairs = forced_pairs(log_probs, torch.tensor([5, 1]), torch.tensor([[2, 3], [1, 1]]), torch.tensor([2, 2]))
    assert pairs.left_out == 1
    real = [(int(s), int(t)) for s, t, m in zip(pairs.student_index[0], pairs.teacher_index[0], pairs.mask[0]) if m]
    assert real == [(1, 0), (3, 1)]
    assert not pairs.mask[1].any()


def test_peak_pairs_follow_the_original_rules():
    pairs = peak_pairs([[2, 5, 7], [4], [1, 2, 3, 4, 5], [], [0, 3]], torch.tensor([2, 3, 2, 2, 2]))
    rows = [[(int(s), int(t)) for s, t, m in zip(pairs.student_index[i], pairs.teacher_index[i], pairs.mask[i]) if m]
            for i in range(5)]
    assert rows[0] == [(2, 0), (5, 1)]                  # K > J: truncated
    assert rows[1] == [(4, 0), (4, 1), (4, 2)]          # K < J: last frame repeated
    assert rows[2] == [] and rows[3] == []              # K > 2J, or no peak: left out (not the batch)
    assert rows[4] == [(0, 0), (3, 1)]
    assert pairs.left_out == 2


def test_peaks_mode_uses_the_beam_search_emission_frames():
    log_probs = torch.full((1, 8, 4), -8.0)
    log_probs[0, :, 0] = 0.0
    log_probs[0, 2, 1], log_probs[0, 5, 3] = 6.0, 6.0
    log_probs = log_probs.log_softmax(-1)
    pairs = text2gloss_pairs(log_probs, torch.tensor([8]), torch.tensor([[1, 3]]), torch.tensor([2]), mode="peaks",
                             beam_width=4)
    assert pairs.student_index[0].tolist() == [2, 5] and pairs.teacher_index[0].tolist() == [0, 1]
    with pytest.raises(ValueError, match="loss.alignment"):
        text2gloss_pairs(log_probs, torch.tensor([8]), torch.tensor([[1, 3]]), torch.tensor([2]), mode="dtw")


def test_gather_positions():
    x = torch.arange(24.0).view(2, 4, 3)
    out = gather_positions(x, torch.tensor([[3, 0], [1, 1]]))
    assert out.tolist() == [[x[0, 3].tolist(), x[0, 0].tolist()], [x[1, 1].tolist(), x[1, 1].tolist()]]
