"""`signkd serve`'s JSON API, through Starlette's TestClient (no port): a trained tiny student
answers an uploaded synthetic mp4 exactly as `signkd recognize --json` does, lists itself, and
every bad upload is a 4xx JSON error after which the server still answers, with no upload left
on disk. The browser page is tested in tests/serve/test_serve_browser.py."""
from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import av
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("python_multipart")

from starlette.testclient import TestClient  # noqa: E402

from signkd.cli import main as cli_main  # noqa: E402
from signkd.serve import Limits, create_app, load_models  # noqa: E402


@pytest.fixture(scope="module")
def student(tiny_trained) -> Path:
    return tiny_trained / "best.pt"


@pytest.fixture(scope="module")
def mp4_clips(tmp_path_factory) -> list[Path]:
    """The test-split mp4s of `signkd synth --preset tiny --format mp4` (same clips as the PNG corpus)."""
    out = tmp_path_factory.mktemp("serve-mp4") / "tiny"
    assert cli_main(["synth", str(out), "--preset", "tiny", "--format", "mp4"]) == 0
    clips = sorted(out.glob("features/*/test/*/*.mp4"))
    assert clips
    return clips


@pytest.fixture(scope="module")
def models(student):
    return load_models([str(student)])


def client_for(models, tmp_path: Path, **limits) -> TestClient:
    return TestClient(create_app(models, Limits(**limits), upload_root=tmp_path), raise_server_exceptions=False)


def post(client: TestClient, path: Path | str, content: bytes | None = None, query: str = "", **kw):
    name = Path(path).name
    data = Path(path).read_bytes() if content is None else content
    return client.post(f"/api/recognize{query}", files={"video": (name, data, "application/octet-stream")}, **kw)


def recognize_json(student: Path, clip: Path, capsys) -> dict:
    capsys.readouterr()
    assert cli_main(["recognize", str(student), str(clip), "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


# --------------------------------------------------------------------------------------------
# The endpoints
# --------------------------------------------------------------------------------------------

def test_recognize_answers_what_recognize_json_prints(models, student, mp4_clips, tmp_path, capsys):
    client = client_for(models, tmp_path)
    clip = mp4_clips[0]
    answer = post(client, clip)
    assert answer.status_code == 200, answer.text
    record = answer.json()
    expected = recognize_json(student, clip, capsys)
    assert {k: record[k] for k in expected if k != "input"} == {k: v for k, v in expected.items() if k != "input"}
    assert record["input"] == clip.name                 # the client's file name, not the server's path
    assert record["model"] == models[0].name
    assert record["glosses"], "the trained tiny student recognises something in a test clip"
    post_ = record["posterior"]
    steps = len(post_["times"])
    assert steps > 0 and len(post_["blank"]) == steps and post_["step"] > 0
    assert post_["times"] == sorted(post_["times"])
    assert set(post_["glosses"]) == {g["gloss"] for g in record["glosses"]}
    for values in post_["glosses"].values():
        assert len(values) == steps
        assert all(0 <= p <= 1 and p + b <= 1.001 for p, b in zip(values, post_["blank"]))
    assert list(tmp_path.iterdir()) == []               # the upload folder is gone


def test_slt_student_answers_with_its_translation(tmp_path, capsys):
    from test_inference import moving_clip, write_student_checkpoint, write_video

    words = ["es", "regnet", "morgen", "sonne", "wind", "und"]
    ckpt = write_student_checkpoint(tmp_path / "slt.pt", "model.task=slt", words=words)
    video = write_video(tmp_path / "clip.mp4", moving_clip(40, seed=3))
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (model,) = load_models([f"slt={ckpt}"])
    client = client_for([model], uploads)
    record = post(client, video).json()
    expected = recognize_json(ckpt, video, capsys)
    assert record["translation"] and record["translation"] == expected["translation"]
    assert record["glosses"] == expected["glosses"]
    (described,) = client.get("/api/models").json()["models"]
    assert described["task"] == "slt" and described["words"] == len(model.recognizer.bundle.word_vocab)


def test_model_chosen_by_name_in_query_or_form(student, mp4_clips, tmp_path):
    two = load_models([f"first={student}", f"second={student}"])
    client = client_for(two, tmp_path)
    assert post(client, mp4_clips[0], query="?model=second").json()["model"] == "second"
    answer = client.post("/api/recognize", files={"video": ("a.mp4", mp4_clips[0].read_bytes())},
                         data={"model": "second"})
    assert answer.json()["model"] == "second"
    assert post(client, mp4_clips[0]).json()["model"] == "first"      # the first checkpoint by default


def test_models_lists_task_vocabulary_and_preprocessing(models, student, tmp_path):
    client = client_for(models, tmp_path)
    (described,) = client.get("/api/models").json()["models"]
    bundle = models[0].recognizer.bundle
    assert described["name"] == student.parent.name and described["task"] == "slr"
    assert described["glosses"] == len(bundle.gloss_vocab.glosses) and described["words"] is None
    assert described["preprocessing"]["crop"] == 28 and described["preprocessing"]["frame_interval"] == 1
    assert described["checkpoint"] == "best.pt"         # the file name only: no server paths in answers
    assert client.get("/healthz").json() == {"status": "ok", "models": 1}


def test_page_and_its_files_are_served(models, tmp_path):
    client = client_for(models, tmp_path)
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        assert f"/static/{name}" in page.text
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind) and answer.text
    assert "http" not in client.get("/static/app.js").text.replace("XMLHttpRequest", "")   # nothing from elsewhere
    missing = client.get("/static/../../etc/passwd")
    assert missing.status_code == 404 and "error" in missing.json()
    assert client.get("/static/secret.py").status_code == 404


def test_frames_zip_is_recognised_like_the_frame_folder(models, student, tiny_corpus, tmp_path, capsys):
    folder = next(p for p in sorted(tiny_corpus.glob("features/*/test/*")) if p.is_dir())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for png in sorted(folder.glob("*.png")):
            zf.write(png, f"clip/{png.name}")
        zf.writestr("clip/notes.txt", "ignored")
        zf.writestr("../../escape.png", (sorted(folder.glob("*.png"))[-1]).read_bytes())
    client = client_for(models, tmp_path)
    answer = post(client, "frames.zip", archive.getvalue())
    assert answer.status_code == 200, answer.text
    frames = len(list(folder.glob("*.png"))) + 1
    assert answer.json()["frames"] == frames
    assert not (tmp_path.parent / "escape.png").exists() and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Bad input: a 4xx JSON error, the server still up, nothing left on disk
# --------------------------------------------------------------------------------------------

def empty_video(path: Path, fmt: str) -> Path:
    """A video file with a video stream and no frames (avi), or no video stream at all (mp4)."""
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()
    return path


def bad_uploads(clip: Path, tmp: Path) -> list[tuple[str, dict, dict, int, str]]:
    """(case, limits, post arguments, status, words of the message)."""
    video = clip.read_bytes()
    return [
        ("not a video", {}, {"path": "notes.txt", "content": b"just some text, not a video\n" * 10}, 415, "not a video"),
        ("truncated", {}, {"path": "cut.mp4", "content": video[: len(video) // 2]}, 422, "cannot decode"),
        ("garbage after a video signature", {}, {"path": "x.mp4", "content": video[:32] + bytes(range(256)) * 4},
         422, "cannot decode"),
        ("a video signature and nothing else", {}, {"path": "sig.mp4", "content": b"\0\0\0\x18ftypmp42" + bytes(100)},
         422, "cannot decode"),
        ("zero frames", {}, {"path": empty_video(tmp / "empty.avi", "avi")}, 422, "no frames"),
        ("no video stream", {}, {"path": empty_video(tmp / "empty.mp4", "mp4")}, 422, "no video stream"),
        ("empty file", {}, {"path": "nothing.mp4", "content": b""}, 422, "empty"),
        ("over the size limit", {"max_upload_bytes": 1000}, {"path": clip}, 413, "over the limit"),
        ("too long", {"max_seconds": 0.5}, {"path": clip}, 413, "longer than the limit"),
        ("unknown model", {}, {"path": clip, "query": "?model=nope"}, 404, "unknown model 'nope'"),
        ("zip without frames", {}, {"path": "f.zip", "content": _zip({"a.txt": b"x"})}, 422, "no frame images"),
        ("damaged zip", {}, {"path": "f.zip", "content": b"PK\x03\x04" + b"\0" * 40}, 422, "damaged zip"),
    ]


def _zip(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_bad_uploads_are_4xx_json_and_leave_nothing(models, mp4_clips, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for case, limits, args, status, words in bad_uploads(mp4_clips[0], tmp_path):
        client = client_for(models, uploads, **limits)
        answer = post(client, **args)
        assert answer.status_code == status, (case, answer.text)
        message = answer.json()["error"]
        assert words in message and "\n" not in message, (case, message)
        assert str(uploads) not in message, (case, message)          # no server paths in answers
        assert list(uploads.iterdir()) == [], case
        assert client.get("/healthz").status_code == 200, case
    # and the model still answers a good clip afterwards
    assert post(client_for(models, uploads), mp4_clips[0]).status_code == 200


def test_requests_that_are_not_uploads_are_400(models, tmp_path):
    client = client_for(models, tmp_path)
    for answer in (client.post("/api/recognize", content=b"raw bytes"),
                   client.post("/api/recognize", data={"model": "x"}, files={"other": ("a.mp4", b"123")}),
                   client.post("/api/recognize", content=b"--b\r\nbroken", headers={"content-type": "multipart/form-data; boundary=b"})):
        assert answer.status_code == 400 and answer.json()["error"], answer.text
    assert client.get("/api/recognize").status_code == 405
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    assert list(tmp_path.iterdir()) == []


def test_one_request_at_a_time_and_busy_past_the_queue(student, mp4_clips, tmp_path):
    (model,) = load_models([str(student)], queue=0)
    client = client_for([model], tmp_path)
    started, release = threading.Event(), threading.Event()
    recognize = model.recognizer.recognize

    def slow(source):
        started.set()
        assert release.wait(30)
        return recognize(source)

    model.recognizer.recognize = slow
    first = {}
    worker = threading.Thread(target=lambda: first.setdefault("answer", post(client, mp4_clips[0])))
    worker.start()
    try:
        assert started.wait(30)
        busy = post(client, mp4_clips[1])
        assert busy.status_code == 503 and "busy" in busy.json()["error"] and busy.headers["retry-after"]
    finally:
        release.set()
        worker.join(60)
    assert first["answer"].status_code == 200
    assert post(client, mp4_clips[1]).status_code == 200          # free again
    assert model.pending == 0 and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------

def test_serve_command_refuses_bad_arguments_in_one_line(student, tmp_path, capsys):
    not_a_checkpoint = tmp_path / "x.pt"
    not_a_checkpoint.write_bytes(b"nothing")
    for args in ([str(not_a_checkpoint), "--port", "8123"], [str(student), "--port", "0"],
                 [str(student), "--max-upload-mb", "0"], [f"a={student}", f"a={student}", "--port", "8123"]):
        capsys.readouterr()
        assert cli_main(["serve", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("signkd serve: error:") and "\n" not in err, err
