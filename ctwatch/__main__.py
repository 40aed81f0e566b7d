"""``python -m ctwatch``: the same command line as the ``ctwatch`` script."""

from ctwatch.cli import main

main()
