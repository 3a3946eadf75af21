"""`decp mcp`: the decp API as a stdio Model Context Protocol server.

Why: an agent that calls decp through MCP pays Python's start-up and the
tokenizer build once per session instead of once per command, and sees a
tool list that cannot approve, reject or close a loop (those stay with the
user). Like `cli/`, this package is a surface: it validates arguments, calls
the plain Python API and shapes results; the behaviour and errors are the
CLI's. The `mcp` SDK (extra `decp[mcp]`) is imported only here.
"""

from __future__ import annotations

from decp.mcp.tools import FORBIDDEN_WORDS, RESOURCES, TOOLS, DecpTools

__all__ = ["FORBIDDEN_WORDS", "RESOURCES", "TOOLS", "DecpTools", "serve"]


def serve(repo: str | None = None) -> None:
    """Run the server on stdin/stdout until the client closes the pipe."""
    from decp.mcp.server import run

    run(repo)
