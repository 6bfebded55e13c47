"""`signkd import original --part dialogue-teacher`: the original's whole dialogue teacher.

Their teacher is restated here from their vendored pytorch_pretrained_bert (BertForSignOnly with
0 layers as the text stream, BertHybridFusion -> BertModelHybrid: BertRespectiveEmbeddings and the
weight-shared BertHybridEncoder, TF-style LayerNorm eps 1e-5, masks (1 - m) * -10000 added to the
scores, the text -> video mask the transpose of the video -> text one) and their VACModel sign
encoder (tests/test_import.py), in their key layout and at a tiny size, independently of signkd."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from test_import import (HIDDEN, ORIGINAL_SPECS, THEIR_IDS, TINY, one_line_error, permuted, randomise_norms,
                         their_collate, their_model, vocab_txt)

HEADS, FF, POSITIONS = 2, 32, 64
WORD_PIECES = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "wie", "wird", "das", "wetter", "morgen", "regen", "##en"]
TEACHER = [*TINY, "--set", f"model.text.hidden={HIDDEN}", "--set", f"model.text.heads={HEADS}",
           "--set", f"model.fusion.heads={HEADS}", "--set", f"model.fusion.ff={FF}",
           "--set", f"model.fusion.max_positions={POSITIONS}", "--set", "model.fusion.layers=2"]


# --------------------------------------------------------------------------------------------
# Their modules, restated (pytorch_pretrained_bert/modeling.py as vendored by the original)
# --------------------------------------------------------------------------------------------

class TheirLayerNorm(nn.Module):
    """BertLayerNorm: TF style, epsilon inside the square root, 1e-5."""

    def __init__(self, width):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(width)), nn.Parameter(torch.zeros(width))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return self.weight * (x - mean) / torch.sqrt(var + 1e-5) + self.bias


def extended(mask: torch.Tensor) -> torch.Tensor:
    """(B, Lq, Lk) 1/0 -> (B, 1, Lq, Lk) additive: 0 where attended, -10000 elsewhere."""
    return (1.0 - mask.float()[:, None]) * -10000.0


class TheirAttention(nn.Module):
    """BertSelfAttention / BertCrossAttention: query, key, value; the mask is added to the scores."""

    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)

    def forward(self, q_states, kv_states, mask):
        def heads(x):
            return x.view(*x.shape[:2], HEADS, HIDDEN // HEADS).permute(0, 2, 1, 3)
        q, k, v = heads(self.query(q_states)), heads(self.key(kv_states)), heads(self.value(kv_states))
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + mask
        out = (scores.softmax(-1) @ v).permute(0, 2, 1, 3)
        return out.reshape(*out.shape[:2], HIDDEN)


class TheirDenseNorm(nn.Module):
    """BertSelfOutput / BertOutput: LayerNorm(dense(h) + residual)."""

    def __init__(self, width_in=HIDDEN):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(width_in, HIDDEN), TheirLayerNorm(HIDDEN)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class TheirHybridAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self, self.cross = TheirAttention(), TheirAttention()
        self.output_1, self.output_2 = TheirDenseNorm(), TheirDenseNorm()

    def forward(self, query, key_value, self_mask, cross_mask):
        h = self.output_1(self.self(query, query, self_mask), query)
        return self.output_2(self.cross(h, key_value, cross_mask), h)


class TheirIntermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, FF)

    def forward(self, x):
        x = self.dense(x)
        return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class TheirHybridLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention, self.intermediate, self.output = TheirHybridAttention(), TheirIntermediate(), TheirDenseNorm(FF)

    def forward(self, query, key_value, self_mask, cross_mask):
        h = self.attention(query, key_value, self_mask, cross_mask)
        return self.output(self.intermediate(h), h)


class TheirEmbeddings(nn.Module):
    """BertEmbeddings' tables; `text` is its path without visual features (no token type), `both`
    BertRespectiveEmbeddings' (the same table, each stream from position 0, one LayerNorm)."""

    def __init__(self, vocab):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, HIDDEN)
        self.position_embeddings = nn.Embedding(POSITIONS, HIDDEN)
        self.token_type_embeddings = nn.Embedding(2, HIDDEN)
        self.LayerNorm = TheirLayerNorm(HIDDEN)

    def text(self, ids):
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings.weight[: ids.shape[1]])

    def both(self, video, text):
        return (self.LayerNorm(video + self.position_embeddings.weight[: video.shape[1]]),
                self.LayerNorm(text + self.position_embeddings.weight[: text.shape[1]]))


class TheirBert(nn.Module):
    def __init__(self, vocab, layers):
        super().__init__()
        self.embeddings = TheirEmbeddings(vocab)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(TheirHybridLayer() for _ in range(layers))
        self.pooler = nn.Module()
        self.pooler.dense = nn.Linear(HIDDEN, HIDDEN)


class TheirHeads(nn.Module):
    """BertPreTrainingHeads: MLM transform + decoder tied to the word table, and the NSP Linear."""

    def __init__(self, words: nn.Embedding):
        super().__init__()
        self.predictions = nn.Module()
        self.predictions.transform = nn.Module()
        self.predictions.transform.dense = nn.Linear(HIDDEN, HIDDEN)
        self.predictions.transform.LayerNorm = TheirLayerNorm(HIDDEN)
        self.predictions.decoder = nn.Linear(HIDDEN, words.num_embeddings, bias=False)
        self.predictions.decoder.weight = words.weight
        self.predictions.bias = nn.Parameter(torch.zeros(words.num_embeddings))
        self.seq_relationship = nn.Linear(HIDDEN, 2)


class TheirBertModule(nn.Module):
    """BertForSignOnly (text, 0 layers) or BertHybridFusion (fusion): `bert` + `cls`."""

    def __init__(self, vocab, layers):
        super().__init__()
        self.bert = TheirBert(vocab, layers)
        self.cls = TheirHeads(self.bert.embeddings.word_embeddings)


class TheirTeacher(nn.Module):
    """The dialogue teacher's parts as the distillation model holds them."""

    def __init__(self, fusion_layers=2):
        super().__init__()
        self.sign_encoder = their_model(specs=ORIGINAL_SPECS, classifier="classifier_sign", seed=5)
        self.bert_text = TheirBertModule(len(WORD_PIECES), 0)
        self.multimodal_fusion = TheirBertModule(len(WORD_PIECES), fusion_layers)
        self.classifier_combine = nn.Linear(HIDDEN, len(THEIR_IDS) + 1)

    def sign_features(self, video, len_x):
        """The VACModel's BiLSTM output (T', B, H) and T' on their collated batch."""
        enc = self.sign_encoder
        b, t = video.shape[:2]
        framewise = enc.masked_bn(video.reshape(b * t, *video.shape[2:]), len_x).reshape(b, t, -1).transpose(1, 2)
        conv = enc.conv1d(framewise, len_x)
        return enc.temporal_model(conv["visual_feat"], conv["feat_len"])["predictions"], conv["feat_len"]

    def fuse(self, sign, sign_len, ids, ids_len):
        """sign (B, T', H) -> fused video (B, T', H): masks (B, Lq, Lk) of valid keys, the text ->
        video one the transpose of video -> text."""
        t, lc = sign.shape[1], ids.shape[1]
        v_keys = torch.arange(t)[None] < sign_len[:, None]                  # (B, T')
        t_keys = torch.arange(lc)[None] < ids_len[:, None]                  # (B, Lc)
        v_self = extended(v_keys[:, None, :].expand(-1, t, -1))
        t_self = extended(t_keys[:, None, :].expand(-1, lc, -1))
        v_to_t = extended(t_keys[:, None, :].expand(-1, t, -1))            # (B, 1, T', Lc)
        t_to_v = v_to_t.transpose(2, 3)                                     # (B, 1, Lc, T')
        text = self.bert_text.bert.embeddings.text(ids)
        v, x = self.multimodal_fusion.bert.embeddings.both(sign, text)
        for layer in self.multimodal_fusion.bert.encoder.layer:
            v = layer(v, x, v_self, v_to_t)
            x = layer(x, v, t_self, t_to_v)
        return v

    def forward(self, video, len_x, ids, ids_len):
        sign, sign_len = self.sign_features(video, len_x)
        fused = self.fuse(sign.transpose(0, 1), sign_len, ids, ids_len)
        return self.classifier_combine(fused), sign_len                    # (B, T', C)


def their_teacher(fusion_layers=2) -> TheirTeacher:
    torch.manual_seed(7)
    teacher = TheirTeacher(fusion_layers)
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():      # weights far from their init, so every module's numbers matter
        for name, p in teacher.named_parameters():
            if name.startswith("sign_encoder."):
                continue
            p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g) if name.endswith("LayerNorm.weight")
                    else 0.4 * torch.randn(p.shape, generator=g))
    randomise_norms(teacher.sign_encoder, 5)
    return teacher.eval()


def save_teacher(path: Path, teacher: nn.Module, **extra) -> Path:
    torch.save({"epoch": 81, "model_state_dict": {**teacher.state_dict(), **extra}}, path)
    return path


def bert_folder(tmp_path: Path, pieces=WORD_PIECES) -> Path:
    folder = tmp_path / "bert-base-german-cased-v1"
    folder.mkdir(exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    return folder


def import_teacher(tmp_path, teacher, *extra):
    from signkd.importers import import_checkpoint, write_imported
    from signkd.restore import restore

    result = import_checkpoint("original", save_teacher(tmp_path / "teacher.pt", teacher),
                               gloss_dict=vocab_txt(tmp_path / "vocab.txt"), overrides=[*TEACHER[1::2], *extra],
                               part="dialogue-teacher", tokenizer=bert_folder(tmp_path))
    out = write_imported(result, tmp_path / "teacher_signkd.pt")
    return result, restore(out)


# --------------------------------------------------------------------------------------------
# Numerics of every mapped module, and of the whole teacher
# --------------------------------------------------------------------------------------------

def test_the_dialogue_teacher_computes_what_theirs_computes(tmp_path):
    theirs = their_teacher()
    result, restored = import_teacher(tmp_path, theirs)
    mine, vocab = restored.system.dialogue_teacher, restored.vocabs.gloss
    fusion = restored.cfg.model.fusion
    assert (fusion.norm_eps, fusion.text_positions, fusion.text_attends_padding, fusion.matching_head) == \
        (1e-5, True, True, False)
    assert result.payload["imported"]["part"] == "dialogue-teacher" and result.payload["epoch"] == 82
    assert any("model.fusion set to the original's numerics" in n for n in result.notes)
    g = torch.Generator().manual_seed(2)
    ids, ids_len = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0]]), torch.tensor([6, 4])
    with torch.no_grad():
        # the text stream: BERT embeddings without a token type, LayerNorm eps 1e-5
        text = mine.text_encoder(ids, ids_len)
        ref_text = theirs.bert_text.bert.embeddings.text(ids)
        for b, n in enumerate(ids_len.tolist()):
            torch.testing.assert_close(text[b, :n], ref_text[b, :n], atol=1e-5, rtol=1e-5)
        # the fusion's embeddings: one position table and LayerNorm for both streams
        v, x = torch.randn(2, 7, HIDDEN, generator=g), torch.randn(2, 6, HIDDEN, generator=g)
        ref_v, ref_x = theirs.multimodal_fusion.bert.embeddings.both(v, x)
        torch.testing.assert_close(mine.fusion.video_positions(v), ref_v, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mine.fusion.video_positions(x), ref_x, atol=1e-5, rtol=1e-5)
        # each hybrid layer (self-attention, cross-attention, FFN; weights shared by both streams)
        all_v, all_x = torch.ones(2, 7, dtype=torch.bool), torch.ones(2, 6, dtype=torch.bool)
        for ours, ref in zip(mine.fusion.layers, theirs.multimodal_fusion.bert.encoder.layer, strict=True):
            torch.testing.assert_close(ours(v, all_v, x, all_x), ref(v, x, 0.0, 0.0), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(ours(x, all_x, v, all_v), ref(x, v, 0.0, 0.0), atol=1e-5, rtol=1e-5)
        # classifier_combine, rows in signkd's gloss order
        h = torch.randn(5, HIDDEN, generator=g)
        torch.testing.assert_close(mine.classifier(h), permuted(theirs.classifier_combine(h), vocab), atol=1e-5, rtol=1e-5)
        # the whole teacher on a padded batch (clips and contexts of different lengths, so the
        # transposed text -> video mask matters), through their collate
        video, vlen = torch.randn(2, 26, 3, 32, 32, generator=g), torch.tensor([26, 17])
        out = mine(video, vlen, ids, ids_len)
        ref, ref_len = theirs(*their_collate(video, vlen), ids, ids_len)
        sign_ref = theirs.sign_encoder(*their_collate(video, vlen))
    assert out["lengths"].tolist() == ref_len.tolist() == [14, 10]
    for b, n in enumerate(out["lengths"].tolist()):
        torch.testing.assert_close(out["logits"][b, :n], permuted(ref[b, :n], vocab), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["sign_seq_logits"][b, :n], permuted(sign_ref["sequence_logits"][:n, b], vocab),
                                   atol=1e-5, rtol=1e-5)


def test_signkds_own_fusion_would_differ_from_theirs(tmp_path):
    """Each of the three settings the import turns on changes the fused logits: none is cosmetic."""
    theirs = their_teacher()
    _, restored = import_teacher(tmp_path, theirs)
    teacher = restored.system.dialogue_teacher
    ids, ids_len = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0]]), torch.tensor([6, 4])
    video, vlen = torch.randn(2, 26, 3, 32, 32, generator=torch.Generator().manual_seed(2)), torch.tensor([26, 17])
    with torch.no_grad():
        faithful = teacher(video, vlen, ids, ids_len)["logits"][1, :10]
        for attribute in ("text_positions", "text_attends_padding"):
            setattr(teacher.fusion, attribute, False)
            assert (teacher(video, vlen, ids, ids_len)["logits"][1, :10] - faithful).abs().max() > 1e-3, attribute
            setattr(teacher.fusion, attribute, True)
        for module in teacher.fusion.modules():
            if isinstance(module, nn.LayerNorm):
                module.eps = 1e-12
        assert (teacher(video, vlen, ids, ids_len)["logits"][1, :10] - faithful).abs().max() > 1e-6


def test_their_tokenizer_is_stored_with_their_lowercasing(tmp_path):
    """The context's token ids are the ones their BERT saw: lowercased, accents stripped."""
    _, restored = import_teacher(tmp_path, their_teacher())
    tokenizer = restored.vocabs.tokenizer
    assert tokenizer("Wie wird das Wetter morgen")["input_ids"] == [2, 5, 6, 7, 8, 9, 3]
    assert restored.checkpoint.architecture["dialogue_teacher.text_encoder."]["layer_norm_eps"] == 1e-5


# --------------------------------------------------------------------------------------------
# One-line refusals
# --------------------------------------------------------------------------------------------

def test_a_file_without_the_teacher_names_the_missing_keys(tmp_path, capsys):
    enc = their_model(specs=ORIGINAL_SPECS, classifier="classifier_sign")
    torch.save({"model_state_dict": {f"sign_encoder.{k}": v for k, v in enc.state_dict().items()}},
               tmp_path / "sign_only.pt")
    err = one_line_error(capsys, ["import", "original", str(tmp_path / "sign_only.pt"), "--part", "dialogue-teacher",
                                  "--gloss-dict", str(vocab_txt(tmp_path / "vocab.txt")), *TEACHER,
                                  "--tokenizer", str(bert_folder(tmp_path)), "--out", str(tmp_path / "o.pt")])
    assert "no bert_text.*, multimodal_fusion.*, classifier_combine.* keys for --part dialogue-teacher" in err


@pytest.mark.parametrize("args,expect", [
    (["--set", "model.fusion.layers=3"], "model.fusion.layers is 3"),
    (["--set", "model.fusion.kind=concat"], "kind hybrid, on sequence"),
    (["--no-tokenizer"], "--tokenizer DIR is required"),
    (["--short-vocab"], "not the vocabulary this teacher was trained with"),
])
def test_a_teacher_that_does_not_fit_is_one_line(tmp_path, capsys, args, expect):
    folder = bert_folder(tmp_path, WORD_PIECES[:-1] if args == ["--short-vocab"] else WORD_PIECES)
    tokenizer = [] if args == ["--no-tokenizer"] else ["--tokenizer", str(folder)]
    sets = args if args[0] == "--set" else []
    err = one_line_error(capsys, ["import", "original", str(save_teacher(tmp_path / "t.pt", their_teacher())),
                                  "--part", "dialogue-teacher", "--gloss-dict", str(vocab_txt(tmp_path / "vocab.txt")),
                                  *TEACHER, *sets, *tokenizer, "--out", str(tmp_path / "o.pt")])
    assert expect in err


def test_a_teacher_key_with_no_place_is_one_line(tmp_path, capsys):
    path = save_teacher(tmp_path / "t.pt", their_teacher(), **{"multimodal_fusion.bert.encoder.layer.0.extra.weight":
                                                              torch.zeros(2)})
    err = one_line_error(capsys, ["import", "original", str(path), "--part", "dialogue-teacher",
                                  "--gloss-dict", str(vocab_txt(tmp_path / "vocab.txt")), *TEACHER,
                                  "--tokenizer", str(bert_folder(tmp_path)), "--out", str(tmp_path / "o.pt")])
    assert "multimodal_fusion.bert.encoder.layer.0.extra.weight" in err


def test_signkd_test_with_a_config_keeps_the_checkpoints_fusion_numerics(tmp_path):
    """`signkd test CONFIG --load-weights IMPORTED.pt`: the config says signkd's own fusion, the
    weights are computed as they were trained (like the temporal padding)."""
    from signkd.config import load_config
    from signkd.importers import DIALOGUE_TEACHER_CONFIG
    from signkd.restore import restore

    import_teacher(tmp_path, their_teacher())
    cfg = load_config(DIALOGUE_TEACHER_CONFIG, [*TEACHER[1::2], "model.fusion.matching_head=false",
                                                "model.visual.pretrained="])
    assert not cfg.model.fusion.text_positions
    fusion = restore(tmp_path / "teacher_signkd.pt", cfg=cfg).system.dialogue_teacher.fusion
    assert fusion.text_positions and fusion.text_attends_padding
    assert all(m.eps == 1e-5 for m in fusion.modules() if isinstance(m, nn.LayerNorm))


def test_signkd_test_scores_the_imported_teacher_on_a_dialogue_corpus(tmp_path, tiny_corpus):
    """The converted file is a teacher `signkd test` scores: its glosses on the fused video stream."""
    from signkd.cli import main as cli_main
    from signkd.importers import DIALOGUE_TEACHER_CONFIG

    import_teacher(tmp_path, their_teacher())
    sets = [f"data.root={tiny_corpus}", f"data.dialogue={tiny_corpus}/dialogue", "data.frames=features/fullFrame-32x32px",
            "data.augment.resize=0", "data.augment.crop=28", "data.num_workers=0", "data.tokenizer=",
            "eval.ctc_decoder=greedy", "train.device=cpu", "model.fusion.matching_head=false"]
    assert cli_main(["test", str(DIALOGUE_TEACHER_CONFIG), "--load-weights",
                     str(tmp_path / "teacher_signkd.pt"), *TEACHER, *[a for s in sets for a in ("--set", s)],
                     "--work-dir", str(tmp_path / "test"), "--splits", "dev"]) == 0
    assert "wer" in (tmp_path / "test" / "test_metrics.json").read_text(encoding="utf-8").lower()


# --------------------------------------------------------------------------------------------
# The Text2Gloss teacher: their BertForSignOnly (2 BERT layers) + BertEmbeddings target embedding
# + signjoey's TransformerDecoder (pre-LN, eps 1e-6, sinusoidal positions, bias-free output)
# --------------------------------------------------------------------------------------------

T2G = [*TINY, "--set", f"model.text.hidden={HIDDEN}", "--set", f"model.text_teacher_encoder.heads={HEADS}",
       "--set", "model.teacher_decoder.layers=2", "--set", f"model.teacher_decoder.heads={HEADS}",
       "--set", f"model.teacher_decoder.ff={FF}"]
SEQ2SEQ = len(THEIR_IDS) + 3           # blank/pad, glosses, <s>, </s>


class TheirBertLayer(nn.Module):
    """BertLayer: BertAttention (self + output), BertIntermediate, BertOutput."""

    def __init__(self):
        super().__init__()
        self.attention = nn.Module()
        self.attention.self, self.attention.output = TheirAttention(), TheirDenseNorm()
        self.intermediate, self.output = TheirIntermediate(), TheirDenseNorm(FF)

    def forward(self, x, mask):
        h = self.attention.output(self.attention.self(x, x, mask), x)
        return self.output(self.intermediate(h), h)


class SignjoeyAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.k_layer, self.v_layer = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        self.q_layer, self.output_layer = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, HIDDEN)

    def forward(self, k, v, q, mask):                   # mask (B, 1 | Lq, Lk) bool, True = keep
        def heads(x):
            return x.view(x.shape[0], -1, HEADS, HIDDEN // HEADS).transpose(1, 2)
        scores = heads(self.q_layer(q)) / math.sqrt(HIDDEN // HEADS) @ heads(self.k_layer(k)).transpose(2, 3)
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
        out = (scores.softmax(-1) @ heads(self.v_layer(v))).transpose(1, 2).reshape(q.shape[0], -1, HIDDEN)
        return self.output_layer(out)


class SignjoeyFeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_norm = nn.LayerNorm(HIDDEN, eps=1e-6)
        self.pwff_layer = nn.Sequential(nn.Linear(HIDDEN, FF), nn.ReLU(), nn.Dropout(0.1), nn.Linear(FF, HIDDEN),
                                        nn.Dropout(0.1))

    def forward(self, x):
        return self.pwff_layer(self.layer_norm(x)) + x


class SignjoeyDecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.trg_trg_att, self.src_trg_att = SignjoeyAttention(), SignjoeyAttention()
        self.feed_forward = SignjoeyFeedForward()
        self.x_layer_norm, self.dec_layer_norm = nn.LayerNorm(HIDDEN, eps=1e-6), nn.LayerNorm(HIDDEN, eps=1e-6)

    def forward(self, x, memory, src_mask, trg_mask):
        n = self.x_layer_norm(x)
        h1 = self.trg_trg_att(n, n, n, trg_mask) + x
        n = self.dec_layer_norm(h1)
        return self.feed_forward(self.src_trg_att(memory, memory, n, src_mask) + h1)


class SignjoeyDecoder(nn.Module):
    def __init__(self, layers=2):
        super().__init__()
        self.layers = nn.ModuleList(SignjoeyDecoderLayer() for _ in range(layers))
        self.layer_norm = nn.LayerNorm(HIDDEN, eps=1e-6)
        self.output_layer = nn.Linear(HIDDEN, SEQ2SEQ, bias=False)

    def forward(self, trg_embed, memory, src_mask, trg_mask):
        u = trg_embed.shape[1]
        position = torch.arange(u, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, HIDDEN, 2, dtype=torch.float32) * -(math.log(10000.0) / HIDDEN))
        pe = torch.zeros(u, HIDDEN)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(position * freq), torch.cos(position * freq)
        x = trg_embed + pe[None]
        trg_mask = trg_mask & torch.ones(u, u, dtype=torch.bool).tril()[None]
        for layer in self.layers:
            x = layer(x, memory, src_mask, trg_mask)
        x = self.layer_norm(x)
        return self.output_layer(x), x


class TheirText2Gloss(nn.Module):
    """The SLR model's Text2Gloss parts as it holds them (and its student, not imported)."""

    def __init__(self):
        super().__init__()
        self.bert_translation2gloss = TheirBertModule(len(WORD_PIECES), 0)
        self.bert_translation2gloss.bert.encoder.layer = nn.ModuleList(TheirBertLayer() for _ in range(2))
        self.text_embedding = TheirEmbeddings(SEQ2SEQ)
        self.text_embedding.position_embeddings = nn.Embedding(512, HIDDEN)    # BertConfig's default size
        self.decoder = SignjoeyDecoder()
        self.sign_encoder_2 = their_model(specs=ORIGINAL_SPECS, classifier="classifier_sign", seed=6)

    def forward(self, text, text_len, gloss_in, gloss_len):
        keys = torch.arange(text.shape[1])[None] < text_len[:, None]                 # (B, Lt)
        x = self.bert_translation2gloss.bert.embeddings.text(text)
        for layer in self.bert_translation2gloss.bert.encoder.layer:
            x = layer(x, extended(keys[:, None, :].expand(-1, text.shape[1], -1)))
        trg_keys = torch.arange(gloss_in.shape[1])[None] < gloss_len[:, None]
        return self.decoder(self.text_embedding.text(gloss_in), x, keys[:, None, :], trg_keys[:, None, :])


def their_text2gloss() -> TheirText2Gloss:
    torch.manual_seed(9)
    model = TheirText2Gloss()
    g = torch.Generator().manual_seed(10)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("sign_encoder_2."):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g) if "orm.weight" in name
                        else 0.4 * torch.randn(p.shape, generator=g))
    return model.eval()


def test_the_text2gloss_teacher_computes_what_theirs_computes(tmp_path):
    from signkd.importers import import_checkpoint, write_imported
    from signkd.restore import restore

    theirs = their_text2gloss()
    torch.save({"epoch": 29, "model_state_dict": theirs.state_dict()}, tmp_path / "slr.pt")
    result = import_checkpoint("original", tmp_path / "slr.pt", gloss_dict=vocab_txt(tmp_path / "vocab.txt"),
                               overrides=T2G[1::2], part="text2gloss", tokenizer=bert_folder(tmp_path))
    assert any("sign_encoder_2." in n and "not imported" in n for n in result.notes)
    restored = restore(write_imported(result, tmp_path / "t2g.pt"))
    mine, vocab = restored.system.text2gloss, restored.vocabs.gloss
    rows = [0] + [THEIR_IDS[g] for g in vocab.glosses] + [SEQ2SEQ - 2, SEQ2SEQ - 1]   # their id of signkd id s
    assert (mine.bos, mine.eos) == (SEQ2SEQ - 2, SEQ2SEQ - 1)
    text, text_len = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 0, 0]]), torch.tensor([6, 4])
    gloss_in, gloss_len = torch.tensor([[mine.bos, 1, 4, 2, 5], [mine.bos, 3, 0, 0, 0]]), torch.tensor([5, 2])
    with torch.no_grad():
        out = mine(text, text_len, gloss_in, gloss_len)
        ref_logits, ref_hidden = theirs(text, text_len, torch.tensor(rows)[gloss_in], gloss_len)
    for b, n in enumerate(gloss_len.tolist()):
        torch.testing.assert_close(out["logits"][b, :n], ref_logits[b, :n, rows], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["features"][b, :n], ref_hidden[b, :n], atol=1e-5, rtol=1e-5)


def test_a_file_without_the_text2gloss_teacher_is_one_line(tmp_path, capsys):
    state = {k: v for k, v in their_text2gloss().state_dict().items() if not k.startswith("decoder.")}
    torch.save({"model_state_dict": state}, tmp_path / "slr.pt")
    err = one_line_error(capsys, ["import", "original", str(tmp_path / "slr.pt"), "--part", "text2gloss",
                                  "--gloss-dict", str(vocab_txt(tmp_path / "vocab.txt")), *T2G,
                                  "--tokenizer", str(bert_folder(tmp_path)), "--out", str(tmp_path / "o.pt")])
    assert "no decoder.* keys for --part text2gloss" in err
