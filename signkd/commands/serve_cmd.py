"""`signkd serve CKPT [CKPT...]`: a local web page and JSON API to try student checkpoints on
one's own video (README, "Try a model in the browser"). Binds 127.0.0.1 unless
--host says otherwise: the page accepts uploads from whoever can reach it."""
from __future__ import annotations

from signkd.inference import DEFAULT_CONTEXT, DEFAULT_WINDOW

HELP = "a local web page and JSON API that recognise glosses in uploaded or webcam videos"


def add_arguments(p) -> None:
    p.add_argument("checkpoints", nargs="+", metavar="CKPT",
                   help="student checkpoint(s); NAME=CKPT names one (default: its run folder, or its file stem)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--max-upload-mb", type=float, default=200.0, metavar="MB",
                   help="largest accepted upload (default 200)")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="longest accepted video, in seconds (default: no limit; long videos run in windows)")
    p.add_argument("--queue", type=int, default=4, metavar="N",
                   help="requests that may wait per model while one runs; more are answered 503 busy (default 4)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW, metavar="FRAMES",
                   help=f"frames per temporal window on long videos (default {DEFAULT_WINDOW})")
    p.add_argument("--context", type=int, default=DEFAULT_CONTEXT, metavar="FRAMES",
                   help=f"frames of sequence context at each inner window edge (default {DEFAULT_CONTEXT})")


def run(args) -> int:
    from signkd.errors import SignkdError

    if not 0 < args.port < 65536:
        raise SignkdError(f"--port: expected 1..65535, got {args.port}")
    if args.max_upload_mb <= 0 or (args.max_seconds is not None and args.max_seconds <= 0):
        raise SignkdError("--max-upload-mb/--max-seconds: expected positive numbers")
    try:
        import uvicorn

        from signkd.serve import Limits, create_app, load_models
    except ImportError as exc:
        raise SignkdError(f"serve: needs {exc.name or 'the web server packages'}; "
                          "pip install 'signkd[serve]'") from None

    models = load_models(args.checkpoints, queue=args.queue, device=args.device, window=args.window,
                         context=args.context)
    app = create_app(models, Limits(int(args.max_upload_mb * 2**20), args.max_seconds))
    where = "this machine only" if args.host in ("127.0.0.1", "localhost", "::1") else "reachable from other machines"
    names = ", ".join(f"{m.name} ({'slt' if m.recognizer.bundle.is_slt else 'slr'})" for m in models)
    print(f"signkd serve: {names} on http://{args.host}:{args.port}/ ({where}); Ctrl-C stops", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
