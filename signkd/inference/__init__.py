"""Run a trained student on new video: `Recognizer.from_checkpoint(ckpt).recognize("clip.mp4")`.

Why this shape: **the checkpoint decides everything but the input.** The student, its
vocabularies, the frame preprocessing (resize, centre crop, normalisation, frame interval), the
temporal padding and the decoding settings and budget all come from the checkpoint and run
through the functions training and `signkd test` use, so a video is seen and decoded exactly as
the dev set was. Nothing is specified twice, and nothing here imports the trainer.

The package, in the order a clip goes through it: `inputs` (video files, frame folders, globs;
frames streamed one at a time), `preprocessing` (the checkpoint's), `student` (loading the
checkpoint), `windows` (the temporal model over overlapping windows, stitched), `recognizer`
(`Recognizer`: frame CNN, windows, CTC decoding, time spans), `translation` (the SLT student's
sentence) and `results` (`Recognition`, the --json schema of docs/inference.md).
"""
from signkd.inference.inputs import DEFAULT_FPS, ClipSource, FrameReader, resolve_inputs
from signkd.inference.preprocessing import Preprocessing
from signkd.inference.recognizer import DEFAULT_CNN_CHUNK, Recognizer
from signkd.inference.results import GlossSpan, Recognition
from signkd.inference.student import StudentBundle, load_student
from signkd.inference.translation import translate_features, translation_budget
from signkd.inference.windows import DEFAULT_CONTEXT, DEFAULT_WINDOW, WindowPlan, plan_windows, stitch_windows

__all__ = ["DEFAULT_CNN_CHUNK", "DEFAULT_CONTEXT", "DEFAULT_FPS", "DEFAULT_WINDOW", "ClipSource", "FrameReader",
           "GlossSpan", "Preprocessing", "Recognition", "Recognizer", "StudentBundle", "WindowPlan", "load_student",
           "plan_windows", "resolve_inputs", "stitch_windows", "translate_features", "translation_budget"]
