"""`signkd serve`: a local web page and JSON API to try trained students on one's own video.

`load_models` reads checkpoints into `ServedModel`s (one queue each), `create_app` builds the
Starlette app around them (signkd/serve/app.py lists the routes), the page is the three files
in signkd/serve/static/ (no build step, nothing fetched from elsewhere)."""
from signkd.serve.app import Limits, create_app
from signkd.serve.models import Busy, ServedModel, load_models, model_name

__all__ = ["Busy", "Limits", "ServedModel", "create_app", "load_models", "model_name"]
