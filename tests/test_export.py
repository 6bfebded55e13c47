"""ONNX export: `signkd export CKPT --onnx OUT.onnx` gives a graph with a dynamic time axis whose
ONNX Runtime outputs match the PyTorch student (with its packed BiLSTM / masked Transformer) to
<= 1e-4 at lengths other than the one traced."""
from __future__ import annotations

import json

import pytest
import torch

from signkd.cli import main as cli_main
from test_inference import GLOSSES, write_student_checkpoint

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module", params=["bilstm", "transformer"])
def exported(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"export-{request.param}")
    ckpt = write_student_checkpoint(folder / "student.pt", f"model.sequence.kind={request.param}",
                                    "model.sequence.layers=2")
    out = folder / "student.onnx"
    assert cli_main(["export", str(ckpt), "--onnx", str(out), "--no-check"]) == 0
    return ckpt, out


@pytest.mark.parametrize("frames", [5, 15, 61])
def test_onnx_runtime_matches_pytorch_at_any_length(exported, frames):
    """5 frames: shorter than the temporal conv's receptive field (14); the VAC edge padding inside
    the graph still gives ceil(5 / 2) = 3 steps, equal to the batched model's."""
    from signkd.export import OUTPUT_NAMES
    from signkd.onnx_runtime import onnx_session
    from signkd.inference import load_student

    ckpt, onnx_path = exported
    bundle = load_student(ckpt)
    video = torch.randn(1, frames, 3, 28, 28, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        ref = bundle.encoder(video, torch.tensor([frames]))   # the training-time forward (packing, masks)
    got = onnx_session(onnx_path, threads=1).run(list(OUTPUT_NAMES), {"video": video.numpy()})
    for name, value in zip(OUTPUT_NAMES, got):
        assert value.shape == tuple(ref[name].shape), name
        diff = float((torch.from_numpy(value) - ref[name]).abs().max())
        assert diff <= 1e-4, f"{name}: ONNX Runtime differs from PyTorch by {diff:.2e}"


def test_onnx_file_carries_preprocessing_and_glosses(exported):
    import onnx

    ckpt, onnx_path = exported
    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(meta["signkd.glosses"]) == ["<blank>"] + GLOSSES
    pre = json.loads(meta["signkd.preprocessing"])
    assert pre["crop"] == 28 and pre["mean"] == [0.5, 0.5, 0.5]
    assert json.loads(meta["signkd.temporal"]) == {"specs": ["K5", "P2", "K5"], "stride": 2, "receptive_field": 14,
                                                   "pad": "vac", "pad_left": 6}
    graph = onnx.load(str(onnx_path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_param == "frames" and dims[3].dim_value == 28   # time dynamic, frame size fixed


def test_export_command_checks_itself_and_refuses_teachers(tmp_path, capsys):
    ckpt = write_student_checkpoint(tmp_path / "slt.pt", "model.task=slt", words=["es", "regnet"])
    assert cli_main(["export", str(ckpt), "--onnx", str(tmp_path / "slt.onnx")]) == 0
    out = capsys.readouterr().out
    assert "word decoder is not exported" in out
    diff = float(out.split("max |diff| = ")[1].split()[0])
    assert diff <= 1e-4

    teacher = write_student_checkpoint(tmp_path / "teacher.pt", "model.student=false", "model.gloss2text=true",
                                       words=["es", "regnet"])
    assert cli_main(["export", str(teacher), "--onnx", str(tmp_path / "t.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "teacher checkpoint (gloss2text)" in err
    assert not (tmp_path / "t.onnx").exists()


def test_export_to_an_unwritable_place_is_one_line_and_leaves_nothing(exported, tmp_path, capsys, monkeypatch):
    import errno

    import onnx

    ckpt, _ = exported
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for target, message in ((blocker / "student.onnx", "cannot create the folder"),
                            (tmp_path, "is a folder; give a file name")):
        assert cli_main(["export", str(ckpt), "--onnx", str(target), "--no-check"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err

    def disk_full(proto, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(onnx, "save", disk_full)
    out = tmp_path / "full" / "student.onnx"
    assert cli_main(["export", str(ckpt), "--onnx", str(out), "--no-check"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write the ONNX model (No space left on device)" in err, err
    assert list(out.parent.iterdir()) == []
