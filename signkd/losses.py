"""Loss terms (DESIGN.md section 4). Every term takes a mask or lengths and averages over real
frames / tokens only, so padding never contributes; teacher tensors are detached here.

Shapes: B = batch, N = frames or tokens, K = classes, H = features.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from signkd.data.batch import lengths_to_mask


def _zero(like: torch.Tensor) -> torch.Tensor:
    """A zero that keeps `like`'s graph alive (so backward() works when nothing is real)."""
    return like.sum() * 0.0


def ctc_min_frames(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """(B, L), (B,) -> (B,) fewest frames a CTC path needs: L + number of adjacent repeats."""
    if targets.shape[1] < 2:
        return target_lengths.clone()
    mask = lengths_to_mask(target_lengths, targets.shape[1])                       # (B, L)
    repeats = (targets[:, 1:] == targets[:, :-1]) & mask[:, 1:]
    return target_lengths + repeats.sum(1)


def ctc_feasible(lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """(B,) bool: can `lengths[i]` frames emit `targets[i]` under CTC?"""
    return lengths.to(target_lengths.device) >= ctc_min_frames(targets, target_lengths)


def ctc_loss(logits: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor, blank: int = 0) -> tuple[torch.Tensor, int]:
    """CTC on logits (B, T, C) with lengths (B,), targets (B, L) padded, target_lengths (B,).

    Per-sample negative log-likelihood (not divided by the target length, as the original), mean
    over the batch. Samples with too few frames for their labels are left out and counted:
    returns (loss, number_left_out). Never NaN/inf; 0 (with a graph) if every sample is left out.
    """
    feasible = ctc_feasible(lengths, targets, target_lengths)
    left_out = int((~feasible).sum())
    if not bool(feasible.any()):
        return _zero(logits), left_out
    log_probs = F.log_softmax(logits[feasible].float(), dim=-1).transpose(0, 1)     # (T, B', C)
    per_sample = F.ctc_loss(log_probs, targets[feasible], lengths[feasible], target_lengths[feasible],
                            blank=blank, reduction="none", zero_infinity=False)
    return per_sample.mean(), left_out


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """values (B, N), mask (B, N) bool -> mean over the True positions (0 if none)."""
    mask = mask.to(values.device)
    if not bool(mask.any()):
        return _zero(values)
    return values[mask].mean()


def kd_kl_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
               temperature: float = 8.0, drop_blank: bool = True, t2_factor: bool = True) -> torch.Tensor:
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)), averaged over real positions (without
    the T^2 when `t2_factor` is false: Hinton's factor keeps the gradients' scale across T).

    student_logits, teacher_logits: (B, N, K); mask: (B, N) bool. `drop_blank` removes class 0
    (the CTC blank, or <pad> for words) from both before the softmax, as the original's SeqKD.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"kd_kl_loss: student {tuple(student_logits.shape)} vs teacher {tuple(teacher_logits.shape)}")
    teacher_logits = teacher_logits.detach()
    if drop_blank:
        student_logits, teacher_logits = student_logits[..., 1:], teacher_logits[..., 1:]
    log_q = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    kl = F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1)            # (B, N)
    return _masked_mean(kl, mask) * (temperature ** 2 if t2_factor else 1.0)


def feature_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
                 normalize: bool = False) -> torch.Tensor:
    """Mean squared error over real positions (and feature dims) between student (B, N, H) and the
    detached teacher (B, N, H); `normalize` L2-normalises both feature vectors first."""
    if student.shape != teacher.shape:
        raise ValueError(f"feature_loss: student {tuple(student.shape)} vs teacher {tuple(teacher.shape)}")
    student, teacher = student.float(), teacher.detach().float()
    if normalize:
        student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    return _masked_mean(((student - teacher) ** 2).mean(-1), mask)


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                        label_smoothing: float = 0.0, pad_index: int | None = 0,
                        reduction: str = "token_mean") -> torch.Tensor:
    """Cross-entropy per real token: the mean over the True positions of mask (B, U), or with
    reduction "batch_sum" their sum (the original's XentLoss: no length or batch normalisation).

    logits (B, U, V), targets (B, U). Label smoothing spreads `label_smoothing` uniformly over the
    vocabulary without the pad class (signjoey's XentLoss), so no mass is taught to <pad>."""
    log_p = F.log_softmax(logits.float(), dim=-1)                                     # (B, U, V)
    nll = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)                        # (B, U)
    if label_smoothing > 0:
        if pad_index is not None:
            keep = torch.ones(log_p.shape[-1], dtype=torch.bool, device=log_p.device)
            keep[pad_index] = False
            uniform = -log_p[..., keep].mean(-1)
        else:
            uniform = -log_p.mean(-1)
        nll = (1.0 - label_smoothing) * nll + label_smoothing * uniform
    if reduction == "batch_sum":
        mask = mask.to(nll.device)
        return nll[mask].sum() if bool(mask.any()) else _zero(nll)
    if reduction != "token_mean":
        raise ValueError(f"token_cross_entropy: reduction must be token_mean or batch_sum, got {reduction!r}")
    return _masked_mean(nll, mask)


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """R-Drop's consistency term (Liang et al. 2021): (KL(p_a || p_b) + KL(p_b || p_a)) / 2 per real
    position, averaged over the True positions of mask (B, U); logits (B, U, V) of two forward passes
    of the same batch with different dropout masks. Both sides carry gradients, as in the paper."""
    if logits_a.shape != logits_b.shape:
        raise ValueError(f"symmetric_kl: {tuple(logits_a.shape)} vs {tuple(logits_b.shape)}")
    log_a, log_b = F.log_softmax(logits_a.float(), -1), F.log_softmax(logits_b.float(), -1)
    kl = (F.kl_div(log_b, log_a, log_target=True, reduction="none").sum(-1)
          + F.kl_div(log_a, log_b, log_target=True, reduction="none").sum(-1)) / 2            # (B, U)
    return _masked_mean(kl, mask)


def matching_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Text-video matching: logits (N, 2) (class 1 = "this context belongs to this video") against
    labels (N,) in {0, 1}; mean over pairs."""
    return F.cross_entropy(logits.float(), labels.long())
