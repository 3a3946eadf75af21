"""`decp pr`: a PR narrative in Markdown, assembled from the session memory and git.

Why: a reviewer of a dbt change needs the problem, the reasoning (decisions
with their why), what changed, which questions were settled and which remain,
and how it was verified. All of that already sits in .project/; this module
only collects it for the change's range, it never invents text.

Range: `--since REF`; else the merge-base with main/master when the branch
has moved past it; else the commit the running (or last) session started
from; else HEAD (uncommitted changes only). Sessions that ended after the
range's start, STATE's current decisions, and loops closed after it count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from decp.core import gitinfo
from decp.core.clock import parse_time
from decp.core.errors import UsageError
from decp.handoff.loops import DONE_STATUSES, Loop, read_loops
from decp.handoff.session import Summary, all_summaries, read_snapshot
from decp.handoff.state import Decision, read_state

if TYPE_CHECKING:
    from decp.core.config import Config


@dataclass
class Range:
    ref: str | None  # what the user asked for, or None
    sha: str | None
    label: str
    since: datetime | None  # sessions/loops after this belong to the PR


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
    markdown: str = ""

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
            "markdown": self.markdown,
        }


def resolve_range(
    config: Config, since: str | None, summaries: list[Summary] | None = None
) -> Range:
    """The change's range; `summaries` (all of them, oldest first) saves re-parsing them."""
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
        return Range(since, sha, f"since {since}", gitinfo.commit_time(root, sha))
    if not in_repo:
        return Range(None, None, "not a git repository: all sessions", None)
    base = _default_base(root)
    if base:
        sha, label = base
        return Range(None, sha, label, gitinfo.commit_time(root, sha))
    snapshot = read_snapshot(config)
    if snapshot and snapshot.head:
        return Range(
            None, snapshot.head, "since this session's start", parse_time(snapshot.started)
        )
    if summaries is None:
        summaries = all_summaries(config)
    if summaries and summaries[-1].start_head:
        last = summaries[-1]
        return Range(
            None, last.start_head, f"since session {last.name} started", parse_time(last.started)
        )
    current = gitinfo.head(root)
    return Range(None, current, "uncommitted changes only (no base branch or session start)", None)


def _default_base(root: Any) -> tuple[str, str] | None:
    current = gitinfo.head(root)
    name = gitinfo.default_branch(root)
    if current is None or name is None:
        return None
    base = gitinfo.merge_base(root, name)
    return (base, f"merge-base with {name}") if base and base != current else None


def _after(stamp: str, since: datetime | None) -> bool:
    if since is None:
        return True
    when = parse_time(stamp)
    return when is not None and when >= since


def build_narrative(
    config: Config,
    *,
    since: str | None = None,
    verified: list[str] | None = None,
    problem: str = "",
) -> Narrative:
    summaries = all_summaries(config)
    rng = resolve_range(config, since, summaries)
    sessions: list[Summary] = [s for s in summaries if _after(s.ended, rng.since)]
    state = read_state(config)
    book = read_loops(config)
    decisions: dict[str, Decision] = {}
    for summary in sessions:
        for decision in summary.decisions:
            decisions.setdefault(decision.id, decision)
    for decision in state.decisions:
        decisions.setdefault(decision.id, decision)
    goals = [s.goal for s in sessions if s.goal]
    problem = problem or state.fields.get("goal", "") or (goals[-1] if goals else "")
    task = state.fields.get("task", "")
    done = [item for s in sessions for item in s.done]
    checks = [f"{item} ({s.name})" for s in sessions for item in s.verified]
    checks += [v.strip() for v in verified or [] if v.strip()]
    closed = [x for x in book.loops if x.status in DONE_STATUSES and _after(x.updated, rng.since)]
    follow_ups = [x for x in book.loops if x.active and _after(x.created, rng.since)]
    stat = gitinfo.diff_stat(config.root, rng.sha) if rng.sha else None
    narrative = Narrative(
        range=rng,
        problem=_with_task(problem, task),
        decisions=sorted(decisions.values(), key=lambda d: d.number),
        done=done,
        diff_stat=stat,
        untracked=gitinfo.untracked_files(config.root) if rng.sha else [],
        closed=closed,
        follow_ups=follow_ups,
        verified=checks,
        sessions=[s.name for s in sessions],
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
    out += ["", "## What changed"]
    out += [f"- {item}" for item in n.done]
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
