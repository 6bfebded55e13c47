"""The synthetic corpus: real readers read it as is, same seed -> same bytes, the difficulty is real
(nearest templates: ordinary glosses easy, confusable pairs near chance) and only text resolves the pairs."""
from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from signkd.cli import main as cli_main
from signkd.config import ConfigError
from signkd.data.corpora import read_corpus
from signkd.data.synthetic import (draw_clips, generate_corpus, load_description, make_world, render_clip,
                                   resolve_params, tree_digest)
from signkd.data.synthetic.difficulty import template_accuracy
from signkd.data.synthetic.lexicon import make_pair_member
from signkd.data.video import frame_files
from signkd.errors import DataError

SPLITS = ("train", "dev", "test")
SMALL = dict(n_train=6, n_dev=3, n_test=3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generate_corpus(tmp_path_factory.mktemp("synth") / "tiny", "tiny", seed=0, progress=False)


@pytest.fixture(scope="module")
def info(corpus) -> dict:
    return load_description(corpus)


def test_phoenix_layout_on_disk(corpus, info):
    assert info["frames"] == "features/fullFrame-32x32px"
    for split in SPLITS:
        lines = (corpus / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv").read_text().splitlines()
        assert lines[0] == "name|video|start|end|speaker|orth|translation"
        name, video, start, end, speaker, orth, translation = lines[1].split("|")
        assert video == f"{name}/*.png" and (start, end) == ("-1", "-1") and speaker.startswith("Signer")
        assert (corpus / info["frames"] / split / name / "images0001.png").is_file()
        assert len(lines) - 1 == info["splits"][split]["samples"]
        assert info["splits"][split]["frames"] == sum(
            len(list((corpus / info["frames"] / split / row.split("|")[0]).glob("*.png"))) for row in lines[1:])
        dialogue = (corpus / "dialogue" / f"{split}.txt").read_text(encoding="utf-8")
        assert not dialogue.endswith("\n")                    # like the dialogue-PHOENIX files
        head, rest = dialogue.splitlines()[0].split(" ", 1)
        assert head == f"{split}/{name}" and rest.count("%") == 2 and rest.endswith(orth)


def test_readers_agree_with_no_special_case(corpus, info):
    for split in SPLITS:
        t = read_corpus("phoenix2014t", corpus, split, frames=info["frames"])
        d = read_corpus("dialogue-phoenix", corpus, split, frames=info["frames"])
        s = read_corpus("synthetic", corpus, split, frames=info["frames"])
        assert len(t) == len(d) == len(s) == info["splits"][split]["samples"]
        for a, b, c in zip(t, d, s):
            assert a.id == b.id == c.id and a.glosses == b.glosses == c.glosses
            assert a.translation == b.translation == c.translation and a.signer == b.signer == c.signer
            assert b.context == c.context and b.context[:1].isupper() and a.context == ""
            assert a.frames == b.frames == c.frames
        assert [x.frames for x in read_corpus("synthetic", corpus, split)] == [x.frames for x in s]  # from corpus.json
        align = [json.loads(x) for x in (corpus / "alignment" / f"{split}.jsonl").read_text().splitlines()]
        assert [r["name"] for r in align] == [x.id for x in s]
        for r, x in zip(align, s):
            assert len(frame_files(x.frames, x.frame_glob)) == r["frames"]
            assert [g for g, _, _ in r["segments"]] == x.glosses
            assert all(0 <= a < b <= c2 for (_, a, b), (_, c2, _) in zip(r["segments"], r["segments"][1:]))
            assert r["segments"][-1][2] < r["frames"]          # idle frames after the last sign


@pytest.mark.parametrize("fmt", ["synthetic", "dialogue-phoenix"])
def test_corpus_stats_command_matches_corpus_json(corpus, info, fmt, capsys):
    assert cli_main(["corpus", "stats", "--format", fmt, "--root", str(corpus), "--frames", info["frames"],
                     "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["train_vocab_size"] == info["train_vocab_size"]
    keys = ("samples", "signers", "gloss_tokens", "gloss_types", "gloss_length", "translation_length",
            "context_length")
    for split in SPLITS:
        ours, theirs = info["splits"][split], stats["splits"][split]
        assert {k: ours[k] for k in keys} == {k: theirs[k] for k in keys}
        if split != "train":
            assert (ours["unseen_types"], ours["unseen_tokens"]) == (theirs["unseen_types"], theirs["unseen_tokens"])


def test_frames_decode_to_the_rendered_pixels(corpus, info):
    world = make_world(resolve_params("tiny"), seed=0)
    clip = draw_clips(world)["dev"][1]
    frames, _ = render_clip(world, clip)
    files = sorted((corpus / info["frames"] / "dev" / clip.name).glob("*.png"))
    assert len(files) == len(frames)
    decoded = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    assert np.array_equal(decoded, frames)
    assert decoded.std() > 10                                  # not blank: body, hands and noise


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate_corpus(tmp_path / "a", "tiny", seed=3, progress=False, **SMALL)
    b = generate_corpus(tmp_path / "b", "tiny", seed=3, progress=False, workers=2, **SMALL)
    c = generate_corpus(tmp_path / "c", "tiny", seed=4, progress=False, **SMALL)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)
    assert (a / "corpus.json").read_bytes() == (b / "corpus.json").read_bytes()


def test_mp4_is_lossless_and_reproducible(tmp_path):
    from signkd.data.video import read_source_frames, video_file_of
    a = generate_corpus(tmp_path / "a", "tiny", seed=1, fmt="mp4", progress=False, **SMALL)
    b = generate_corpus(tmp_path / "b", "tiny", seed=1, fmt="mp4", progress=False, **SMALL)
    assert tree_digest(a) == tree_digest(b)
    info = load_description(a)
    sample = read_corpus("synthetic", a, "test", frames=info["frames"])[0]
    assert video_file_of(sample.frames, sample.frame_glob).name == f"{sample.id}.mp4"
    world = make_world(resolve_params("tiny", SMALL), seed=1)
    expected, _ = render_clip(world, draw_clips(world)["test"][0])
    assert np.array_equal(read_source_frames(sample.frames, sample.frame_glob), expected)


def test_nearest_template_difficulty():
    """Acceptance: >= 90 % on ordinary glosses, <= 70 % on confusable-pair members (chance 50 %)."""
    world = make_world(resolve_params("demo"), seed=0)
    result = template_accuracy(world, n_templates=3, n_queries=2, signers=4)
    assert result.ordinary >= 0.9, result
    assert result.confusable <= 0.7, result
    # what hides the cue is the variation between performances: without it (noise kept) templates see it
    still = {k: 0 for k in ("location_jitter", "amplitude_jitter", "duration_jitter", "orientation_jitter",
                            "bend_jitter", "mark_angle_jitter")}
    rigid = make_world(resolve_params("demo", dict(still, n_signers=3)), seed=0)
    assert template_accuracy(rigid, n_queries=3).within_pair >= 0.8


def test_pair_members_differ_only_by_their_cue():
    world = make_world(resolve_params("demo"), seed=0)
    assert len(world.pairs) == 6
    for record in world.pair_records:
        a, b = record["glosses"]
        assert world.lexicon[b] == make_pair_member(world.lexicon[a], record["cue"], world.params)
        changed = {f.name for f in dataclasses.fields(world.lexicon[a])
                   if getattr(world.lexicon[a], f.name) != getattr(world.lexicon[b], f.name)}
        assert changed == {"mark" if record["cue"] == "mark" else "bend"}


def _pair_guess_accuracy(sentences, pairs, feature):
    """Accuracy of guessing which member of a pair was signed from `feature(sentence, gloss)` tokens,
    with per-pair token counts learned on the first half (naive Bayes), scored on the second."""
    half = len(sentences) // 2
    member = {g: (i, k) for i, pair in enumerate(pairs) for k, g in enumerate(pair)}
    counts = defaultdict(Counter)
    scores = []
    for n, s in enumerate(sentences):
        present = [g for g in s.glosses if g in member]
        for g in present:
            i, k = member[g]
            if pairs[i][1 - k] in present:
                continue                                     # both members: ambiguous by construction
            tokens = set(feature(s, g))
            if n < half:
                counts[(i, k)].update(tokens)
                counts[(i, k)]["<n>"] += 1
                continue
            logp = [sum(np.log((counts[(i, m)][t] + 0.1) / (counts[(i, m)]["<n>"] + 0.2)) for t in tokens)
                    for m in (0, 1)]
            scores.append(int(np.argmax(logp)) == k)
    return float(np.mean(scores))


@pytest.mark.parametrize("strength", [0.0, 0.8])
def test_text_resolves_the_confusable_pairs_and_the_other_glosses_only_in_part(strength):
    """At twin_context 0 the rest of the gloss sequence says nothing about the twin; at the demo's
    0.8 it tells in part (a naive Bayes guess from the other glosses), never as well as the text."""
    world = make_world(resolve_params("demo", {"twin_context": strength}), seed=0)
    rng = np.random.default_rng(0)
    sentences = [world.grammar.sentence(rng) for _ in range(4000)]
    others = _pair_guess_accuracy(sentences, world.pairs, lambda s, g: [x for x in s.glosses if x != g])
    translation = _pair_guess_accuracy(sentences, world.pairs, lambda s, g: s.translation.split())
    context = _pair_guess_accuracy(sentences, world.pairs, lambda s, g: s.context.lower().split())
    if strength == 0:
        assert others <= 0.6, others              # the rest of the gloss sequence does not tell
    else:
        assert 0.7 <= others <= 0.92, others      # it tells in part
    # the spoken sentence always names the member (the guess, over all its words, errs a little
    # more when the other words follow the topic too)
    assert translation >= 0.97, translation
    assert context >= 0.8, context                # the dialogue turn usually does


def test_the_demo_test_split_grows_without_changing_train_dev_or_its_first_clips():
    """The demo scores 500 test clips (was 100): the other splits, and the first 100 test clips,
    are the ones the smaller corpus had, so a run trained on either is the same run."""
    assert (resolve_params("demo").n_dev, resolve_params("demo").n_test) == (100, 500)
    small = draw_clips(make_world(resolve_params("demo", {"n_test": 100}), seed=0))
    large = draw_clips(make_world(resolve_params("demo"), seed=0))
    assert large["train"] == small["train"] and large["dev"] == small["dev"]
    assert large["test"][:100] == small["test"] and len(large["test"]) == 500


def test_language_shape():
    p = resolve_params("demo")
    world = make_world(p, seed=0)
    rng = np.random.default_rng(1)
    sentences = [world.grammar.sentence(rng) for _ in range(1500)]
    lengths = [len(s.glosses) for s in sentences]
    assert min(lengths) >= p.min_glosses and max(lengths) <= p.max_glosses
    assert set(world.glosses) == {g for s in sentences for g in s.glosses}      # every gloss occurs
    assert 40 <= len(world.glosses) <= 80
    words = {w for s in sentences for w in s.translation.split()} | {w.lower() for s in sentences
                                                                      for w in s.context.split()}
    assert len(words) >= 200
    reordered = sum(s.translation.split()[:len(s.glosses)] != [g.lower() for g in s.glosses] for s in sentences)
    assert reordered == len(sentences)
    assert all(a != b for s in sentences for a, b in zip(s.glosses, s.glosses[1:]))


def test_presets_and_bad_parameters():
    assert resolve_params("demo").width == 32 and resolve_params("large").width == 64
    assert resolve_params("tiny", {"noise": "0.1"}).noise == 0.1
    with pytest.raises(ConfigError, match="n_trian: unknown parameter; did you mean 'n_train'"):
        resolve_params("tiny", {"n_trian": "3"})
    with pytest.raises(ConfigError, match="synth.width"):
        resolve_params("tiny", {"width": "31"})
    with pytest.raises(ConfigError, match="synth.cue_types"):
        resolve_params("tiny", {"cue_types": "mark,blur"})
    assert {r["cue"] for r in make_world(resolve_params("tiny", {"cue_types": "mark"})).pair_records} == {"mark"}
    with pytest.raises(ConfigError, match="preset 'huge'"):
        resolve_params("huge")


def test_cue_mark_size_changes_only_the_marked_signs():
    """A bigger cue mark darkens more of the marked twin's hand; clips without one render the same."""
    small = make_world(resolve_params("tiny", {"cue_types": "mark", "noise": "0", "brightness_jitter": "0"}))
    big = make_world(resolve_params("tiny", {"cue_types": "mark", "noise": "0", "brightness_jitter": "0",
                                             "cue_mark_size": "0.45"}))
    marked = {b for _, b in small.pairs}
    seen = set()
    for clip in draw_clips(small)["train"]:
        a, b = render_clip(small, clip)[0], render_clip(big, clip)[0]
        has_mark = bool(marked & set(clip.sentence.glosses))
        seen.add(has_mark)
        if has_mark:
            assert a.astype(np.int64).sum() > b.astype(np.int64).sum()
        else:
            assert np.array_equal(a, b)
    assert seen == {True, False}
    with pytest.raises(ConfigError, match="synth.cue_mark_size"):
        resolve_params("tiny", {"cue_mark_size": "0.6"})


def test_cli_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "c"
    assert cli_main(["synth", str(out), "--preset", "tiny", "--seed", "2", "--set", "n_train=4",
                     "--set", "n_dev=2", "--set", "n_test=2"]) == 0
    info = load_description(out)
    assert info["seed"] == 2 and info["params"]["n_train"] == 4 and info["splits"]["train"]["samples"] == 4
    assert "--set n_train=4" in info["regenerate"]
    assert cli_main(["synth", str(out), "--preset", "tiny"]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli_main(["synth", str(out), "--preset", "tiny", "--force", "--set", "n_train=3"]) == 0
    assert load_description(out)["splits"]["train"]["samples"] == 3
    assert len(list((out / info["frames"] / "train").iterdir())) == 3          # no stale clips left
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not a synthetic corpus"):
        generate_corpus(tmp_path / "other", "tiny", overwrite=True)
