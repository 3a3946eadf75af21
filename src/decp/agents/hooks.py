"""Lifecycle hooks: put the protocol back into the agent's context when it starts, clears or compacts.

Why: a long session gets compacted, and what the agent read at its start (the
resume pack, the loops it proposed, the decisions it recorded) is summarised
away. Claude Code and Codex run a command on SessionStart (sources `startup`,
`resume`, `clear`, `compact`) and inject what it prints; that is the known way
to re-inject state after compaction.

- `session-start`: the resume pack; after `compact`, plus what this session
  captured so far (loops, decisions, context loaded before compaction). On
  `startup`/`clear` it also records the session start when none is running, so
  `session end` can say what moved.
- `pre-compact`: writes that progress to `.project/sessions/.current-checkpoint.md`
  (gitignored with the snapshot) so nothing captured before compaction is lost.
- `stop` (off by default): a reminder once the window is past the handoff
  fraction while a session is still open.

A hook must never block the agent: every failure becomes exit 0 and a warning
on stderr (session-start also tells the agent, in one line, what went wrong).
Output shapes are the agents' documented ones: `hookSpecificOutput` with
`hookEventName` and `additionalContext` (Claude Code and Codex alike).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decp.core.config import Config

EVENTS = ("session-start", "pre-compact", "stop")
AGENTS = ("claude", "codex")
SOURCES = ("startup", "resume", "clear", "compact")
CHECKPOINT_NAME = ".current-checkpoint.md"
TRANSCRIPT_TAIL = 256 * 1024  # bytes of the transcript read for the latest usage


@dataclass(frozen=True)
class HookInput:
    """The fields decp reads from the agent's hook JSON (everything else is ignored)."""

    event: str
    source: str
    cwd: str
    agent: str
    transcript_path: str
    stop_hook_active: bool

    @classmethod
    def parse(cls, raw: str, agent: str | None) -> HookInput:
        """Lenient: an empty or non-object stdin is an empty input, never an error."""
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}

        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        return cls(
            event=text("hook_event_name"),
            source=text("source").lower() or "startup",
            cwd=text("cwd"),
            agent=agent or detect_agent(data),
            transcript_path=text("transcript_path"),
            stop_hook_active=data.get("stop_hook_active") is True,
        )


def detect_agent(data: dict[str, Any]) -> str:
    """Codex sends a `turn_id` and keeps transcripts under ~/.codex; anything else is Claude Code."""
    transcript = str(data.get("transcript_path") or "")
    if "turn_id" in data or "/.codex/" in transcript.replace("\\", "/"):
        return "codex"
    return "claude"


# --- what this session has captured so far ----------------------------------------------


@dataclass
class Progress:
    started: str | None
    loops: list[str]  # "LOOP-007 (proposed) title" for loops new or moved since the start
    decisions: list[str]  # "DECISION-003: what (why)"
    loaded: list[str]  # "1,234  target"

    def render(self) -> str:
        since = (
            f"since `decp session start` at {self.started}"
            if self.started
            else ("no `decp session start` recorded: all active loops and STATE decisions")
        )
        lines = [f"## This session so far ({since})"]
        lines.append(f"Loops new or moved ({len(self.loops)}):")
        lines += [f"- {x}" for x in self.loops] or ["- (none)"]
        lines.append(f"Decisions recorded ({len(self.decisions)}):")
        lines += [f"- {x}" for x in self.decisions] or ["- (none)"]
        lines.append(
            f"Context loaded before compaction ({len(self.loaded)}; reload only what you need):"
        )
        lines += [f"- {x}" for x in self.loaded] or ["- (none)"]
        return "\n".join(lines) + "\n"


def session_progress(config: Config) -> Progress:
    """Loops and decisions since the session snapshot, and the ledger's loaded rows (no tokenizer, no git)."""
    from decp.context.ledger import read_ledger
    from decp.handoff.loops import read_loops
    from decp.handoff.session import read_snapshot
    from decp.handoff.state import read_state

    snapshot = read_snapshot(config)
    book = read_loops(config)
    if snapshot is None:
        loops = [x for x in book.loops if x.active]
    else:
        loops = [x for x in book.loops if snapshot.loops.get(x.id) != x.status]
    known = set(snapshot.decisions) if snapshot else set()
    decisions = [d for d in read_state(config).decisions if d.id not in known]
    loaded = read_ledger(config).loaded
    return Progress(
        started=snapshot.started if snapshot else None,
        loops=[f"{x.id} ({x.status}) {x.title}" for x in loops],
        decisions=[f"{d.id}: {d.what} (why: {d.why})" for d in decisions],
        loaded=[f"{e.tokens or 0:,}  {e.target}" for e in loaded],
    )


def checkpoint_path(config: Config) -> Path:
    from decp.handoff.session import sessions_dir

    return sessions_dir(config) / CHECKPOINT_NAME


def write_checkpoint(config: Config, trigger: str = "") -> Path:
    """Record this session's progress before compaction (atomic; gitignored like the snapshot)."""
    from decp.core.clock import now_iso
    from decp.core.fsio import atomic_write

    path = checkpoint_path(config)
    why = f" ({trigger})" if trigger else ""
    text = (
        f"<!-- decp checkpoint {now_iso()}{why}: written by `decp hook pre-compact`; "
        "`decp session end` supersedes it. -->\n" + session_progress(config).render()
    )
    atomic_write(path, text)
    return path


# --- the three hooks ------------------------------------------------------------------------


def _config_for(hook: HookInput) -> Config:
    from decp.core.config import find_root, load_config

    start = Path(hook.cwd) if hook.cwd else None
    return load_config(find_root(start))


def session_start_context(hook: HookInput) -> str:
    """What the agent should read now: the resume pack, plus progress after a compaction."""
    from decp.handoff.resume import build_pack
    from decp.handoff.session import read_snapshot, start_session

    config = _config_for(hook)
    note = ""
    if hook.source in ("startup", "clear") and read_snapshot(config) is None:
        snapshot = start_session(config)
        note = f"\n(decp hook: session start recorded at {snapshot.started}.)\n"
    text = build_pack(config).text.rstrip("\n") + "\n" + note
    if hook.source == "compact":
        text += "\n" + session_progress(config).render()
        text += (
            "\nYou were compacted: loops and decisions above are already in .project/; "
            "do not propose them again.\n"
        )
    return text


def stop_reminder(hook: HookInput) -> str | None:
    """The reminder text when the window is past handoff and a session is still open."""
    from decp.handoff.session import read_snapshot

    if hook.stop_hook_active:  # the agent is already acting on a reminder: never loop
        return None
    config = _config_for(hook)
    used = transcript_context_tokens(hook.transcript_path)
    if used is None or read_snapshot(config) is None:
        return None
    budget = config.budget
    limit = budget.tokens_at(budget.handoff)
    if used < limit:
        return None
    return (
        f"decp: the context holds {used:,} tokens, past the handoff budget ({limit:,} = "
        f"{budget.handoff:.0%} of {budget.context_window:,}). End the session now: "
        '`decp session end --done "…" --next "…"` (or the session_end tool).'
    )


def transcript_context_tokens(path: str) -> int | None:
    """Tokens in the window at the last assistant turn, from the harness's own usage numbers.

    The window holds the last request's input (fresh + cache reads + cache
    writes); cumulative session totals overcount and are never used.
    """
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TRANSCRIPT_TAIL))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        if '"usage"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("message") if isinstance(entry, dict) else None
        usage = message.get("usage") if isinstance(message, dict) else None
        if isinstance(usage, dict):
            return context_tokens(usage)
    return None


def context_tokens(usage: dict[str, Any]) -> int:
    """Input tokens of one request: fresh + cache creation + cache read (the window's fill)."""
    total = 0
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            total += value
    return total


# --- output shapes ----------------------------------------------------------------------------


def session_start_output(text: str, agent: str) -> str:
    """SessionStart's documented JSON: Claude Code and Codex share this shape."""
    del agent  # both agents document the same object; kept as a parameter for the next one
    payload = {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": text}}
    return json.dumps(payload, ensure_ascii=False)


def stop_output(reason: str) -> str:
    """Stop's documented JSON: `block` makes the agent continue with `reason` as its prompt."""
    return json.dumps({"decision": "block", "reason": reason}, ensure_ascii=False)


def run_hook(event: str, raw: str, agent: str | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr warning). Never raises and never exits non-zero on decp's errors."""
    warning = ""
    if agent is not None and agent not in AGENTS:
        warning = (
            f"--agent {agent!r} is not one of {', '.join(AGENTS)}; detected from the input instead."
        )
        agent = None
    hook = HookInput.parse(raw, agent)
    try:
        if event == "session-start":
            return 0, session_start_output(session_start_context(hook), hook.agent), warning
        if event == "pre-compact":
            write_checkpoint(_config_for(hook), trigger=_trigger(raw))
            return 0, "", warning
        if event == "stop":
            reason = stop_reminder(hook)
            return 0, stop_output(reason) if reason else "", warning
        return 0, "", f"unknown hook {event!r}; use one of {', '.join(EVENTS)}."
    except Exception as exc:  # a hook never blocks the agent
        from decp.core.errors import DecpError

        message = exc.one_line() if isinstance(exc, DecpError) else f"{type(exc).__name__}: {exc}"
        if event == "session-start":
            context = f"decp could not build the resume pack: {message}"
            return 0, session_start_output(context, hook.agent), f"hook {event}: {message}"
        return 0, "", f"hook {event}: {message}"


def _trigger(raw: str) -> str:
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return ""
    value = data.get("trigger") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""
