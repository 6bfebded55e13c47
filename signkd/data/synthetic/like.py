"""`signkd synth --like ANNOTATIONS`: the sentences of a real corpus, performed by synthetic signers.

The PHOENIX-2014-T annotation files are read through signkd's own reader (so the same checks
apply: names safe as paths, fields present), and with `--dialogue` the dialogue-PHOENIX
contexts too. The output keeps every split found (a split with no annotation file, such as a
withheld test set, is absent from the output), every clip's real id, signer, gloss sequence
and translation; only the pixels are synthetic, so a rehearsal run sees the real vocabulary,
sentence lengths and split sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from signkd.data.corpora import read_corpus
from signkd.data.corpus_reader import MissingAnnotationError, Sample
from signkd.data.synthetic.language import PAIRS
from signkd.errors import DataError

LIKE_FORMAT = "phoenix2014t"
SPLITS = ("train", "dev", "test")


@dataclass
class LikeSource:
    """The real corpus a synthetic one imitates."""
    annotations: str
    dialogue: str
    samples: dict[str, list[Sample]]        # only the splits that have an annotation file

    @property
    def glosses(self) -> list[str]:
        """The vocabulary of every split, sorted (the lexicon draws motions in this order)."""
        return sorted({g for rows in self.samples.values() for s in rows for g in s.glosses})

    @property
    def speakers(self) -> list[str]:
        return sorted({s.signer for rows in self.samples.values() for s in rows})

    def pairs(self, n: int) -> list[tuple[str, str]]:
        """Up to `n` of the built-in confusable pairs whose two members both occur in the corpus."""
        have = set(self.glosses)
        return [(a, b) for a, b in PAIRS if a in have and b in have][:n]

    def describe(self) -> dict:
        return {"format": LIKE_FORMAT, "annotations": self.annotations, "dialogue": self.dialogue,
                "splits": {split: len(rows) for split, rows in self.samples.items()},
                "glosses": len(self.glosses), "signers": self.speakers}


def read_like(annotations, dialogue="") -> LikeSource:
    """Every split of the PHOENIX-2014-T annotation folder `annotations` (contexts from `dialogue`)."""
    folder = Path(annotations)
    if not folder.is_dir():
        raise DataError(f"--like {annotations}: not a folder (expected PHOENIX-2014-T *.corpus.csv files)")
    samples = {}
    for split in SPLITS:
        try:
            rows = read_corpus(LIKE_FORMAT, "", split, annotations=folder, dialogue=dialogue or "")
        except MissingAnnotationError:
            continue
        empty = next((s for s in rows if not s.glosses), None)
        if empty is not None:
            raise DataError(f"--like {annotations}: {split} sample {empty.id} has no glosses")
        samples[split] = rows
    if not samples:
        raise DataError(f"--like {annotations}: no PHOENIX-2014-T.<split>.corpus.csv file for train, dev or test")
    return LikeSource(str(annotations), str(dialogue or ""), samples)
