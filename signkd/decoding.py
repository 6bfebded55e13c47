"""Decoding: CTC greedy and CTC prefix beam search for glosses, greedy and beam search for the
sequence-to-sequence decoders.

Why a beam search of our own: the original needs the compiled ``ctcdecode`` package and then
collapses the best beam again with ``groupby``, which wrongly merges genuine repeats (A _ A).
``ctc_beam_search`` is correct CTC in NumPy. Its beam holds *states* — a label prefix together
with whether the last frame was blank — exactly as flashlight-text's lexicon-free decoder does, so
that when ``flashlight-text`` is installed it can be used instead (it is, automatically) and both
give the same hypotheses. With a beam wide enough to keep every state (and every label expanded),
the result is the labelling of maximum total probability (the sum over all frame paths that
collapse to it).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from signkd.errors import SignkdError

_NEG_INF = -math.inf

# ==============================================================================================
# CTC
# ==============================================================================================


def _per_sample(log_probs, lengths) -> list[np.ndarray]:
    """(B, T, C) tensor/array + (B,) lengths -> B float32 arrays (T_b, C), C-contiguous."""
    if isinstance(log_probs, torch.Tensor):
        log_probs = log_probs.detach().float().cpu().numpy()
    log_probs = np.asarray(log_probs, dtype=np.float32)
    if log_probs.ndim != 3:
        raise SignkdError(f"CTC decoding expects log-probs of shape (B, T, C), got {log_probs.shape}")
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().tolist()
    lengths = [int(n) for n in lengths]
    if len(lengths) != log_probs.shape[0] or any(n < 0 or n > log_probs.shape[1] for n in lengths):
        raise SignkdError(f"CTC decoding: lengths {lengths} do not fit log-probs {log_probs.shape}")
    return [np.ascontiguousarray(log_probs[b, :n]) for b, n in enumerate(lengths)]


def ctc_greedy(log_probs, lengths, blank: int = 0) -> list[list[int]]:
    """Best path: frame-wise argmax, merge repeats, drop blanks. (B, T, C) -> B label lists."""
    out = []
    for lp in _per_sample(log_probs, lengths):
        best = lp.argmax(axis=1) if len(lp) else np.zeros(0, dtype=np.int64)
        keep = np.ones(len(best), dtype=bool)
        keep[1:] = best[1:] != best[:-1]
        out.append([int(c) for c in best[keep] if c != blank])
    return out


DEFAULT_TOKEN_TOP_K = 40   # labels expanded per frame (ctcdecode's cutoff_top_n default)


def flashlight_available() -> bool:
    try:
        import flashlight.lib.text.decoder  # noqa: F401
    except ImportError:
        return False
    return True


def ctc_beam_search(log_probs, lengths, beam_width: int = 10, blank: int = 0,
                    return_frames: bool = False, *, impl: str = "auto",
                    token_top_k: int | None = DEFAULT_TOKEN_TOP_K, beam_threshold: float | None = None):
    """CTC prefix beam search. (B, T, C) log-softmax + (B,) lengths -> B label lists.

    ``beam_width`` states survive each frame; ``token_top_k`` only expands the k most likely
    labels of each frame (default 40, ctcdecode's cutoff_top_n that the original used; None = all)
    and ``beam_threshold`` drops candidates scoring more than that below the frame's best (off by
    default). With
    ``return_frames`` also returns, per label, the frame that emitted it (its CTC "peak").
    ``impl``: "auto" (flashlight-text when installed), "python" or "flashlight".
    """
    if beam_width < 1:
        raise SignkdError(f"eval.beam_width must be >= 1, got {beam_width}")
    if impl not in ("auto", "python", "flashlight"):
        raise SignkdError(f"ctc_beam_search: impl must be auto, python or flashlight, got '{impl}'")
    use_flashlight = impl == "flashlight" or (impl == "auto" and flashlight_available())
    if impl == "flashlight" and not flashlight_available():
        raise SignkdError("ctc_beam_search: flashlight-text is not installed (pip install flashlight-text)")
    samples = _per_sample(log_probs, lengths)
    if not samples:
        return ([], []) if return_frames else []
    num_classes = samples[0].shape[1]
    top_k = int(num_classes) if token_top_k is None else max(1, min(int(token_top_k), int(num_classes)))
    threshold = math.inf if beam_threshold is None else float(beam_threshold)
    run = _FlashlightCTC(beam_width, top_k, threshold, blank, int(num_classes)) if use_flashlight else None
    labels, frames = [], []
    for lp in samples:
        if len(lp) == 0:
            seq, fr = [], []
        elif run is not None:
            seq, fr = run(lp)
        else:
            seq, fr = _prefix_beam_numpy(lp, beam_width, blank, top_k, threshold)
        labels.append(seq)
        frames.append(fr)
    return (labels, frames) if return_frames else labels


def _prefix_beam_numpy(lp: np.ndarray, beam: int, blank: int, top_k: int, threshold: float):
    """One utterance. lp: (T, C) float32. States are (prefix, ends_in_blank); each keeps one log
    score and the emission frames of its best-scoring history (the one flashlight keeps).

    Per frame, with U distinct prefixes in the beam and K labels expanded (all C, or the frame's
    top-k), candidates are: (p, blank) for each prefix, (p, label) "stay" for each label-ended
    state, and (p + c, label) for each prefix and label: a (U, K) matrix, scored in one go.
    """
    num_t, num_c = lp.shape
    all_cols = np.arange(num_c)
    prefixes: list[tuple] = [()]
    ends_blank: list[bool] = [True]
    scores = np.zeros(1)
    frames: list[tuple] = [()]
    for t in range(num_t):
        e_full = lp[t].astype(np.float64)
        if top_k < num_c:
            cols = np.sort(np.argpartition(-e_full, top_k - 1)[:top_k])
            pos = np.full(num_c, -1)
            pos[cols] = np.arange(len(cols))
        else:
            cols, pos = all_cols, all_cols
        e = e_full[cols]                                                      # (K,)
        # group the states by prefix: row u holds the blank-ended and label-ended score
        row_of: dict[tuple, int] = {}
        rows: list[tuple] = []
        s_blank, s_label, st_blank, st_label = [], [], [], []
        for i, p in enumerate(prefixes):
            u = row_of.get(p)
            if u is None:
                u = row_of[p] = len(rows)
                rows.append(p)
                s_blank.append(_NEG_INF)
                s_label.append(_NEG_INF)
                st_blank.append(-1)
                st_label.append(-1)
            if ends_blank[i]:
                s_blank[u], st_blank[u] = scores[i], i
            else:
                s_label[u], st_label[u] = scores[i], i
        s_blank, s_label = np.array(s_blank), np.array(s_label)
        st_blank, st_label = np.array(st_blank), np.array(st_label)
        num_u = len(rows)
        # every candidate is the log-sum of single contributions (one per source state and label)
        from_blank = s_blank[:, None] + e[None, :]                            # (U, K)
        from_label = s_label[:, None] + e[None, :]                            # (U, K)
        last_col = [int(pos[p[-1]]) if p and st_label[u] >= 0 else -1 for u, p in enumerate(rows)]
        stay_scores = np.full(num_u, _NEG_INF)                                # (p, label) -> itself
        for u, j in enumerate(last_col):
            if j >= 0:
                # a label-ended state repeating its last label stays; only the blank-ended one re-emits
                stay_scores[u] = from_label[u, j]
                from_label[u, j] = _NEG_INF
        if threshold < math.inf:
            # like flashlight: single contributions below (best one - threshold) are dropped
            floor = max(from_blank.max(), from_label.max(), stay_scores.max()) - threshold
            for arr in (from_blank, from_label, stay_scores):
                arr[arr < floor] = _NEG_INF
        ext = np.logaddexp(from_blank, from_label)                            # (U, K) -> (p+c, label)
        # a merged state keeps the history (frames) of its single best contributor, as flashlight
        label_wins = from_label > from_blank
        ext_src = np.where(label_wins, st_label[:, None], st_blank[:, None])
        ext_best = np.where(label_wins, from_label, from_blank)
        jb = int(pos[blank])
        if jb >= 0:
            blank_scores, blank_src = ext[:, jb].copy(), ext_src[:, jb].copy()  # (U,) -> (p, blank)
            ext[:, jb] = _NEG_INF
        else:
            blank_scores, blank_src = np.full(num_u, _NEG_INF), st_blank
        stay_src = st_label.copy()
        stay_from_parent = np.zeros(num_u, dtype=bool)
        for u, p in enumerate(rows):
            if not p or st_label[u] < 0:
                continue
            parent, j = row_of.get(p[:-1]), int(pos[p[-1]])
            if parent is not None and j >= 0 and ext[parent, j] > _NEG_INF:
                # the parent's extension by p[-1] is this very state: merge (log-add)
                if ext_best[parent, j] > stay_scores[u]:
                    stay_src[u], stay_from_parent[u] = ext_src[parent, j], True
                stay_scores[u] = np.logaddexp(stay_scores[u], ext[parent, j])
                ext[parent, j] = _NEG_INF
        cand = np.concatenate([blank_scores, stay_scores, ext.ravel()])
        valid = np.flatnonzero(cand > _NEG_INF)
        if len(valid) == 0:
            break
        if len(valid) > beam:
            valid = valid[np.argpartition(-cand[valid], beam - 1)[:beam]]
        new_prefixes, new_blank, new_frames = [], [], []
        width = len(cols)
        for k in valid:
            if k < num_u:                                   # blank: same prefix, ends in blank
                new_prefixes.append(rows[k])
                new_blank.append(True)
                new_frames.append(frames[blank_src[k]])
            elif k < 2 * num_u:                             # repeat of the last label
                u = k - num_u
                new_prefixes.append(rows[u])
                new_blank.append(False)
                src = frames[stay_src[u]]
                new_frames.append(src + (t,) if stay_from_parent[u] else src)
            else:                                           # a new label
                u, j = divmod(k - 2 * num_u, width)
                new_prefixes.append(rows[u] + (int(cols[j]),))
                new_blank.append(False)
                new_frames.append(frames[ext_src[u, j]] + (t,))
        prefixes, ends_blank, scores, frames = new_prefixes, new_blank, cand[valid], new_frames
    # final: a prefix scores the log-sum of its blank- and label-ended states
    total: dict[tuple, float] = {}
    best_of: dict[tuple, int] = {}
    floor = scores.max() - threshold if threshold < math.inf else _NEG_INF
    for i, p in enumerate(prefixes):
        if scores[i] < floor:
            continue
        if p in total:
            if scores[i] > scores[best_of[p]]:
                best_of[p] = i
            total[p] = float(np.logaddexp(total[p], scores[i]))
        else:
            total[p], best_of[p] = float(scores[i]), i
    winner = max(total, key=total.get)
    return [int(c) for c in winner], [int(f) for f in frames[best_of[winner]]]


class _FlashlightCTC:
    """flashlight-text's LexiconFreeDecoder with a zero LM, log-add merging, CTC criterion."""

    def __init__(self, beam: int, top_k: int, threshold: float, blank: int, num_classes: int):
        from flashlight.lib.text import decoder as fl

        # a finite threshold keeps impossible (-inf) candidates out, as the NumPy search does
        opts = fl.LexiconFreeDecoderOptions(
            beam_size=beam, beam_size_token=top_k,
            beam_threshold=min(threshold, 1e300), lm_weight=0.0, sil_score=0.0,
            log_add=True, criterion_type=fl.CriterionType.CTC)
        self.decoder = fl.LexiconFreeDecoder(opts, fl.ZeroLM(), blank, blank, [])
        self.blank = blank
        self.num_classes = num_classes

    def __call__(self, lp: np.ndarray):
        lp = np.ascontiguousarray(lp, dtype=np.float32)
        result = self.decoder.decode(lp.ctypes.data, lp.shape[0], lp.shape[1])[0]
        tokens = list(result.tokens)[: lp.shape[0] + 1]    # initial state + one per frame
        labels, frames = [], []
        for t in range(1, len(tokens)):
            tok = tokens[t]
            if tok != self.blank and tok != tokens[t - 1]:
                labels.append(int(tok))
                frames.append(t - 1)
        return labels, frames


# ==============================================================================================
# Sequence-to-sequence
# ==============================================================================================

StepFn = Callable[..., torch.Tensor]  # step_fn(tokens (N, U) long, *memories) -> (N, V) log-probs


def _strip(seq: Sequence[int], eos: int) -> list[int]:
    out = []
    for tok in seq:
        if tok == eos:
            break
        out.append(int(tok))
    return out


@torch.no_grad()
def seq2seq_greedy(step_fn: StepFn, memories: tuple, batch_size: int, bos: int, eos: int,
                   max_len: int) -> list[list[int]]:
    """Arg-max decoding; stops when every sequence has produced ``eos`` or after ``max_len``
    tokens. Outputs exclude bos/eos."""
    device = _device_of(memories)
    tokens = torch.full((batch_size, 1), bos, dtype=torch.long, device=device)
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    for _ in range(max_len):
        next_tok = step_fn(tokens, *memories).argmax(dim=-1)                 # (B,)
        next_tok = torch.where(done, torch.full_like(next_tok, eos), next_tok)
        tokens = torch.cat([tokens, next_tok[:, None]], dim=1)
        done |= next_tok == eos
        if bool(done.all()):
            break
    return [_strip(row[1:].tolist(), eos) for row in tokens]


# The budget when the longest training target is not known (a checkpoint saved without it): the
# original's constant, which cut off PHOENIX-2014-T training targets of up to 52 words.
UNKNOWN_LONGEST_TARGET = 30


def max_output_length(longest_target: Optional[int], factor: float) -> int:
    """The seq2seq decoding budget in tokens, the one every decoder of a trained model uses
    (evaluation, `signkd translate`): ``eval.max_output_factor`` x the longest training target
    (UNKNOWN_LONGEST_TARGET when None), rounded, at least 2 (a token and </s>)."""
    longest = UNKNOWN_LONGEST_TARGET if longest_target is None else longest_target
    return max(2, int(round(factor * longest)))


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length normalisation ((5 + len) / 6) ** alpha; alpha 0 = raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


def _device_of(memories: tuple):
    for m in memories:
        if isinstance(m, torch.Tensor):
            return m.device
    return torch.device("cpu")


@torch.no_grad()
def seq2seq_beam_search(step_fn: StepFn, memories: tuple, batch_size: int, bos: int, eos: int,
                        max_len: int, beam_size: int = 5, alpha: float = 1.0) -> list[list[int]]:
    """Batched beam search with GNMT length penalty ``alpha``.

    Each of the ``batch_size`` inputs keeps ``beam_size`` live hypotheses (rows b*K..b*K+K-1;
    memories are repeated per beam). A hypothesis that emits ``eos`` is finished with score
    log P / lp(len) (len counts the eos); an input stops when its best candidate of a step
    ends with eos, or at ``max_len``, and returns its best finished hypothesis. beam_size 1 is
    greedy decoding. Outputs exclude bos/eos.
    """
    if beam_size < 1:
        raise SignkdError(f"eval.translation_beam must be >= 1, got {beam_size}")
    k = beam_size
    device = _device_of(memories)
    mems = tuple(m.repeat_interleave(k, dim=0) if isinstance(m, torch.Tensor) else m for m in memories)
    tokens = torch.full((batch_size * k, 1), bos, dtype=torch.long, device=device)
    # only the first beam of each input is live at the start
    alive = torch.full((batch_size, k), _NEG_INF, device=device)
    alive[:, 0] = 0.0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch_size)]
    done = [False] * batch_size
    for step in range(1, max_len + 1):
        logp = step_fn(tokens, *mems).float()                                  # (B*K, V)
        vocab = logp.shape[-1]
        cand = (alive.reshape(-1, 1) + logp).reshape(batch_size, k * vocab)  # (B, K*V)
        top_scores, top_idx = cand.topk(min(2 * k, k * vocab), dim=1)        # enough to refill K
        beam_idx, tok_idx = top_idx // vocab, top_idx % vocab
        new_alive = torch.full((batch_size, k), _NEG_INF, device=device)
        src_rows = torch.arange(batch_size * k, device=device).reshape(batch_size, k)
        new_tok = torch.full((batch_size, k), eos, dtype=torch.long, device=device)
        ts, bi, ti = top_scores.tolist(), beam_idx.tolist(), tok_idx.tolist()
        for b in range(batch_size):
            if done[b]:
                continue
            filled = 0
            for rank, (score, beam, tok) in enumerate(zip(ts[b], bi[b], ti[b])):
                if score == _NEG_INF:
                    break
                if tok == eos:
                    seq = tokens[b * k + beam, 1:].tolist()
                    finished[b].append((score / length_penalty(step, alpha), seq))
                    if rank == 0:
                        done[b] = True
                        break
                elif filled < k:
                    new_alive[b, filled] = score
                    src_rows[b, filled] = b * k + beam
                    new_tok[b, filled] = tok
                    filled += 1
                if filled == k:
                    break
            if done[b]:
                new_alive[b] = _NEG_INF
        if all(done):
            break
        rows = src_rows.reshape(-1)
        tokens = torch.cat([tokens[rows], new_tok.reshape(-1, 1)], dim=1)
        alive = new_alive
    out = []
    for b in range(batch_size):
        if not done[b]:   # max_len reached: live hypotheses compete with the finished ones
            for j in range(k):
                score = float(alive[b, j])
                if score > _NEG_INF:
                    finished[b].append((score / length_penalty(tokens.shape[1] - 1, alpha),
                                        tokens[b * k + j, 1:].tolist()))
        if not finished[b]:
            out.append([])
            continue
        best = max(range(len(finished[b])), key=lambda i: (finished[b][i][0], -i))
        out.append(_strip(finished[b][best][1], eos))
    return out
