"""The whole experiment as one module: student, teachers, student-side feature projections, and
every loss term of DESIGN.md section 4 computed from one `Batch`.

Why one module: a checkpoint, an optimizer and DDP see one model with stable prefixes
(``student.``, ``dialogue_teacher.``, ``text2gloss.``, ``gloss2text.``, ``video_translator.``,
``student_projections.``);
the loss computation knows which model each term needs and runs each model at most once per batch.
The terms (`_Run`, a method per row of signkd.loss_terms.TERMS) stay beside `losses`, which runs
them: the registry they fill is closed by `check_complete` at the end of this file.

Rules kept (the original broke them): a term with weight 0 is not computed and the models it alone
needs do not run; frozen modules run in eval() under no_grad; a model whose outputs only serve as
a teacher in this call runs under no_grad; every teacher tensor is detached; every term is masked.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterable, Optional

import torch
from torch import nn

from signkd.alignment import AlignmentPairs, gather_positions, text2gloss_pairs
from signkd.config import MODULE_NAMES, Config, ConfigError, kl_temperature
from signkd.data.batch import Batch, lengths_to_mask
from signkd.data.vocab import WordVocab
from signkd.errors import DataError
from signkd.loss_terms import LOSS_NAMES, TERMS, Implementations, canonical_name
from signkd.losses import ctc_loss, feature_loss, kd_kl_loss, matching_loss, symmetric_kl, token_cross_entropy
from signkd.models.parts import model_parts
from signkd.models.recognizer import SLTStudent
from signkd.models.teachers import Text2GlossTeacher

# Every term of signkd.loss_terms.TERMS, implemented by a method of `_Run` below.
TERM_IMPLEMENTATIONS = Implementations()


def _require(batch: Batch, term: str, *fields: str) -> None:
    for name in fields:
        if getattr(batch, name) is None:
            raise DataError(f"batch.{name}: loss {term} needs it, but the data loader did not provide it")


class SignKDSystem(nn.Module):
    """Student + optional teachers (None when disabled). See `losses`, `recognize`, `translate`."""

    def __init__(self, cfg: Config, student: Optional[nn.Module], dialogue_teacher: Optional[nn.Module],
                 text2gloss: Optional[nn.Module], gloss2text: Optional[nn.Module], num_classes: int,
                 word_bos: int = WordVocab.bos, word_eos: int = WordVocab.eos, word_pad: int = WordVocab.pad,
                 video_translator: Optional[nn.Module] = None):
        super().__init__()
        self.cfg = cfg
        self.student = student
        self.dialogue_teacher = dialogue_teacher
        self.text2gloss = text2gloss
        self.gloss2text = gloss2text
        self.video_translator = video_translator
        self.num_classes = num_classes
        self.word_bos, self.word_eos, self.word_pad = word_bos, word_eos, word_pad
        hidden = cfg.model.hidden

        def projection() -> nn.Module:
            return nn.Linear(hidden, hidden) if cfg.model.feature_projection else nn.Identity()

        # Student-side learned projections for the feature losses (train with the student).
        self.student_projections = nn.ModuleDict({name: projection() for name in model_parts(cfg).student_projections})

    # ---------------------------------------------------------------------------------- modules
    @property
    def is_slt(self) -> bool:
        return isinstance(self.student, SLTStudent)

    def parts(self, name: str) -> list[nn.Module]:
        """The modules that make up `name` (one of MODULE_NAMES), run and frozen together; the
        student includes its feature projections."""
        if name not in MODULE_NAMES:
            raise ConfigError(f"module {name!r}: expected one of {', '.join(MODULE_NAMES)}")
        module = getattr(self, name)
        if module is None:
            return []
        return [module, self.student_projections] if name == "student" else [module]

    @contextmanager
    def _running(self, name: str, frozen: set[str], grad: bool):
        """Frozen: eval() + no_grad, mode restored after. Not trained by any active term: no_grad."""
        parts = self.parts(name)
        if name in frozen:
            modes = [p.training for p in parts]
            for p in parts:
                p.eval()
            try:
                with torch.no_grad():
                    yield
            finally:
                for p, mode in zip(parts, modes):
                    p.train(mode)
        else:
            with nullcontext() if grad else torch.no_grad():
                yield

    # ---------------------------------------------------------------------------------- losses
    def forward(self, batch: Batch, weights: dict[str, float], *, frozen: Iterable[str] = ()) -> dict[str, torch.Tensor]:
        """Same as `losses` (so DDP, which hooks forward(), synchronises the gradients)."""
        return self.losses(batch, weights, frozen=frozen)

    def losses(self, batch: Batch, weights: dict[str, float], *, frozen: Iterable[str] = ()) -> dict[str, torch.Tensor]:
        """Compute the terms whose weight != 0 on `batch`.

        weights: {loss name or alias: float} (already evaluated for the epoch, see
        config.weight_at). frozen: module names run in eval() + no_grad.
        Returns {term: unweighted scalar}, "total": sum of weight x term, and diagnostics
        "<term>.left_out" (samples left out: infeasible CTC / alignment), detached floats."""
        frozen = set(frozen)
        for name in frozen:
            if name not in MODULE_NAMES:
                raise ConfigError(f"frozen: unknown module {name!r}; expected one of {', '.join(MODULE_NAMES)}")
        active = {}
        for name, w in weights.items():
            canonical = canonical_name(name)
            if canonical is None:
                raise ConfigError(f"loss.weights.{name}: unknown loss; expected one of {', '.join(LOSS_NAMES)}")
            if float(w) != 0.0:
                active[canonical] = float(w)
        run = _Run(self, batch, frozen, active)
        out: dict[str, torch.Tensor] = {}
        total = None
        for name in LOSS_NAMES:
            if name not in active:
                continue
            value = TERM_IMPLEMENTATIONS[name](run)
            out[name] = value
            total = active[name] * value if total is None else total + active[name] * value
        out.update({k: torch.tensor(float(v)) for k, v in run.diagnostics.items()})
        out["total"] = total if total is not None else torch.zeros(())
        return out

    # ---------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def recognize(self, batch: Batch, decoder: str = "greedy", beam_width: int = 10,
                  model: str = "student") -> list[list[int]]:
        """CTC-decode gloss ids (blank removed) from the student's sequence logits, or from the
        dialogue teacher's fused-stream logits (model="dialogue_teacher")."""
        from signkd import decoding

        _require(batch, "recognize", "video", "video_lengths")
        if model == "student":
            if self.student is None:
                raise ConfigError("model.student: there is no student to recognize with")
            with _eval(self.student):
                encoder = self.student.encoder if self.is_slt else self.student
                out = encoder(batch.video, batch.video_lengths)
            logits = out["seq_logits"]
        elif model == "dialogue_teacher":
            if self.dialogue_teacher is None:
                raise ConfigError("model.dialogue_teacher: there is no dialogue teacher to recognize with")
            _require(batch, "recognize", "ctx_ids", "ctx_lengths")
            with _eval(self.dialogue_teacher):
                out = self.dialogue_teacher(batch.video, batch.video_lengths, batch.ctx_ids, batch.ctx_lengths)
            logits = out["logits"]
        else:
            raise ConfigError(f"recognize: model must be 'student' or 'dialogue_teacher', got {model!r}")
        log_probs = torch.log_softmax(logits.float(), -1)
        if decoder == "greedy":
            return decoding.ctc_greedy(log_probs, out["lengths"])
        if decoder == "beam":
            return decoding.ctc_beam_search(log_probs, out["lengths"], beam_width=beam_width)
        raise ConfigError(f"eval.ctc_decoder: expected 'greedy' or 'beam', got {decoder!r}")

    @torch.no_grad()
    def translate(self, batch: Batch, beam: int = 1, alpha: float = 1.0, *, max_len: int,
                  model: str = "student") -> list[list[int]]:
        """Token ids without <s>/</s>: words from the SLT student (video), the gloss2text teacher
        (reference glosses) or the SLT dialogue teacher (video + context); gloss ids from the
        text2gloss teacher (spoken sentence). ``max_len``: the decoding budget in tokens, required
        so it comes from one place (`signkd.decoding.max_output_length` of the longest training
        target) and no caller decodes with a default of its own."""
        from signkd import decoding

        if model == "student":
            if not self.is_slt:
                raise ConfigError("model.task: translate needs an SLT student (task: slt)")
            _require(batch, "translate", "video", "video_lengths")
            module, inputs = self.student, (batch.video, batch.video_lengths)
            bos, eos = self.word_bos, self.word_eos
        elif model == "gloss2text" and self.gloss2text is not None:
            _require(batch, "translate", "glosses", "gloss_lengths")
            module, inputs = self.gloss2text, (batch.glosses, batch.gloss_lengths)
            bos, eos = self.word_bos, self.word_eos
        elif model == "dialogue_teacher" and self.dialogue_teacher is not None:
            _require(batch, "translate", "video", "video_lengths", "ctx_ids", "ctx_lengths")
            module = self.dialogue_teacher
            inputs = (batch.video, batch.video_lengths, batch.ctx_ids, batch.ctx_lengths)
            bos, eos = self.word_bos, self.word_eos
        elif model == "text2gloss" and self.text2gloss is not None:
            _require(batch, "translate", "trans_ids", "trans_lengths")
            module, inputs = self.text2gloss, (batch.trans_ids, batch.trans_lengths)
            bos, eos = self.text2gloss.bos, self.text2gloss.eos
        else:
            raise ConfigError(f"translate: model {model!r} is not part of this system")
        with _eval(module):
            memories = tuple(module.encode(*inputs))
            if beam <= 1:
                return decoding.seq2seq_greedy(module.decode_step, memories, len(batch), bos, eos, max_len)
            return decoding.seq2seq_beam_search(module.decode_step, memories, len(batch), bos, eos, max_len,
                                                beam_size=beam, alpha=alpha)


@contextmanager
def _eval(module: nn.Module):
    mode = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(mode)


class _Run:
    """One `losses` call: runs each needed model once (lazily) and computes the terms."""

    def __init__(self, system: SignKDSystem, batch: Batch, frozen: set[str], active: dict[str, float]):
        self.s, self.batch, self.frozen, self.active = system, batch, frozen, active
        self.cfg = system.cfg.loss
        self.trained = {part for name in active for part in TERMS[name].trains}
        self.diagnostics: dict[str, float] = {}
        self._cache: dict[str, object] = {}

    # ---- helpers
    def _module(self, name: str, term: str) -> nn.Module:
        module = getattr(self.s, name)
        if module is None:
            raise ConfigError(f"loss.weights.{term}: needs model.{name}: true")
        return module

    def _grad(self, name: str) -> bool:
        return name in self.trained and name not in self.frozen

    def _cached(self, key: str, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _ctc(self, term: str, logits, lengths) -> torch.Tensor:
        b = self.batch
        _require(b, term, "glosses", "gloss_lengths")
        loss, left_out = ctc_loss(logits, lengths, b.glosses, b.gloss_lengths)
        key = f"{term}.left_out"          # same lengths for every CTC of a term: count samples once
        self.diagnostics[key] = max(self.diagnostics.get(key, 0), left_out)
        return loss

    def _kl(self, term: str, student, teacher, mask) -> torch.Tensor:
        """Term `term`'s temperature KL: its own temperature and T^2 factor (config.kl_temperature),
        so VAC's Dist stays at its T when the teachers' KD temperature changes."""
        temperature, t2 = kl_temperature(self.cfg, term)
        return kd_kl_loss(student, teacher, mask, temperature, self.cfg.drop_blank, t2)

    def _features(self, student, teacher, mask) -> torch.Tensor:
        return feature_loss(student, teacher, mask, self.s.cfg.model.feature_normalize)

    def _ce(self, logits, targets, lengths, reduction: str = "token_mean") -> torch.Tensor:
        return token_cross_entropy(logits, targets, lengths_to_mask(lengths, targets.shape[1]),
                                   self.cfg.label_smoothing, pad_index=0, reduction=reduction)

    @contextmanager
    def _projecting(self):
        with self.s._running("student", self.frozen, self._grad("student")):
            yield

    # ---- model outputs
    def student(self, term: str) -> dict:
        module = self._module("student", term)
        b = self.batch

        def compute():
            _require(b, term, "video", "video_lengths")
            with self.s._running("student", self.frozen, self._grad("student")):
                if isinstance(module, SLTStudent):
                    _require(b, term, "dec_in", "dec_lengths")
                    return module(b.video, b.video_lengths, b.dec_in, b.dec_lengths)
                return module(b.video, b.video_lengths)
        return self._cached("student", compute)

    def dialogue(self, term: str) -> dict:
        module = self._module("dialogue_teacher", term)
        b = self.batch

        def compute():
            _require(b, term, "video", "video_lengths", "ctx_ids", "ctx_lengths")
            words = "DialogueTranslationCrossEntropy" in self.active
            if words:
                _require(b, term, "dec_in", "dec_lengths")
            with self.s._running("dialogue_teacher", self.frozen, self._grad("dialogue_teacher")):
                return module(b.video, b.video_lengths, b.ctx_ids, b.ctx_lengths,
                              dec_in=b.dec_in if words else None, dec_lengths=b.dec_lengths if words else None,
                              with_matching="MatchingLoss" in self.active)
        return self._cached("dialogue", compute)

    def text2gloss(self, term: str) -> dict:
        module = self._module("text2gloss", term)
        b = self.batch

        def compute():
            _require(b, term, "trans_ids", "trans_lengths", "gloss_in", "gloss_lengths")
            with self.s._running("text2gloss", self.frozen, self._grad("text2gloss")):
                steps = Text2GlossTeacher.decoder_steps(b.gloss_lengths)   # (B,)
                return module(b.trans_ids, b.trans_lengths, b.gloss_in, steps)
        return self._cached("text2gloss", compute)

    def gloss2text(self, term: str) -> dict:
        module = self._module("gloss2text", term)
        b = self.batch

        def compute():
            _require(b, term, "glosses", "gloss_lengths", "dec_in", "dec_lengths")
            with self.s._running("gloss2text", self.frozen, self._grad("gloss2text")):
                return module(b.glosses, b.gloss_lengths, b.dec_in, b.dec_lengths)
        return self._cached("gloss2text", compute)

    def video_translator(self, term: str) -> dict:
        module = self._module("video_translator", term)
        b = self.batch

        def compute():
            _require(b, term, "video", "video_lengths", "dec_in", "dec_lengths")
            with self.s._running("video_translator", self.frozen, self._grad("video_translator")):
                return module(b.video, b.video_lengths, b.dec_in, b.dec_lengths)
        return self._cached("video_translator", compute)

    def word_teacher(self, term: str) -> dict:
        """The SLT student's word-level teacher, teacher-forced on the student's prefix: Gloss2Text
        (reads the reference glosses), or the video translator in its place (the control)."""
        return self.video_translator(term) if self.s.video_translator is not None else self.gloss2text(term)

    def _aligned(self, term: str) -> tuple[dict, dict, AlignmentPairs]:
        """Student outputs, text2gloss outputs and the frame/gloss pairs (SLR)."""
        out, teacher = self.student(term), self.text2gloss(term)

        def compute():
            log_probs = torch.log_softmax(out["seq_logits"].detach().float(), -1)
            pairs = text2gloss_pairs(log_probs, out["lengths"], self.batch.glosses, self.batch.gloss_lengths,
                                     mode=self.cfg.alignment, beam_width=self.s.cfg.eval.beam_width)
            self.diagnostics["Text2GlossAlignment.left_out"] = pairs.left_out
            return pairs
        return out, teacher, self._cached("pairs", compute)

    def _same_frames(self, out: dict, teacher: dict) -> None:
        if out["seq_logits"].shape[:2] != teacher["logits"].shape[:2] or not torch.equal(out["lengths"], teacher["lengths"]):
            raise ConfigError("model.visual: the dialogue teacher's frames do not line up with the student's "
                              "(both must use the same visual/temporal layout)")

    # ---- terms (unweighted), one method per row of signkd.loss_terms.TERMS
    @TERM_IMPLEMENTATIONS.of("ConvCTCSign")
    def ConvCTCSign(self):
        out = self.student("ConvCTCSign")
        return self._ctc("ConvCTCSign", out["conv_logits"], out["lengths"])

    @TERM_IMPLEMENTATIONS.of("SeqCTCSign")
    def SeqCTCSign(self):
        out = self.student("SeqCTCSign")
        return self._ctc("SeqCTCSign", out["seq_logits"], out["lengths"])

    @TERM_IMPLEMENTATIONS.of("Dist")
    def Dist(self):
        out = self.student("Dist")
        return self._kl("Dist", out["conv_logits"], out["seq_logits"].detach(), out["mask"])

    @TERM_IMPLEMENTATIONS.of("DistFusion2SLR")
    def DistFusion2SLR(self):
        out, teacher = self.student("DistFusion2SLR"), self.dialogue("DistFusion2SLR")
        self._same_frames(out, teacher)
        return self._kl("DistFusion2SLR", out["seq_logits"], teacher["logits"].detach(), out["mask"])

    @TERM_IMPLEMENTATIONS.of("FeatureFusion2SLR")
    def FeatureFusion2SLR(self):
        out, teacher = self.student("FeatureFusion2SLR"), self.dialogue("FeatureFusion2SLR")
        self._same_frames(out, teacher)
        with self._projecting():
            projected = self.s.student_projections["fusion"](out["features"])
        return self._features(projected, teacher["features"].detach(), out["mask"])

    @TERM_IMPLEMENTATIONS.of("DistTranslation2SLR")
    def DistTranslation2SLR(self):
        if self.s.is_slt:   # gloss2text (or the video translator) -> SLT student, per target word
            out, teacher = self.student("DistTranslation2SLR"), self.word_teacher("DistTranslation2SLR")
            mask = lengths_to_mask(self.batch.dec_lengths, out["word_logits"].shape[1])
            return self._kl("DistTranslation2SLR", out["word_logits"], teacher["word_logits"].detach(), mask)
        out, teacher, pairs = self._aligned("DistTranslation2SLR")
        student = gather_positions(out["seq_logits"], pairs.student_index)                      # (B, P, C)
        gloss_logits = self.s.text2gloss.gloss_class_logits(teacher["logits"], self.s.num_classes)   # (B, L+1, C)
        target = gather_positions(gloss_logits.detach(), pairs.teacher_index)
        return self._kl("DistTranslation2SLR", student, target, pairs.mask)

    @TERM_IMPLEMENTATIONS.of("FeatureTranslation2SLR")
    def FeatureTranslation2SLR(self):
        if self.s.is_slt:
            out, teacher = self.student("FeatureTranslation2SLR"), self.word_teacher("FeatureTranslation2SLR")
            mask = lengths_to_mask(self.batch.dec_lengths, out["word_features"].shape[1])
            with self._projecting():
                projected = self.s.student_projections["text"](out["word_features"])
            return self._features(projected, teacher["word_features"].detach(), mask)
        out, teacher, pairs = self._aligned("FeatureTranslation2SLR")
        with self._projecting():
            projected = self.s.student_projections["text"](gather_positions(out["features"], pairs.student_index))
        target = gather_positions(teacher["features"].detach(), pairs.teacher_index)
        return self._features(projected, target, pairs.mask)

    @TERM_IMPLEMENTATIONS.of("TranslationCrossEntropy")
    def TranslationCrossEntropy(self):
        if not self.s.is_slt:
            raise ConfigError("loss.weights.TranslationCrossEntropy: needs an SLT student (model.task: slt)")
        out = self.student("TranslationCrossEntropy")
        _require(self.batch, "TranslationCrossEntropy", "dec_out")
        return self._ce(out["word_logits"], self.batch.dec_out, self.batch.dec_lengths, self.cfg.translation_reduction)

    @TERM_IMPLEMENTATIONS.of("TranslationToGlossCrossEntropy")
    def TranslationToGlossCrossEntropy(self):
        term, b, terms = "TranslationToGlossCrossEntropy", self.batch, []
        if self.s.text2gloss is None and self.s.gloss2text is None:
            raise ConfigError(f"loss.weights.{term}: needs model.text2gloss or model.gloss2text: true")
        if self.s.text2gloss is not None:
            _require(b, term, "gloss_out")
            terms.append(self._text_teacher_ce("text2gloss", "logits", b.gloss_out,
                                                Text2GlossTeacher.decoder_steps(b.gloss_lengths), term))
        if self.s.gloss2text is not None:
            _require(b, term, "dec_out")
            terms.append(self._text_teacher_ce("gloss2text", "word_logits", b.dec_out, b.dec_lengths, term))
        return sum(terms[1:], terms[0])

    def _text_teacher_ce(self, teacher: str, key: str, targets, lengths, term: str) -> torch.Tensor:
        """Cross-entropy of text teacher `teacher` ("text2gloss" / "gloss2text": its output method and
        cache key); with loss.rdrop > 0 and the teacher training, R-Drop: a second pass (other dropout
        masks, not cached) and the two passes' symmetric KL."""
        outputs = getattr(self, teacher)
        logits = outputs(term)[key]
        loss = self._ce(logits, targets, lengths)
        if self.cfg.rdrop <= 0 or not logits.requires_grad:      # off, frozen or evaluating
            return loss
        saved = self._cache.pop(teacher)
        try:
            second = outputs(term)[key]
        finally:
            self._cache[teacher] = saved
        mask = lengths_to_mask(lengths, targets.shape[1])
        return (loss + self._ce(second, targets, lengths)) / 2 + self.cfg.rdrop * symmetric_kl(logits, second, mask)

    @TERM_IMPLEMENTATIONS.of("DialogueCTC")
    def DialogueCTC(self):
        teacher = self.dialogue("DialogueCTC")
        return self._ctc("DialogueCTC", teacher["logits"], teacher["lengths"])

    @TERM_IMPLEMENTATIONS.of("DialogueSignCTC")
    def DialogueSignCTC(self):
        teacher = self.dialogue("DialogueSignCTC")
        return (self._ctc("DialogueSignCTC", teacher["sign_conv_logits"], teacher["lengths"])
                + self._ctc("DialogueSignCTC", teacher["sign_seq_logits"], teacher["lengths"]))

    @TERM_IMPLEMENTATIONS.of("DialogueSignDist")
    def DialogueSignDist(self):
        """VAC's Dist on the dialogue teacher's own sign encoder (its conv logits learn from its
        detached sequence logits), as the original trained that encoder with all of VAC's losses."""
        teacher = self.dialogue("DialogueSignDist")
        return self._kl("DialogueSignDist", teacher["sign_conv_logits"], teacher["sign_seq_logits"].detach(),
                        teacher["mask"])

    @TERM_IMPLEMENTATIONS.of("MatchingLoss")
    def MatchingLoss(self):
        teacher = self.dialogue("MatchingLoss")
        return matching_loss(teacher["match_logits"], teacher["match_labels"])

    @TERM_IMPLEMENTATIONS.of("DialogueTranslationCrossEntropy")
    def DialogueTranslationCrossEntropy(self):
        teacher = self.dialogue("DialogueTranslationCrossEntropy")
        _require(self.batch, "DialogueTranslationCrossEntropy", "dec_out")
        if "word_logits" not in teacher:
            raise ConfigError("loss.weights.DialogueTranslationCrossEntropy: needs model.task: slt")
        return self._ce(teacher["word_logits"], self.batch.dec_out, self.batch.dec_lengths)


TERM_IMPLEMENTATIONS.check_complete()

