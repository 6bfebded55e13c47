"""The SLT student's sentence from a clip's stitched sequence features, decoded as `signkd test`
decodes it: the checkpoint's eval settings (beam, length penalty) and the one decoding budget
(`signkd.decoding.max_output_length` of the longest training sentence the checkpoint recorded).
"""
from __future__ import annotations

import torch

from signkd import decoding
from signkd.inference.student import StudentBundle


def translation_budget(bundle: StudentBundle) -> int:
    """Tokens the decoder may write: eval.max_output_factor x the longest training sentence."""
    return decoding.max_output_length(bundle.max_lengths.get("words"), bundle.cfg.eval.max_output_factor)


@torch.no_grad()
def translate_features(bundle: StudentBundle, features: torch.Tensor, device: str | torch.device = "cpu") -> str:
    """(T', H) stitched sequence features -> sentence."""
    ev, student, vocab = bundle.cfg.eval, bundle.student, bundle.word_vocab
    max_len = translation_budget(bundle)
    memories = (features[None].to(device), torch.tensor([features.shape[0]], device=device))
    if ev.translation_beam <= 1:
        ids = decoding.seq2seq_greedy(student.decode_step, memories, 1, vocab.bos, vocab.eos, max_len)
    else:
        ids = decoding.seq2seq_beam_search(student.decode_step, memories, 1, vocab.bos, vocab.eos, max_len,
                                           beam_size=ev.translation_beam, alpha=ev.length_penalty)
    return vocab.decode(ids[0])
