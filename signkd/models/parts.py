"""Which model parts a config has, and what follows from that: the inputs the data must provide,
the vocabularies to build, the models that produce the scored glosses and words.

Why one place: the data path, the system builder, the evaluator, the trainer and `restore` each
used to test `cfg.model.student`, `dialogue_teacher`, `text2gloss` and `gloss2text` their own
way, so a new part (or a new rule, such as "the dialogue teacher translates only under SLT") meant
several coordinated edits. Torch-free, so config checks and the pipeline can ask without building
a model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from signkd.config import MODULE_NAMES

# The parts that read BERT word pieces (the dialogue teacher its context, Text2Gloss its spoken
# sentence): their `init:` checkpoints bring, and must match, the run's text tokenizer.
TEXT_READING_MODULES = ("dialogue_teacher", "text2gloss")


@dataclass(frozen=True)
class ModelParts:
    task: str                      # "slr" | "slt" (model.task)
    student: bool = True
    dialogue_teacher: bool = False
    text2gloss: bool = False
    gloss2text: bool = False
    video_translator: bool = False   # an SLT student's architecture as the word-level teacher

    @property
    def names(self) -> tuple[str, ...]:
        """The parts present, in MODULE_NAMES order (also their state-dict prefixes' first word)."""
        return tuple(name for name in MODULE_NAMES if getattr(self, name))

    @property
    def teachers(self) -> tuple[str, ...]:
        return tuple(name for name in self.names if name != "student")

    @property
    def is_slt(self) -> bool:
        return self.task == "slt"

    @property
    def reads_video(self) -> bool:
        """Whether a part reads frames (else no frame is read or checked)."""
        return self.student or self.dialogue_teacher or self.video_translator

    @property
    def reads_text(self) -> bool:
        """Whether a part reads BERT word pieces (the run needs a text tokenizer)."""
        return self.dialogue_teacher or self.text2gloss

    @property
    def writes_words(self) -> bool:
        """Whether a part generates words (the run needs a word vocabulary)."""
        return self.is_slt or self.gloss2text

    @property
    def student_projections(self) -> tuple[str, ...]:
        """The student-side feature projections: "fusion" towards the dialogue teacher, "text"
        towards the text teachers (or the video translator in Gloss2Text's place)."""
        out = []
        if self.student and self.dialogue_teacher:
            out.append("fusion")
        if self.student and (self.text2gloss or self.gloss2text or self.video_translator):
            out.append("text")
        return tuple(out)

    @property
    def gloss_source(self) -> Optional[tuple[str, str]]:
        """(part, "ctc" | "seq2seq") whose glosses are scored: the student, else the dialogue
        teacher (both CTC-decoded), else the glosses Text2Gloss generates; None without any."""
        if self.student:
            return "student", "ctc"
        if self.dialogue_teacher:
            return "dialogue_teacher", "ctc"
        if self.text2gloss:
            return "text2gloss", "seq2seq"
        return None

    @property
    def word_source(self) -> Optional[str]:
        """The part whose words are scored: the SLT student, else the SLT dialogue teacher, else
        Gloss2Text (not beside a student: it is then the student's teacher); None without any."""
        if self.is_slt and (self.student or self.dialogue_teacher):
            return "student" if self.student else "dialogue_teacher"
        if self.gloss2text and not self.student:
            return "gloss2text"
        return None

    @property
    def scored(self) -> frozenset:
        """The parts whose outputs are scored (dev evaluation is skipped while all are frozen)."""
        return frozenset(name for name in ((self.gloss_source or (None,))[0], self.word_source) if name)


def model_parts(cfg) -> ModelParts:
    """The parts `cfg` (a Config) builds."""
    m = cfg.model
    return ModelParts(task=m.task, student=bool(m.student), dialogue_teacher=bool(m.dialogue_teacher),
                      text2gloss=bool(m.text2gloss), gloss2text=bool(m.gloss2text),
                      video_translator=bool(m.video_translator))
