"""`decp gtd export|import|auth`: open loops out to TickTick or todo.txt, clarified loops back."""

from __future__ import annotations

from pathlib import Path

import typer

gtd_app = typer.Typer(
    help="Round-trip loops through your GTD system (TickTick, its backup CSV, or todo.txt).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _finish(report, as_json: bool) -> None:  # report: decp.gtd.report.SyncReport
    from decp.cli._common import emit_json, err, print_plain

    if as_json:
        emit_json(report.to_dict())
    else:
        print_plain(report.render())
    if report.failed:
        err.print(
            f"decp: {len(report.failed)} loop(s) failed; the rest were saved. Rerun to finish them.",
            markup=False,
        )
        raise typer.Exit(1)


@gtd_app.command("export")
def export_cmd(
    to: str = typer.Option(
        None, "--to", help="Backend: ticktick, ticktick-csv or todotxt (default: [gtd] backend)."
    ),
    status: str = typer.Option(
        "open,clarifying", "--status", help="Comma list of loop statuses to send out."
    ),
    out: str = typer.Option(
        None, "--out", help="File for ticktick-csv/todotxt (default: from .project/decp.toml)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would change on both sides; write nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Send open loops out as tasks; re-exporting updates them, never duplicates."""
    from decp.core.config import load_config
    from decp.core.errors import UsageError
    from decp.gtd.sync import SyncOptions, export_loops, parse_statuses, resolve_backend

    config = load_config()
    backend = resolve_backend(config, to)
    if out is not None and backend == "ticktick":
        raise UsageError("--out is for the file backends.", fix="drop --out, or use --to todotxt.")
    options = SyncOptions(backend, parse_statuses(status), Path(out) if out else None, dry_run)
    _finish(export_loops(config, options), as_json)


@gtd_app.command("import")
def import_cmd(
    file: str = typer.Argument(
        None, help="The backup CSV or todo.txt to read (default: from .project/decp.toml)."
    ),
    source: str = typer.Option(
        None, "--from", help="Backend: ticktick, ticktick-csv or todotxt (default: [gtd] backend)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would change in LOOPS.md; write nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Bring clarified loops back: edits, tags, completions and newly captured tasks."""
    from decp.core.config import load_config
    from decp.core.errors import UsageError
    from decp.gtd.sync import SyncOptions, import_loops, resolve_backend

    config = load_config()
    backend = resolve_backend(config, source)
    if file is not None and backend == "ticktick":
        raise UsageError(
            "a FILE is for the file backends.", fix="drop FILE, or use --from ticktick-csv FILE."
        )
    path = Path(file) if file else None
    _finish(import_loops(config, SyncOptions(backend, path=path, dry_run=dry_run)), as_json)


@gtd_app.command("auth")
def auth_cmd(
    service: str = typer.Argument(..., help="Only `ticktick` for now."),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the authorization URL instead of opening a browser."
    ),
    port: int = typer.Option(
        8765, "--port", help="Local port for the OAuth redirect (0: any free port)."
    ),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for the browser."),
    token_stdin: bool = typer.Option(
        False,
        "--token-stdin",
        help="Skip OAuth: read a personal API token (Settings → Account → API Token) from stdin.",
    ),
) -> None:
    """Run TickTick's OAuth flow and keep the token in the keyring or a private file."""
    import sys

    from decp.cli._common import err
    from decp.core.config import load_config
    from decp.core.errors import NotStampedError, UsageError
    from decp.gtd.auth import oauth_base, run_auth_flow, store_token
    from decp.gtd.ticktick import Secret

    if service != "ticktick":
        raise UsageError(f"unknown service {service!r}.", fix="use `decp gtd auth ticktick`.")
    try:
        config = load_config()
        configured, root = config.gtd.get("ticktick_oauth_url"), config.root
        config_path = config.config_path
    except NotStampedError:
        configured, root, config_path = None, None, None

    def say(text: str) -> None:
        err.print(text, markup=False, highlight=False)

    if token_stdin:
        if sys.stdin.isatty():
            import getpass

            token = Secret(
                getpass.getpass("Paste the TickTick API token (not echoed): ", sys.stderr)
            )
        else:
            token = Secret(sys.stdin.readline())
        if not token.reveal():
            raise UsageError(
                "no token on stdin.",
                fix="pipe it in: `decp gtd auth ticktick --token-stdin < file`.",
            )
    else:
        token = run_auth_flow(
            oauth_url=oauth_base(configured, config_path),
            port=port,
            open_browser=not no_browser,
            timeout=timeout,
            say=say,
        )
    where = store_token(token, root)
    say(
        f"{'Stored' if token_stdin else 'Authorized'}. The token is in {where}; decp reads it from there."
    )
    say("TICKTICK_TOKEN in the environment takes precedence if you prefer a secret manager.")


def register(app: typer.Typer) -> None:
    app.add_typer(gtd_app, name="gtd")
