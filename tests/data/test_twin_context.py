"""The synthetic corpus's `twin_context`: how much the other glosses of a clip tell which twin of a
confusable pair was signed (#24). 0 must leave the corpus exactly as it was; the strength must be
what the parameter says, and the regularity must be visible in the glosses alone."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from signkd.config import ConfigError
from signkd.data.synthetic.corpus import draw_clips, make_world
from signkd.data.synthetic.params import resolve_params

# sha1 of the demo preset's train gloss sequences (seed 0), one per line, as the corpus was drawn
# before twin_context existed: a corpus at strength 0 must not change by a single draw.
DEMO_TRAIN_SENTENCES_SHA1 = "9e153dcbe693"


def sentences(**overrides) -> tuple:
    world = make_world(resolve_params("demo", {"twin_context": 0.0} | overrides), 0)
    return world, draw_clips(world)["train"]


def digest(clips) -> str:
    return hashlib.sha1("\n".join(" ".join(c.sentence.glosses) for c in clips).encode()).hexdigest()[:12]


def twin_on_topic_share(world, clips) -> float:
    """Share of twins whose topic is the majority topic of the clip's other glosses (ties skipped)."""
    topic_of = world.grammar.topic_of
    hits = total = 0
    for clip in clips:
        glosses = clip.sentence.glosses
        for i, gloss in enumerate(glosses):
            if gloss not in world.grammar.confusable:
                continue
            votes = [topic_of[g] for j, g in enumerate(glosses) if j != i and g != "UND"]
            if not votes or np.mean(votes) == 0.5:
                continue
            hits += int(np.mean(votes) > 0.5) == topic_of[gloss]
            total += 1
    return hits / total


def test_strength_zero_is_the_corpus_as_it_was():
    world, clips = sentences(twin_context=0)
    assert digest(clips) == DEMO_TRAIN_SENTENCES_SHA1
    assert world.grammar.topic is None
    assert resolve_params("demo").twin_context == 0.6     # the demo's corpus has the regularity


def test_the_other_glosses_tell_the_twin_more_the_stronger_the_parameter():
    shares = [twin_on_topic_share(*sentences(twin_context=s)) for s in (0.0, 0.6, 1.0)]
    assert abs(shares[0] - 0.5) < 0.06                       # interchangeable twins: a coin flip
    assert shares[0] + 0.1 < shares[1] < shares[2] - 0.1
    assert shares[2] > 0.95                                  # the topic decides


def test_each_twin_follows_the_topic_as_often_as_the_parameter_says():
    """Under its sentence's topic a twin is drawn (1 + s) / (1 - s) times as often as its pair mate:
    at s = 0.6 the twin of the topic 4 times in 5."""
    world = make_world(resolve_params("demo", {"twin_context": 0.6}), 0)
    grammar, rng = world.grammar, np.random.default_rng(1)
    hits = total = 0
    for _ in range(3000):
        sentence = grammar.sentence(rng)
        for gloss in sentence.glosses:
            if gloss in grammar.confusable:
                hits += grammar.topic_of[gloss] == grammar.topic
                total += 1
    assert abs(hits / total - 0.8) < 0.03, hits / total


def test_every_gloss_of_the_lexicon_still_occurs_and_the_text_still_names_the_twin():
    world, clips = sentences(twin_context=0.6)
    assert {g for c in clips for g in c.sentence.glosses} == set(world.glosses)
    assert any(c.sentence.named & world.grammar.confusable for c in clips)


def test_strength_is_checked_and_real_sentences_are_left_alone(tmp_path):
    with pytest.raises(ConfigError, match=r"synth.twin_context: expected a strength in \[0, 1\]"):
        resolve_params("demo", {"twin_context": "1.5"})
    from signkd.data.synthetic.like import LikeSource

    with pytest.raises(ConfigError, match="synth.twin_context: .*--like corpus"):
        make_world(resolve_params("tiny", {"twin_context": 0.5}), 0, like=LikeSource.__new__(LikeSource))
