"""Task-breakdown templates: a plan for a kind of dbt task, with the user's checkpoints.

The templates are stamped by Copier under `.project/templates/KIND.md` and are
the ONLY copy: the package never carries the text, so a user's edits always win
and there is nothing to drift. This module finds them, summarises them and
fills in a title and a date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from decp.core.config import Config
from decp.core.errors import DataError, UsageError
from decp.core.fsio import atomic_write, read_text
from decp.core.mdoc import one_line

TEMPLATES_DIR = "templates"
TITLE_PLACEHOLDER = "<<TITLE>>"
DATE_PLACEHOLDER = "<<DATE>>"
# The kinds the template stamps. Only their names live here (not their text), so a
# missing file of a shipped kind can be told apart from a kind that never existed.
SHIPPED_KINDS = ("grain-refactor", "debug-test", "new-model", "incident")
_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LINK_RE = re.compile(r"\s*(Guide|Docs|More):\s*\S+\s*$")
_SUMMARY_MAX = 100


@dataclass(frozen=True)
class TaskTemplate:
    """One template file: its kind (the file stem), path and one-line summary."""

    kind: str
    path: Path
    summary: str


def templates_dir(config: Config) -> Path:
    return config.project_dir / TEMPLATES_DIR


def _restore_fix(path: Path, root: Path) -> str:
    rel = path.relative_to(root) if path.is_relative_to(root) else path
    return (
        "run `copier update` if the repo was stamped before templates existed; if it was "
        f"deleted, restore it from git (`git checkout <commit> -- {rel}`) or with `copier recopy`."
    )


def summarize(text: str) -> str:
    """The first non-empty line, without quote marker, trailing link or the why clause.

    Template line 1 reads `> What it is for. Why: … Guide: URL`; `task list` shows
    the part before `Why:` so each kind fits on one terminal line.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    first = first.lstrip("> #").strip()
    first = _LINK_RE.sub("", first)
    what, sep, _why = first.partition(" Why:")
    summary = what.strip() if sep else first.strip()
    if len(summary) > _SUMMARY_MAX:
        summary = summary[: _SUMMARY_MAX - 1].rstrip() + "…"
    return summary


def list_templates(config: Config) -> list[TaskTemplate]:
    """Every `KIND.md` in `.project/templates/`, sorted by kind (user-added kinds included)."""
    folder = templates_dir(config)
    if not folder.is_dir():
        raise DataError(
            "the task templates folder is missing.",
            path=folder,
            fix=_restore_fix(folder, config.root),
        )
    found: list[TaskTemplate] = []
    for path in sorted(folder.glob("*.md")):
        if not path.is_file() or not _KIND_RE.match(path.stem):
            continue
        found.append(TaskTemplate(path.stem, path, summarize(read_text(path))))
    return found


def _check_kind(kind: str) -> None:
    if not _KIND_RE.match(kind):
        raise UsageError(
            f"task kind {kind!r} is not a template name (lowercase letters, digits, '-', '_').",
            fix="run `decp task list` to see the kinds.",
        )


def load_template(config: Config, kind: str) -> tuple[TaskTemplate, str]:
    """Read `.project/templates/KIND.md`; a missing shipped kind and an unknown kind fail differently."""
    _check_kind(kind)
    path = templates_dir(config) / f"{kind}.md"
    if not path.is_file():
        if kind in SHIPPED_KINDS:
            raise DataError(
                f"task template {kind!r} is missing.",
                path=path,
                fix=_restore_fix(path, config.root),
            )
        kinds = [t.kind for t in list_templates(config)]
        listed = ", ".join(kinds) if kinds else "none"
        raise UsageError(
            f"unknown task kind {kind!r}; kinds in {path.parent.relative_to(config.root)}: {listed}.",
            fix=f"use one of those, or add your own as {path.relative_to(config.root)}.",
        )
    text = read_text(path)
    return TaskTemplate(kind, path, summarize(text)), text


def check_title(title: str) -> str:
    """A title is one non-empty line: it becomes a heading and a state value.

    A newline is refused (it was probably a mistake); the rarer line breaks
    (U+2028, form feed, NEL, ...) and whitespace runs become one space, so the
    title can never start a line of its own in the plan or in STATE.md.
    """
    if "\n" in title.strip() or "\r" in title.strip():
        raise UsageError("the task title must be one line.", fix="drop the line breaks from it.")
    cleaned = one_line(title)
    if not cleaned:
        raise UsageError(
            "the task title is empty.", fix='give one, e.g. "fct_orders to order-line grain".'
        )
    return cleaned


def render_task(template_text: str, title: str, today: dt.date) -> str:
    """Fill the title and date placeholders; everything else is the user's text, untouched."""
    text = template_text.replace(TITLE_PLACEHOLDER, title).replace(
        DATE_PLACEHOLDER, today.isoformat()
    )
    return text if text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class TaskPlan:
    """A rendered plan; `title_filled` is False when a user edited the placeholder away."""

    template: TaskTemplate
    title: str
    date: dt.date
    text: str
    title_filled: bool


def new_task(config: Config, kind: str, title: str, today: dt.date | None = None) -> TaskPlan:
    """The plan for one task: the KIND template with TITLE and today's date filled in."""
    clean_title = check_title(title)
    template, text = load_template(config, kind)
    date = today or dt.date.today()
    return TaskPlan(
        template=template,
        title=clean_title,
        date=date,
        text=render_task(text, clean_title, date),
        title_filled=TITLE_PLACEHOLDER in text,
    )


def check_out_path(path: Path, *, force: bool = False) -> None:
    """Refuse a bad `--out` before anything is written (state included): core.fsio's rule."""
    from decp.core.fsio import check_out_path as check

    check(path, force=force)


def write_task(path: Path, text: str, *, force: bool = False) -> None:
    """Write the plan atomically; never replace an existing file unless asked to.

    No lock file: the plan is a one-shot output in the user's tree, and a stray
    `.PLAN.md.lock` beside it would be litter.
    """
    check_out_path(path, force=force)
    atomic_write(path, text)


def record_task(config: Config, plan: TaskPlan) -> str:
    """Put `KIND: TITLE` in STATE.md's `task` field so the next resume knows the plan."""
    from decp.handoff.state import set_field

    value = f"{plan.template.kind}: {plan.title}"
    set_field(config, "task", value)
    return value
