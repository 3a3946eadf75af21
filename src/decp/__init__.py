"""decp: Data Engineering Copilot Patterns.

A file-based session protocol (loops, state, handoffs, context ledger) plus
small tools that do its mechanical parts. The CLI in `decp.cli` is a thin layer
over the plain Python modules in this package.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("decp")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
