"""Issue #20, data side: downloaded corpus files cannot run code or point outside their place,
bad frames are one line or (data.skip_bad) skipped into data_report.json, packed files are
checked against their checksums in training, and DataLoader worker errors stay one line."""
from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

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
