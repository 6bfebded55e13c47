"""Which student frames learn from which Text2Gloss teacher position.

The Text2Gloss teacher predicts one distribution per reference gloss (teacher-forced), the student
one per frame. Default (`forced`): CTC forced alignment (Viterbi) of the reference glosses over the
student's log-probabilities gives one frame segment per gloss; every frame of segment j is paired
with teacher position j (blank frames are not paired). `peaks` reproduces the original: the frames
where a CTC beam search emits its glosses, paired in order with the teacher positions (truncated /
last-frame repeated to the reference length; more than twice too many peaks = left out).

A sample whose alignment is impossible (too few frames, or no peak) is left out and counted,
never a NaN, and never the rest of the batch with it (the original's `break`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch

from signkd.data.batch import lengths_to_mask


class BatchAlignment(NamedTuple):
    frame_gloss: torch.Tensor   # (B, T) long: gloss index j emitted at frame t, -1 = blank/padding
    feasible: torch.Tensor      # (B,) bool
    score: torch.Tensor         # (B,) float: log-probability of the best path (-inf if infeasible)


@dataclass
class Alignment:
    frame_gloss: torch.Tensor   # (T,) long, gloss index per frame, -1 = blank
    labels: torch.Tensor        # (T,) long, class per frame (blank = 0): the Viterbi label path
    segments: torch.Tensor      # (L, 2) long, [start, end) frames of each gloss
    score: float                # log-probability of the path


@torch.no_grad()
def batch_forced_alignment(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                           target_lengths: torch.Tensor, blank: int = 0) -> BatchAlignment:
    """Viterbi over the CTC state graph (blank, g1, blank, g2, ..., blank) for a batch.

    log_probs (B, T, C) log-softmax, lengths (B,), targets (B, L) padded, target_lengths (B,)."""
    log_probs = log_probs.detach().float()
    b, t_max, _ = log_probs.shape
    device = log_probs.device
    lengths, targets, target_lengths = lengths.to(device), targets.to(device), target_lengths.to(device)
    n_states = 2 * targets.shape[1] + 1
    ext = torch.full((b, n_states), blank, dtype=torch.long, device=device)      # (B, S)
    ext[:, 1::2] = targets
    emit = log_probs.gather(2, ext[:, None, :].expand(b, t_max, n_states))       # (B, T, S)
    state_real = lengths_to_mask(2 * target_lengths + 1, n_states)               # (B, S)
    neg_inf = torch.tensor(float("-inf"), device=device)
    emit = torch.where(state_real[:, None, :], emit, neg_inf)
    skip_ok = torch.zeros(b, n_states, dtype=torch.bool, device=device)
    skip_ok[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])

    delta = torch.full((b, n_states), float("-inf"), device=device)
    delta[:, : min(2, n_states)] = emit[:, 0, : min(2, n_states)]
    back = torch.zeros(b, t_max, n_states, dtype=torch.uint8, device=device)     # 0 stay, 1 from s-1, 2 from s-2
    pad1 = torch.full((b, 1), float("-inf"), device=device)
    pad2 = torch.full((b, 2), float("-inf"), device=device)
    for t in range(1, t_max):
        from1 = torch.cat([pad1, delta[:, :-1]], 1)
        from2 = torch.where(skip_ok, torch.cat([pad2, delta[:, :-2]], 1)[:, :n_states], neg_inf)
        best, arg = torch.stack([delta, from1, from2], -1).max(-1)
        active = (t < lengths)[:, None]
        delta = torch.where(active, best + emit[:, t], delta)
        back[:, t] = torch.where(active, arg, torch.zeros_like(arg)).to(torch.uint8)

    last = (2 * target_lengths).clamp_max(n_states - 1)
    end_blank = delta.gather(1, last[:, None]).squeeze(1)
    end_label = torch.where(target_lengths > 0, delta.gather(1, (last - 1).clamp_min(0)[:, None]).squeeze(1), neg_inf)
    score = torch.maximum(end_blank, end_label)
    score = torch.where(lengths > 0, score, neg_inf)
    feasible = torch.isfinite(score)

    frame_gloss = torch.full((b, t_max), -1, dtype=torch.long)
    back_cpu, feasible_cpu = back.cpu().numpy(), feasible.cpu().tolist()
    ends = torch.where(end_label > end_blank, last - 1, last).cpu().tolist()
    for i in range(b):
        if not feasible_cpu[i]:
            continue
        state = ends[i]
        for t in range(int(lengths[i]) - 1, -1, -1):
            if state % 2:
                frame_gloss[i, t] = (state - 1) // 2
            state -= int(back_cpu[i, t, state])
    return BatchAlignment(frame_gloss.to(device), feasible, score)


def ctc_forced_alignment(log_probs: torch.Tensor, targets: torch.Tensor, blank: int = 0) -> Optional[Alignment]:
    """Best CTC path of `targets` (L,) through log_probs (T, C); None when T frames are too few."""
    t_max = log_probs.shape[0]
    result = batch_forced_alignment(log_probs[None], torch.tensor([t_max]), targets[None].long(),
                                    torch.tensor([targets.shape[0]]), blank)
    if not bool(result.feasible[0]):
        return None
    frame_gloss = result.frame_gloss[0]
    labels = torch.where(frame_gloss >= 0, targets.long().to(frame_gloss.device)[frame_gloss.clamp_min(0)],
                         torch.full_like(frame_gloss, blank)) if targets.numel() else torch.full_like(frame_gloss, blank)
    return Alignment(frame_gloss, labels, gloss_segments(frame_gloss[None], targets.shape[0])[0],
                     float(result.score[0]))


def gloss_segments(frame_gloss: torch.Tensor, num_glosses: int) -> torch.Tensor:
    """(B, T) gloss index per frame -> (B, L, 2) [start, end) frames per gloss ((0, 0) if absent)."""
    b, t_max = frame_gloss.shape
    frames = torch.arange(t_max, device=frame_gloss.device)
    hit = frame_gloss[:, None, :] == torch.arange(num_glosses, device=frame_gloss.device)[None, :, None]  # (B, L, T)
    start = torch.where(hit, frames, t_max).min(-1).values
    end = torch.where(hit, frames + 1, 0).max(-1).values
    start = torch.where(hit.any(-1), start, torch.zeros_like(start))
    return torch.stack([start, end], -1)


# --------------------------------------------------------------------------------------------
# Student-frame / teacher-position pairs
# --------------------------------------------------------------------------------------------

class AlignmentPairs(NamedTuple):
    student_index: torch.Tensor   # (B, P) long, student frame of each pair
    teacher_index: torch.Tensor   # (B, P) long, teacher position (gloss j) of each pair
    mask: torch.Tensor            # (B, P) bool, real pairs
    left_out: int                 # samples without an alignment (reported, not in the mask)


def _pairs_from_lists(pairs: list[list[tuple[int, int]]], device, left_out: int) -> AlignmentPairs:
    width = max([len(p) for p in pairs] + [1])
    student = torch.zeros(len(pairs), width, dtype=torch.long)
    teacher = torch.zeros(len(pairs), width, dtype=torch.long)
    mask = torch.zeros(len(pairs), width, dtype=torch.bool)
    for i, sample in enumerate(pairs):
        if sample:
            student[i, : len(sample)] = torch.tensor([s for s, _ in sample])
            teacher[i, : len(sample)] = torch.tensor([j for _, j in sample])
            mask[i, : len(sample)] = True
    return AlignmentPairs(student.to(device), teacher.to(device), mask.to(device), left_out)


def forced_pairs(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                 target_lengths: torch.Tensor, blank: int = 0) -> AlignmentPairs:
    """Every non-blank frame of the forced alignment, paired with the gloss it emits."""
    result = batch_forced_alignment(log_probs, lengths, targets, target_lengths, blank)
    fg = result.frame_gloss.cpu()
    pairs = [[(t, int(fg[i, t])) for t in range(fg.shape[1]) if fg[i, t] >= 0] for i in range(fg.shape[0])]
    return _pairs_from_lists(pairs, log_probs.device, int((~result.feasible).sum()))


def peak_pairs(peak_frames: list[list[int]], target_lengths: torch.Tensor) -> AlignmentPairs:
    """The original's pairing of beam-search emission frames (K_i of them) with the J_i = L_i
    teacher positions: truncate when K > J, repeat the last frame when K < J; K = 0 or K > 2J is
    left out (the original broke out of the batch there)."""
    pairs, left_out = [], 0
    for frames, j_len in zip(peak_frames, target_lengths.tolist()):
        k = len(frames)
        if k == 0 or j_len == 0 or k > 2 * j_len:
            pairs.append([])
            left_out += 1
            continue
        frames = list(frames[:j_len]) + [frames[-1]] * max(0, j_len - k)
        pairs.append([(f, j) for j, f in enumerate(frames)])
    return _pairs_from_lists(pairs, target_lengths.device, left_out)


def ctc_peak_frames(log_probs: torch.Tensor, lengths: torch.Tensor, beam_width: int = 10,
                    blank: int = 0) -> list[list[int]]:
    """Emission frame of every gloss of the best CTC beam (the original's `peak` decode mode)."""
    from signkd.decoding import ctc_beam_search  # lazy: the decoder lives in the evaluation area

    _, frames = ctc_beam_search(log_probs.detach().float(), lengths, beam_width=beam_width, blank=blank,
                                return_frames=True)
    return [list(map(int, f)) for f in frames]


def text2gloss_pairs(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                     target_lengths: torch.Tensor, mode: str = "forced", beam_width: int = 10,
                     blank: int = 0) -> AlignmentPairs:
    """Pairs (student frame, teacher gloss position) for Text2Gloss -> SLR distillation.
    log_probs (B, T', C) of the student (detached), reference glosses targets (B, L)."""
    if mode == "forced":
        return forced_pairs(log_probs, lengths, targets, target_lengths, blank)
    if mode == "peaks":
        return peak_pairs(ctc_peak_frames(log_probs, lengths, beam_width, blank), target_lengths)
    raise ValueError(f"loss.alignment: expected 'forced' or 'peaks', got {mode!r}")


def gather_positions(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, N, D), index (B, P) -> (B, P, D) rows x[b, index[b, p]]."""
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))
