"""`decp mcp`, `decp hook …`, `decp statusline` and `decp agent install NAME`: decp inside the agent.

Thin layer: parse flags, call decp.mcp / decp.agents.hooks / statusline / wiring, print.
Hooks and the statusline run on every agent event, so they import only what
their path needs and never fail the agent: a hook error is a warning on stderr
with exit 0.
"""

from __future__ import annotations

import sys

import typer

from decp.cli._common import emit_json, err, print_plain

hook_app = typer.Typer(
    help="Lifecycle hooks the agent runs (JSON on stdin): session-start, pre-compact, stop.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
agent_app = typer.Typer(
    help="Wire decp into an agent: MCP registration, hooks, statusline.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

AGENT_HELP = "Output shape: claude or codex (default: detected from the stdin JSON)."


def mcp(
    repo: str = typer.Option(
        None, "--repo", help="The repo to serve (default: the one around cwd)."
    ),
) -> None:
    """Serve this repo's decp tools over MCP on stdin/stdout (for the agent, not for you)."""
    from decp.core.errors import UsageError

    try:
        from decp.mcp import serve
    except ImportError as exc:
        raise UsageError(
            f"the MCP SDK is not installed ({exc.name}).", fix='pip install "decp[mcp]".'
        ) from exc
    serve(repo)


def _stdin() -> str:
    return "" if sys.stdin.isatty() else sys.stdin.read()


@hook_app.command("session-start")
def hook_session_start(
    agent: str = typer.Option("", "--agent", help=AGENT_HELP),
) -> None:
    """Print the resume pack (after compaction: plus this session's loops and decisions)."""
    from decp.agents.hooks import run_hook

    code, out, warning = run_hook("session-start", _stdin(), agent or None)
    _finish(code, out, warning)


@hook_app.command("pre-compact")
def hook_pre_compact(
    agent: str = typer.Option("", "--agent", help=AGENT_HELP),
) -> None:
    """Checkpoint this session's loops, decisions and ledger before the agent compacts."""
    from decp.agents.hooks import run_hook

    code, out, warning = run_hook("pre-compact", _stdin(), agent or None)
    _finish(code, out, warning)


@hook_app.command("stop")
def hook_stop(
    agent: str = typer.Option("", "--agent", help=AGENT_HELP),
) -> None:
    """Remind the agent to end the session once the window is past the handoff fraction."""
    from decp.agents.hooks import run_hook

    code, out, warning = run_hook("stop", _stdin(), agent or None)
    _finish(code, out, warning)


def _finish(code: int, out: str, warning: str) -> None:
    if warning:
        sys.stderr.write(f"decp: warning: {warning}\n")
    if out:
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if code:
        raise typer.Exit(code)


def statusline() -> None:
    """One status line for Claude Code: context %, zone, open loops, task budget (JSON on stdin)."""
    from decp.agents.statusline import render_statusline

    print_plain(render_statusline(_stdin()))


@agent_app.command("install")
def agent_install(
    name: str = typer.Argument(..., help="claude, codex, cursor, vscode, antigravity, copilot."),
    hooks: bool = typer.Option(
        True, "--hooks/--no-hooks", help="Also write lifecycle hooks (where the agent has them)."
    ),
    stop_hook: bool = typer.Option(False, "--stop-hook", help="Also the Stop reminder hook."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Register decp's MCP server (and hooks) in this agent's project config, merging."""
    from decp.agents.wiring import install
    from decp.core.config import find_root

    changes = install(find_root(), name, hooks=hooks, stop_hook=stop_hook)
    if as_json:
        emit_json([c.to_dict() for c in changes])
        return
    for change in changes:
        print_plain(f"{change.action:<9} {change.path}  ({change.what})")
    if any(c.action != "unchanged" for c in changes):
        err.print(f"Restart {name} (or reload its MCP servers) to pick this up.", markup=False)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
    app.add_typer(hook_app, name="hook")
    app.command("statusline")(statusline)
    app.add_typer(agent_app, name="agent")
