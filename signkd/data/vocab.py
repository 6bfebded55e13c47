"""Vocabularies: glosses (CTC + Text2Gloss targets), words (translation targets), BERT text tokens.

All are built from the TRAIN split only (the original built them on train+dev+test, leaking test
vocabulary) and travel inside checkpoints via `to_dict` / `save_dir`. A gloss or word that the
train split never saw is counted where it is met, never silently dropped: callers report it with
`unknown_summary`.

`Vocabs` is a run's set (glosses, words, the BERT tokenizer and its files) as a checkpoint stores
it; it lives here, below training and inference, so both restore it through the same checks.
"""
from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import torch

from signkd.errors import CheckpointError, DataError, SignkdError

log = logging.getLogger(__name__)

EVAL_SPLITS = ("dev", "test")
BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]   # [PAD] = 0 like every other pad
# Always in the WordPiece vocabulary (as word start and "##" continuation), so that a rare letter
# (ü, ß, capitals) never turns a whole word into [UNK] just because the training texts were small.
_BASE_ALPHABET = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZäöüÄÖÜß0123456789.,;:!?'\"-()%&/")


def _as_ints(ids) -> list[int]:
    """Accept lists, tuples and 1-D tensors / arrays of ids."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return [int(i) for i in ids]


def _summary(unknown: Counter, what: str, where: str, top: int, fate: str = "were skipped") -> str:
    if not unknown:
        return ""
    listed = ", ".join(f"{tok}×{n}" for tok, n in unknown.most_common(top))
    more = ", …" if len(unknown) > top else ""
    place = f"{where}: " if where else ""
    return (f"{place}{sum(unknown.values())} {what} token(s) of {len(unknown)} type(s) not in the train vocabulary "
            f"{fate}: {listed}{more}")


class GlossVocab:
    """blank = 0; glosses get ids 1..C-1 in sorted order; Text2Gloss adds <s> = C and </s> = C + 1."""

    blank = 0

    def __init__(self, glosses: Iterable[str]):
        self.glosses: list[str] = sorted(set(glosses))
        if any(not g or g != g.strip() or " " in g for g in self.glosses):
            raise DataError("gloss vocabulary: glosses must be non-empty and contain no whitespace")
        self._index = {g: i + 1 for i, g in enumerate(self.glosses)}
        self.unknown: Counter = Counter()                     # gloss -> times met, all callers together
        self.unknown_by_where: dict[str, Counter] = {}        # where (e.g. "dev") -> gloss -> times met

    @classmethod
    def from_samples(cls, samples, *, allow_eval_splits: bool = False) -> "GlossVocab":
        """Build from TRAIN samples; dev/test samples are refused (that leaked vocabulary in the original)."""
        samples = list(samples)
        if not allow_eval_splits:
            bad = next((s for s in samples if s.split in EVAL_SPLITS), None)
            if bad is not None:
                raise DataError(f"gloss vocabulary: built from train samples only, "
                                f"got '{bad.id}' of split '{bad.split}'")
        return cls(g for s in samples for g in s.glosses)

    @property
    def num_classes(self) -> int:
        return len(self.glosses) + 1

    @property
    def bos(self) -> int:
        return self.num_classes

    @property
    def eos(self) -> int:
        return self.num_classes + 1

    @property
    def seq2seq_size(self) -> int:
        return self.num_classes + 2

    def __contains__(self, gloss: str) -> bool:
        return gloss in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, GlossVocab) and self.glosses == other.glosses

    def encode(self, glosses: list[str], *, where: str = "") -> list[int]:
        """Gloss ids; an unknown gloss is skipped and counted in `unknown` (and per `where`)."""
        ids = []
        for g in glosses:
            i = self._index.get(g)
            if i is None:
                self.unknown[g] += 1
                self.unknown_by_where.setdefault(where, Counter())[g] += 1
            else:
                ids.append(i)
        return ids

    def decode(self, ids) -> list[str]:
        """Glosses of ids, ignoring blank / <s> / </s>."""
        out = []
        for i in _as_ints(ids):
            if i in (self.blank, self.bos, self.eos):
                continue
            if not 0 < i < self.num_classes:
                raise DataError(f"gloss id {i} is outside the vocabulary (0..{self.eos})")
            out.append(self.glosses[i - 1])
        return out

    def unknown_summary(self, where: str | None = None, top: int = 10) -> str:
        """One line naming `where` and the most frequent unknown glosses; "" when there were none."""
        counts = self.unknown if where is None else self.unknown_by_where.get(where, Counter())
        return _summary(counts, "gloss", where or "", top)

    def to_dict(self) -> dict:
        return {"kind": "gloss", "glosses": list(self.glosses)}

    @classmethod
    def from_dict(cls, d: dict) -> "GlossVocab":
        if not isinstance(d, dict) or d.get("kind") != "gloss" or not isinstance(d.get("glosses"), list):
            raise DataError("gloss vocabulary: expected a dict {'kind': 'gloss', 'glosses': [...]}")
        vocab = cls(d["glosses"])
        if vocab.glosses != d["glosses"]:
            raise DataError("gloss vocabulary: stored glosses are not sorted and unique; ids would change")
        return vocab


class WordVocab:
    """<pad>=0, <s>=1, </s>=2, <unk>=3, then train words by frequency (ties alphabetical)."""

    pad, bos, eos, unk = 0, 1, 2, 3
    SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]

    def __init__(self, words: Iterable[str]):
        words = list(words)
        if len(set(words)) != len(words) or set(words) & set(self.SPECIALS):
            raise DataError("word vocabulary: words must be unique and must not be special tokens")
        self.itos: list[str] = self.SPECIALS + words
        self._index = {w: i for i, w in enumerate(self.itos)}
        self.unknown: Counter = Counter()

    @classmethod
    def from_sentences(cls, sentences: Iterable[str], min_freq: int = 1) -> "WordVocab":
        counts = Counter(w for s in sentences for w in s.split())
        kept = sorted((w for w, n in counts.items() if n >= min_freq and w not in cls.SPECIALS),
                      key=lambda w: (-counts[w], w))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, WordVocab) and self.itos == other.itos

    def encode(self, sentence: str) -> list[int]:
        """Whitespace tokens -> ids (no <s>/</s>); unknown words become <unk> and are counted."""
        ids = []
        for w in sentence.split():
            i = self._index.get(w)
            if i is None:
                self.unknown[w] += 1
                i = self.unk
            ids.append(i)
        return ids

    def decode(self, ids) -> str:
        """Stops at </s>; drops <pad> and <s>."""
        words = []
        for i in _as_ints(ids):
            if i == self.eos:
                break
            if i in (self.pad, self.bos):
                continue
            if not 0 <= i < len(self.itos):
                raise DataError(f"word id {i} is outside the vocabulary (0..{len(self.itos) - 1})")
            words.append(self.itos[i])
        return " ".join(words)

    def unknown_summary(self, where: str = "", top: int = 10) -> str:
        return _summary(self.unknown, "word", where, top, fate="became <unk>")

    def to_dict(self) -> dict:
        return {"kind": "word", "words": self.itos[len(self.SPECIALS):]}

    @classmethod
    def from_dict(cls, d: dict) -> "WordVocab":
        if not isinstance(d, dict) or d.get("kind") != "word" or not isinstance(d.get("words"), list):
            raise DataError("word vocabulary: expected a dict {'kind': 'word', 'words': [...]}")
        return cls(d["words"])


def build_text_tokenizer(name_or_path: str, texts: list[str] | None, vocab_size: int, save_dir):
    """BERT tokenizer for teacher text: pretrained (`name_or_path`) or a WordPiece trained on `texts`.

    Trained tokenizers keep case and accents (lowercase=False, strip_accents=False): the original
    stripped umlauts from German text. Either way the tokenizer is saved to `save_dir` so that a
    checkpoint reloads it by path, offline.
    """
    import transformers

    save_dir = Path(save_dir)
    if name_or_path:
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path)
        except (OSError, ValueError) as exc:
            raise SignkdError(f"tokenizer '{name_or_path}': cannot load ({str(exc).splitlines()[0]})") from None
        probe = "Grüße aus Köln"
        if tokenizer.decode(tokenizer(probe)["input_ids"], skip_special_tokens=True) != probe:
            log.warning("tokenizer '%s' does not round-trip %r (lowercasing or accent stripping?)", name_or_path, probe)
    else:
        if not texts:
            raise SignkdError("tokenizer: no pretrained name/path given and no training texts to build one from")
        tokenizer = _train_wordpiece(texts, vocab_size, save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(save_dir))
    return tokenizer


def learn_wordpiece_vocab(texts: list[str], vocab_size: int) -> list[str]:
    """A WordPiece vocabulary learned from `texts`: BERT's normalisation and pre-tokenisation
    (case and accents kept), then frequency-ranked merges of adjacent pieces, as the `tokenizers`
    WordPiece trainer does.

    Why by hand: that trainer breaks ties between equally frequent pairs in the order of a Rust
    hash map, whose seed changes with every process, so the same texts gave other vocabularies
    (and other token ids, and other teacher results) from one run to the next. Here ties go to the
    lexicographically smaller pair: the same texts always give the same vocabulary.
    """
    import heapq

    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    pre_tokenizer = BertPreTokenizer()
    counts = Counter(w for t in texts for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(t)))
    words = sorted(counts)
    freq = [counts[w] for w in words]
    pieces = [[w[0]] + ["##" + c for c in w[1:]] for w in words]
    alphabet = {p for ps in pieces for p in ps} | set(_BASE_ALPHABET) | {"##" + c for c in _BASE_ALPHABET}
    vocab = list(BERT_SPECIAL_TOKENS) + sorted(alphabet - set(BERT_SPECIAL_TOKENS))
    known = set(vocab)

    pair_count: Counter = Counter()
    where: dict = {}
    for i, ps in enumerate(pieces):
        for pair in zip(ps, ps[1:]):
            pair_count[pair] += freq[i]
            where.setdefault(pair, set()).add(i)
    heap = [(-c, a, b) for (a, b), c in pair_count.items()]
    heapq.heapify(heap)
    while heap and len(vocab) < vocab_size:
        neg, a, b = heapq.heappop(heap)
        if pair_count.get((a, b), 0) != -neg or neg == 0:
            continue                                   # stale entry: the count changed since it was pushed
        merged = a + b[2:]                             # b is always a "##" continuation
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
        touched = set()
        for i in sorted(where.pop((a, b), ())):
            old = pieces[i]
            for pair in zip(old, old[1:]):
                pair_count[pair] -= freq[i]
                where.get(pair, set()).discard(i)
                touched.add(pair)
            new, j = [], 0
            while j < len(old):
                if j + 1 < len(old) and old[j] == a and old[j + 1] == b:
                    new.append(merged)
                    j += 2
                else:
                    new.append(old[j])
                    j += 1
            pieces[i] = new
            for pair in zip(new, new[1:]):
                pair_count[pair] += freq[i]
                where.setdefault(pair, set()).add(i)
                touched.add(pair)
        for pair in sorted(touched):
            if pair_count.get(pair, 0) > 0:
                heapq.heappush(heap, (-pair_count[pair], *pair))
            else:
                pair_count.pop(pair, None)
    return vocab


def _train_wordpiece(texts: list[str], vocab_size: int, save_dir: Path):
    from transformers import BertTokenizerFast

    vocab = learn_wordpiece_vocab([t for t in texts if t.strip()], vocab_size)
    save_dir.mkdir(parents=True, exist_ok=True)
    (save_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast.from_pretrained(str(save_dir), do_lower_case=False, strip_accents=False,
                                             tokenize_chinese_chars=True, model_max_length=512)


# --------------------------------------------------------------------------------------------
# The vocabularies of a run, as a checkpoint stores them
# --------------------------------------------------------------------------------------------

# The files a BERT tokenizer's save_pretrained writes; the only names a checkpoint may carry.
# Names come from the file, so anything else (an absolute path, `../x`, a `.pth` that Python
# would run at start-up) is refused before a byte is written.
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json")
MAX_TOKENIZER_FILE_BYTES = 64 << 20


def check_tokenizer_files(files, where: str = "checkpoint") -> dict:
    """{name: bytes} of a checkpoint's stored tokenizer, each name allow-listed and each blob a
    1-D uint8 tensor of sane size; the config may not ask transformers for custom code."""
    if not isinstance(files, dict):
        raise CheckpointError(f"{where}: vocab.tokenizer is not a mapping of file names to bytes")
    out = {}
    for name, blob in files.items():
        if name not in TOKENIZER_FILES:
            raise CheckpointError(f"{where}: vocab.tokenizer holds a file named {str(name)[:80]!r}; "
                                  f"only {', '.join(TOKENIZER_FILES)} are allowed")
        if not isinstance(blob, torch.Tensor) or blob.dtype != torch.uint8 or blob.dim() != 1 \
                or blob.numel() > MAX_TOKENIZER_FILE_BYTES:
            raise CheckpointError(f"{where}: vocab.tokenizer[{name!r}] is not a 1-D uint8 tensor of at most "
                                  f"{MAX_TOKENIZER_FILE_BYTES >> 20} MiB")
        out[name] = blob.numpy().tobytes()
    if "vocab.txt" not in out and "tokenizer.json" not in out:
        raise CheckpointError(f"{where}: vocab.tokenizer has neither vocab.txt nor tokenizer.json")
    if "tokenizer_config.json" in out:
        try:
            conf = json.loads(out["tokenizer_config.json"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CheckpointError(f"{where}: vocab.tokenizer['tokenizer_config.json'] is not JSON") from None
        named = conf.get("tokenizer_class") if isinstance(conf, dict) else None
        if not isinstance(conf, dict) or "auto_map" in conf or (named is not None and not str(named).isidentifier()):
            raise CheckpointError(f"{where}: vocab.tokenizer's tokenizer_config.json asks for a custom tokenizer "
                                  "class (auto_map / tokenizer_class); only transformers' own classes load")
    return out


@dataclass
class Vocabs:
    gloss: object
    word: object = None
    tokenizer: object = None
    tokenizer_files: dict = field(default_factory=dict)   # name -> uint8 tensor, travels in checkpoints

    def to_state(self) -> dict:
        return {"gloss": self.gloss.to_dict(), "word": self.word.to_dict() if self.word is not None else None,
                "tokenizer": self.tokenizer_files or None}

    @classmethod
    def from_state(cls, state: dict, work_dir: Optional[Path] = None, where: str = "checkpoint") -> "Vocabs":
        """Vocabularies (and the BERT tokenizer) stored in a checkpoint. The tokenizer loads from a
        private temporary folder holding only allow-listed files; with `work_dir` a copy goes to
        `work_dir/tokenizer` (replacing an older one whole, so no stale file mixes in)."""
        if not isinstance(state, dict):
            raise CheckpointError(f"{where}: field 'vocab' is not a mapping")
        try:
            gloss = GlossVocab.from_dict(state.get("gloss"))
            word = WordVocab.from_dict(state["word"]) if state.get("word") else None
        except SignkdError as exc:
            raise CheckpointError(f"{where}: {exc}") from None
        tokenizer, raw = None, state.get("tokenizer") or {}
        if raw:
            files = check_tokenizer_files(raw, where)
            import transformers

            with tempfile.TemporaryDirectory(prefix="signkd-tok-") as tmp:
                for name, data in files.items():
                    (Path(tmp) / name).write_bytes(data)
                try:
                    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp, trust_remote_code=False,
                                                                           local_files_only=True)
                except Exception as exc:   # transformers raises many types for broken files
                    raise CheckpointError(f"{where}: its stored tokenizer does not load "
                                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
                if work_dir is not None:
                    _replace_folder(Path(tmp), Path(work_dir) / "tokenizer")
        return cls(gloss, word, tokenizer, dict(raw))


def _replace_folder(src: Path, dst: Path) -> None:
    """Copy the files of `src` to `dst`, replacing whatever `dst` held."""
    import shutil

    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    dst.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copyfile(f, dst / f.name)
