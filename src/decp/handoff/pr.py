"""`decp pr`: a PR narrative in Markdown, assembled from the session memory and git.

Why: a reviewer of a dbt change needs the problem, the reasoning (decisions
with their why), what changed, which questions were settled and which remain,
and how it was verified. All of that already sits in .project/; this module
only collects it for the change's range, it never invents text.

Range (said in the narrative): `--since REF`; else, on a branch other than the
default one (origin/HEAD, else main, else master), the merge-base with it; on
the default branch, the last tag, else the stamp commit (the first commit with
.project/). The sessions in range are the summaries that commit did not have
yet; loops closed are those not done in its LOOPS.md. Every loop open now is
listed, and no decision is ever dropped: two decisions sharing an id are both
listed, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decp.core import gitinfo
from decp.core.clock import parse_time
from decp.core.errors import DataError, UsageError
from decp.handoff.loops import DONE_STATUSES, Loop, loops_path, parse_loops, read_loops
from decp.handoff.session import (
    Summary,
    all_summaries,
    sessions_dir,
)
from decp.handoff.state import Decision, read_state

if TYPE_CHECKING:
    from decp.core.config import Config

STAMP_LABEL = "since the stamp commit (the first commit with .project/)"


@dataclass
class Range:
    ref: str | None  # what the user asked for, or None
    sha: str | None
    label: str  # "since …": read as part of a sentence
    since: datetime | None  # the base commit's time (fallback when git cannot list files)


@dataclass
class Narrative:
    range: Range
    problem: str
    decisions: list[Decision]
    done: list[str]
    diff_stat: str | None
    untracked: list[str]
    closed: list[Loop]
    follow_ups: list[Loop]
    verified: list[str]
    sessions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # for stderr, one line each
    markdown: str = ""
    # dbt projects: the blast-radius pack a reviewer runs for this range (base = range's sha)
    impact_command: str | None = None

    def range_line(self) -> str:
        """One sentence naming the range, its base commit and the sessions it covers."""
        base = f" (`{gitinfo.short(self.range.sha)}`)" if self.range.sha else ""
        sessions = ", ".join(self.sessions) if self.sessions else "none"
        return f"Range: {self.range.label}{base}; sessions: {sessions}."

    def notes(self) -> list[str]:
        """What `decp pr` prints to stderr: warnings, then the range."""
        return [*(f"warning: {w}" for w in self.warnings), self.range_line()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": {
                "ref": self.range.ref,
                "sha": self.range.sha,
                "label": self.range.label,
                "time": self.range.since.strftime("%Y-%m-%dT%H:%M:%SZ")
                if self.range.since
                else None,
            },
            "problem": self.problem,
            "decisions": [d.to_dict() for d in self.decisions],
            "done": self.done,
            "diff_stat": self.diff_stat,
            "untracked": self.untracked,
            "loops_closed": [x.to_dict() for x in self.closed],
            "follow_ups": [x.to_dict() for x in self.follow_ups],
            "verified": self.verified,
            "sessions": self.sessions,
            "warnings": self.warnings,
            "impact_command": self.impact_command,
            "markdown": self.markdown,
        }


def _at(root: Path, sha: str, label: str, ref: str | None = None) -> Range:
    return Range(ref, sha, label, gitinfo.commit_time(root, sha))


def _local_name(branch_ref: str) -> str:
    return branch_ref.split("/", 1)[1] if branch_ref.startswith("origin/") else branch_ref


def resolve_range(config: Config, since: str | None) -> Range:
    """The change's range (see the module docstring for the order)."""
    root = config.root
    in_repo = gitinfo.is_repo(root)
    if since:
        if not in_repo:
            raise UsageError(
                f"--since {since}: {root} is not a git repository.",
                fix="drop --since (decp then uses every session), or run inside the repo.",
            )
        sha = gitinfo.resolve(root, since)
        if sha is None:
            raise UsageError(
                f"--since {since}: no such commit or ref.",
                fix="use a branch, tag or sha that `git rev-parse` knows (e.g. --since main).",
            )
        return _at(root, sha, f"since {since}", since)
    if not in_repo:
        return Range(None, None, "every session (not a git repository)", None)
    if gitinfo.head(root) is None:
        return Range(None, None, "every session (no commit yet)", None)
    default = gitinfo.default_branch(root)
    current = gitinfo.branch(root)
    if default is not None and current != _local_name(default):
        base = gitinfo.merge_base(root, default)
        if base:
            return _at(root, base, f"since the merge-base with {default}")
    tag = gitinfo.last_tag(root)
    tagged = gitinfo.resolve(root, f"refs/tags/{tag}") if tag else None
    if tag and tagged:
        return _at(root, tagged, f"since the last tag {tag}")
    stamp = gitinfo.stamp_commit(root)
    if stamp:
        return _at(root, stamp, STAMP_LABEL)
    current_sha = gitinfo.head(root) or ""
    return _at(root, current_sha, "since HEAD (.project/ was never committed)")


def _after(stamp: str, since: datetime | None) -> bool:
    if since is None:
        return True
    when = parse_time(stamp)
    return when is not None and when >= since


def sessions_in_range(config: Config, rng: Range, summaries: list[Summary]) -> list[Summary]:
    """Summaries the range's base commit did not have yet (by time when git cannot say)."""
    if rng.sha is None:
        return list(summaries)
    folder = sessions_dir(config).relative_to(config.root).as_posix()
    present = gitinfo.files_at(config.root, rng.sha, folder)
    if present is None:
        return [s for s in summaries if _after(s.ended, rng.since)]
    return [s for s in summaries if Path(s.path).as_posix() not in present]


def _statuses_at(config: Config, sha: str | None) -> dict[str, str] | None:
    """Loop statuses in LOOPS.md as of `sha` ({} when it had none; None when unknown)."""
    if sha is None:
        return None
    path = loops_path(config)
    text = gitinfo.file_at(config.root, sha, path.relative_to(config.root).as_posix())
    if text is None:
        return {}
    try:
        return {x.id: x.status for x in parse_loops(text, path, config.docs_url).loops}
    except DataError:
        return None


def collect_decisions(
    sources: list[tuple[str, list[Decision]]],
) -> tuple[list[Decision], list[str]]:
    """Every decision once, in id order; two different ones sharing an id are both kept.

    Returns (decisions, warnings). A decision seen twice with the same text (a
    summary copied by hand) is listed once.
    """
    kept: list[tuple[Decision, str]] = []
    seen: set[tuple[str, ...]] = set()
    for where, decisions in sources:
        for decision in decisions:
            key = tuple(decision.to_dict().values())
            if key in seen:
                continue
            seen.add(key)
            kept.append((decision, where))
    warnings = []
    by_id: dict[str, list[str]] = {}
    for decision, where in kept:
        by_id.setdefault(decision.id, []).append(where)
    for decision_id, places in by_id.items():
        if len(places) > 1:
            warnings.append(
                f"{decision_id} is used by {len(places)} different decisions "
                f"({', '.join(dict.fromkeys(places))}); all are listed. Give one a new id."
            )
    ordered = sorted(kept, key=lambda pair: pair[0].number)  # stable: source order within an id
    return [decision for decision, _ in ordered], warnings


def build_narrative(
    config: Config,
    *,
    since: str | None = None,
    verified: list[str] | None = None,
    problem: str = "",
) -> Narrative:
    summaries = all_summaries(config)
    rng = resolve_range(config, since)
    sessions = sessions_in_range(config, rng, summaries)
    state = read_state(config)
    book = read_loops(config)
    decisions, warnings = collect_decisions(
        [(f"session {s.name}", s.decisions) for s in sessions] + [("STATE.md", state.decisions)]
    )
    goals = [s.goal for s in sessions if s.goal]
    problem = problem or state.fields.get("goal", "") or (goals[-1] if goals else "")
    task = state.fields.get("task", "")
    done = [item for s in sessions for item in s.done]
    checks = [f"{item} ({s.name})" for s in sessions for item in s.verified]
    checks += [v.strip() for v in verified or [] if v.strip()]
    before = _statuses_at(config, rng.sha)
    if before is None:
        closed = [
            x for x in book.loops if x.status in DONE_STATUSES and _after(x.updated, rng.since)
        ]
    else:
        closed = [
            x
            for x in book.loops
            if x.status in DONE_STATUSES and before.get(x.id) not in DONE_STATUSES
        ]
    stat = gitinfo.diff_stat(config.root, rng.sha) if rng.sha else None
    narrative = Narrative(
        range=rng,
        problem=_with_task(problem, task),
        decisions=decisions,
        done=done,
        diff_stat=stat,
        untracked=gitinfo.untracked_files(config.root) if rng.sha else [],
        closed=closed,
        follow_ups=[x for x in book.loops if x.active],  # every loop open now, whatever its age
        verified=checks,
        sessions=[s.name for s in sessions],
        warnings=warnings,
        impact_command=f"decp dbt impact --changed-since {gitinfo.short(rng.sha)}"
        if config.project_type == "dbt" and rng.sha
        else None,
    )
    narrative.markdown = render(narrative)
    return narrative


def _with_task(problem: str, task: str) -> str:
    if not task:
        return problem
    return f"{problem}\n\nTask: {task}" if problem else f"Task: {task}"


def _decision_line(d: Decision) -> str:
    loop = f" (closes {d.loop})" if d.loop else ""
    if not d.why:
        return f"- **{d.id}**{loop}: {d.what}"
    stop = "" if d.what.endswith((".", "!", "?")) else "."
    return f"- **{d.id}**{loop}: {d.what}{stop} Why: {d.why}"


def render(n: Narrative) -> str:
    out = ["## Problem", n.problem or '_Not recorded: set it with `decp state set goal "…"`._', ""]
    out.append("## Reasoning trail")
    if n.decisions:
        out += [_decision_line(d) for d in n.decisions]
    else:
        out.append('_No decisions recorded (`decp decision add "WHAT" --why "WHY"`)._')
    out += ["", "## What changed", n.range_line()]
    if n.done:
        out += ["", *[f"- {item}" for item in n.done]]
    if n.diff_stat:
        out += [
            "",
            f"`git diff --stat` {n.range.label} ({gitinfo.short(n.range.sha)}), `.project/` not counted:",
            "",
            "```",
            n.diff_stat,
            "```",
        ]
    elif n.range.sha:
        out += [
            "",
            f"No code changes {n.range.label} ({gitinfo.short(n.range.sha)}), `.project/` not counted.",
        ]
    else:
        out += ["", f"_No git diff: {n.range.label}._"]
    if n.untracked:
        names = ", ".join(f"`{name}`" for name in n.untracked[:20])
        more = f" and {len(n.untracked) - 20} more" if len(n.untracked) > 20 else ""
        out += ["", f"New files not yet in git (not in the stat): {names}{more}."]
    if n.impact_command:
        out += [
            "",
            f"Blast radius, for review: `{n.impact_command}` (what changed, all downstream, exposures).",
        ]
    out += ["", "## Loops closed"]
    out += [
        f"- {x.id} ({x.status}) {x.title}: {x.outcome or 'no outcome recorded'}" for x in n.closed
    ] or ["- none"]
    out += ["", "## Open follow-ups"]
    out += [f"- {x.id} ({x.status}) {x.title}" for x in n.follow_ups] or ["- none"]
    out += ["", "## How it was verified"]
    out += [f"- {v}" for v in n.verified] or [
        '_Not recorded. Add `--verified "dbt build -s fct_orders+ passed"` here or to `decp session end`._'
    ]
    sessions = ", ".join(n.sessions) if n.sessions else "none"
    out += ["", f"<!-- generated by `decp pr` from .project/ (sessions: {sessions}) -->"]
    return "\n".join(out) + "\n"
