"""decp: Data Engineering Copilot Patterns.

A file-based session protocol (loops, state, handoffs, context ledger) plus
small tools that do its mechanical parts. The CLI in `decp.cli` is a thin layer
over the plain Python modules in this package.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """Resolve `__version__` on first use: importlib.metadata costs ~60 ms per CLI call."""
    if name != "__version__":
        raise AttributeError(f"module 'decp' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("decp")
    except PackageNotFoundError:  # a source tree that is not installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
