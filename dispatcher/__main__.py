"""``python -m dispatcher`` is ``smsdispatch``."""

from dispatcher.cli import main

main()
