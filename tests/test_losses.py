"""Loss terms: CTC feasibility, temperature KL, feature MSE, token cross-entropy, matching; all masked."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from signkd.data.batch import lengths_to_mask
from signkd.losses import (ctc_feasible, ctc_loss, ctc_min_frames, feature_loss, kd_kl_loss, matching_loss,
                           symmetric_kl, token_cross_entropy)


def test_ctc_min_frames_counts_repeats():
    targets = torch.tensor([[1, 1, 2, 2], [3, 4, 3, 0], [5, 0, 0, 0]])
    assert ctc_min_frames(targets, torch.tensor([4, 3, 1])).tolist() == [6, 3, 1]
    assert ctc_min_frames(targets, torch.tensor([2, 3, 0])).tolist() == [3, 3, 0]   # padding is no repeat
    assert ctc_feasible(torch.tensor([5, 3, 1]), targets, torch.tensor([4, 3, 1])).tolist() == [False, True, True]


def test_ctc_loss_is_the_batch_mean_of_per_sample_nll():
    torch.manual_seed(0)
    logits = torch.randn(3, 8, 6)
    lengths, targets, target_lengths = torch.tensor([8, 6, 7]), torch.tensor([[1, 2, 3], [4, 4, 0], [5, 0, 0]]), torch.tensor([3, 2, 1])
    loss, left_out = ctc_loss(logits, lengths, targets, target_lengths)
    ref = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), targets, lengths, target_lengths, reduction="none").mean()
    assert left_out == 0 and torch.allclose(loss, ref)


def test_ctc_loss_leaves_out_infeasible_samples_and_counts_them():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 6, requires_grad=True)
    lengths = torch.tensor([6, 2, 6])                     # sample 1: 2 frames for "4 4" (needs 3)
    targets, target_lengths = torch.tensor([[1, 2, 3], [4, 4, 0], [5, 0, 0]]), torch.tensor([3, 2, 1])
    loss, left_out = ctc_loss(logits, lengths, targets, target_lengths)
    ref, _ = ctc_loss(logits[[0, 2]], lengths[[0, 2]], targets[[0, 2]], target_lengths[[0, 2]])
    assert left_out == 1 and torch.isfinite(loss) and torch.allclose(loss, ref)
    loss.backward()
    assert float(logits.grad[1].abs().sum()) == 0.0
    none, left_out = ctc_loss(logits, torch.tensor([1, 1, 0]), targets, target_lengths)
    assert left_out == 3 and float(none.detach()) == 0.0 and none.requires_grad


def test_ctc_loss_ignores_padded_frames():
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 5)
    lengths, targets, target_lengths = torch.tensor([7, 4]), torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1])
    base, _ = ctc_loss(logits, lengths, targets, target_lengths)
    longer = torch.cat([logits, torch.randn(2, 3, 5) * 50], 1)
    longer[1, 4:] = torch.randn(6, 5) * 50
    assert torch.allclose(base, ctc_loss(longer, lengths, targets, target_lengths)[0], atol=1e-5)


def test_kl_is_zero_when_student_equals_teacher():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    mask = torch.ones(2, 5, dtype=torch.bool)
    for drop_blank in (True, False):
        assert float(kd_kl_loss(logits, logits.clone(), mask, 8.0, drop_blank)) == pytest.approx(0.0, abs=1e-6)


def test_kl_matches_the_definition_with_temperature_squared():
    torch.manual_seed(0)
    s, t = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    mask = lengths_to_mask(torch.tensor([4, 2]), 4)
    temp = 3.0
    for drop_blank in (True, False):
        ss, tt = (s[..., 1:], t[..., 1:]) if drop_blank else (s, t)
        p, log_q = F.softmax(tt / temp, -1), F.log_softmax(ss / temp, -1)
        per_row = (p * (p.log() - log_q)).sum(-1)
        expected = per_row[mask].mean() * temp ** 2
        assert torch.allclose(kd_kl_loss(s, t, mask, temp, drop_blank), expected, atol=1e-5)
        assert torch.allclose(kd_kl_loss(s, t, mask, temp, drop_blank, t2_factor=False), expected / temp ** 2,
                              atol=1e-6)
    # drop_blank: column 0 plays no part
    t2 = t.clone()
    t2[..., 0] += 100
    assert torch.allclose(kd_kl_loss(s, t, mask, temp, True), kd_kl_loss(s, t2, mask, temp, True))


def test_kl_ignores_masked_positions_and_detaches_the_teacher():
    torch.manual_seed(0)
    s = torch.randn(2, 4, 6, requires_grad=True)
    t = torch.randn(2, 4, 6, requires_grad=True)
    mask = lengths_to_mask(torch.tensor([4, 2]), 4)
    loss = kd_kl_loss(s, t, mask, 8.0)
    s2 = s.detach().clone()
    s2[1, 2:] = 1000.0
    t2 = t.detach().clone()
    t2[1, 2:] = -1000.0
    assert torch.allclose(loss, kd_kl_loss(s2, t2, mask, 8.0))
    loss.backward()
    assert t.grad is None and float(s.grad[1, 2:].abs().sum()) == 0.0
    assert float(kd_kl_loss(s, t, torch.zeros(2, 4, dtype=torch.bool), 8.0).detach()) == 0.0


def test_feature_loss_is_mse_over_real_positions():
    torch.manual_seed(0)
    a, b = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    mask = lengths_to_mask(torch.tensor([3, 1]), 3)
    expected = ((a - b) ** 2)[mask].mean()
    assert torch.allclose(feature_loss(a, b, mask), expected)
    b2 = b.clone()
    b2[1, 1:] = 1e6
    assert torch.allclose(feature_loss(a, b2, mask), expected)
    assert float(feature_loss(a, 3 * a, mask, normalize=True)) == pytest.approx(0.0, abs=1e-7)
    assert float(feature_loss(a, 3 * a, mask)) > 0


def test_token_cross_entropy_is_a_mean_per_real_token():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 4, 9), torch.tensor([[3, 4, 5, 2], [6, 2, 0, 0]])
    mask = lengths_to_mask(torch.tensor([4, 2]), 4)
    expected = F.cross_entropy(logits[mask], targets[mask])
    assert torch.allclose(token_cross_entropy(logits, targets, mask), expected)
    logits2 = logits.clone()
    logits2[1, 2:] = torch.randn(2, 9) * 100
    assert torch.allclose(token_cross_entropy(logits2, targets, mask), expected)


def test_label_smoothing_excludes_the_pad_class():
    logits = torch.zeros(1, 1, 5)
    logits[0, 0, 3] = 2.0
    targets, mask = torch.tensor([[3]]), torch.ones(1, 1, dtype=torch.bool)
    eps = 0.1
    log_p = logits.log_softmax(-1)[0, 0]
    expected = (1 - eps) * -log_p[3] + eps * -log_p[1:].mean()
    assert float(token_cross_entropy(logits, targets, mask, eps)) == pytest.approx(float(expected), rel=1e-6)
    no_pad = (1 - eps) * -log_p[3] + eps * -log_p.mean()
    assert float(token_cross_entropy(logits, targets, mask, eps, pad_index=None)) == pytest.approx(float(no_pad), rel=1e-6)


def test_matching_loss():
    logits = torch.tensor([[0.0, 10.0], [10.0, 0.0]])
    assert float(matching_loss(logits, torch.tensor([1, 0]))) < 1e-3
    assert float(matching_loss(logits, torch.tensor([0, 1]))) == pytest.approx(10.0, abs=1e-3)
    assert float(matching_loss(torch.zeros(3, 2), torch.tensor([0, 1, 1]))) == pytest.approx(math.log(2))


def test_symmetric_kl_is_the_mean_of_both_directions_over_real_positions():
    torch.manual_seed(0)
    a, b = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    mask = lengths_to_mask(torch.tensor([4, 2]), 4)
    pa, pb = F.softmax(a, -1), F.softmax(b, -1)
    per = ((pa * (pa.log() - pb.log())).sum(-1) + (pb * (pb.log() - pa.log())).sum(-1)) / 2   # (B, U)
    assert float(symmetric_kl(a, b, mask)) == pytest.approx(float(per[mask].mean()), rel=1e-5)
    assert float(symmetric_kl(a, b, mask)) == pytest.approx(float(symmetric_kl(b, a, mask)), rel=1e-6)
    assert float(symmetric_kl(a, a.clone(), mask)) == pytest.approx(0.0, abs=1e-6)
    b2 = b.clone()
    b2[1, 2:] = 100.0                                    # padding positions change nothing
    assert float(symmetric_kl(a, b2, mask)) == pytest.approx(float(symmetric_kl(a, b, mask)), rel=1e-6)
