"""Receiving one upload: the multipart body is streamed into a private temporary folder (mode
0700, removed by the caller) and counted as it arrives, so an over-size upload is refused
without being stored whole, and nothing a client sends lands anywhere else (Starlette's own form
parser would spool files into the shared temporary directory). Then what the file is: a video
container, a zip of frame images, or neither, told by its first bytes rather than its name."""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

from signkd.errors import DataError

FILE_FIELD = "video"             # the form field holding the upload
MAX_FIELD_BYTES = 4096           # text fields (the model name) are short


class UploadError(Exception):
    """A bad request: HTTP status + one-line message, answered as {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    path: Path | None = None      # the stored file (inside the private folder)
    filename: str = ""            # the client's name for it (for messages only; never a path)
    size: int = 0
    fields: dict = field(default_factory=dict)


def safe_name(filename: str, default: str = "upload") -> str:
    """A client file name reduced to a harmless base name (no folders, no odd characters)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[:80]
    return base or default


async def receive_upload(request, folder: Path, max_bytes: int) -> Upload:
    """Parse a multipart/form-data body chunk by chunk: the part named `video` goes to a file in
    `folder`, text parts to `fields`. UploadError 413 once more than `max_bytes` arrived."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(400, f"expected a multipart/form-data upload with the video in the field '{FILE_FIELD}'")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise UploadError(413, f"upload of {int(declared) / 2**20:.1f} MB is over the limit of "
                               f"{max_bytes / 2**20:g} MB")
    upload = Upload()
    part: dict = {}
    headers: dict = {}
    pending = {"name": b"", "value": b""}

    def on_part_begin():
        part.clear()
        headers.clear()

    def on_header_field(data, start, end):
        pending["name"] += data[start:end]

    def on_header_value(data, start, end):
        pending["value"] += data[start:end]

    def on_header_end():
        headers[pending["name"].lower()] = pending["value"]
        pending["name"], pending["value"] = b"", b""

    def on_headers_finished():
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        part["name"] = name
        if name == FILE_FIELD and b"filename" in options:
            if upload.path is not None:
                raise UploadError(400, f"one file per request in the field '{FILE_FIELD}'")
            upload.filename = safe_name(options[b"filename"].decode("utf-8", "replace"))
            upload.path = folder / upload.filename
            part["file"] = open(upload.path, "wb")
        else:
            part["data"] = bytearray()

    def on_part_data(data, start, end):
        chunk = data[start:end]
        if "file" in part:
            upload.size += len(chunk)
            if upload.size > max_bytes:
                raise UploadError(413, f"upload is over the limit of {max_bytes / 2**20:g} MB")
            part["file"].write(chunk)
        else:
            part["data"] += chunk
            if len(part["data"]) > MAX_FIELD_BYTES:
                raise UploadError(400, f"form field '{part['name']}' is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end():
        if "file" in part:
            part.pop("file").close()
        else:
            upload.fields[part["name"]] = bytes(part.get("data", b"")).decode("utf-8", "replace")

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end})
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several types for a broken body
        raise UploadError(400, f"malformed multipart body ({str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__})") from None
    finally:
        if "file" in part:
            part.pop("file").close()
    if upload.path is None:
        raise UploadError(400, f"no file in the form field '{FILE_FIELD}'")
    if upload.size == 0:
        raise UploadError(422, f"{upload.filename}: the uploaded file is empty")
    return upload


# --------------------------------------------------------------------------------------------
# What the upload is
# --------------------------------------------------------------------------------------------

def sniff(path: Path) -> str:
    """'video', 'zip' or 'unknown', from the file's first bytes (ISO BMFF / Matroska-WebM / AVI /
    MPEG-PS / FLV / Ogg signatures)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if (head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")
            or head.startswith((b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"FLV", b"OggS"))
            or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")):
        return "video"
    return "unknown"


def probe_video(path: Path, filename: str) -> tuple[int, float]:
    """(packets, seconds) of the first video stream, by demuxing only (no decoding), so a
    too-long or empty video is refused before the model runs. DataError when it cannot be opened."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{filename}: no video stream")
            stream = container.streams.video[0]
            packets, first, last = 0, None, None
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                packets += 1
                if packet.pts is not None:
                    end = packet.pts + (packet.duration or 0)
                    first = packet.pts if first is None else min(first, packet.pts)
                    last = end if last is None else max(last, end)
            rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
            if first is not None and last > first and stream.time_base:
                return packets, float((last - first) * stream.time_base)
            return packets, packets / rate
    except av.error.FFmpegError as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(f"{filename}: cannot decode video, the file is damaged or truncated ({reason})") from None


def extract_frames(archive: Path, folder: Path, filename: str, max_bytes: int, image_suffixes) -> int:
    """The frame images of a zip archive -> `folder` (base names only, so no member can write
    outside it; other members ignored). Returns the number of frames; refuses archives whose
    images unpack to more than `max_bytes`."""
    names: set[str] = set()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist()
                       if not m.is_dir() and Path(m.filename).suffix.lower() in image_suffixes]
            if sum(m.file_size for m in members) > max_bytes:
                raise UploadError(413, f"{filename}: frames unpack to more than {max_bytes / 2**20:g} MB")
            folder.mkdir()
            for m in members:
                name = safe_name(m.filename, "frame.png")
                if name in names:
                    raise UploadError(422, f"{filename}: two frames named {name} in different folders")
                names.add(name)
                with zf.open(m) as src, open(folder / name, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise UploadError(422, f"{filename}: damaged zip archive ({str(exc)[:100]})") from None
    if not names:
        raise UploadError(422, f"{filename}: the archive holds no frame images ({', '.join(image_suffixes)})")
    return len(names)
