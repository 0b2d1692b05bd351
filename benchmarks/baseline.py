"""The ceiling for benchmarks/run.py: an empty Flask JSON endpoint under FVH's gunicorn settings.

python benchmarks/baseline.py PORT
"""

from __future__ import annotations

import sys

from flask import Flask, jsonify
from gunicorn.app.base import BaseApplication

from fvh.config import load_config
from fvh.ops.serving import gunicorn_options

app = Flask(__name__)


@app.route("/", methods=["GET", "PUT"])
def ping():
    return jsonify(message="ok", saldo=1)


class Baseline(BaseApplication):
    def __init__(self, port: int) -> None:
        self.options = gunicorn_options(load_config(env_file=False), f"127.0.0.1:{port}")
        self.options.pop("post_worker_init", None)  # no outbox worker for an empty app
        self.options["accesslog"] = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return app


if __name__ == "__main__":
    Baseline(int(sys.argv[1])).run()
