"""The synthetic signing corpus: a corpus that builds in seconds, in which every part of the method matters.

`generate_corpus(out_dir, preset, seed, fmt, **overrides)` (CLI: `signkd synth OUT --preset demo
--seed 0 [--format png|mp4] [--set key=value ...]`) writes the PHOENIX-2014-T layout, so the
real readers are exercised with no special case:

    features/fullFrame-<W>x<H>px/<split>/<name>/images0001.png ...   frames (--format png, default)
    features/fullFrame-<W>x<H>px/<split>/<name>/<name>.mp4           instead, with --format mp4: one lossless
                                                                     H.264 file (libx264rgb), same pixels as PNG
    annotations/manual/PHOENIX-2014-T.<split>.corpus.csv             name|video|start|end|speaker|orth|translation
                                                                     (video = `<name>/*.png` or `<name>/*.mp4`)
    dialogue/<split>.txt                                            <split>/<name> <translation>%<context>%<GLOSSES>
    alignment/<split>.jsonl                                         true frame segments [gloss, start, end) per clip
    corpus.json                                                     lexicon (motion of every gloss), confusable pairs,
                                                                     signers, every parameter, per-split statistics

The frame folder is named after the frame size, as in the real corpus, so it is not PHOENIX's
`fullFrame-210x260px`: `read_corpus("synthetic", root, split)` takes it from corpus.json; the
phoenix2014t and dialogue-phoenix readers are given it (`frames=corpus["frames"]`, `data.frames`).

Full-size rehearsal (like.py, `--preset phoenix-scale`): `--like ANNOTATIONS` takes the splits,
real ids, signers, gloss sequences and translations of PHOENIX-2014-T annotation files (and with
`--dialogue DIR` the dialogue-PHOENIX contexts) instead of the toy grammar, and gives every real
gloss a motion; phoenix-scale renders 210 x 260 px frames with PHOENIX-2014-T's clip length per
gloss (params.py). A killed run resumes: each clip is renamed into place when complete and the
same command continues with the clips still missing (corpus.py).

Visual language (lexicon.py, render.py). A signer (skin, clothes, hair and background colours,
size, position, tempo +-20 %) stands on a small canvas; each gloss is a motion primitive of one or
two hands (one hand / mirrored / parallel / on a base hand; start location; path: line, arc,
circle, zig-zag, tap, twist; direction; amplitude; speed profile; duration) with a hand shape
drawn as a dark pattern on the hand disc (solid, ring, bar, half) and its orientation. A sentence
is performed as idle frames, the signs joined by movement epenthesis (the hands glide from one
sign's end to the next sign's start), idle frames; every performance varies (location,
amplitude, duration, orientation, path bend) and gets pixel noise and a lighting change.

Language (language.py). A weather / daily-life grammar gives gloss sequences in sign order
(`MORGEN NORD REGEN STARK`), a spoken German sentence with verb-second order, function words,
inflection and spoken-only fillers (`morgen gibt es im norden dann starken regen`), and a
preceding dialogue turn, a question or remark naming part of one clause (`Wird es morgen regnen`).

Privileged information, by design. `n_confusable_pairs` pairs of glosses (REGEN/SCHNEE,
WARM/HEISS, OST/WEST, MONTAG/DIENSTAG, KAFFEE/TEE, MUTTER/VATER, ...) are built so that only text
tells them apart reliably:
  1. Pixels: the second member's motion is a copy of the first's plus one subtle cue (`cue_types`,
     alternately): "mark", a small dark spot on the hand at a different place in every
     performance (`cue_mark`), or "bend", a slight sideways bend of the path (`cue_bend`). The
     cue is smaller than the natural variation between two performances, so a nearest-template
     classifier on isolated signs is ~99 % right on ordinary glosses but ~59 % (chance = 50 %)
     within pairs. Yet the mark is consistent and local: a small CNN trained on isolated signs
     separated "mark" pairs at ~88-97 % after 10 epochs, while "bend" pairs (1 px of motion)
     stayed at ~40-78 %. So the video-only student can learn some pairs, slowly, and others
     hardly at all.
  2. Gloss context: the two members are interchangeable in the grammar (same slot, same
     neighbours, same objects, same sampling weight), so the rest of the gloss sequence says
     nothing about which one was signed; a video-only student's sequence model cannot guess it.
  3. Text: the spoken translation always names the member (regen/schnee, warm/heiß, ...); the
     dialogue turn names a confusable gloss with probability `context_confusable_prob` (0.9),
     other glosses with `context_mention_prob` (0.4).
So a teacher that reads the translation (Text2Gloss) or the dialogue turn (dialogue teacher) is
right where the video-only student guesses, and it can tell the student which frames carry
which member: distillation has something real to transfer. No label leaks into pixels: colours
belong to signers, never to glosses; both members of a pair have the same palette, location,
duration and frame count; clip length depends only on the signs' durations and the signer.

Determinism: every random draw comes from `numpy.random.SeedSequence([seed, stream, ...])` with
one stream for the lexicon, the signers, each split's sentences and each clip's pixels, so the
same preset, seed and overrides give byte-identical files (PNG and mp4 alike), whatever the
number of worker processes.
"""
from signkd.data.synthetic.corpus import (World, draw_clips, generate_corpus, load_description, make_world,
                                          render_clip, tree_digest)
from signkd.data.synthetic.params import PRESETS, SynthParams, resolve_params

__all__ = ["PRESETS", "SynthParams", "World", "draw_clips", "generate_corpus", "load_description", "make_world",
           "render_clip", "resolve_params", "tree_digest"]
