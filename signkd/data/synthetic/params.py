"""Every generation parameter of the synthetic corpus, and the presets.

One flat dataclass so that `corpus.json` records all of them and `--set key=value` can change any
of them; the same parameters and seed regenerate the same corpus byte for byte.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, fields

from signkd.config import ConfigError
from signkd.data.synthetic.render import MARK_RADIUS


@dataclass
class SynthParams:
    # --- canvas and sizes
    width: int = 64                  # frame size in pixels (the body is scaled to the height)
    height: int = 64
    fps: int = 25                    # recorded in corpus.json and used for mp4
    n_train: int = 600
    n_dev: int = 100
    n_test: int = 100
    # --- language
    n_glosses: int = 48              # lexicon size (pairs included); 12..84
    n_confusable_pairs: int = 6      # gloss pairs that look nearly the same; 0..10
    min_glosses: int = 3             # glosses per sentence
    max_glosses: int = 8
    two_clause_prob: float = 0.45    # sentences "clause UND clause"
    confusable_weight: float = 1.0   # sampling weight of a pair member relative to other glosses of its slot
    filler_prob: float = 0.3         # spoken-only adverbs ("dann", "meist", ...) per sentence
    context_mention_prob: float = 0.4     # chance that the dialogue turn names an ordinary gloss
    context_confusable_prob: float = 0.9  # chance that it names a confusable gloss
    # How much the other glosses of a clip tell which twin of a confusable pair is signed, as the
    # sentence's other signs do in real signing. Each sentence has a hidden topic (two of them); one
    # twin of every pair and half of the other glosses belong to each, and under its topic a gloss is
    # drawn (1 + s) / (1 - s) times as often as one of the other topic. 0: no topic (the twins are
    # interchangeable; the corpus is the same, byte for byte, as before this parameter); 0.6: a twin
    # of the sentence's topic 4 times in 5; 1: the topic decides (grammar corpora only, not --like).
    twin_context: float = 0.0
    # --- signers
    n_signers: int = 6
    tempo_jitter: float = 0.2        # signer tempo in [1-j, 1+j]
    scale_jitter: float = 0.1        # signer size in [1-j, 1+j]
    position_jitter: float = 0.05    # signer offset, fraction of the height
    # --- timing (frames at tempo 1)
    sign_frames_min: int = 5
    sign_frames_max: int = 8
    transition_frames: int = 2       # movement epenthesis between signs
    idle_frames_min: int = 2         # rest frames before the first / after the last sign
    idle_frames_max: int = 4
    # --- per-sign variation (what makes a sign never look the same twice)
    location_jitter: float = 0.03    # body units
    amplitude_jitter: float = 0.12   # relative
    duration_jitter: float = 0.15    # relative
    orientation_jitter: float = 12.0  # degrees
    bend_jitter: float = 0.07        # path bend, fraction of the amplitude
    mark_angle_jitter: float = 180.0  # degrees: where on the hand the cue mark sits
    # --- the cue that separates the members of a confusable pair
    # cue of each pair in turn: "mark" (a dark spot on the hand) / "bend" (a bulge in the path). At the
    # demo's 32 px a video-only student barely learns either (BiLSTM baseline, dev, of the twins it read
    # as one of the pair: "mark" 20 of 43 as the wrong one, "bend" 19 of 56; all "mark" with
    # cue_mark_size 0.45: 30 of 114).
    # Made visible (cue_bend 0.6, cue_mark 1.0, cue_mark_size 0.45) a 20-epoch distilled Transformer read
    # the twins better than its baseline (test ratio 0.70 over 5 seeds, both controls at no gain), but
    # trained to convergence (40 epochs) the baseline learns the cue from the labels alone (seeds 0 / 1:
    # test 1.69 / 1.92, distilled 1.30 / 2.00: no gain beyond the noise); and a nearest-template reader
    # tells the bulge twins apart (0.74 over all pairs, above the 0.70 of DESIGN.md) (README, "The cue's
    # visibility, at convergence").
    cue_types: str = "mark,bend"
    cue_mark: float = 0.8            # darkness of the small mark on the hand ("mark" pairs)
    cue_mark_size: float = MARK_RADIUS  # its radius, in hand radii (0.33: about a pixel at 32 px)
    cue_bend: float = 0.16           # extra path bend, fraction of the amplitude ("bend" pairs)
    # --- pixels
    noise: float = 0.05              # Gaussian pixel noise (std, intensities in 0..1)
    noise_block: int = 1             # one noise value per block x block pixels (per-pixel noise does not compress)
    brightness_jitter: float = 0.04  # per-clip lighting
    # --- writing (not part of the content)
    png_compress_level: int = 0     # zlib level; noisy 32 px frames barely compress, 0 is fastest
    workers: int = 1                 # processes used to render and write clips

    def check(self) -> "SynthParams":
        def need(ok: bool, key: str, what: str):
            if not ok:
                raise ConfigError(f"synth.{key}: expected {what}, got {getattr(self, key)!r}")
        for key in ("width", "height"):
            need(16 <= getattr(self, key) <= 1024 and getattr(self, key) % 2 == 0, key, "an even size in 16..1024")
        for key in ("n_train", "n_dev", "n_test"):
            need(getattr(self, key) >= 0, key, "a count >= 0")
        need(12 <= self.n_glosses <= 84, "n_glosses", "12..84")
        need(0 <= self.n_confusable_pairs <= 10, "n_confusable_pairs", "0..10")
        need(2 * self.n_confusable_pairs <= self.n_glosses - 8, "n_confusable_pairs", "at most (n_glosses - 8) / 2")
        need(2 <= self.min_glosses <= self.max_glosses, "min_glosses", "2 <= min_glosses <= max_glosses")
        need(self.max_glosses <= 12, "max_glosses", "<= 12")
        need(1 <= self.n_signers <= 99, "n_signers", "1..99")
        need(1 <= self.sign_frames_min <= self.sign_frames_max, "sign_frames_min", "1 <= min <= sign_frames_max")
        need(0 <= self.idle_frames_min <= self.idle_frames_max, "idle_frames_min", "0 <= min <= idle_frames_max")
        need(self.transition_frames >= 1, "transition_frames", ">= 1")
        for key in ("tempo_jitter", "scale_jitter", "duration_jitter", "amplitude_jitter"):
            need(0 <= getattr(self, key) < 0.5, key, "a fraction in [0, 0.5)")
        need(0 <= self.twin_context <= 1, "twin_context", "a strength in [0, 1]")
        for key in ("two_clause_prob", "filler_prob", "context_mention_prob", "context_confusable_prob"):
            need(0 <= getattr(self, key) <= 1, key, "a probability")
        need(self.confusable_weight > 0, "confusable_weight", "> 0")
        need(bool(self.cue_types) and set(self.cue_types.split(",")) <= {"mark", "bend"}, "cue_types",
             "a comma-separated list of mark, bend")
        need(0 < self.cue_mark_size <= 0.45, "cue_mark_size", "a radius in (0, 0.45] hand radii (the mark stays on the hand)")
        need(self.noise >= 0, "noise", ">= 0")
        need(1 <= self.noise_block <= 16, "noise_block", "1..16 pixels")
        need(0 <= self.png_compress_level <= 9, "png_compress_level", "0..9")
        need(self.workers >= 1, "workers", ">= 1")
        return self

    def content(self) -> dict:
        """Parameters that decide the corpus content (writing options excluded)."""
        d = dataclasses.asdict(self)
        d.pop("workers")
        return d


PRESETS: dict[str, dict] = {
    # unit tests: a few dozen short clips, small lexicon
    "tiny": dict(width=32, height=32, n_train=24, n_dev=8, n_test=8, n_glosses=20, n_confusable_pairs=2,
                 min_glosses=2, max_glosses=4, n_signers=3),
    # `make demo-quick`: the whole method in a few minutes
    "quick": dict(width=32, height=32, n_train=300, n_dev=60, n_test=60, n_glosses=32, n_confusable_pairs=4,
                  min_glosses=3, max_glosses=6, n_signers=4, twin_context=0.6),
    # `make demo`: ~600/100/500 clips of ~30-80 frames; 32 px keeps a small CNN at minutes on 2 cores.
    # twin_context 0.6: the other glosses of a clip name a twin's topic-mate (majority vote) ~74 % of
    # the time (0.8: ~86 %). Where the converged gain from the text teachers was clearest (Transformer
    # pair, seeds 0-2, test ratio 0.83 at 0.6 against 0.97 over 5 seeds at 0.8 and a loss at 0; README,
    # "The demo").
    # n_test 500 (train and dev as before, byte for byte: each split has its own random stream):
    # with 100 test sentences, shared by every seed, the sign of a one-point difference was the test
    # set's as much as the model's (SLT BLEU-4: distilled better on dev at 3 of 3 seeds, worse on
    # test at 3 of 3); scoring 500 costs ~3 s a stage. Dev stays at 100: it is scored every epoch.
    "demo": dict(width=32, height=32, twin_context=0.6, n_test=500),
    # GPU runs: bigger canvas, lexicon and corpus, longer sentences
    "large": dict(width=64, height=64, n_train=6000, n_dev=600, n_test=600, n_glosses=80, n_confusable_pairs=8,
                  min_glosses=2, max_glosses=12, n_signers=9, workers=4),
    # full-size rehearsal of PHOENIX-2014-T (usually with --like ANNOTATIONS): its frame size
    # (fullFrame-210x260px: 210 wide, 260 high), split sizes, signer count and clip lengths of
    # about PHOENIX_FRAMES_PER_GLOSS frames per gloss (see expected_frames_per_gloss: 14.93).
    # Pixel noise in 2 x 2 blocks, so that the PNGs compress about as a camera's frames do: per-pixel
    # noise 0.02 gives ~119 KB PNG frames at 210 x 260, in 2 x 2 blocks ~52 KB, none ~7 KB.
    "phoenix-scale": dict(width=210, height=260, n_train=7096, n_dev=519, n_test=642, n_glosses=84,
                          n_confusable_pairs=10, min_glosses=2, max_glosses=12, n_signers=9,
                          sign_frames_min=8, sign_frames_max=12, transition_frames=3, idle_frames_min=4,
                          idle_frames_max=8, noise=0.02, noise_block=2, png_compress_level=1, workers=4),
}

# Clip length per gloss. PHOENIX-2014-T, Camgoz et al. 2018 (Neural Sign Language Translation, CVPR),
# Table 1: train 7,096 videos, 827,354 frames, 67,781 running glosses (827,354 / 67,781 = 12.21
# frames per gloss); dev 519 / 55,775 / 3,745 (14.89); test 642 / 64,627 / 4,257 (15.18); 8,257 videos.
# The train gloss count does not match the annotation as released: the `orth` fields of
# PHOENIX-2014-T.train.corpus.csv hold 55,247 glosses (dev: 3,748, as in the table; the German
# words, 99,081, match the table too). The clip length is taken from the released train annotation,
# 827,354 / 55,247 = 14.98 frames per gloss, in line with dev and test, so that a --like corpus of
# the released sentences has PHOENIX's number of frames (12.21 would give ~18 % fewer).
PHOENIX_TRAIN_VIDEOS = 7_096
PHOENIX_TRAIN_FRAMES = 827_354
PHOENIX_TRAIN_GLOSSES_TABLE = 67_781     # Table 1
PHOENIX_TRAIN_GLOSSES = 55_247           # counted in the released PHOENIX-2014-T.train.corpus.csv
PHOENIX_VIDEOS = 7_096 + 519 + 642       # 8,257
PHOENIX_FRAMES = 827_354 + 55_775 + 64_627   # 947,756
PHOENIX_FRAMES_PER_GLOSS = PHOENIX_TRAIN_FRAMES / PHOENIX_TRAIN_GLOSSES          # 14.975
PHOENIX_GLOSSES_PER_SENTENCE = PHOENIX_TRAIN_GLOSSES / PHOENIX_TRAIN_VIDEOS      # 7.786


def expected_frames_per_gloss(p: SynthParams, glosses_per_sentence: float = PHOENIX_GLOSSES_PER_SENTENCE) -> float:
    """Mean clip length / glosses of a sentence of that many glosses, at tempo 1 (timeline.py):
    idle, then per gloss one transition and one sign, then a transition and idle again."""
    sign = (p.sign_frames_min + p.sign_frames_max) / 2
    idle = (p.idle_frames_min + p.idle_frames_max) / 2
    clip = 2 * idle + glosses_per_sentence * (p.transition_frames + sign) + p.transition_frames
    return clip / glosses_per_sentence


def _parse_value(key: str, text, tp):
    if not isinstance(text, str):
        value = text
    elif tp is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"synth.{key}: expected true/false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    else:
        value = text
    try:
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if tp is float:
            return float(value)
        return tp(value)
    except (TypeError, ValueError):
        raise ConfigError(f"synth.{key}: expected {tp.__name__}, got {text!r}") from None


def resolve_params(preset: str, overrides: dict | None = None) -> SynthParams:
    """Preset values < overrides (a dict; values may be strings from `--set key=value`)."""
    if preset not in PRESETS:
        raise ConfigError(f"synth preset '{preset}' is unknown; expected one of {', '.join(PRESETS)}")
    types = {f.name: f.type for f in fields(SynthParams)}
    types = {k: {"int": int, "float": float, "bool": bool, "str": str}.get(v, v) for k, v in types.items()}
    values = dict(PRESETS[preset])
    for key, raw in (overrides or {}).items():
        if key not in types:
            match = difflib.get_close_matches(key, list(types), n=1, cutoff=0.5)
            hint = f"; did you mean '{match[0]}'?" if match else ""
            raise ConfigError(f"synth.{key}: unknown parameter{hint}")
        values[key] = _parse_value(key, raw, types[key])
    return SynthParams(**values).check()


def parse_set_options(items: list[str]) -> dict[str, str]:
    """['n_train=50', 'noise=0.1'] -> {'n_train': '50', 'noise': '0.1'} (typed by resolve_params)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item}: expected key=value, e.g. n_train=100")
        out[key.strip()] = value.strip()
    return out
