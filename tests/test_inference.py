"""`signkd recognize` / `signkd translate` and the Recognizer behind them.

Acceptance: a tiny student trained on a synthetic mp4 corpus (`signkd synth --format mp4`)
recognises the test mp4s exactly as `signkd test` does; a long video read in overlapping windows
gives the whole-clip result; bad inputs are one-line errors. Plus the pieces: the streaming reader
decodes and preprocesses exactly like training, and stitching is exact for the temporal conv."""
from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from conftest import TINY_CONFIG
from signkd.cli import main as cli_main
from signkd.decoding import max_output_length


GLOSSES = ["HAUS", "REGEN", "SONNE", "WIND"]


def write_student_checkpoint(path: Path, *overrides: str, words: list[str] | None = None) -> Path:
    """A randomly initialised tiny student saved exactly as the trainer saves one (same payload
    keys: config, vocab, preprocessing, model with the system's `student.` prefix)."""
    from signkd.config import load_config, to_dict
    from signkd.data.vocab import GlossVocab, WordVocab
    from signkd.models.build import build_system
    from signkd.checkpoint import save_checkpoint
    from signkd.data.preprocessing import preprocessing_of

    cfg = load_config(TINY_CONFIG, list(overrides))
    gloss = GlossVocab(GLOSSES)
    word = WordVocab(words) if words else None
    torch.manual_seed(0)
    system = build_system(cfg, gloss, word)
    payload = {"epoch": 0, "model": system.state_dict(), "config": to_dict(cfg),
               "vocab": {"gloss": gloss.to_dict(), "word": word.to_dict() if word else None, "tokenizer": None},
               "preprocessing": {**preprocessing_of(cfg), "max_lengths": {"words": 5, "glosses": 4}},
               "metrics": {}}
    return save_checkpoint(path, payload)


def write_video(path: Path, frames: np.ndarray, fps: int = 25, codec: str = "mpeg4") -> Path:
    """(T, H, W, 3) uint8 -> a video file (T = 0 writes a file with a stream and no frames)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = (frames.shape[1], frames.shape[2]) if len(frames) else (32, 32)
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def moving_clip(t: int, seed: int = 0, size: int = 32) -> np.ndarray:
    """A bright square wandering over noise: smooth enough to survive video compression."""
    rng = np.random.default_rng(seed)
    clip = rng.integers(0, 60, size=(t, size, size, 3), dtype=np.uint8)
    for i in range(t):
        y, x = int(4 + 20 * abs(np.sin(i / 7 + seed))), int(4 + 20 * abs(np.cos(i / 5)))
        clip[i, y:y + 8, x:x + 8] = (255, 200 - 3 * (i % 40), 80)
    return clip


# --------------------------------------------------------------------------------------------
# A tiny student trained on the synthetic mp4 corpus, and `signkd test` on it
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mp4_corpus(tmp_path_factory) -> Path:
    """`signkd synth OUT --preset tiny --format mp4`."""
    out = tmp_path_factory.mktemp("mp4-corpus") / "tiny"
    assert cli_main(["synth", str(out), "--preset", "tiny", "--format", "mp4"]) == 0
    return out


def test_videos(corpus: Path) -> dict[str, Path]:
    from signkd.data.corpora import read_corpus
    from signkd.data.video import video_file_of

    videos = {s.id: video_file_of(s.frames, s.frame_glob) for s in read_corpus("synthetic", corpus, "test")}
    assert videos and all(v is not None and v.suffix == ".mp4" for v in videos.values())
    return videos


test_videos.__test__ = False   # a helper, not a test


@pytest.fixture(scope="module")
def trained(mp4_corpus, tmp_path_factory):
    """(checkpoint, {id: `signkd test` hypothesis}) for a student trained a few steps, decoded
    with a CTC beam search (the eval default) so that path is the one compared."""
    work = tmp_path_factory.mktemp("run")
    sets = [f"data.root={mp4_corpus}", f"work_dir={work}", "train.epochs=1", "train.max_steps_per_epoch=3",
            "train.test_at_end=false", "eval.ctc_decoder=beam", "eval.beam_width=4"]
    args = [a for s in sets for a in ("--set", s)]
    assert cli_main(["train", str(TINY_CONFIG), *args]) == 0
    ckpt = work / "best.pt"
    assert cli_main(["test", str(TINY_CONFIG), "--load-weights", str(ckpt), *args, "--work-dir", str(work / "test"),
                     "--splits", "test"]) == 0
    hyps = {}
    lines = (work / "test" / "hypotheses" / "test-test.glosses.txt").read_text(encoding="utf-8").splitlines()
    for uid, _ref, hyp in zip(lines[0::3], lines[1::3], lines[2::3]):
        assert hyp.startswith("  HYP:")
        hyps[uid.strip()] = hyp[len("  HYP:"):].split()
    return ckpt, hyps


def test_recognize_equals_signkd_test_hypotheses(trained, mp4_corpus, capsys):
    ckpt, hyps = trained
    videos = test_videos(mp4_corpus)
    capsys.readouterr()
    assert cli_main(["recognize", str(ckpt), *map(str, videos.values()), "--json", "--no-progress"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in results] == [str(v) for v in videos.values()]
    got = {uid: [g["gloss"] for g in r["glosses"]] for uid, r in zip(videos, results)}
    assert got == {uid: hyps[uid] for uid in videos}
    assert sum(1 for h in got.values() if h) >= len(got) // 2, "hypotheses too empty to prove anything"
    for r in results:   # the --json schema of docs/inference.md
        assert set(r) == {"input", "frames", "fps", "duration", "glosses", "translation"}
        assert r["fps"] == 25.0 and r["translation"] is None and r["frames"] > 0
        assert r["duration"] == pytest.approx(r["frames"] / r["fps"], abs=1e-3)
        for g in r["glosses"]:
            assert 0.0 <= g["start"] < g["end"] <= r["duration"]
        starts = [g["start"] for g in r["glosses"]]
        assert starts == sorted(starts)


def test_windowed_equals_whole_clip_on_a_long_video(trained, mp4_corpus, tmp_path):
    """All test clips back to back (~300 frames) in windows of 128 frames with 40 frames of
    BiLSTM context: the same posteriors (to float noise), glosses and time spans as one call."""
    from signkd.data.video import read_video_file
    from signkd.inference import Recognizer

    ckpt, _ = trained
    frames = np.concatenate([read_video_file(v) for v in test_videos(mp4_corpus).values()])
    long_video = str(write_video(tmp_path / "long.mp4", frames))
    whole = Recognizer.from_checkpoint(ckpt, window=0)
    windowed = Recognizer.from_checkpoint(ckpt, window=128, context=40)
    calls = []
    run_window = windowed.run_window
    windowed.run_window = lambda feats: calls.append(feats.shape[1]) or run_window(feats)
    a, b = whole.recognize(long_video), windowed.recognize(long_video)
    assert len(calls) >= 4 and max(calls) == 128 and a.frames == len(frames) > 2 * 128
    assert a.steps == b.steps == whole.output_length(len(frames))
    assert float((a.log_probs - b.log_probs).abs().max()) < 1e-4
    assert b.gloss_sequence == a.gloss_sequence and len(a.glosses) > 5
    # A barely trained model has flat posteriors, so its alignment has near-ties; with this much
    # context the windowed posteriors are within ~1e-5 and the spans come out identical.
    assert [(g.start, g.end) for g in b.glosses] == [(g.start, g.end) for g in a.glosses]


def test_folder_glob_and_shell_expanded_frames_are_one_clip(trained, mp4_corpus, tmp_path, capsys):
    from conftest import write_frames
    from signkd.data.video import read_video_file
    from signkd.inference import Recognizer

    ckpt, _ = trained
    video = next(iter(test_videos(mp4_corpus).values()))
    folder = write_frames(tmp_path / "frames", read_video_file(video))   # images0001.png ... natural order
    recognizer = Recognizer.from_checkpoint(ckpt)
    from_video = recognizer.recognize(str(video))
    from_folder = recognizer.recognize(str(folder))
    assert from_folder.gloss_sequence == from_video.gloss_sequence    # PNGs are lossless copies of the decode
    assert torch.equal(from_folder.log_probs, from_video.log_probs)
    capsys.readouterr()
    files = sorted(folder.glob("*.png"), reverse=True)                   # order must not matter
    assert cli_main(["recognize", str(ckpt), str(folder / "*.png"), *map(str, files), "--json", "--fps", "12.5",
                     "--no-progress"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(results) == 2
    for r in results:
        assert r["fps"] == 12.5 and r["frames"] == from_video.frames
        assert [g["gloss"] for g in r["glosses"]] == from_video.gloss_sequence
        assert r["duration"] == pytest.approx(2 * from_video.duration, abs=1e-3)


# --------------------------------------------------------------------------------------------
# Reading and preprocessing: the same functions as training
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("resize, crop, interval", [(0, 28, 1), (40, 36, 2), (24, 0, 3)])
def test_streamed_frames_equal_the_training_pipeline(tmp_path, resize, crop, interval):
    from signkd.config import AugmentConfig
    from signkd.data.augment import ClipTransform
    from signkd.data.packed_cache import FrameSource
    from signkd.data.video import read_video_file
    from signkd.inference import ClipSource, FrameReader, Preprocessing

    video = write_video(tmp_path / "clip.mp4", moving_clip(23))
    reader = FrameReader(ClipSource("clip", video=video))
    streamed = list(reader)
    assert np.array_equal(np.stack(streamed), read_video_file(video)) and reader.fps == 25.0

    pre = Preprocessing(resize=resize, crop=crop, mean=[0.4, 0.5, 0.6], std=[0.2, 0.3, 0.4], frame_interval=interval)
    ours = torch.cat(list(pre.frame_chunks(iter(streamed), chunk=5)))
    source = FrameSource(size=resize, frame_interval=interval)
    augment = AugmentConfig(resize=resize, crop=crop, mean=[0.4, 0.5, 0.6], std=[0.2, 0.3, 0.4])
    theirs = ClipTransform(augment, train=False)(source.read("clip", str(video), "*.mp4"))
    assert ours.shape == theirs.shape and torch.equal(ours, theirs)


def test_stitching_is_exact_for_the_temporal_conv():
    from signkd.config import load_config
    from signkd.inference import Preprocessing, Recognizer, StudentBundle, plan_windows
    from signkd.models.recognizer import SLRStudent

    cfg = load_config(TINY_CONFIG)
    torch.manual_seed(0)
    student = SLRStudent(cfg.model, 6).eval()
    bundle = StudentBundle(student, cfg, None, None, Preprocessing(crop=28), {})
    video = torch.randn(97, 3, 28, 28)
    with torch.no_grad():
        ref = student(video[None], torch.tensor([97]))
    for window, context in [(0, 0), (20, 0), (33, 6), (50, 200)]:
        recognizer = Recognizer(bundle, window=window, context=context, cnn_chunk=9)
        out = recognizer.encode_frames(video.split(11))
        assert out["conv_logits"].shape == ref["conv_logits"][0].shape
        assert torch.allclose(out["conv_logits"], ref["conv_logits"][0], atol=1e-5)   # exact up to float order
        if window == 0:
            assert torch.allclose(out["seq_logits"], ref["seq_logits"][0], atol=1e-5)
    plan = plan_windows(50, 200, 2, recognizer.output_length)   # context shrinks to fit: 1 step kept
    assert plan.context_steps == (recognizer.output_length(50) - 1) // 2 and plan.step == 2
    with pytest.raises(Exception, match="--window: 13 frames give no output step"):
        Recognizer(bundle, window=13).plan()


@pytest.mark.parametrize("multiple", [0, 4])
def test_recognize_pads_like_the_batched_model_even_below_the_receptive_field(tmp_path, multiple):
    """model.visual.temporal_pad: vac: a clip of 5 frames (receptive field 14) gives ceil(5 / 2) = 3
    steps (4 with the original's multiple of 4); recognize's posteriors equal the batched student's,
    and over windows (padded stream) its temporal-conv outputs too; time spans start at frame 0."""
    from signkd.data.video import read_video_file
    from signkd.inference import Recognizer

    ckpt = write_student_checkpoint(tmp_path / "student.pt", f"model.visual.temporal_pad_multiple={multiple}")
    for frames, steps in ((5, 3 if not multiple else 4), (61, 31 if not multiple else 32)):
        video = write_video(tmp_path / f"clip{frames}.mp4", moving_clip(frames, seed=frames))
        whole = Recognizer.from_checkpoint(ckpt, window=0, beam=1)
        result = whole.recognize(str(video))
        prep = whole.bundle.preprocessing
        clip = prep.transform()(np.stack([prep.fit(f) for f in read_video_file(video)]))
        with torch.no_grad():
            ref = whole.bundle.encoder(clip[None], torch.tensor([frames]))
        assert result.steps == whole.output_length(frames) == int(ref["lengths"][0]) == steps
        assert float((result.log_probs - torch.log_softmax(ref["seq_logits"][0], -1)).abs().max()) < 1e-5
        windowed = Recognizer.from_checkpoint(ckpt, window=20, context=4, cnn_chunk=7)
        out = windowed.encode_frames(clip.split(7))
        assert out["conv_logits"].shape == ref["conv_logits"][0].shape
        assert float((out["conv_logits"] - ref["conv_logits"][0]).abs().max()) < 1e-5
    from signkd.alignment import ctc_forced_alignment

    (a, b), = ctc_forced_alignment(result.log_probs, torch.tensor([1])).segments.tolist()
    (start, end), = whole.spans(result.log_probs, [1], 25.0)
    assert (start, end) == (pytest.approx(a * 2 / 25.0), pytest.approx(b * 2 / 25.0))   # step t: frames [2t, 2t+2)


# --------------------------------------------------------------------------------------------
# Errors: one line naming the file
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def random_student(tmp_path_factory) -> Path:
    return write_student_checkpoint(tmp_path_factory.mktemp("ckpt") / "student.pt")


@pytest.mark.parametrize("case, expected", [
    ("unreadable", "broken.mp4: cannot decode video"),
    ("empty_avi", "empty.avi: video has no frames"),
    ("empty_mp4", "empty.mp4: cannot decode video (no video stream)"),
    ("too_short", "short.mp4: 9 frames (after the frame interval) are too short for this model's temporal conv"),
    ("missing", "nowhere.mp4: no such video file"),
    ("teacher", "a teacher checkpoint (gloss2text); recognize/translate/export need a student checkpoint"),
    ("not_signkd", "not a signkd checkpoint"),
])
def test_bad_inputs_are_one_line_errors(random_student, tmp_path, capsys, case, expected):
    ckpt, video = random_student, tmp_path / "ok.mp4"
    if case == "unreadable":
        video = tmp_path / "broken.mp4"
        video.write_text("this is not a video\n")
    elif case == "empty_avi":
        video = write_video(tmp_path / "empty.avi", np.zeros((0, 32, 32, 3), np.uint8))
    elif case == "empty_mp4":
        video = write_video(tmp_path / "empty.mp4", np.zeros((0, 32, 32, 3), np.uint8))
    elif case == "too_short":   # only without temporal padding (with it, any clip gives a step)
        video = write_video(tmp_path / "short.mp4", moving_clip(9))
        ckpt = write_student_checkpoint(tmp_path / "unpadded.pt", "model.visual.temporal_pad=none")
    elif case == "missing":
        video = tmp_path / "nowhere.mp4"
    else:
        write_video(video, moving_clip(30))
        if case == "teacher":
            ckpt = write_student_checkpoint(tmp_path / "teacher.pt", "model.student=false", "model.gloss2text=true",
                                            words=["es", "regnet"])
        else:
            ckpt = tmp_path / "weights.pt"
            torch.save({"conv.weight": torch.zeros(2)}, ckpt)
    capsys.readouterr()
    assert cli_main(["recognize", str(ckpt), str(video), "--no-progress"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("signkd recognize: error: "), err
    assert expected in err
    assert captured.out == ""


# --------------------------------------------------------------------------------------------
# Translation (SLT student)
# --------------------------------------------------------------------------------------------

def test_translate_decodes_like_the_training_system(tmp_path, capsys):
    from signkd.config import AugmentConfig
    from signkd.data.batch import Batch
    from signkd.data.augment import ClipTransform
    from signkd.data.video import read_source_frames
    from signkd.inference import load_student
    from signkd.models.build import build_system
    from signkd import checkpoint as ckpt_io

    words = ["es", "regnet", "morgen", "sonne", "wind", "und"]
    ckpt = write_student_checkpoint(tmp_path / "slt.pt", "model.task=slt", words=words)
    video = write_video(tmp_path / "clip.mp4", moving_clip(40, seed=3))
    capsys.readouterr()
    assert cli_main(["translate", str(ckpt), str(video), "--no-progress"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{video}: ")
    sentence = line[len(f"{video}: "):]

    # the training system's own translate() on the training pipeline's frames
    b = load_student(ckpt)
    system = build_system(b.cfg, b.gloss_vocab, b.word_vocab)
    ckpt_dict = ckpt_io.load_checkpoint(ckpt)
    system.load_state_dict(ckpt_dict["model"])
    clip = ClipTransform(AugmentConfig(crop=28), train=False)(read_source_frames(video, size=0))
    batch = Batch(ids=["clip"], video=clip[None], video_lengths=torch.tensor([len(clip)]))
    ids = system.translate(batch, beam=b.cfg.eval.translation_beam, alpha=b.cfg.eval.length_penalty,
                           max_len=max_output_length(5, b.cfg.eval.max_output_factor))[0]
    assert sentence == b.word_vocab.decode(ids)
    assert sentence, "an empty sentence proves nothing; change the seed"
    with pytest.raises(TypeError, match="max_len"):   # no budget of its own: the caller's (max_output_length)
        system.translate(batch)

    assert cli_main(["recognize", str(ckpt), str(video), "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["translation"] == sentence

    slr = write_student_checkpoint(tmp_path / "slr.pt")
    assert cli_main(["translate", str(slr), str(video)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "an SLR student (model.task: slr) has no translation decoder" in err


def test_onnxruntime_engine_gives_the_pytorch_posteriors(random_student, tmp_path):
    pytest.importorskip("onnxruntime")
    from signkd.inference import Recognizer

    video = str(write_video(tmp_path / "clip.mp4", moving_clip(45, seed=1)))
    a = Recognizer.from_checkpoint(random_student).recognize(video)
    b = Recognizer.from_checkpoint(random_student, engine="onnxruntime").recognize(video)
    assert float((a.log_probs - b.log_probs).abs().max()) < 1e-4
    assert a.gloss_sequence == b.gloss_sequence


def test_a_video_of_another_size_is_brought_to_the_training_frame_size(trained):
    """A checkpoint trained without resizing (resize 0, 32 x 32 frames, crop 28) records its frame
    size; a 96 x 120 video is resized to it before the crop, not centre-cropped to a sliver."""
    from PIL import Image

    from signkd.inference import load_student
    from signkd.checkpoint import Checkpoint

    ckpt, _ = trained
    assert Checkpoint.read(ckpt).preprocessing["frame_size"] == [32, 32]
    pre = load_student(ckpt).preprocessing
    assert (pre.resize, pre.crop, pre.frame_size) == (0, 28, [32, 32])
    big = np.random.default_rng(0).integers(0, 256, size=(6, 96, 120, 3), dtype=np.uint8)
    small = np.stack([np.asarray(Image.fromarray(f).resize((32, 32), Image.LANCZOS)) for f in big])
    got = torch.cat(list(pre.frame_chunks(iter(big), chunk=4)))
    want = torch.cat(list(pre.frame_chunks(iter(small), chunk=4)))
    assert got.shape == (6, 3, 28, 28)
    assert torch.equal(got, want)


@pytest.mark.parametrize("beam", [1, 3])
@pytest.mark.parametrize("longest, factor", [(5, 1.5), (7, 1.3), (None, 1.3)])
def test_a_sentence_that_never_ends_stops_at_the_evaluators_budget(tmp_path, monkeypatch, beam, longest, factor):
    """A student that never writes </s> translates into exactly max_output_length words: the
    budget `signkd test` decodes with (the longest training sentence recorded in the checkpoint x
    eval.max_output_factor; decoding's UNKNOWN_LONGEST_TARGET when the checkpoint recorded none,
    whatever that is: no copy of the rule)."""
    from signkd import decoding
    from signkd.inference import Recognizer, load_student

    monkeypatch.setattr(decoding, "UNKNOWN_LONGEST_TARGET", 11)

    ckpt = write_student_checkpoint(tmp_path / "slt.pt", "model.task=slt", f"eval.max_output_factor={factor}",
                                    f"eval.translation_beam={beam}", words=["es", "regnet"])
    bundle = load_student(ckpt)
    bundle.max_lengths = {} if longest is None else {"words": longest}
    vocab = bundle.word_vocab
    favourite = torch.full((len(vocab),), -10.0)
    favourite[vocab.encode("regnet")[0]] = 0.0
    bundle.student.decode_step = lambda tokens, *memories: favourite.expand(tokens.shape[0], -1).log_softmax(-1)
    sentence = Recognizer(bundle).translate_features(torch.randn(6, 8))   # (T', H): the fake decoder reads none
    assert sentence.split() == ["regnet"] * max_output_length(longest, factor)


@pytest.mark.parametrize("parts, expected", [
    ({"task": "slr", "student": False, "gloss2text": True}, "a teacher checkpoint (gloss2text); recognize/translate"),
    ({"task": "slr", "student": False}, "a checkpoint without a student; recognize/translate"),
    ({"task": "slt"}, "an SLT student checkpoint without its word vocabulary"),
])
def test_load_student_asks_model_parts_which_parts_a_checkpoint_has(random_student, monkeypatch, parts, expected):
    """load_student decides with `signkd.models.parts.model_parts`, the one function that says
    which parts a config has, so a new rule there reaches recognize/translate/export too."""
    from signkd.errors import CheckpointError
    from signkd.inference import load_student
    from signkd.models import parts as parts_module

    monkeypatch.setattr(parts_module, "model_parts", lambda cfg: parts_module.ModelParts(**parts))
    with pytest.raises(CheckpointError, match=re.escape(expected)):
        load_student(random_student)


def test_the_list_of_model_parts_is_spelled_once():
    """config.MODULE_NAMES is the only literal list of the model parts in signkd/ (restore,
    the stages and the parts all read it), so adding a part is one edit."""
    import ast

    import signkd
    from signkd.config import MODULE_NAMES

    root = Path(signkd.__file__).parent
    spelled = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            literal = isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(
                isinstance(e, ast.Constant) for e in node.elts)
            if literal and {e.value for e in node.elts} == set(MODULE_NAMES):
                spelled.append(f"{path.relative_to(root)}:{node.lineno}")
    assert len(spelled) == 1 and spelled[0].startswith("config/schema.py:"), spelled
