"""FVH (Feuerwehr-Versorgungs-Helfer): accounts, ledger and terminal API of a digital tally list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(config: Any = None, *, mode: str = "combined") -> Flask:
    """The Flask app factory (imported lazily: the domain modules never load Flask)."""
    from fvh.app import create_app as _create_app

    return _create_app(config, mode=mode)


__all__ = ["__version__", "create_app"]
