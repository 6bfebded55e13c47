"""Peak memory of `signkd serve` while it recognises a long upload: the server process's peak
resident set (VmHWM) after start-up, after a 1-minute video and after a 10-minute video. Memory is
bounded when the 10-minute peak stays near the 1-minute one: the upload is streamed to disk,
frames are decoded one at a time and the model runs over windows (signkd/inference.py); what grows
with the length is only the (T', C) log-probabilities and the JSON answer.

Model: a randomly initialised student with the original's temporal geometry (hidden 768, 2-layer
BiLSTM, 1,116 gloss classes) and the small frame CNN at 112 px, so the run takes minutes, not hours;
videos: 112 x 112 mpeg4 at 25 fps. Linux only (/proc).

    python benchmarks/bench_serve_memory.py [--minutes 1 10] [--size 112]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_checkpoint(path: Path, size: int) -> Path:
    import torch

    from signkd.checkpoint import save_checkpoint
    from signkd.config import load_config, to_dict
    from signkd.data.preprocessing import preprocessing_of
    from signkd.data.vocab import GlossVocab
    from signkd.models.build import build_system

    cfg = load_config(REPO / "configs" / "synthetic" / "tiny.yaml", [
        "model.hidden=768", "model.visual.hidden=768", "model.visual.small_channels=[32,64,128]",
        "model.visual.temporal=[K5,P2,K5,P2]", "model.sequence.layers=2", "model.sequence.kind=bilstm",
        "data.augment.resize=0", f"data.augment.crop={size}"])
    vocab = GlossVocab([f"G{i:04d}" for i in range(1, 1116)])
    torch.manual_seed(0)
    system = build_system(cfg, vocab, None)
    payload = {"epoch": 0, "model": system.state_dict(), "config": to_dict(cfg),
               "vocab": {"gloss": vocab.to_dict(), "word": None, "tokenizer": None},
               "preprocessing": {**preprocessing_of(cfg), "max_lengths": {"glosses": 30}}, "metrics": {}}
    return save_checkpoint(path, payload)


def write_video(path: Path, seconds: float, size: int, fps: int = 25) -> Path:
    """A bright square wandering over a dim noise background (mpeg4, 25 fps)."""
    import av

    rng = np.random.default_rng(0)
    background = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            frame = background.copy()
            y, x = int(size * 0.1 + size * 0.6 * abs(np.sin(i / 7))), int(size * 0.1 + size * 0.6 * abs(np.cos(i / 5)))
            frame[y:y + size // 8, x:x + size // 8] = (255, 200, 80)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/PID/status")


def post_video(url: str, path: Path) -> dict:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"{path.name}\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}/api/recognize", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=3600) as answer:
        return json.load(answer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        ckpt = write_checkpoint(tmp / "student.pt", args.size)
        videos = [write_video(tmp / f"{m:g}min.mp4", 60 * m, args.size) for m in sorted(args.minutes)]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        server = subprocess.Popen([sys.executable, "-m", "signkd", "serve", str(ckpt), "--port", str(port)],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                    break
                except OSError:
                    if server.poll() is not None:
                        raise SystemExit("signkd serve did not start")
                    time.sleep(0.3)
            rows = [("start-up (model loaded)", "", "", f"{peak_rss_mb(server.pid):.0f}")]
            for video in videos:
                start = time.perf_counter()
                answer = post_video(url, video)
                wall = time.perf_counter() - start
                rows.append((f"{video.stem} video", f"{answer['frames']}", f"{wall:.0f}", f"{peak_rss_mb(server.pid):.0f}"))
        finally:
            server.terminate()
            server.wait(30)
    print(f"signkd serve, {args.size} px small CNN + 768-d 2-layer BiLSTM, 1,116 classes, {args.threads} threads")
    print("| after | frames | wall s | server peak RSS MB |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
