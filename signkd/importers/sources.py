"""The two importable sources: where each keeps its parts, what its classifier is called, which
signkd config describes its architecture, and what its weights were trained with.

VAC's released PHOENIX-2014 model (github.com/ycmin95/VAC_CSLR, also VIPL-SLP/VAC_CSLR) is VAC's
slr_network.py SLRModel; the original method's checkpoints hold its modules/vac.py VACModel twice,
as the student (`sign_encoder_2.`) and as the dialogue teacher's sign encoder (`sign_encoder.`).

The original's whole dialogue teacher (`--part dialogue-teacher`: its sign encoder as above, plus
`bert_text.`, `multimodal_fusion.`, `classifier_combine.`) and its SLR model's Text2Gloss teacher
(`--part text2gloss`: `bert_translation2gloss.`, `text_embedding.`, `decoder.`) map in
signkd/importers/teachers.py, which has their tables.

Preprocessing (docs/import.md has the table and the files it comes from): resize to 256 x 256
without keeping the aspect, RGB, centre crop 224, x / 127.5 - 1, every frame: stored in the
checkpoint's `preprocessing`, so `recognize` and `export` apply it. Their collate_fn also pads each
clip with 6 copies of its first frame and copies of its last up to ceil(T / 4) * 4 + 12 frames:
the imported config's model.visual.temporal_pad (vac, temporal_pad_multiple 4) does the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DIALOGUE_TEACHER_CONFIG = CONFIG_DIR / "dialogue_phoenix" / "teacher_slr_bilstm.yaml"
TEXT2GLOSS_CONFIG = CONFIG_DIR / "dialogue_phoenix" / "text2gloss.yaml"

# What each source was trained on (see the module docstring for the files these come from).
SOURCE_PREPROCESSING = {"resize": 256, "keep_aspect": False, "crop": 224, "mean": [0.5, 0.5, 0.5],
                        "std": [0.5, 0.5, 0.5], "frame_interval": 1, "cache": False}
# Their collate_fn's temporal padding (6 copies of the first frame, the last frame up to ceil(T/4)*4 + 12
# frames, lengths counting it) as model.visual settings: the left pad and the + 12 follow from their specs.
SOURCE_TEMPORAL_PAD = {"temporal_pad": "vac", "temporal_pad_multiple": 4}


@dataclass(frozen=True)
class Source:
    """One importable layout: where its parts live, what its classifier is called, which signkd
    config describes its architecture."""
    kind: str
    parts: dict                 # --part name -> key prefix in their state dict
    classifier: str             # sequence classifier's module name under the prefix
    default_config: Path
    what: str


SOURCES = {
    "vac": Source("vac", {"student": ""}, "classifier", CONFIG_DIR / "phoenix2014" / "vac_baseline.yaml",
                  "VAC SLRModel"),
    "original": Source("original", {"student": "sign_encoder_2.", "teacher-sign-encoder": "sign_encoder.",
                                    "dialogue-teacher": "sign_encoder.", "text2gloss": "bert_translation2gloss."},
                       "classifier_sign", CONFIG_DIR / "phoenix2014t" / "slr_baseline.yaml",
                       "the original's VACModel"),
}
# Key prefixes of the original's other modules, named when a user asks for a part a file lacks.
ORIGINAL_OTHER = ("bert_text.", "multimodal_fusion.", "classifier_combine.", "bert_translation2gloss.",
                  "text_embedding.", "decoder.", "decoder_sign2text.", "signToText.", "signToFusion.")
