"""The demo's stages as its report shows them: each stage's row label, what it is scored as
(recogniser or translator) and its role, and the baseline/distilled pairs the report compares.

Why its own module: `signkd demo` runs these stages (through configs/synthetic/demo/pipeline*.yaml)
and the report (signkd.demo_report) tabulates them; both read this table, so the report does not
import the demo that calls it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    key: str          # config stem and run folder
    title: str        # row label in the report
    kind: str         # "recogniser" (WER) | "translator" (BLEU/ROUGE, and WER when it has glosses)
    role: str         # "teacher" | "baseline" | "distilled"


STAGES = (
    Stage("dialogue_teacher", "Dialogue teacher (video + dialogue turn)", "recogniser", "teacher"),
    Stage("text2gloss", "Text2Gloss teacher (spoken sentence)", "recogniser", "teacher"),
    Stage("slr_baseline", "SLR student, no distillation (baseline, Transformer)", "recogniser", "baseline"),
    Stage("slr_distilled", "SLR student distilled from 2 teachers (Transformer)", "recogniser", "distilled"),
    Stage("slr_baseline_bilstm", "SLR student, no distillation (baseline, BiLSTM)", "recogniser", "baseline"),
    Stage("slr_distilled_bilstm", "SLR student distilled from 2 teachers (BiLSTM)", "recogniser", "distilled"),
    Stage("gloss2text", "Gloss2Text teacher (reference glosses)", "translator", "teacher"),
    Stage("slt_baseline", "SLT student, no distillation", "translator", "baseline"),
    Stage("slt_distilled", "SLT student distilled from Gloss2Text", "translator", "distilled"),
)
# (baseline, distilled) pairs whose test-WER ratio the report states
PAIRS = (("slr_baseline", "slr_distilled", "Transformer"), ("slr_baseline_bilstm", "slr_distilled_bilstm", "BiLSTM"))
STAGE_KEYS = tuple(s.key for s in STAGES)
