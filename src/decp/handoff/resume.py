"""The resume pack: the one compact block a fresh agent reads first (or a user pastes into chat).

Why: rebuilding context by hand costs 15-30 minutes and thousands of tokens.
The pack holds only what a new session needs to act: where the rules are, the
current state, the open loops, the last session's next steps, the budget, and
whether any of it is stale. It states its own size so "frugal" is measured.
"""

from __future__ import annotations

import shutil
import subprocess
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from decp.core import gitinfo
from decp.core.clock import now_iso, parse_time
from decp.handoff.loops import read_loops
from decp.handoff.session import (
    Summary,
    latest_summary,
    read_snapshot,
)
from decp.handoff.state import STATE_KEYS, read_state

if TYPE_CHECKING:
    from decp.core.config import Config

PACK_CAP = 1000  # tokens; the pack drops loop lines (saying so) rather than grow past it
SIZE_LINE_RESERVE = 20  # tokens kept free for the closing "This pack: N tokens" line
TITLE_MAX = 60
STALE_AFTER_DAYS = 7
CLIPBOARD_TOOLS: tuple[tuple[str, ...], ...] = (
    ("pbcopy",),
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("clip.exe",),
)


@dataclass
class Staleness:
    last_session: str | None
    ended: str | None
    age: str | None
    git: str  # one human line
    commits_since: int | None = None
    files_changed: list[str] = field(default_factory=list)
    stale: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__ | {"files_changed": list(self.files_changed)}


@dataclass
class ResumePack:
    text: str
    tokens: int
    encoding: str
    staleness: Staleness
    open_loops: list[str]
    dropped_loops: int
    next_steps: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.text,
            "tokens": self.tokens,
            "encoding": self.encoding,
            "stale": self.staleness.stale,
            "staleness": self.staleness.to_dict(),
            "open_loops": self.open_loops,
            "dropped_loops": self.dropped_loops,
            "next_steps": self.next_steps,
        }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _age(ended: datetime, now: datetime) -> str:
    seconds = max(0, int((now - ended).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def staleness(config: Config, summary: Summary | None) -> Staleness:
    """How old the last summary is and whether tracked files changed since (git).

    `summary` is the latest one (`latest_summary`), passed in so the pack parses it once.
    """
    now = parse_time(now_iso()) or datetime.now(UTC)
    root = config.root
    in_repo = gitinfo.is_repo(root)
    if summary is None:
        git_line = "git repo" if in_repo else "not a git repo"
        return Staleness(None, None, None, git_line)
    ended = parse_time(summary.ended)
    age = _age(ended, now) if ended else None
    result = Staleness(summary.name, summary.ended, age, "")
    if ended and (now - ended).days >= STALE_AFTER_DAYS:
        result.stale = True
        result.reasons.append(f"summary is {age} old")
    if not in_repo:
        result.git = "not a git repo (age only)"
        return result
    if not summary.head:
        result.git = "it recorded no commit"
        return result
    reference = summary.tree or summary.head
    commits = gitinfo.commits_between(root, summary.head)
    changed = gitinfo.changed_since(root, reference)
    if commits is None or changed is None:
        result.git = f"its commit {reference[:10]} is unknown here"
        result.stale = True
        result.reasons.append("summary commit not found")
        return result
    result.commits_since, result.files_changed = commits, changed
    if changed:
        result.stale = True
        result.reasons.append(f"{_plural(len(changed), 'file')} changed since")
        result.git = f"{_plural(commits, 'commit')}, {_plural(len(changed), 'file')} changed since"
    elif commits:
        result.git = f"{_plural(commits, 'commit')} since, no file changed"
    else:
        result.git = "no file changed since"
    return result


def _decision(decision: Any) -> str:
    """A decision without its date (STATE.md has it): id, loop, what, why."""
    loop = f" ({decision.loop})" if decision.loop else ""
    why = f" Why: {decision.why}" if decision.why else ""
    stop = "" if not why or decision.what.endswith((".", "!", "?")) else "."
    return f"{decision.id}{loop}: {decision.what}{stop}{why}"


def _clip(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def build_pack(config: Config) -> ResumePack:
    """Assemble the pack; every part is read from the protocol files, nothing invented."""
    from decp.context.ledger import budget_status
    from decp.core.tokens import get_counter

    counter = get_counter(config.budget.encoding)
    state = read_state(config)
    book = read_loops(config)
    summary = latest_summary(config, with_loops=False)  # the pack reads loops from LOOPS.md
    stale = staleness(config, summary)
    running = read_snapshot(config)

    head = [f"# Resume pack: {config.name}"]
    head.append("Rules: read .project/PROTOCOL.md once per session.")
    if stale.last_session:
        flag = " STALE: ask the user what changed." if stale.stale else ""
        head.append(f"Last session: {stale.last_session} ({stale.age} ago); {stale.git}.{flag}")
    else:
        head.append(f"No session summary yet (first session); {stale.git}.")
    if running:
        head.append(f"A session is running since {running.started} (`decp session end` closes it).")
    head.append(budget_status(config).line())

    body = ["", "## State"]
    for key in STATE_KEYS:
        value = " ".join(state.fields.get(key, "").split())
        if value or key == "goal":
            body.append(f"{key}: {value or '(not set)'}")
    body += [_decision(d) for d in state.decisions]

    active = [loop for loop in book.loops if loop.status in ("open", "clarifying")]
    proposed = [loop for loop in book.loops if loop.status == "proposed"]
    loop_lines = [
        f"- {x.id} {'(clarifying) ' if x.status == 'clarifying' else ''}{_clip(x.title)}"
        for x in active
    ]
    proposal_lines = [f"- {x.id} {_clip(x.title)}" for x in proposed]

    steps = summary.next_steps if summary else []
    tail = []
    if steps:
        tail += ["", f"## Next steps (from {summary.name})" if summary else "## Next steps"]
        tail += [f"{n}. {step}" for n, step in enumerate(steps, 1)]

    def assemble(keep_open: int, keep_proposed: int) -> str:
        return "\n".join(pack_lines(keep_open, keep_proposed)) + "\n"

    def pack_lines(keep_open: int, keep_proposed: int) -> list[str]:
        lines = head + body
        lines += ["", f"## Open loops ({len(active)})"]
        lines += loop_lines[:keep_open] or ([] if active else ["(none)"])
        if keep_open < len(active):
            lines.append(f"… {len(active) - keep_open} more: `decp loop list --status open`")
        if proposed:
            lines += ["", f"## Awaiting the user's approval ({len(proposed)}): `decp loop review`"]
            lines += proposal_lines[:keep_proposed]
            if keep_proposed < len(proposed):
                lines.append(
                    f"… {len(proposed) - keep_proposed} more: `decp loop list --status proposed`"
                )
        lines += tail
        return lines

    keep_open, keep_proposed = fit_counts(
        counter,
        budget=PACK_CAP - SIZE_LINE_RESERVE,
        fixed=assemble(0, 0),
        open_lines=loop_lines,
        proposal_lines=proposal_lines,
    )
    text = assemble(keep_open, keep_proposed)
    # the one exact count; per-line sums are an estimate, so trim if it still overshoots
    over = counter.count(text) - (PACK_CAP - SIZE_LINE_RESERVE)
    while over > 0 and (keep_open or keep_proposed):
        if keep_proposed:
            keep_proposed = max(
                0, keep_proposed - _lines_worth(counter, proposal_lines, keep_proposed, over)
            )
        else:
            keep_open = max(0, keep_open - _lines_worth(counter, loop_lines, keep_open, over))
        text = assemble(keep_open, keep_proposed)
        over = counter.count(text) - (PACK_CAP - SIZE_LINE_RESERVE)
    text, tokens = _with_size_line(text, counter)
    return ResumePack(
        text=text,
        tokens=tokens,
        encoding=counter.label,
        staleness=stale,
        open_loops=[x.id for x in active],
        dropped_loops=(len(active) - keep_open) + (len(proposed) - keep_proposed),
        next_steps=steps,
    )


def _prefix_tokens(counter: Any, lines: list[str], budget: int) -> list[int]:
    """Running token totals of `lines` (each with its newline), stopping once past `budget`.

    Every line costs at least one token, so at most `budget` lines can ever fit:
    the counting is O(min(n, budget)), never O(n) tokenizer calls.
    """
    totals = [0]
    for line in lines[: budget + 1]:
        totals.append(totals[-1] + counter.count(line + "\n"))
        if totals[-1] > budget:
            break
    return totals


def _all_fit(totals: list[int], count: int, room: int) -> bool:
    return count < len(totals) and totals[count] <= room


def _most_that_fit(totals: list[int], room: int) -> int:
    """Largest k with totals[k] <= room (binary search on the prefix sums)."""
    return max(0, bisect_right(totals, room) - 1)


def fit_counts(
    counter: Any,
    *,
    budget: int,
    fixed: str,
    open_lines: list[str],
    proposal_lines: list[str],
) -> tuple[int, int]:
    """(open lines, proposal lines) to keep so the pack stays within `budget` tokens.

    Proposals are dropped before open loops. O(n log n) at worst: per-line
    counts (of at most `budget` lines), prefix sums, a binary search per kind.
    `fixed` is the pack with no loop lines, so with every "… N more" line it needs.
    """
    more = counter.count(
        f"… {max(len(open_lines), len(proposal_lines))} more: `decp loop list --status proposed`\n"
    )  # an upper bound for either "… N more" line
    room = budget - counter.count(fixed)
    n_open, n_proposed = len(open_lines), len(proposal_lines)
    open_totals = _prefix_tokens(counter, open_lines, max(room + more, 0))
    if not _all_fit(open_totals, n_open, room + (more if n_open else 0)):
        return _most_that_fit(open_totals, room), 0
    room += (more if n_open else 0) - open_totals[n_open]
    proposal_totals = _prefix_tokens(counter, proposal_lines, max(room + more, 0))
    if _all_fit(proposal_totals, n_proposed, room + (more if n_proposed else 0)):
        return n_open, n_proposed
    return n_open, _most_that_fit(proposal_totals, room)


def _lines_worth(counter: Any, lines: list[str], kept: int, tokens: int) -> int:
    """How many of the last kept lines to drop to free `tokens` (at least one)."""
    freed = dropped = 0
    while freed < tokens and dropped < kept:
        dropped += 1
        freed += counter.count(lines[kept - dropped] + "\n")
    return max(1, dropped)


def _with_size_line(text: str, counter: Any) -> tuple[str, int]:
    """Append "This pack: N tokens", where N counts the line itself."""
    tokens = counter.count(text)
    for _ in range(4):
        candidate = text + f"\nThis pack: {tokens} tokens ({counter.label}).\n"
        counted = counter.count(candidate)
        if counted == tokens:
            return candidate, tokens
        tokens = counted
    return candidate, counter.count(candidate)


def copy_to_clipboard(text: str) -> str | None:
    """Copy with the first clipboard tool found; returns its name, or None."""
    for command in CLIPBOARD_TOOLS:
        if shutil.which(command[0]) is None:
            continue
        try:
            proc = subprocess.run(
                list(command), input=text, text=True, capture_output=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if proc.returncode == 0:
            return command[0]
    return None
