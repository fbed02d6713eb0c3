"""``python -m eyhub``: the same as the ``eyhub`` command."""

from eyhub.cli import main

main()
