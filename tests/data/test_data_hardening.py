"""Issue #20, data side: downloaded corpus files cannot run code or point outside their place,
bad frames are one line or (data.skip_bad) skipped into data_report.json, packed files are
checked against their checksums in training, and DataLoader worker errors stay one line."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from signkd.data.corpora import read_corpus
from signkd.data.safe_pickle import safe_load
from signkd.errors import DataError

FRAMES = "features/fullFrame-210x260px"
P14T_HEADER = "name|video|start|end|speaker|orth|translation"


def write_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path)


def one_line(exc) -> str:
    msg = str(exc.value if hasattr(exc, "value") else exc)
    assert msg and len(msg.splitlines()) == 1, msg
    return msg


# ----------------------------------------------------------------------------- CSL-Daily pickle

class _Payload:
    """Unpickling this runs `os.system(command)`: what a doctored csl2020ct_v2.pkl would do."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def make_csl(root: Path, info, split_lines=("S0|train", "S1|train"), protocol=pickle.DEFAULT_PROTOCOL) -> Path:
    labels = root / "sentence_label"
    labels.mkdir(parents=True, exist_ok=True)
    pkl = labels / "csl2020ct_v2.pkl"
    pkl.write_bytes(pickle.dumps({"info": info, "gloss_map": [], "char_map": []}, protocol=protocol))
    (labels / "split_1.txt").write_text("name|split\n" + "\n".join(split_lines) + "\n", encoding="utf-8")
    return pkl


def record(name, glosses=("我", "好"), chars="我好", signer=0) -> dict:
    return {"name": name, "label_gloss": list(glosses), "label_char": list(chars), "signer": signer, "length": 3}


@pytest.mark.parametrize("where", ["top", "record", "field"])
def test_csl_pickle_with_a_reduce_payload_is_refused_and_never_runs(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = _Payload(f"touch {marker}")
    info = [record("S0"), record("S1")]
    if where == "top":
        info = payload
    elif where == "record":
        info[1] = payload
    else:
        info[0]["signer"] = payload
    pkl = make_csl(tmp_path / "csl", info)
    with pytest.raises(DataError) as err:
        read_corpus("csl-daily", "", "train", annotations=pkl)
    msg = one_line(err)
    assert msg.startswith(f"{pkl}: refused to load global 'posix.system'") or "global 'os.system'" in msg
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_code_paths(tmp_path):
    # a global by protocol 0 text, and _codecs.encode with a codec other than latin-1
    path = tmp_path / "x.pkl"
    path.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(DataError, match=r"refused to load global 'builtins\.eval'"):
        safe_load(path)
    path.write_bytes(b"c_codecs\nencode\n(X\x02\x00\x00\x00abX\x06\x00\x00\x00rot_13tR.")
    with pytest.raises(DataError, match=r"_codecs\.encode with codec 'rot_13' is not allowed"):
        safe_load(path)
    path.write_bytes(b"\x80\x04\x8c\x05numpy\x8c\x04load\x93.")   # protocol 4 STACK_GLOBAL
    with pytest.raises(DataError, match=r"refused to load global 'numpy\.load'"):
        safe_load(path)


@pytest.mark.parametrize("protocol", [2, 4, 5, "numpy-1"])
def test_csl_pickle_with_numpy_arrays_and_scalars_still_loads(tmp_path, protocol):
    info = [{"name": np.str_("S0"), "label_gloss": np.array(["我", "好"]), "label_char": np.array(list("我好。")),
             "signer": np.int64(3), "length": np.int64(7), "feature": np.zeros((2, 3), np.float32)},
            {"name": "S1", "label_gloss": "你 好", "label_char": "你好", "signer": "7", "length": np.float64(2.0)}]
    pkl = make_csl(tmp_path, info, protocol=2 if protocol == "numpy-1" else protocol)
    if protocol == "numpy-1":   # numpy 1 names its rebuilders numpy.core.*; protocol 2 spells globals as text
        raw = pkl.read_bytes()
        assert b"numpy._core.multiarray" in raw
        pkl.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    s0, s1 = read_corpus("csl-daily", "", "train", annotations=pkl)
    assert (s0.id, s0.glosses, s0.translation, s0.signer) == ("S0", ["我", "好"], "我 好 。", "3")
    assert type(s0.id) is str
    assert (s1.glosses, s1.translation, s1.signer) == (["你", "好"], "你 好", "7")


def test_csl_bad_records_are_one_line_errors_or_skipped(tmp_path):
    cases = [
        ("not a dict", ["S0"], "info[0]: expected a record (dict) with a string 'name'"),
        ("name not a string", [{"name": 5, "label_gloss": ["A"]}], "info[0]: expected a record (dict) with a string"),
        ("glosses a number", [record("S0") | {"label_gloss": 5}], "info[0]: field 'label_gloss': expected a string"),
        ("chars a dict", [record("S0") | {"label_char": {"a": 1}}], "info[0]: field 'label_char': expected"),
        ("gloss list of ints", [record("S0") | {"label_gloss": [1, 2]}], "info[0]: field 'label_gloss'"),
        ("signer a list", [record("S0") | {"signer": [1]}], "info[0]: field 'signer': expected a string or an integer"),
    ]
    for what, info, expected in cases:
        root = tmp_path / what.replace(" ", "-")
        pkl = make_csl(root, info + [record("S1")])
        with pytest.raises(DataError) as err:
            read_corpus("csl-daily", "", "train", annotations=pkl)
        assert one_line(err).startswith(f"{pkl}:{expected}"), (what, str(err.value))
        report: list = []
        kept = read_corpus("csl-daily", "", "train", annotations=pkl, skip_bad=True, report=report)
        assert [s.id for s in kept] == ["S1"], what
        assert report[0]["file"] == str(pkl) and report[0]["line"] == "info[0]" and report[0]["split"] == "train"


# ----------------------------------------------------------------------------- names stay below the frame root

def p14t(root: Path, rows: list[str]) -> Path:
    ann = root / "annotations/manual/PHOENIX-2014-T.train.corpus.csv"
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text("\n".join([P14T_HEADER] + rows) + "\n", encoding="utf-8")
    return ann


@pytest.mark.parametrize("row, field", [
    ("ok|../../../../etc/*.png|-1|-1|S1|A|x", "video"),
    ("ok|/etc/*.png|-1|-1|S1|A|x", "video"),
    ("ok|a/../../b/*.png|-1|-1|S1|A|x", "video"),
    ("..||-1|-1|S1|A|x", "name"),
    ("../outside||-1|-1|S1|A|x", "name"),
])
def test_phoenix2014t_names_that_leave_the_frame_root_are_refused(tmp_path, row, field):
    # the escape target exists, so only the check (not a missing folder) can stop it
    for target in ("etc", "b", "outside"):
        write_png(tmp_path / target / "x.png")
    root = tmp_path / "corpus"
    ann = p14t(root, ["good|good/*.png|-1|-1|S1|A|x", row])
    write_png(root / FRAMES / "train/good/1.png")
    with pytest.raises(DataError) as err:
        read_corpus("phoenix2014t", root, "train")
    msg = one_line(err)
    assert msg.startswith(f"{ann}:3: field '{field}'") and "expected a name below the corpus frame folder" in msg
    report: list = []
    kept = read_corpus("phoenix2014t", root, "train", skip_bad=True, report=report)
    assert [s.id for s in kept] == ["good"] and report[0]["line"] == 3


def test_phoenix2014_folder_that_leaves_the_frame_root_is_refused(tmp_path):
    ann = tmp_path / "annotations/manual/train.corpus.csv"
    ann.parent.mkdir(parents=True)
    ann.write_text("id|folder|signer|annotation\nx-0|../../../../x-0/1/*.png|Signer04|A B\n", encoding="utf-8")
    write_png(tmp_path / FRAMES / "x-0/1/f.png")   # where the '..' would lead (inside tmp_path)
    with pytest.raises(DataError) as err:
        read_corpus("phoenix2014", tmp_path, "train")
    assert one_line(err).startswith(f"{ann}:2: field 'folder' '../../../../x-0/1/*.png' has a '..' component")


@pytest.mark.parametrize("line, field", [
    ("../../train/x-1 ein satz%Frage?%A B", "split"),
    ("/abs/x-1 ein satz%Frage?%A B", "split"),
    ("dev/.. ein satz%Frage?%A B", "name"),
])
def test_dialogue_names_that_leave_the_frame_root_are_refused(tmp_path, line, field):
    path = tmp_path / "dev.txt"
    path.write_text("dev/ok-1 ein satz%Frage?%A B\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_corpus("dialogue-phoenix", tmp_path, "dev", annotations=path, check_frames=False)
    assert one_line(err).startswith(f"{path}:2: field '{field}'")


def test_dialogue_video_from_the_phoenix2014t_csv_is_checked_too(tmp_path):
    ann = p14t(tmp_path, ["x-1|../../x-1/*.png|-1|-1|S1|A|x"])
    dialogue = tmp_path / "dialogue"
    dialogue.mkdir()
    (dialogue / "train.txt").write_text("train/x-1 ein satz%Frage?%A B\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_corpus("dialogue-phoenix", tmp_path, "train", dialogue=dialogue, check_frames=False)
    assert one_line(err).startswith(f"{ann}:2: field 'video' '../../x-1/*.png' has a '..' component")


def test_csl_names_that_leave_the_frame_root_are_refused(tmp_path):
    pkl = make_csl(tmp_path, [record("S0"), record("../../S1")], split_lines=("S0|train", "../../S1|train"))
    with pytest.raises(DataError) as err:
        read_corpus("csl-daily", "", "train", annotations=pkl)
    assert one_line(err).startswith(f"{pkl}:info[1]: field 'name' '../../S1' has a '..' component")


def test_synthetic_corpus_json_frames_folder_is_checked_and_may_have_a_bom(tmp_path):
    p14t(tmp_path, ["s-1|s-1/*.png|-1|-1|S1|A|x"])
    write_png(tmp_path / "features/fullFrame-8x8px/train/s-1/1.png")
    meta = tmp_path / "corpus.json"
    meta.write_text("\ufeff" + json.dumps({"frames": "features/fullFrame-8x8px"}), encoding="utf-8")
    (sample,) = read_corpus("synthetic", tmp_path, "train")
    assert sample.frames == str(tmp_path / "features/fullFrame-8x8px/train/s-1")
    meta.write_text(json.dumps({"frames": "../elsewhere"}), encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_corpus("synthetic", tmp_path, "train")
    assert one_line(err).startswith(f"{meta}: field 'frames' '../elsewhere' has a '..' component")


# ----------------------------------------------------------------------------- packed-cache manifest

def _manifest(tmp_path, videos) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    (cache / "manifest.json").write_text(json.dumps({"version": 1, "size": 0, "keep_aspect": False,
                                                     "videos": videos}), encoding="utf-8")
    return cache / "manifest.json"


GOOD_SHA = "0" * 64


@pytest.mark.parametrize("videos, expected", [
    ([], "videos: expected an object of key -> {file, shape, sha256}, got list"),
    ({"train/a": "a.npy"}, "videos['train/a']: expected an object with file, shape and sha256, got str"),
    ({"train/a": {"shape": [1, 2, 2, 3], "sha256": GOOD_SHA}}, "videos['train/a']: missing file"),
    ({"train/a": {"file": "a.npy", "sha256": GOOD_SHA}}, "videos['train/a']: missing shape"),
    ({"train/a": {"file": "a.npy", "shape": [1, 2, 2], "sha256": GOOD_SHA}}, "videos['train/a'].shape: expected 4"),
    ({"train/a": {"file": "a.npy", "shape": [1, "2", 2, 3], "sha256": GOOD_SHA}}, "videos['train/a'].shape"),
    ({"train/a": {"file": "a.npy", "shape": [1, 2, 2, 3], "sha256": 5}}, "videos['train/a'].sha256: expected 64"),
    ({"train/a": {"file": "/etc/passwd", "shape": [1, 2, 2, 3], "sha256": GOOD_SHA}},
     "videos['train/a'].file '/etc/passwd' is an absolute path"),
    ({"train/a": {"file": "../../x.npy", "shape": [1, 2, 2, 3], "sha256": GOOD_SHA}},
     "videos['train/a'].file '../../x.npy' has a '..' component"),
    ({"train/a": {"file": ["a.npy"], "shape": [1, 2, 2, 3], "sha256": GOOD_SHA}},
     "videos['train/a'].file: expected a file name below the cache folder, got list"),
])
def test_manifest_of_the_wrong_shape_is_one_line_naming_the_key(tmp_path, videos, expected):
    from signkd.data.packed_cache import PackedCache

    path = _manifest(tmp_path, videos)
    with pytest.raises(DataError) as err:
        PackedCache(path.parent)
    assert one_line(err).startswith(f"{path}: {expected}")


def test_manifest_not_an_object_or_with_a_bom(tmp_path):
    from signkd.data.packed_cache import PackedCache

    path = _manifest(tmp_path, {})
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DataError, match=r"manifest.json: expected a JSON object with version"):
        PackedCache(path.parent)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(DataError, match="not UTF-8 text"):
        PackedCache(path.parent)
    path.write_text("\ufeff" + json.dumps({"version": 1, "size": 8, "keep_aspect": False, "videos": {}}),
                    encoding="utf-8")   # an editor's BOM
    assert PackedCache(path.parent).size == 8


# ----------------------------------------------------------------------------- checksums checked in training

def _pack(tmp_path, n=2):
    from conftest import random_clip, write_frames
    from signkd.data.packed_cache import pack_videos

    items = [(f"train/v{k}", str(write_frames(tmp_path / "src" / f"v{k}", random_clip(4, seed=k))), "*.png")
             for k in range(n)]
    pack_videos(items, tmp_path / "cache", size=0, progress=False)
    return tmp_path / "cache"


def _flip_a_byte(path: Path, keep_times: bool = False) -> None:
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    if keep_times:   # same size and mtime as before: only ctime/inode tell the change
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_flipped_byte_in_a_packed_file_is_refused_at_first_use(tmp_path):
    from signkd.data.packed_cache import FrameSource, PackedCache
    from signkd.data.video import FrameError

    cache = _pack(tmp_path)
    _flip_a_byte(cache / "train/v1.npy")
    source = FrameSource(PackedCache(cache))
    assert source.read("train/v0", "", "").shape == (4, 12, 10, 3)
    assert source.probe("train/v1", "", "") == 4          # the cheap pre-training check cannot see it
    with pytest.raises(FrameError) as err:
        source.read("train/v1", "", "")
    msg = one_line(err)
    assert msg.startswith(f"{cache / 'train/v1.npy'}: packed video 'train/v1' does not match its sha256")
    assert err.value.file == str(cache / "train/v1.npy")


def test_a_verified_entry_is_not_hashed_again_unless_its_file_changed(tmp_path, monkeypatch):
    from signkd.data import packed_cache
    from signkd.data.packed_cache import PackedCache
    from signkd.data.video import FrameError

    cache = _pack(tmp_path)
    hashed = []
    real = packed_cache.sha256_file
    monkeypatch.setattr(packed_cache, "sha256_file", lambda path: hashed.append(Path(path).name) or real(path))
    first = PackedCache(cache)
    first.load("train/v0")
    first.load("train/v0")                                  # the second epoch
    assert hashed == ["v0.npy"]
    PackedCache(cache).load("train/v0")                     # a DataLoader worker or a later run: verified.jsonl
    assert hashed == ["v0.npy"]
    assert (cache / "verified.jsonl").is_file()
    PackedCache(cache).load("train/v1")                     # another worker hashes v1 after `first` read the record
    first.load("train/v1")                                  # `first` catches up with the record instead of hashing
    assert hashed == ["v0.npy", "v1.npy"]
    _flip_a_byte(cache / "train/v0.npy", keep_times=True)   # same size and mtime: a stale record must not pass
    for reader in (first, PackedCache(cache)):
        with pytest.raises(FrameError, match="does not match its sha256"):
            reader.load("train/v0")
    assert hashed == ["v0.npy", "v1.npy", "v0.npy", "v0.npy"]


def test_a_verified_record_from_elsewhere_does_not_count(tmp_path, monkeypatch):
    """verified.jsonl shipped inside a downloaded cache: its signatures are not this machine's files."""
    from signkd.data import packed_cache
    from signkd.data.packed_cache import PackedCache

    cache = _pack(tmp_path, n=1)
    entry = PackedCache(cache).entries["train/v0"]
    st = (cache / entry.file).stat()
    fake = [st.st_size, st.st_mtime_ns, st.st_ctime_ns - 1, st.st_ino + 1, st.st_dev]
    (cache / "verified.jsonl").write_text(json.dumps({"file": entry.file, "sig": fake, "sha256": entry.sha256}) + "\n"
                                          + "{torn line\n", encoding="utf-8")
    hashed = []
    real = packed_cache.sha256_file
    monkeypatch.setattr(packed_cache, "sha256_file", lambda path: hashed.append(path) or real(path))
    PackedCache(cache).load("train/v0")
    assert len(hashed) == 1


def test_pack_videos_never_writes_outside_its_folder(tmp_path):
    from conftest import random_clip, write_frames
    from signkd.data.packed_cache import PackedCache, pack_videos

    src = str(write_frames(tmp_path / "src", random_clip(2)))
    out = tmp_path / "deep" / "cache"
    pack_videos([("../../escaped", src, "*.png"), ("train/a b", src, "*.png"), ("train/a_b", src, "*.png")], out,
                size=0, progress=False)
    assert not list(tmp_path.glob("*.npy")) and not list((tmp_path / "deep").glob("*.npy"))
    files = sorted(e.file for e in PackedCache(out).entries.values())
    assert files[0] == "__/__/escaped.npy" and len(set(files)) == 3   # 'a b' and 'a_b' do not share a file


# ----------------------------------------------------------------------------- bad frames: one line, or skipped

TINY_FRAMES = "features/fullFrame-32x32px"


@pytest.fixture
def corpus(tiny_corpus, tmp_path) -> Path:
    """A private copy of the tiny corpus, to break."""
    import shutil

    return Path(shutil.copytree(tiny_corpus, tmp_path / "corpus"))


def _cfg(root: Path, *extra: str):
    from conftest import TINY_CONFIG
    from signkd.config import load_config

    return load_config(TINY_CONFIG, [f"data.root={root}", *extra])


def _dev_ids(root: Path) -> list[str]:
    return [s.id for s in read_corpus("synthetic", root, "dev")]


def _frames(root: Path, sample_id: str, split: str = "dev") -> list[Path]:
    return sorted((root / TINY_FRAMES / split / sample_id).glob("*.png"))


def _break(root: Path, how: str, sample_id: str, split: str = "dev") -> Path:
    """Damage one sample's frames; returns the file (or folder) at fault."""
    frames = _frames(root, sample_id, split)
    if how == "empty folder":
        for f in frames:
            f.unlink()
        return frames[0].parent
    if how == "corrupt first png":
        frames[0].write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
        return frames[0]
    if how == "0-byte png":
        frames[-1].write_bytes(b"")
        return frames[-1]
    if how == "corrupt middle png":   # only a full decode finds it: at first use
        mid = frames[len(frames) // 2]
        mid.write_bytes(mid.read_bytes()[:40])
        return mid
    if how in ("truncated mp4", "0-frame mp4"):
        clip = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames])
        for f in frames:
            f.unlink()
        video = frames[0].parent / "clip.mp4"
        _write_mp4(video, clip)
        raw = video.read_bytes()
        video.write_bytes(raw[: len(raw) // 3] if how == "truncated mp4" else raw[:-100])
        ann = root / f"annotations/manual/PHOENIX-2014-T.{split}.corpus.csv"
        ann.write_text(ann.read_text(encoding="utf-8").replace(f"{sample_id}/*.png", f"{sample_id}/*.mp4"),
                       encoding="utf-8")
        return video
    raise ValueError(how)


def _write_mp4(path: Path, clip: np.ndarray) -> None:
    with av.open(str(path), "w") as out:   # moov at the end: cutting its tail leaves a 0-frame file
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        for frame in clip:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.mark.parametrize("how, reason", [
    ("empty folder", "no frames matching '*.png'"),
    ("corrupt first png", "cannot decode image"),
    ("0-byte png", "empty (0-byte) frame file"),
    ("truncated mp4", "cannot decode video"),
    ("0-frame mp4", "video has no frames"),
])
def test_bad_frames_are_found_before_training_and_are_one_line(corpus, tmp_path, how, reason):
    from signkd.training.data import build_data

    victim = _dev_ids(corpus)[1]
    bad = _break(corpus, how, victim)
    with pytest.raises(DataError) as err:
        build_data(_cfg(corpus), tmp_path / "run", log=lambda m: None)
    msg = one_line(err)
    assert msg.startswith(f"sample 'dev/{victim}': {bad}") and reason in msg


def test_skip_bad_leaves_bad_frames_out_into_one_json_report(corpus, tmp_path):
    from signkd.training.data import build_data, eval_loader
    from signkd.training.distributed import DistInfo

    ids = _dev_ids(corpus)
    early = {how: (ids[i], _break(corpus, how, ids[i])) for i, how in
             enumerate(["empty folder", "corrupt first png", "0-byte png", "0-frame mp4"])}
    late_id = ids[4]
    late_file = _break(corpus, "corrupt middle png", late_id)
    ann = corpus / "annotations/manual/PHOENIX-2014-T.dev.corpus.csv"   # and one annotation-level problem
    ann.write_text(ann.read_text(encoding="utf-8") + "broken|line\n", encoding="utf-8")
    run = tmp_path / "run"
    data = build_data(_cfg(corpus, "data.skip_bad=true"), run, log=lambda m: None)
    dev = data.datasets["dev"]
    kept = [s.id for s in data.samples["dev"]]
    assert not {sid for sid, _ in early.values()} & set(kept) and late_id in kept
    seen = [uid for batch in eval_loader(dev, _cfg(corpus), DistInfo()) for uid in batch.ids]
    assert sorted(seen) == sorted(set(kept) - {late_id})    # the mid-epoch find is dropped, the rest all scored
    report = json.loads((run / "data_report.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in report["samples"]}
    assert report["skipped"] == len(report["samples"]) == 6
    for how, (sid, bad) in early.items():
        assert by_id[sid]["split"] == "dev" and by_id[sid]["file"] == str(bad) and by_id[sid]["line"] is None, how
    assert by_id[late_id]["file"] == str(late_file) and "cannot decode image" in by_id[late_id]["reason"]
    assert by_id["broken"]["file"] == str(ann) and by_id["broken"]["line"] == len(ids) + 2
    # a later reading of the train split alone keeps dev's records
    build_data(_cfg(corpus, "data.skip_bad=true"), run, roles=("train",), vocabs=data.vocabs, log=lambda m: None)
    assert {r["id"] for r in json.loads((run / "data_report.json").read_text(encoding="utf-8"))["samples"]} \
        >= set(by_id)


def test_error_in_a_dataloader_worker_is_its_own_one_line_message(corpus, tmp_path):
    from signkd.data.video import FrameError
    from signkd.training.data import build_data, eval_loader
    from signkd.training.distributed import DistInfo

    victim = _dev_ids(corpus)[2]
    bad = _break(corpus, "corrupt middle png", victim)
    cfg = _cfg(corpus, "data.num_workers=1")
    data = build_data(cfg, tmp_path / "run", log=lambda m: None)
    with pytest.raises(FrameError) as err:
        for _ in eval_loader(data.datasets["dev"], cfg, DistInfo()):
            pass
    assert one_line(err).startswith(f"sample 'dev/{victim}': {bad}: cannot decode image")


def test_train_command_with_a_truncated_mp4_is_one_line(corpus, tmp_path, capsys):
    from signkd.cli import main
    from conftest import TINY_CONFIG

    victim = [s.id for s in read_corpus("synthetic", corpus, "train")][3]
    video = _break(corpus, "truncated mp4", victim, split="train")
    rc = main(["train", str(TINY_CONFIG), "--set", f"data.root={corpus}", "--work-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"signkd train: error: sample 'train/{victim}': {video}: cannot decode video")
    assert err.count("\n") == 1


def test_train_with_a_corrupt_packed_file_fails_or_skips_it(corpus, tmp_path, capsys):
    from signkd.cli import main
    from conftest import TINY_CONFIG

    cache = tmp_path / "cache"
    assert main(["prepare", str(TINY_CONFIG), "--set", f"data.root={corpus}", "--out", str(cache)]) == 0
    from signkd.data.packed_cache import PackedCache

    victim = [s.id for s in read_corpus("synthetic", corpus, "train")][0]
    victim_file = cache / PackedCache(cache).entries[f"train/{victim}"].file   # .jpegs: the default store
    _flip_a_byte(victim_file)
    base = ["train", str(TINY_CONFIG), "--set", f"data.root={corpus}", "--set", f"data.cache={cache}",
            "--set", "data.batch_size=1", "--set", "train.epochs=1", "--set", "data.dev="]
    capsys.readouterr()
    assert main([*base, "--work-dir", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"signkd train: error: sample 'train/{victim}': {victim_file}: "
                          f"packed video 'train/{victim}' does not match its sha256") and err.count("\n") == 1
    assert main([*base, "--work-dir", str(tmp_path / "b"), "--set", "data.skip_bad=true"]) == 0
    (record,) = json.loads((tmp_path / "b/data_report.json").read_text(encoding="utf-8"))["samples"]
    assert record["id"] == victim and record["split"] == "train" and "sha256" in record["reason"]


class _Reduce:
    """Pickles as `func(*args)` (plus `state` for BUILD): hand-made pickles for the tests."""

    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def test_restricted_unpickler_cannot_call_ndarray_or_make_huge_label_arrays(tmp_path):
    # ndarray(shape, dtype, buffer, offset, strides): strides of 0 make a 10**12-element view over one byte
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(_Reduce(np.ndarray, ((10 ** 12,), "S1", b"a", 0, (0,))), protocol=4))
    with pytest.raises(DataError) as err:
        safe_load(path)
    assert "not a readable pickle (TypeError" in one_line(err)
    # _reconstruct + a state of 10**12 zero-byte strings: a few bytes of pickle, refused as a label
    func, args, _ = np.empty(0, "S0").__reduce__()
    huge = _Reduce(func, args, (1, (10 ** 12,), np.dtype("S0"), False, b""))
    pkl = make_csl(tmp_path, [record("S0") | {"label_gloss": huge}, record("S1")], protocol=4)
    assert pkl.stat().st_size < 1000
    with pytest.raises(DataError) as err:
        read_corpus("csl-daily", "", "train", annotations=pkl)
    assert one_line(err).startswith(f"{pkl}:info[0]: field 'label_gloss': expected a string or a list of strings")
