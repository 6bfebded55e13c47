"""The loss terms of the method (DESIGN.md section 4) in one table: each term's name, the model
parts it trains, whether a student distils through it from a teacher, the temperature of a KL
term, and the original code's aliases.

Why one table: config validation (names, aliases, per-term temperatures), the stage schedule (a
term runs only while a part it trains trains), the system (which parts get gradients, in which
order the terms are summed) and the demo report (which terms are teacher terms) all need these
facts, and each reads them here instead of keeping a list of its own. Torch-free, so the config
can import it.

Adding a term is one row here, its implementation (a method of signkd/models/system.py's `_Run`
registered with `@TERM_IMPLEMENTATIONS.of(name)`; a row without one fails at import), and its test.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Literal, Mapping, Optional


@dataclass(frozen=True)
class LossTerm:
    name: str
    # Model parts (config MODULE_NAMES) its gradients train; every other part it uses is a
    # teacher, run under no_grad. The term runs only in epochs where one of them trains.
    trains: tuple[str, ...]
    # A student learns through it from a teacher (a "teacher term"); VAC's self-distillation
    # (Dist) is not one: the student teaches itself.
    distils: bool = False
    # A temperature-KL term (signkd.losses.kd_kl_loss): the loss config field holding its default
    # temperature. VAC's self-distillation terms take loss.dist_temperature, the teacher terms
    # loss.temperature; None = not a KL term.
    temperature: Optional[Literal["temperature", "dist_temperature"]] = None
    # The original code's names for it, accepted in configs and mapped to `name`.
    aliases: tuple[str, ...] = ()
    # It scores translated words, so only an SLT model (model.task: slt, a word decoder) computes it.
    needs_words: bool = False


_STUDENT, _DIALOGUE = ("student",), ("dialogue_teacher",)

# In the order the system computes and sums the terms (a different order changes the total's
# rounding, so it is part of a run's numbers).
TERMS: Mapping[str, LossTerm] = MappingProxyType({t.name: t for t in (
    LossTerm("ConvCTCSign", _STUDENT),
    LossTerm("SeqCTCSign", _STUDENT),
    LossTerm("Dist", _STUDENT, temperature="dist_temperature"),
    LossTerm("DistFusion2SLR", _STUDENT, distils=True, temperature="temperature"),
    LossTerm("FeatureFusion2SLR", _STUDENT, distils=True, aliases=("DistFusion2SLRFeature",)),
    LossTerm("DistTranslation2SLR", _STUDENT, distils=True, temperature="temperature"),
    LossTerm("FeatureTranslation2SLR", _STUDENT, distils=True, aliases=("DistTranslation2SLRFeature",)),
    LossTerm("TranslationCrossEntropy", _STUDENT, needs_words=True),
    # the text teachers' own cross-entropy: trains whichever of the two the model has
    LossTerm("TranslationToGlossCrossEntropy", ("text2gloss", "gloss2text"),
             aliases=("TranslationGlossCrossEntropy",)),
    LossTerm("DialogueCTC", _DIALOGUE),
    LossTerm("DialogueSignCTC", _DIALOGUE),
    LossTerm("DialogueSignDist", _DIALOGUE, temperature="dist_temperature"),
    LossTerm("MatchingLoss", _DIALOGUE),
    LossTerm("DialogueTranslationCrossEntropy", _DIALOGUE, needs_words=True),   # the SLT teacher's word decoder
)})

LOSS_NAMES = tuple(TERMS)
LOSS_ALIASES = {alias: t.name for t in TERMS.values() for alias in t.aliases}
KL_TERMS = tuple(t.name for t in TERMS.values() if t.temperature)
TEACHER_TERMS = tuple(t.name for t in TERMS.values() if t.distils)


def canonical_name(name: str) -> Optional[str]:
    """The term `name` refers to (itself or one of the original's aliases); None if none."""
    name = LOSS_ALIASES.get(name, name)
    return name if name in TERMS else None


class Implementations:
    """Term name -> its implementation, filled by `@implementations.of(name)` beside the code that
    computes the terms and checked against TERMS there with `check_complete()`, so a name missing
    from the table, implemented twice or not implemented fails at import instead of when a config
    first weights the term."""

    def __init__(self) -> None:
        self._by_name: dict[str, Callable] = {}

    def of(self, name: str) -> Callable[[Callable], Callable]:
        if name not in TERMS:
            raise LookupError(f"loss term {name!r}: not a row of signkd.loss_terms.TERMS")

        def register(function: Callable) -> Callable:
            if name in self._by_name:
                raise LookupError(f"loss term {name!r}: implemented twice")
            self._by_name[name] = function
            return function
        return register

    def check_complete(self) -> None:
        missing = [name for name in TERMS if name not in self._by_name]
        if missing:
            raise LookupError(f"loss terms {', '.join(missing)}: in signkd.loss_terms.TERMS but not implemented")

    def __getitem__(self, name: str) -> Callable:
        return self._by_name[name]
