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
    role: str         # "teacher" | "baseline" | "distilled" | "control" (trained by make bench-demo only)


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
    # the controls of DESIGN.md section 6 (make bench-demo): distillation without the privileged text
    Stage("video_teacher", "Video-only teacher (the dialogue teacher's size, no text)", "recogniser", "control"),
    Stage("slr_control_video_teacher", "SLR student distilled from the video-only teacher (Transformer)",
          "recogniser", "control"),
    Stage("slr_control_video_teacher_bilstm", "SLR student distilled from the video-only teacher (BiLSTM)",
          "recogniser", "control"),
    Stage("slr_control_no_text", "SLR student distilled from the dialogue teacher, text removed (Transformer)",
          "recogniser", "control"),
    Stage("slr_control_no_text_bilstm", "SLR student distilled from the dialogue teacher, text removed (BiLSTM)",
          "recogniser", "control"),
    # and the SLT pair's: the same terms from a video-only translator; soft targets without a teacher
    Stage("slt_control_video_translator", "SLT student distilled from a video-only translator (the SLT baseline)",
          "translator", "control"),
    Stage("slt_control_label_smoothing", "SLT student, no distillation, label smoothing 0.1", "translator", "control"),
)
# (baseline, distilled) pairs whose test-WER ratio the report states
PAIRS = (("slr_baseline", "slr_distilled", "Transformer"), ("slr_baseline_bilstm", "slr_distilled_bilstm", "BiLSTM"))
# (baseline, control, student, control name): each control against the baseline of its student
CONTROLS = (("slr_baseline", "slr_control_video_teacher", "Transformer", "video-only teacher"),
            ("slr_baseline", "slr_control_no_text", "Transformer", "dialogue teacher, text removed"),
            ("slr_baseline_bilstm", "slr_control_video_teacher_bilstm", "BiLSTM", "video-only teacher"),
            ("slr_baseline_bilstm", "slr_control_no_text_bilstm", "BiLSTM", "dialogue teacher, text removed"))
# (baseline, control, control name): the SLT pair's controls, each against the SLT baseline
SLT_CONTROLS = (("slt_baseline", "slt_control_video_translator",
                 "video-only translator (the same seed's SLT baseline)"),
                ("slt_baseline", "slt_control_label_smoothing", "no teacher, label smoothing 0.1"))
STAGE_KEYS = tuple(s.key for s in STAGES)
DEMO_STAGE_KEYS = tuple(s.key for s in STAGES if s.role != "control")   # what `make demo` trains
