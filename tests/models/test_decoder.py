"""TransformerDecoder: shapes, padding invariance, causality, step API == teacher-forced forward."""
import pytest
import torch

from signkd.config import ConfigError, DecoderConfig
from signkd.models.decoder import MultiHeadAttention, TransformerDecoder, drop_tokens, sinusoidal_positions

V, H = 11, 16


def make(num_memories=1, tie=False):
    torch.manual_seed(0)
    dec = TransformerDecoder(V, hidden=H, layers=2, heads=2, ff=32, dropout=0.1, emb_dropout=0.1,
                             num_memories=num_memories, tie_embeddings=tie)
    return dec.eval()


def memory(b=3, s=7):
    torch.manual_seed(1)
    return torch.randn(b, s, H), torch.tensor([7, 4, 2])


def test_shapes_one_and_two_memories():
    tokens = torch.randint(1, V, (3, 5))
    lengths = torch.tensor([5, 3, 1])
    mem, mem_len = memory()
    logits, hidden = make()(tokens, lengths, mem, mem_len)
    assert logits.shape == (3, 5, V) and hidden.shape == (3, 5, H)
    dec2 = make(2)
    logits2, hidden2 = dec2(tokens, lengths, mem, mem_len, torch.randn(3, 4, H), torch.tensor([4, 1, 3]))
    assert logits2.shape == (3, 5, V) and hidden2.shape == (3, 5, H)
    assert len(dec2.layers[0].cross_attn) == 2
    with pytest.raises(ConfigError):
        dec2(tokens, lengths, mem, mem_len)


def test_from_config_and_tied_embeddings():
    cfg = DecoderConfig(layers=1, heads=2, ff=8, tie_embeddings=True)
    dec = TransformerDecoder.from_config(cfg, vocab_size=V, hidden=H)
    assert dec.output.weight is dec.embed.weight and dec.output.bias is None
    assert len(dec.layers) == 1
    assert not make().output.weight is make().embed.weight


def test_padding_invariance_tokens_and_memory():
    dec = make(2)
    tokens = torch.randint(1, V, (3, 5))
    lengths = torch.tensor([5, 3, 2])
    mem, mem_len = memory()
    mem2, mem2_len = torch.randn(3, 4, H), torch.tensor([4, 1, 3])
    logits, hidden = dec(tokens, lengths, mem, mem_len, mem2, mem2_len)
    # append padding (and change the values already in the padded region)
    tokens_p = torch.cat([tokens, torch.randint(1, V, (3, 4))], 1)
    for i, n in enumerate(lengths):
        tokens_p[i, n:] = torch.randint(1, V, (tokens_p.size(1) - n,))
    mem_p = torch.cat([mem, torch.randn(3, 3, H)], 1)
    mem2_p = torch.cat([mem2, torch.randn(3, 5, H)], 1)
    for i in range(3):
        mem_p[i, mem_len[i]:] = 100 * torch.randn_like(mem_p[i, mem_len[i]:])
        mem2_p[i, mem2_len[i]:] = -50
    logits_p, hidden_p = dec(tokens_p, lengths, mem_p, mem_len, mem2_p, mem2_len)
    for i, n in enumerate(lengths):
        assert torch.allclose(logits[i, :n], logits_p[i, :n], atol=1e-5)
        assert torch.allclose(hidden[i, :n], hidden_p[i, :n], atol=1e-5)


def test_causal_future_tokens_do_not_matter():
    dec = make()
    mem, mem_len = memory()
    tokens = torch.randint(1, V, (3, 6))
    changed = tokens.clone()
    changed[:, 4:] = (changed[:, 4:] % (V - 1)) + 1
    full = torch.full((3,), 6)
    a, _ = dec(tokens, full, mem, mem_len)
    b, _ = dec(changed, full, mem, mem_len)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_step_equals_teacher_forced_forward():
    for num_memories in (1, 2):
        dec = make(num_memories, tie=True)
        mem, mem_len = memory()
        extra = (torch.randn(3, 4, H), torch.tensor([4, 2, 1])) if num_memories == 2 else ()
        tokens = torch.randint(1, V, (3, 5))
        full = torch.full((3,), 5)
        logits, _ = dec(tokens, full, mem, mem_len, *extra)
        expected = torch.log_softmax(logits, -1)
        for u in range(1, 6):
            got = dec.step(tokens[:, :u], mem, mem_len, *extra)
            assert got.shape == (3, V)
            assert torch.allclose(got, expected[:, u - 1], atol=1e-5)


def test_attention_fully_masked_row_is_finite_and_head_check():
    attn = MultiHeadAttention(H, 4)
    out = attn(torch.randn(2, 3, H), torch.randn(2, 5, H), torch.tensor([[True] * 5, [False] * 5]))
    assert torch.isfinite(out).all()
    with pytest.raises(ConfigError):
        MultiHeadAttention(H, 3)


def test_sinusoidal_positions_distinct_rows():
    table = sinusoidal_positions(50, H)
    assert table.shape == (50, H)
    assert torch.cdist(table, table).add(torch.eye(50) * 10).min() > 1e-3


def test_token_dropout_zeroes_whole_tokens_only_while_training():
    torch.manual_seed(0)
    x = torch.randn(64, 50, H) + 3.0                          # no coordinate is exactly zero
    assert torch.equal(drop_tokens(x, 0.3, training=False), x)
    assert torch.equal(drop_tokens(x, 0.0, training=True), x)
    y = drop_tokens(x, 0.3, training=True)
    dropped = (y == 0).all(-1)                                # (B, L) whole vectors zeroed ...
    kept = (y == x).all(-1)                                   # ... the others untouched (no rescaling)
    assert (dropped | kept).all()
    assert 0.25 < dropped.float().mean().item() < 0.35


def test_decoder_token_dropout_acts_in_training_and_not_in_eval():
    torch.manual_seed(0)
    dec = TransformerDecoder(V, hidden=H, layers=1, heads=2, ff=32, dropout=0.0, emb_dropout=0.0,
                             token_dropout=0.5)
    plain = TransformerDecoder(V, hidden=H, layers=1, heads=2, ff=32, dropout=0.0, emb_dropout=0.0)
    plain.load_state_dict(dec.state_dict())
    tokens, lengths = torch.randint(1, V, (3, 6)), torch.tensor([6, 4, 2])
    mem, mem_len = memory()
    dec.eval(), plain.eval()
    assert torch.equal(dec(tokens, lengths, mem, mem_len)[0], plain(tokens, lengths, mem, mem_len)[0])
    dec.train(), plain.train()
    assert not torch.allclose(dec(tokens, lengths, mem, mem_len)[0], plain(tokens, lengths, mem, mem_len)[0])
    assert TransformerDecoder.from_config(DecoderConfig(token_dropout=0.2), V, H).token_dropout == 0.2
