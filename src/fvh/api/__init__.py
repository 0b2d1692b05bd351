"""The terminals' JSON API (docs/api.md): a thin door over the domain core."""

from __future__ import annotations

from flask import Flask

from fvh.api import openapi  # noqa: F401
from fvh.api.errors import register_error_handlers
from fvh.api.routes import bp


def init_app(app: Flask, *, prefix: str) -> None:
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    app.config["FVH_API_PREFIX"] = prefix
    app.register_blueprint(bp, url_prefix=prefix or None)
    register_error_handlers(app)
