"""The web GUI door. Until the admin GUI lands, a start page that says where things are."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template

from fvh import access

bp = Blueprint("web", __name__, template_folder="../templates")


@bp.get("/")
@access.public
def index() -> str:
    return render_template(
        "index.html",
        api_prefix=current_app.config.get("FVH_API_PREFIX"),
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
