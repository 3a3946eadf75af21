"""Handoff: the session memory a fresh agent resumes from.

Open questions live in LOOPS.md (`loops`), the goal, next action and decisions
in STATE.md (`state`), each session leaves a summary (`session`), a new session
starts from one compact pack (`resume`), and the same memory becomes a PR
narrative (`pr`). Task templates (`tasks`) turn a kind of dbt work into a plan
with the user's checkpoints; `ids` finds and renumbers ids two merged branches
both took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decp.core.lazy import exports

if TYPE_CHECKING:
    from decp.handoff.ids import find_duplicates, renumber_duplicates
    from decp.handoff.loops import (
        Loop,
        check_source,
        edit_loops,
        read_loops,
        status_filter,
        transition,
    )
    from decp.handoff.pr import build_narrative
    from decp.handoff.resume import build_pack
    from decp.handoff.session import end_session, start_session
    from decp.handoff.state import Decision, add_decision, read_state, set_field
    from decp.handoff.tasks import list_templates, new_task

__all__ = [
    "Decision",
    "Loop",
    "add_decision",
    "build_narrative",
    "build_pack",
    "check_source",
    "edit_loops",
    "end_session",
    "find_duplicates",
    "list_templates",
    "new_task",
    "read_loops",
    "read_state",
    "renumber_duplicates",
    "set_field",
    "start_session",
    "status_filter",
    "transition",
]

__getattr__ = exports(
    __name__,
    {
        "Decision": "state",
        "Loop": "loops",
        "add_decision": "state",
        "build_narrative": "pr",
        "build_pack": "resume",
        "check_source": "loops",
        "edit_loops": "loops",
        "end_session": "session",
        "find_duplicates": "ids",
        "list_templates": "tasks",
        "new_task": "tasks",
        "read_loops": "loops",
        "read_state": "state",
        "renumber_duplicates": "ids",
        "set_field": "state",
        "start_session": "session",
        "status_filter": "loops",
        "transition": "loops",
    },
)
