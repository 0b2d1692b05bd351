"""`python -m fvh` is the same as the `fvh` command."""

from fvh.cli import main

main()
