"""`python -m decp` runs the same entry point as the `decp` command (tests use it for real processes)."""

from decp.entry import main

main()
