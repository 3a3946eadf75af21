"""`decp task new|list`: print a task-breakdown plan from the repo's own templates."""

from __future__ import annotations

from pathlib import Path

import typer

task_app = typer.Typer(
    help="Task-breakdown templates (.project/templates/): steps, user checkpoints, decp commands.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@task_app.command("new")
def new(
    kind: str = typer.Argument(
        ..., metavar="KIND", help="Template kind, e.g. grain-refactor (see `decp task list`)."
    ),
    title: str = typer.Argument(
        ..., metavar="TITLE", help="One-line title of the task; fills <<TITLE>>."
    ),
    out: str | None = typer.Option(
        None, "--out", metavar="FILE", help="Write the plan to FILE instead of stdout."
    ),
    force: bool = typer.Option(False, "--force", help="With --out: replace an existing file."),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Set STATE.md's task to 'KIND: TITLE'."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (kind, title, date, text)."),
) -> None:
    """Print the KIND template with TITLE and today's date filled in (user edits to it win)."""
    from decp.cli._common import emit_json, err, print_plain
    from decp.core.config import load_config
    from decp.handoff.tasks import (
        TITLE_PLACEHOLDER,
        check_out_path,
        new_task,
        record_task,
        write_task,
    )

    config = load_config()
    plan = new_task(config, kind, title)
    template_rel = plan.template.path.relative_to(config.root)
    if not plan.title_filled:
        err.print(
            f"decp: note: {template_rel} has no {TITLE_PLACEHOLDER}; the title is not in the plan.",
            markup=False,
        )
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_out_path(out_path, force=force)  # refuse before STATE.md is touched
    recorded = record_task(config, plan) if record else None
    if out_path is not None:
        write_task(out_path, plan.text, force=force)
    if json_out:
        from decp.core.tokens import get_counter

        counter = get_counter(config.budget.encoding)
        emit_json(
            {
                "kind": plan.template.kind,
                "title": plan.title,
                "date": plan.date.isoformat(),
                "template": str(template_rel),
                "out": str(out) if out is not None else None,
                "recorded_task": recorded,
                "tokens": counter.count(plan.text),
                "encoding": counter.label,
                "text": plan.text,
            }
        )
    elif out is not None:
        print_plain(f"wrote {out}")
    else:
        print_plain(plan.text)
    if recorded and not json_out:
        err.print(f"decp: STATE.md task: {recorded}", markup=False)


@task_app.command("list")
def list_kinds(
    json_out: bool = typer.Option(False, "--json", help="Print JSON (kind, summary, path)."),
) -> None:
    """List the template kinds in .project/templates/ with their one-line summary."""
    from decp.cli._common import emit_json, err, print_plain
    from decp.core.config import load_config
    from decp.handoff.tasks import list_templates

    config = load_config()
    templates = list_templates(config)
    if json_out:
        emit_json(
            [
                {"kind": t.kind, "summary": t.summary, "path": str(t.path.relative_to(config.root))}
                for t in templates
            ]
        )
        return
    if not templates:
        err.print("decp: no templates in .project/templates/ (add KIND.md files).", markup=False)
        return
    width = max(len(t.kind) for t in templates)
    print_plain("\n".join(f"{t.kind.ljust(width)}  {t.summary}" for t in templates))


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")
