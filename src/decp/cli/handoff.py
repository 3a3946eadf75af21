"""`decp loop|decision|state|session`, `decp resume` and `decp pr`: the session-handoff commands.

Thin layer: parse flags, call decp.handoff.loops / state / session / resume / pr, print.
Ids go to stdout alone (so `id=$(decp loop propose …)` works); chatter goes to stderr.
"""

from __future__ import annotations

import sys

import typer

from decp.cli._common import emit_json, err, print_plain

JSON_HELP = "Print machine-readable JSON."


def _note(text: str) -> None:
    err.print(text, markup=False)


def _config():
    from decp.core.config import load_config

    return load_config()


# ---------------------------------------------------------------- loop

loop_app = typer.Typer(
    help="Open questions, hypotheses and deferred decisions (.project/LOOPS.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _create(
    title: str,
    status: str,
    body: str,
    context: str,
    source: str,
    tags: list[str],
    print_only: bool,
    as_json: bool,
) -> None:
    from pathlib import Path

    from decp.handoff.loops import check_source, edit_loops, read_loops, render_block

    config = _config()
    warning = check_source(source, config.root, Path.cwd()) if source else None
    if warning:  # plain write: one line, never wrapped or restyled
        sys.stderr.write(f"decp: warning: {warning}\n")
    if print_only:
        book = read_loops(config)
        loop = book.new_loop(
            title, status=status, body=body, context=context, source=source, tags=tags
        )
        if as_json:
            emit_json(loop.to_dict())
        else:
            print_plain(render_block(loop))
            _note(f"Not written. Paste the block into {book.path} (after the last loop).")
        return
    with edit_loops(config) as book:
        loop = book.new_loop(
            title, status=status, body=body, context=context, source=source, tags=tags
        )
    if as_json:
        emit_json(loop.to_dict())
        return
    print_plain(loop.id)
    if status == "proposed":
        _note(
            f"{loop.id} proposed: {loop.title} — ask the user: "
            f"`decp loop approve {loop.id}` or `decp loop reject {loop.id} --why …`."
        )
    else:
        _note(f"{loop.id} {status}: {loop.title}")


@loop_app.command("propose")
def loop_propose(
    title: str = typer.Argument(..., help="Short title: the question in a few words."),
    body: str = typer.Option("", "--body", help="The question itself, in full."),
    context: str = typer.Option("", "--context", help="What we were doing when it came up."),
    source: str = typer.Option("", "--source", help="FILE:LINE or a dbt model name."),
    tag: list[str] = typer.Option([], "--tag", metavar="TAG", help="A tag (repeat for more)."),
    print_only: bool = typer.Option(
        False, "--print", help="Print a pasteable block with the next id; write nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Agent: capture a loop as `proposed`; the user approves or rejects it."""
    _create(title, "proposed", body, context, source, tag, print_only, as_json)


@loop_app.command("add")
def loop_add(
    title: str = typer.Argument(..., help="Short title."),
    body: str = typer.Option("", "--body", help="The question itself, in full."),
    context: str = typer.Option("", "--context", help="What we were doing when it came up."),
    source: str = typer.Option("", "--source", help="FILE:LINE or a dbt model name."),
    tag: list[str] = typer.Option([], "--tag", metavar="TAG", help="A tag (repeat for more)."),
    print_only: bool = typer.Option(
        False, "--print", help="Print a pasteable block with the next id; write nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """User: capture a loop straight to `open`."""
    _create(title, "open", body, context, source, tag, print_only, as_json)


def _move(ids: list[str], status: str, outcome: str | None, as_json: bool) -> None:
    from decp.handoff.loops import edit_loops, transition

    config = _config()
    with edit_loops(config) as book:
        moved = []
        for loop_id in ids:
            loop = book.get(loop_id)
            transition(loop, status, outcome=outcome)
            moved.append(loop)
    if as_json:
        emit_json([loop.to_dict() for loop in moved])
        return
    for loop in moved:
        print_plain(f"{loop.id} ({loop.status}) {loop.title}")


@loop_app.command("approve")
def loop_approve(
    ids: list[str] = typer.Argument(..., metavar="ID", help="Loop ids (LOOP-007 or 7)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """proposed → open (all or nothing)."""
    _move(ids, "open", None, as_json)


@loop_app.command("reject")
def loop_reject(
    ids: list[str] = typer.Argument(..., metavar="ID", help="Loop ids."),
    why: str = typer.Option("", "--why", help="Why not: kept as the outcome."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """→ rejected, keeping the why as its outcome."""
    _move(ids, "rejected", why or None, as_json)


@loop_app.command("start")
def loop_start(
    loop_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """open → clarifying (someone is working on it)."""
    _move([loop_id], "clarifying", None, as_json)


@loop_app.command("close")
def loop_close(
    loop_id: str = typer.Argument(..., metavar="ID"),
    outcome: str = typer.Option(..., "--outcome", help="The answer or what was decided."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """open/clarifying → closed, with its outcome."""
    from decp.core.errors import UsageError

    if not outcome.strip():
        raise UsageError("--outcome is empty.", fix='say what was found, e.g. --outcome "safe: …"')
    _move([loop_id], "closed", outcome, as_json)


@loop_app.command("reopen")
def loop_reopen(
    loop_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """closed/rejected → open (the old outcome stays until the next close)."""
    _move([loop_id], "open", None, as_json)


@loop_app.command("list")
def loop_list(
    status: list[str] = typer.Option(
        [],
        "--status",
        metavar="STATUS",
        help="proposed, open, clarifying, closed, rejected, active (default), all.",
    ),
    tag: str = typer.Option("", "--tag", help="Only loops with this tag."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List loops, one `LOOP-NNN (status) title` line each."""
    from decp.handoff.loops import read_loops, status_filter

    loops = read_loops(_config()).select(status_filter(status), tag or None)
    if as_json:
        emit_json([loop.to_dict() for loop in loops])
        return
    for loop in loops:
        tags = f"  #{' #'.join(loop.tags)}" if loop.tags else ""
        print_plain(f"{loop.id} ({loop.status}) {loop.title}{tags}")


@loop_app.command("show")
def loop_show(
    loop_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show one loop as the exact block LOOPS.md holds (pasteable)."""
    from decp.handoff.loops import read_loops, render_block

    loop = read_loops(_config()).get(loop_id)
    if as_json:
        emit_json(loop.to_dict())
    else:
        print_plain(render_block(loop))


@loop_app.command("review")
def loop_review() -> None:
    """User, in a terminal: approve, edit, reject or skip each proposed loop."""
    from decp.core.errors import UsageError
    from decp.handoff.loops import review_loops

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "`decp loop review` is interactive and needs a terminal (no TTY here).",
            fix="run it yourself in a terminal, or use `decp loop approve ID…` / "
            "`decp loop reject ID… --why …` (`decp loop list --status proposed` shows ids).",
        )

    def ask(prompt: str) -> str:
        return input(prompt)

    summary = review_loops(_config(), ask, print_plain)
    print_plain(
        " · ".join(f"{action}: {len(ids)}" for action, ids in summary.items()) or "Nothing to do."
    )


# ---------------------------------------------------------------- state and decisions

state_app = typer.Typer(
    help="Goal, task, last/next action, blockers (.project/STATE.md, token-capped).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
decision_app = typer.Typer(
    help="Decisions with their why (DECISION-NNN in .project/STATE.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _state_size(config, text: str) -> dict[str, object]:
    from decp.core.tokens import get_counter

    counter = get_counter(config.budget.encoding)
    return {
        "tokens": counter.count(text),
        "cap": config.budget.state_cap,
        "encoding": counter.label,
    }


@state_app.command("show")
def state_show(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show STATE.md's fields and decisions, and its size against the cap."""
    from decp.handoff.state import STATE_KEYS, read_state

    config = _config()
    doc = read_state(config)
    size = _state_size(config, doc.render())
    if as_json:
        emit_json({**doc.to_dict(), **size})
        return
    for key in STATE_KEYS:
        value = doc.fields.get(key, "").replace("\n", "\n  ")
        print_plain(f"{key}: {value}".rstrip())
    for decision in doc.decisions:
        print_plain(decision.line()[2:])
    _note(f"STATE.md: {size['tokens']}/{size['cap']} tokens ({size['encoding']})")


@state_app.command("set")
def state_set(
    key: str = typer.Argument(
        ..., help="goal, task (or phase), last_action (last), next_action (next), blockers."
    ),
    value: str = typer.Argument(..., help='The new value ("" clears it).'),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Set one STATE.md field (fails, writing nothing, past the token cap)."""
    from decp.handoff.state import canonical_key, set_field

    config = _config()
    doc = set_field(config, key, value)
    size = _state_size(config, doc.render())
    if as_json:
        emit_json({**doc.to_dict(), **size})
        return
    canonical = canonical_key(key)
    print_plain(f"{canonical}: {doc.fields[canonical]}".rstrip())
    _note(f"STATE.md: {size['tokens']}/{size['cap']} tokens ({size['encoding']})")


@decision_app.command("add")
def decision_add(
    what: str = typer.Argument(..., help="What was decided, in one line."),
    why: str = typer.Option(..., "--why", help="Why: the reason that settles it."),
    loop: str = typer.Option("", "--loop", help="Close this loop with the decision as outcome."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Record DECISION-NNN with its why; with --loop, also close that loop (both or neither)."""
    from decp.handoff.loops import read_loops
    from decp.handoff.state import add_decision

    config = _config()
    decision = add_decision(config, what, why, loop or None)
    closed = read_loops(config).get(decision.loop) if decision.loop else None
    if as_json:
        emit_json({**decision.to_dict(), "closed_loop": closed.to_dict() if closed else None})
        return
    print_plain(decision.id)
    if closed:
        _note(f"{closed.id} closed: {closed.outcome}")


@decision_app.command("list")
def decision_list(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Decisions still in STATE.md (older ones live in .project/sessions/)."""
    from decp.handoff.state import read_state

    decisions = read_state(_config()).decisions
    if as_json:
        emit_json([d.to_dict() for d in decisions])
        return
    for decision in decisions:
        print_plain(decision.line()[2:])


# ---------------------------------------------------------------- sessions

session_app = typer.Typer(
    help="Session start snapshot and end-of-session handoff summary (.project/sessions/).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@session_app.command("start")
def session_start(
    force: bool = typer.Option(False, "--force", help="Discard a running session's snapshot."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Record the start (time, git HEAD, loops, state) so the end can say what moved."""
    from decp.handoff.session import start_session

    snapshot = start_session(_config(), force=force)
    if as_json:
        emit_json(snapshot.to_dict())
        return
    print_plain(snapshot.started)
    _note(
        f"Session started ({len(snapshot.loops)} loops, HEAD {snapshot.head[:10] if snapshot.head else '-'}). "
        'End it with `decp session end --done "…" --next "…"`.'
    )


@session_app.command("end")
def session_end(
    done: list[str] = typer.Option(
        [], "--done", metavar="TEXT", help="What was done (repeat per item)."
    ),
    next_step: list[str] = typer.Option(
        [],
        "--next",
        metavar="TEXT",
        help="An exact next step (repeat; the first becomes STATE's next_action).",
    ),
    verified: list[str] = typer.Option(
        [],
        "--verified",
        metavar="TEXT",
        help="How the work was checked, e.g. 'dbt build -s fct_orders+ passed'.",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write .project/sessions/<date>-<n>.md and move STATE's decisions into it."""
    from decp.handoff.session import end_session

    summary = end_session(_config(), done=done, next_steps=next_step, verified=verified)
    if as_json:
        emit_json(summary.to_dict())
        return
    print_plain(summary.path)
    for line in summary.notes():
        _note(line)


# ---------------------------------------------------------------- resume and pr


def resume(
    copy: bool = typer.Option(False, "--copy", help="Also copy the pack to the clipboard."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Print the resume pack a fresh agent reads first (states its tokens and staleness)."""
    from decp.handoff.resume import CLIPBOARD_TOOLS, build_pack, copy_to_clipboard

    pack = build_pack(_config())
    if copy:
        tool = copy_to_clipboard(pack.text)
        if tool:
            _note(f"Copied {pack.tokens} tokens to the clipboard ({tool}).")
        else:
            tried = ", ".join(c[0] for c in CLIPBOARD_TOOLS)
            _note(f"No working clipboard tool found (tried {tried}); copy the text below by hand.")
    if as_json:
        emit_json(pack.to_dict())
    else:
        print_plain(pack.text)


def pr(
    since: str = typer.Option(
        "",
        "--since",
        help="Base ref (default: merge-base with the default branch; on it, the last tag "
        "or the stamp commit).",
    ),
    out_file: str = typer.Option("", "--out", help="Write the Markdown to this file."),
    force: bool = typer.Option(False, "--force", help="Let --out replace an existing file."),
    verified: list[str] = typer.Option(
        [],
        "--verified",
        help="How it was verified (repeat); added to the sessions' Verified items.",
    ),
    problem: str = typer.Option(
        "", "--problem", help="Override the problem (default: STATE goal)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write the PR narrative: problem, decisions with why, diff stat, loops, verification."""
    from pathlib import Path

    from decp.core.fsio import atomic_write, check_out_path
    from decp.handoff.pr import build_narrative

    config = _config()
    if out_file:  # refused before any work: never .project/ data, existing files only with --force
        check_out_path(Path(out_file), force=force, project_dir=config.project_dir)
    narrative = build_narrative(config, since=since or None, verified=verified, problem=problem)
    for line in narrative.notes():
        _note(line)
    if out_file:
        target = Path(out_file)
        atomic_write(target, narrative.markdown)
        _note(f"Wrote {target} ({narrative.range.label}).")
    if as_json:
        emit_json(narrative.to_dict())
    elif not out_file:
        print_plain(narrative.markdown)


def register(app: typer.Typer) -> None:
    app.add_typer(loop_app, name="loop")
    app.add_typer(decision_app, name="decision")
    app.add_typer(state_app, name="state")
    app.add_typer(session_app, name="session")
    app.command("resume")(resume)
    app.command("pr")(pr)
