"""Frame reading: image folders in natural order, videos, resizing."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from conftest import random_clip, write_frames
from signkd.data.video import frame_files, natural_key, read_source_frames, read_video_file, resize_frame
from signkd.errors import DataError


def test_png_folder_reads_in_natural_order(tmp_path):
    clip = random_clip(12)
    folder = tmp_path / "v"
    for i, frame in enumerate(clip, 1):  # unpadded numbers: lexicographic order would put 10 before 2
        write_frames(folder, frame[None], name=f"frame{i}.png")
    assert [p.name for p in frame_files(folder)][:3] == ["frame1.png", "frame2.png", "frame3.png"]
    np.testing.assert_array_equal(read_source_frames(folder), clip)
    np.testing.assert_array_equal(read_source_frames(folder, indices=[3, 0, 3]), clip[[3, 0, 3]])


def test_natural_key_keeps_each_folder_together():
    paths = [Path(p) for p in ("c10/f1.png", "c2/f10.png", "c2/f2.png", "c10/f2.png", "c2/f1.png")]
    assert [str(p) for p in sorted(paths, key=natural_key)] == ["c2/f1.png", "c2/f2.png", "c2/f10.png",
                                                                "c10/f1.png", "c10/f2.png"]


def test_missing_or_empty_folder_is_a_one_line_data_error(tmp_path):
    with pytest.raises(DataError, match="frame folder not found"):
        read_source_frames(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no frames matching"):
        read_source_frames(tmp_path / "empty")


def test_mp4_is_decoded_with_pyav(tmp_path):
    path = tmp_path / "clip.mp4"
    frames = np.zeros((6, 32, 32, 3), dtype=np.uint8)
    for i in range(6):
        frames[i, :, : 5 * (i + 1)] = 200  # a bar that grows frame by frame
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    clip = read_video_file(path)
    assert clip.shape == (6, 32, 32, 3) and clip.dtype == np.uint8
    bright = (clip.mean(axis=(1, 3)) > 100).sum(axis=1)  # columns lit per frame, lossy codec
    assert np.all(np.diff(bright) > 0)
    np.testing.assert_array_equal(read_source_frames(path, "*.mp4"), clip)
    np.testing.assert_array_equal(read_source_frames(tmp_path, "*.mp4", indices=[5, 1]), clip[[5, 1]])


def test_resize_square_and_keep_aspect():
    frame = np.zeros((260, 210, 3), dtype=np.uint8)
    assert resize_frame(frame, 256, keep_aspect=False).shape == (256, 256, 3)
    assert resize_frame(frame, 256, keep_aspect=True).shape == (317, 256, 3)
    assert resize_frame(frame, 0, keep_aspect=False) is frame
