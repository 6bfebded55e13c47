"""The ASGI app: `create_app(models)` builds it from loaded models (tests call it without a
port; `signkd serve` runs it under uvicorn). Routes:

- ``GET /``, ``/static/app.js``, ``/static/style.css``: the page, served from the package;
- ``GET /healthz``: {"status": "ok", "models": N};
- ``GET /api/models``: what each loaded checkpoint is (name, task, vocabulary size, preprocessing);
- ``POST /api/recognize[?model=NAME]``: multipart upload (field ``video``: a video file, or a zip
  of frame images; optional field ``model``) -> the `signkd recognize --json` record of the clip
  plus ``model`` and ``posterior`` (`ServedModel.posterior`).

Every refusal is a 4xx/5xx answer {"error": "<one line>"} and the server stays up. Each upload
lives in its own private temporary folder, removed when the request ends however it ends.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from signkd.errors import SignkdError
from signkd.inference import ClipSource, resolve_inputs
from signkd.serve.models import Busy, ServedModel
from signkd.serve.upload import UploadError, extract_frames, probe_video, receive_upload, sniff

STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}


@dataclass
class Limits:
    max_upload_bytes: int = 200 * 2**20
    max_seconds: float | None = None     # None: no limit on the clip's duration


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(models: list[ServedModel], limits: Limits | None = None, upload_root: str | Path | None = None) -> Starlette:
    """The app serving `models` (the first is the default). `upload_root`: where the private
    per-request folders are made (default: the system's temporary directory)."""
    if not models:
        raise SignkdError("serve: give at least one checkpoint")
    limits = limits or Limits()
    by_name = {m.name: m for m in models}

    async def page(request):
        name = request.path_params.get("name", "index.html")
        if name not in STATIC:
            return error(404, f"no such file: {name}")
        body = resources.files("signkd.serve").joinpath("static", name).read_bytes()
        return Response(body, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    async def healthz(request):
        return JSONResponse({"status": "ok", "models": len(models)})

    async def list_models(request):
        return JSONResponse({"models": [m.describe() for m in models]})

    async def recognize(request):
        folder = Path(tempfile.mkdtemp(prefix="signkd-serve-", dir=upload_root))   # mode 0700
        def one_line(message: str) -> str:      # without the server's folder: answers name the client's file
            return message.replace(str(folder) + "/", "").replace(str(folder), "").splitlines()[0]

        try:
            return await _recognize(request, folder)
        except UploadError as exc:
            return error(exc.status, one_line(exc.message))
        except Busy as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})
        except SignkdError as exc:
            return error(422, one_line(str(exc)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _recognize(request, folder: Path):
        wanted = request.query_params.get("model")
        if wanted is not None and wanted not in by_name:
            raise UploadError(404, f"unknown model '{wanted}'; loaded: {', '.join(by_name)}")
        upload = await receive_upload(request, folder, limits.max_upload_bytes)
        wanted = wanted or upload.fields.get("model") or models[0].name
        model = by_name.get(wanted)
        if model is None:
            raise UploadError(404, f"unknown model '{wanted}'; loaded: {', '.join(by_name)}")
        source = await run_in_threadpool(_source_of, upload, folder, model)
        model.admit()
        result = await run_in_threadpool(model.run, lambda recognizer: recognizer.recognize(source))
        record = result.to_dict()
        record["model"] = model.name
        record["posterior"] = model.posterior(result)
        return JSONResponse(record)

    def _source_of(upload, folder: Path, model: ServedModel) -> ClipSource:
        """The upload as a clip, after the checks that need no model: kind, frames, duration."""
        from signkd.data.video import IMAGE_SUFFIXES

        kind = sniff(upload.path)
        if kind == "zip":
            frames = extract_frames(upload.path, folder / "frames", upload.filename, limits.max_upload_bytes,
                                    IMAGE_SUFFIXES)
            seconds = frames / model.recognizer.fps
            (source,) = resolve_inputs([str(folder / "frames")])
            source.name = upload.filename
        else:
            try:
                frames, seconds = probe_video(upload.path, upload.filename)
            except SignkdError as exc:
                if kind == "unknown":
                    raise UploadError(415, f"{upload.filename}: not a video (expected mp4, webm, avi, mov, "
                                           "mkv or a zip of frame images)") from None
                raise UploadError(422, str(exc)) from None
            if frames == 0:
                raise UploadError(422, f"{upload.filename}: the video has no frames")
            source = ClipSource(upload.filename, video=upload.path)
        if limits.max_seconds is not None and seconds > limits.max_seconds:
            raise UploadError(413, f"{upload.filename}: {seconds:.1f} s is longer than the limit of "
                                   f"{limits.max_seconds:g} s")
        return source

    async def not_found(request, exc: HTTPException):
        return error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "not found")

    async def internal(request, exc: Exception):
        return error(500, f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")

    routes = [Route("/", page), Route("/static/{name}", page), Route("/healthz", healthz),
              Route("/api/models", list_models), Route("/api/recognize", recognize, methods=["POST"])]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: internal})
    app.state.models = by_name
    return app
