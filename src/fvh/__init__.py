"""FVH (Feuerwehr-Versorgungs-Helfer): accounts, ledger and terminal API of a digital tally list.

The app factory is `fvh.app.create_app`; the layers are described in README.md.
"""

__version__ = "0.1.0"
