"""`python -m fvh` is the same as the `fvh` command."""

from fvh.ops.cli import main

main()
