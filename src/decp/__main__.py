"""`python -m decp` runs the CLI (tests use it to get real processes)."""

from decp.cli import main

main()
