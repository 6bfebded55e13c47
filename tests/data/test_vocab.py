"""Gloss / word vocabularies and the offline BERT WordPiece tokenizer."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import torch

from signkd.data.corpora import read_corpus
from signkd.data.corpus_reader import Sample
from signkd.data.vocab import GlossVocab, WordVocab, build_text_tokenizer
from signkd.errors import DataError, SignkdError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def sample(glosses, split="train", sid="x"):
    return Sample(sid, split, "", glosses.split(), "", "", "s")


def test_gloss_vocab_ids_and_specials():
    vocab = GlossVocab.from_samples([sample("WETTER MORGEN"), sample("REGEN WETTER")])
    assert vocab.glosses == ["MORGEN", "REGEN", "WETTER"]
    assert (vocab.blank, vocab.num_classes, vocab.bos, vocab.eos, vocab.seq2seq_size) == (0, 4, 4, 5, 6)
    assert vocab.encode(["WETTER", "MORGEN"]) == [3, 1]
    assert vocab.decode([0, 3, 0, 1, vocab.eos]) == ["WETTER", "MORGEN"]
    assert vocab.decode(torch.tensor([vocab.bos, 2])) == ["REGEN"]
    with pytest.raises(DataError, match="gloss id 9 is outside"):
        vocab.decode([9])
    again = GlossVocab.from_dict(vocab.to_dict())
    assert again == vocab and again.encode(["REGEN"]) == [2]


def test_gloss_vocab_counts_and_reports_unknown_glosses():
    vocab = GlossVocab(["A", "B"])
    assert vocab.encode(["A", "NEU", "B", "NEU", "ALT"], where="dev") == [1, 2]
    assert vocab.encode(["NEU"], where="test") == []
    assert vocab.unknown == Counter({"NEU": 3, "ALT": 1})
    line = vocab.unknown_summary("dev")
    assert line.startswith("dev: 3 gloss token(s) of 2 type(s) not in the train vocabulary")
    assert "NEU×2" in line and "ALT×1" in line and "\n" not in line
    assert vocab.unknown_summary("test").startswith("test: 1 gloss token(s)")
    assert GlossVocab(["A"]).unknown_summary("dev") == ""


def test_gloss_vocab_is_built_from_train_only():
    with pytest.raises(DataError, match="train samples only, got 'd1' of split 'dev'"):
        GlossVocab.from_samples([sample("A"), sample("B", split="dev", sid="d1")])
    with pytest.raises(DataError):
        GlossVocab.from_dict({"kind": "gloss", "glosses": ["B", "A"]})   # ids would silently change


def test_gloss_vocab_on_real_train_split():
    ann = SHARED / "phoenix2014t"
    if not ann.exists():
        pytest.skip("real annotations not available")
    vocab = GlossVocab.from_samples(read_corpus("phoenix2014t", "", "train", annotations=ann))
    train_glosses = set()
    for line in (ann / "PHOENIX-2014-T.train.corpus.csv").read_text(encoding="utf-8").splitlines():
        train_glosses.update(line.split("|")[5].split())
    assert vocab.num_classes == len(train_glosses) + 1
    for s in read_corpus("phoenix2014t", "", "dev", annotations=ann):
        vocab.encode(s.glosses, where="dev")
    assert set(vocab.unknown) and not set(vocab.unknown) & train_glosses
    assert vocab.unknown_summary("dev").startswith(f"dev: {sum(vocab.unknown.values())} gloss token(s)")


def test_word_vocab():
    vocab = WordVocab.from_sentences(["es regnet heute", "es schneit", "es regnet"], min_freq=2)
    assert vocab.itos == ["<pad>", "<s>", "</s>", "<unk>", "es", "regnet"]
    assert len(vocab) == 6
    assert vocab.encode("es schneit") == [4, vocab.unk] and vocab.unknown == Counter({"schneit": 1})
    assert vocab.decode([vocab.bos, 4, 5, vocab.eos, 4, vocab.pad]) == "es regnet"
    assert vocab.decode(torch.tensor([4, 0, 0])) == "es"
    assert "schneit×1" in vocab.unknown_summary("dev")
    assert WordVocab.from_dict(vocab.to_dict()) == vocab


def test_trained_tokenizer_keeps_umlauts_and_capitals_and_reloads(tmp_path):
    texts = ["Grüße aus Köln", "Was bestimmt das Wetter in den nächsten Tagen",
             "Über Bayern ziehen Schauer und Gewitter"] * 5
    tok = build_text_tokenizer("", texts, vocab_size=300, save_dir=tmp_path / "tok")
    assert tok.pad_token_id == 0
    assert tok.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == [0, 1, 2, 3, 4]
    ids = tok("Grüße aus Köln")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "Grüße aus Köln"
    assert tok.decode(tok("Übermorgen Köln")["input_ids"], skip_special_tokens=True) == "Übermorgen Köln"
    # reloaded by path (as a checkpoint does), offline
    again = build_text_tokenizer(str(tmp_path / "tok"), None, vocab_size=0, save_dir=tmp_path / "copy")
    assert again("Grüße aus Köln")["input_ids"] == ids
    assert (tmp_path / "copy" / "tokenizer_config.json").is_file()


def test_tokenizer_needs_a_name_or_texts(tmp_path):
    with pytest.raises(SignkdError, match="no pretrained name/path"):
        build_text_tokenizer("", [], vocab_size=100, save_dir=tmp_path)
    with pytest.raises(SignkdError, match="cannot load"):
        build_text_tokenizer(str(tmp_path / "missing-tokenizer"), None, vocab_size=100, save_dir=tmp_path)


def test_trained_word_pieces_are_the_same_in_every_process(tmp_path):
    """The tokenizers library's trainer broke frequency ties in hash-map order, which changes with
    every process: the same texts gave other word pieces (and teacher results) from run to run."""
    import subprocess
    import sys

    texts = ["Morgen regnet es im Osten und schneit im Westen", "Am Dienstag gibt es Kaffee und Tee",
             "Die Mutter und der Vater arbeiten heute im Garten", "Im Süden wird es heiß, im Norden warm"] * 3
    script = ("import json, sys; from signkd.data.vocab import learn_wordpiece_vocab; "
              "print(json.dumps(learn_wordpiece_vocab(json.loads(sys.argv[1]), 200)))")
    runs = [subprocess.run([sys.executable, "-c", script, json.dumps(texts)], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2, 3)]
    assert runs[0] == runs[1] == runs[2]
    vocab = json.loads(runs[0])
    assert len(vocab) == len(set(vocab)) == 200 and vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "##ü" in vocab and "Ü" in vocab                       # the base alphabet, both forms
    tok = build_text_tokenizer("", texts, vocab_size=200, save_dir=tmp_path / "tok")
    assert tok.convert_ids_to_tokens(list(range(200))) == vocab   # the ids are the vocabulary's order
    assert tok.decode(tok("Morgen schneit es")["input_ids"], skip_special_tokens=True) == "Morgen schneit es"
