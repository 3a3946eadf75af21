"""`decp hook session-start|pre-compact|stop`: real processes fed the agents' documented stdin JSON.

Claude Code and Codex send the same core fields (session_id, transcript_path,
cwd, hook_event_name) plus each event's own (`source`, `trigger`,
`stop_hook_active`). What must hold: valid JSON of the documented shape that
carries the resume pack; after compaction also this session's loops and
decisions; a checkpoint before compaction; and never a blocked agent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_helpers import decp_command

from decp.agents.hooks import HookInput, context_tokens, detect_agent, run_hook
from decp.context.ledger import LedgerEntry, record
from decp.core.config import load_config
from decp.handoff.loops import edit_loops
from decp.handoff.resume import build_pack
from decp.handoff.session import start_session
from decp.handoff.state import add_decision

NOW = "2026-11-30T09:00:00Z"
CLAUDE_TRANSCRIPT = "/home/u/.claude/projects/-repo/00893aaf-19fa-41d2-8238-13269b9b3ca0.jsonl"
CODEX_TRANSCRIPT = "/home/u/.codex/sessions/2026/11/30/rollout-2026-11-30T09-00-00-abc.jsonl"


def claude_session_start(root: Path, source: str) -> dict:
    return {
        "session_id": "00893aaf-19fa-41d2-8238-13269b9b3ca0",
        "transcript_path": CLAUDE_TRANSCRIPT,
        "cwd": str(root),
        "hook_event_name": "SessionStart",
        "source": source,
        "model": "claude-sonnet-4-6",
    }


def codex_session_start(root: Path, source: str) -> dict:
    return {
        "session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
        "transcript_path": CODEX_TRANSCRIPT,
        "cwd": str(root),
        "hook_event_name": "SessionStart",
        "model": "gpt-5.2-codex",
        "source": source,
    }


def hook(root: Path, event: str, payload: object, *args: str, cwd: Path | None = None):
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run(
        [*decp_command(), "hook", event, *args],
        input=raw,
        cwd=cwd or root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "DECP_NOW": NOW, "NO_COLOR": "1"},
    )


def context_of(stdout: str) -> str:
    data = json.loads(stdout)
    assert list(data) == ["hookSpecificOutput"], data
    inner = data["hookSpecificOutput"]
    assert sorted(inner) == ["additionalContext", "hookEventName"], inner
    assert inner["hookEventName"] == "SessionStart"
    assert isinstance(inner["additionalContext"], str)
    return inner["additionalContext"]


@pytest.fixture
def busy(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A session in progress: started, then a proposed loop, a decision and a loaded pack."""
    monkeypatch.setenv("DECP_NOW", NOW)
    config = load_config(project)
    with edit_loops(config) as book:
        book.new_loop("Old question from last week", status="open")
    start_session(config)
    with edit_loops(config) as book:
        book.new_loop("Is amount net of refunds?", status="proposed")
    add_decision(config, "Keep one row per order", "finance reports per order")
    record(
        config,
        LedgerEntry("dbt:+fct_orders (L1)", "dbt-pack", 1834, "lineage", NOW),
        excluded=False,
    )
    return project


# --- session-start ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "maker", [claude_session_start, codex_session_start], ids=["claude", "codex"]
)
@pytest.mark.parametrize("source", ["startup", "resume", "clear"])
def test_session_start_prints_the_resume_pack(busy: Path, maker, source: str) -> None:
    proc = hook(busy, "session-start", maker(busy, source))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = context_of(proc.stdout)
    pack = build_pack(load_config(busy)).text.rstrip("\n")
    assert text.startswith(pack + "\n"), text
    assert "- LOOP-002 Is amount net of refunds?" in text
    assert "## This session so far" not in text  # only after compaction


@pytest.mark.parametrize(
    "maker", [claude_session_start, codex_session_start], ids=["claude", "codex"]
)
def test_after_compaction_the_session_so_far_comes_back(busy: Path, maker) -> None:
    proc = hook(busy, "session-start", maker(busy, "compact"))
    assert proc.returncode == 0, proc.stderr
    text = context_of(proc.stdout)
    pack = build_pack(load_config(busy)).text.rstrip("\n")
    assert text.startswith(pack + "\n")
    progress = text[len(pack) :]
    assert progress == (
        "\n\n## This session so far (since `decp session start` at 2026-11-30T09:00:00Z)\n"
        "Loops new or moved (1):\n"
        "- LOOP-002 (proposed) Is amount net of refunds?\n"
        "Decisions recorded (1):\n"
        "- DECISION-001: Keep one row per order (why: finance reports per order)\n"
        "Context loaded before compaction (1; reload only what you need):\n"
        "- 1,834  dbt:+fct_orders (L1)\n"
        "\nYou were compacted: loops and decisions above are already in .project/; "
        "do not propose them again.\n"
    )


def test_startup_records_the_session_start_once(project: Path) -> None:
    current = project / ".project" / "sessions" / ".current.json"
    first = hook(project, "session-start", claude_session_start(project, "startup"))
    assert "(decp hook: session start recorded at 2026-11-30T09:00:00Z.)" in context_of(
        first.stdout
    )
    assert json.loads(current.read_text())["started"] == NOW
    again = hook(project, "session-start", claude_session_start(project, "startup"))
    assert "session start recorded" not in context_of(again.stdout)


def test_resume_does_not_start_a_session(project: Path) -> None:
    proc = hook(project, "session-start", claude_session_start(project, "resume"))
    assert "session start recorded" not in context_of(proc.stdout)
    assert not (project / ".project" / "sessions" / ".current.json").exists()


def test_a_broken_loops_file_is_told_to_the_agent_without_blocking(project: Path) -> None:
    (project / ".project" / "LOOPS.md").write_text("# Loops\n\n### LOOP-002 open a\n")
    proc = hook(project, "session-start", claude_session_start(project, "startup"))
    assert proc.returncode == 0
    text = context_of(proc.stdout)
    assert text.startswith("decp could not build the resume pack: ")
    assert "LOOPS.md:3: malformed loop heading" in text
    assert proc.stderr.startswith("decp: warning: hook session-start: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '{"source": 7, "cwd": null}'])
def test_garbage_stdin_still_gives_the_pack(project: Path, raw: str) -> None:
    proc = hook(project, "session-start", raw)
    assert proc.returncode == 0, proc.stderr
    assert context_of(proc.stdout).startswith("# Resume pack: shop\n")


def test_an_unknown_agent_flag_warns_and_still_answers(project: Path) -> None:
    proc = hook(
        project, "session-start", claude_session_start(project, "resume"), "--agent", "gemini"
    )
    assert proc.returncode == 0
    assert "--agent 'gemini' is not one of claude, codex" in proc.stderr
    assert context_of(proc.stdout).startswith("# Resume pack: shop\n")


# --- pre-compact --------------------------------------------------------------------------------


def test_pre_compact_writes_the_checkpoint(busy: Path) -> None:
    payload = {
        "session_id": "abc",
        "transcript_path": CLAUDE_TRANSCRIPT,
        "cwd": str(busy),
        "hook_event_name": "PreCompact",
        "trigger": "auto",
        "custom_instructions": "",
    }
    proc = hook(busy, "pre-compact", payload)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    checkpoint = (busy / ".project" / "sessions" / ".current-checkpoint.md").read_text()
    assert checkpoint.splitlines()[:4] == [
        "<!-- decp checkpoint 2026-11-30T09:00:00Z (auto): written by `decp hook pre-compact`; "
        "`decp session end` supersedes it. -->",
        "## This session so far (since `decp session start` at 2026-11-30T09:00:00Z)",
        "Loops new or moved (1):",
        "- LOOP-002 (proposed) Is amount net of refunds?",
    ]
    assert "- DECISION-001: Keep one row per order (why: finance reports per order)" in checkpoint


def test_pre_compact_never_blocks(tmp_path: Path, project: Path) -> None:
    outside = hook(tmp_path, "pre-compact", {"cwd": str(tmp_path), "trigger": "manual"})
    assert (outside.returncode, outside.stdout) == (0, "")
    assert outside.stderr.startswith("decp: warning: hook pre-compact: no .project/decp.toml")
    (project / ".project" / "LOOPS.md").write_text("### LOOP-1 nope\n")
    broken = hook(project, "pre-compact", {"cwd": str(project), "trigger": "manual"})
    assert (broken.returncode, broken.stdout) == (0, "")
    assert "LOOPS.md:1" in broken.stderr
    assert not (project / ".project" / "sessions" / ".current-checkpoint.md").exists()


# --- stop -----------------------------------------------------------------------------------------


def transcript(tmp_path: Path, *inputs: int) -> Path:
    """A Claude Code transcript whose assistant turns used these many input tokens (cache reads)."""
    path = tmp_path / "t.jsonl"
    lines = [json.dumps({"type": "user", "message": {"role": "user", "content": "hi"}})]
    for n in inputs:
        usage = {
            "input_tokens": 10,
            "cache_creation_input_tokens": 90,
            "cache_read_input_tokens": n - 100,
        }
        lines.append(
            json.dumps({"type": "assistant", "message": {"role": "assistant", "usage": usage}})
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def stop_payload(root: Path, path: Path, active: bool = False) -> dict:
    return {
        "session_id": "abc",
        "transcript_path": str(path),
        "cwd": str(root),
        "permission_mode": "default",
        "hook_event_name": "Stop",
        "stop_hook_active": active,
    }


def test_stop_reminds_past_the_handoff_budget(busy: Path, tmp_path: Path) -> None:
    # window 200,000 × handoff 0.5 = 100,000; the last turn counts, not the sum of turns
    proc = hook(busy, "stop", stop_payload(busy, transcript(tmp_path, 60_000, 100_000)))
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {
        "decision": "block",
        "reason": "decp: the context holds 100,000 tokens, past the handoff budget (100,000 = 50% of "
        '200,000). End the session now: `decp session end --done "…" --next "…"` (or the session_end tool).',
    }


@pytest.mark.parametrize(
    ("turns", "active", "started"),
    [
        ((99_999,), False, True),
        ((100_000, 99_999), False, True),
        ((120_000,), True, True),
        ((120_000,), False, False),
    ],
    ids=["below", "last-turn-below", "already-reminded", "no-session"],
)
def test_stop_stays_quiet(
    project: Path, tmp_path: Path, turns, active: bool, started: bool
) -> None:
    if started:
        start_session(load_config(project))
    proc = hook(project, "stop", stop_payload(project, transcript(tmp_path, *turns), active))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


# --- parsing ----------------------------------------------------------------------------------------


def test_agent_detection() -> None:
    assert detect_agent({"transcript_path": CODEX_TRANSCRIPT}) == "codex"
    assert detect_agent({"turn_id": "t1"}) == "codex"
    assert detect_agent({"transcript_path": CLAUDE_TRANSCRIPT}) == "claude"
    assert detect_agent({}) == "claude"


@given(
    st.one_of(
        st.text(),
        st.dictionaries(
            st.text(), st.one_of(st.none(), st.booleans(), st.integers(), st.text())
        ).map(json.dumps),
    )
)
def test_hook_input_never_raises(raw: str) -> None:
    hook_input = HookInput.parse(raw, None)
    assert hook_input.agent in ("claude", "codex")
    assert isinstance(hook_input.source, str) and isinstance(hook_input.stop_hook_active, bool)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "output_tokens",
            ]
        ),
        st.one_of(st.integers(-5, 10**6), st.booleans(), st.none(), st.text()),
    )
)
def test_context_tokens_counts_only_input_sides(usage: dict) -> None:
    expected = sum(
        v
        for k, v in usage.items()
        if k != "output_tokens" and isinstance(v, int) and not isinstance(v, bool) and v > 0
    )
    assert context_tokens(usage) == expected


def test_run_hook_unknown_event_is_a_warning() -> None:
    assert run_hook("post-tool", "{}") == (
        0,
        "",
        "unknown hook 'post-tool'; use one of session-start, pre-compact, stop.",
    )
