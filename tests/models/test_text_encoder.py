"""TextEncoder: tiny BertConfig (offline), kept-layer truncation, lengths mask, padding invariance."""
import pytest
import torch

from signkd.config import ConfigError, TextEncoderConfig
from signkd.models.text import TextEncoder

VOCAB = 50


def tiny(layers=2, **kw):
    torch.manual_seed(0)
    cfg = TextEncoderConfig(layers=layers, hidden=16, heads=2, ff=32, max_positions=20, dropout=0.1, **kw)
    return TextEncoder(cfg, VOCAB).eval()


def test_shapes_and_zero_padding():
    enc = tiny()
    ids = torch.randint(1, VOCAB, (3, 6))
    lengths = torch.tensor([6, 4, 2])
    out = enc(ids, lengths)
    assert out.shape == (3, 6, 16) and enc.hidden == 16
    assert out[1, 4:].abs().sum() == 0 and out[2, 2:].abs().sum() == 0
    assert out[2, :2].abs().sum() > 0


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_layers_kept_truncate_bert(layers):
    enc = tiny(layers)
    assert enc.num_layers == layers == len(enc.bert.encoder.layer)
    assert enc.bert.config.num_hidden_layers == layers
    assert not any(k.startswith(f"bert.encoder.layer.{layers}.") for k in enc.state_dict())
    assert enc(torch.randint(1, VOCAB, (2, 5)), torch.tensor([5, 3])).shape == (2, 5, 16)


def test_override_layers_argument():
    cfg = TextEncoderConfig(layers=0, hidden=16, heads=2, ff=32, max_positions=20)
    assert TextEncoder(cfg, VOCAB, layers=2).num_layers == 2


def test_embeddings_only_equals_bert_embeddings():
    enc = tiny(0)
    ids = torch.randint(1, VOCAB, (2, 5))
    out = enc(ids, torch.tensor([5, 5]))
    assert torch.allclose(out, enc.bert.embeddings(input_ids=ids), atol=1e-6)


@pytest.mark.parametrize("layers", [0, 2])
def test_padding_invariance(layers):
    enc = tiny(layers)
    ids = torch.randint(1, VOCAB, (3, 5))
    lengths = torch.tensor([5, 3, 1])
    out = enc(ids, lengths)
    padded = torch.cat([ids, torch.randint(1, VOCAB, (3, 4))], 1)
    padded[1, 3:] = torch.randint(1, VOCAB, (6,))      # padded values changed too
    out_p = enc(padded, lengths)
    for i, n in enumerate(lengths):
        assert torch.allclose(out[i, :n], out_p[i, :n], atol=1e-5)


def test_attention_mask_used_with_layers():
    enc = tiny(2)
    ids = torch.randint(1, VOCAB, (1, 6))
    full = enc(ids, torch.tensor([6]))
    short = enc(ids, torch.tensor([4]))
    assert not torch.allclose(full[0, :4], short[0, :4], atol=1e-4)


def test_errors_are_config_errors():
    with pytest.raises(ConfigError, match="max_positions"):
        tiny()(torch.ones(1, 25, dtype=torch.long), torch.tensor([25]))
    with pytest.raises(ConfigError, match="divisible"):
        TextEncoder(TextEncoderConfig(hidden=10, heads=3), VOCAB)
    with pytest.raises(ConfigError, match="pretrained"):
        TextEncoder(TextEncoderConfig(pretrained="/nonexistent/bert-dir"), VOCAB)


def test_pretrained_from_local_folder(tmp_path):
    """A BERT saved to a folder loads by path (how real users point at bert-base-german-cased)."""
    src = tiny(3)
    src.bert.save_pretrained(tmp_path)
    cfg = TextEncoderConfig(pretrained=str(tmp_path), layers=1)
    enc = TextEncoder(cfg, VOCAB).eval()
    assert enc.num_layers == 1
    assert torch.equal(enc.bert.encoder.layer[0].attention.self.query.weight,
                       src.bert.encoder.layer[0].attention.self.query.weight)
    assert torch.equal(enc.bert.embeddings.word_embeddings.weight, src.bert.embeddings.word_embeddings.weight)
