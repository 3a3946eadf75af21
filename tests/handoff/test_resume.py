"""The resume pack: token cap, staleness from real git, clipboard, JSON."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from decp.core.config import load_config
from decp.core.errors import DataError
from decp.core.tokens import get_counter
from decp.handoff.loops import edit_loops
from decp.handoff.resume import PACK_CAP, build_pack
from decp.handoff.session import end_session, start_session
from decp.handoff.state import add_decision, set_field

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}

TITLES = (
    "Is the 3-day lookback on fct_orders enough for late refunds?",
    "Should stg_payments dedupe on payment_id or (order_id, created_at)?",
    "Does dim_customers need SCD2 for email or is type 1 fine?",
    "Why does int_order_items fan out for split shipments?",
)


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return proc.stdout


def init_repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "fct_orders.sql").write_text("select 1 as id\n", encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")


def fill(config) -> int:
    """20 open loops with realistic titles, every STATE field set, decisions up to the cap."""
    with edit_loops(config) as book:
        for n in range(20):
            book.new_loop(f"{TITLES[n % 4]} ({n})", status="open", body="details " * 30)
    set_field(config, "goal", "Make fct_orders incremental with a safe late-data policy")
    set_field(config, "task", "Phase 2: backfill strategy and tests for the incremental model")
    set_field(config, "last_action", "Rewrote the incremental filter to use a 3-day lookback")
    set_field(config, "next_action", "Run dbt build -s fct_orders+ on dev, compare row counts")
    set_field(config, "blockers", "Finance has not confirmed the refund cutoff date")
    added = 0
    try:
        while True:
            add_decision(
                config,
                f"Use merge on order_id for fct_orders, variant {added}",
                "late updates must overwrite rows and the warehouse merges natively",
            )
            added += 1
    except DataError:
        return added


def test_pack_with_20_open_loops_and_a_full_state_fits_1000_cl100k_tokens(project) -> None:
    config = load_config(project)
    init_repo(project)
    start_session(config)
    end_session(config, next_steps=["run dbt build -s fct_orders+", "compare row counts with prod"])
    decisions = fill(config)
    assert decisions >= 5  # STATE really is full: the cap refused the next decision
    cl100k = get_counter("cl100k_base")
    state_tokens = cl100k.count((project / ".project/STATE.md").read_text(encoding="utf-8"))
    pack = build_pack(config)
    tokens = cl100k.count(pack.text)
    print(f"resume pack: {tokens} cl100k tokens; STATE.md {state_tokens}; {decisions} decisions")
    assert tokens <= 1000
    assert pack.dropped_loops == 0
    assert all(f"LOOP-{n:03d}" in pack.text for n in range(1, 21))
    assert "1. run dbt build -s fct_orders+" in pack.text
    assert "DECISION-001" in pack.text and "Why: late updates" in pack.text
    # the pack states its own size, counted with the configured encoding (which names itself)
    counter = get_counter(config.budget.encoding)
    assert f"This pack: {counter.count(pack.text)} tokens ({counter.label})." in pack.text
    assert ".project/PROTOCOL.md" in pack.text


def test_pack_never_passes_its_cap_and_says_what_it_dropped(project) -> None:
    config = load_config(project)
    with edit_loops(config) as book:
        for n in range(60):
            book.new_loop(f"{TITLES[n % 4]} ({n})", status="open" if n % 2 else "proposed")
    pack = build_pack(config)
    assert get_counter(config.budget.encoding).count(pack.text) <= PACK_CAP
    assert pack.dropped_loops > 0
    assert "more: `decp loop list --status" in pack.text


def test_staleness_follows_git(project, run_decp) -> None:
    init_repo(project)
    run_decp("session", "start", cwd=project)
    assert run_decp("session", "end", "--next", "x", cwd=project).returncode == 0
    fresh = json.loads(run_decp("resume", "--json", cwd=project).stdout)
    assert fresh["stale"] is False
    assert "no file changed since" in fresh["pack"]
    # memory files changing is not staleness
    run_decp("loop", "add", "a question", cwd=project)
    assert json.loads(run_decp("resume", "--json", cwd=project).stdout)["stale"] is False
    # an uncommitted change to a tracked file is
    (project / "models" / "fct_orders.sql").write_text("select 2 as id\n", encoding="utf-8")
    dirty = json.loads(run_decp("resume", "--json", cwd=project).stdout)
    assert dirty["stale"] is True
    assert dirty["staleness"]["files_changed"] == ["models/fct_orders.sql"]
    # so is a new file nobody has added yet (ignored files are not)
    (project / ".gitignore").write_text("target/\n", encoding="utf-8")
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}", encoding="utf-8")
    (project / "models" / "new_model.sql").write_text("select 1\n", encoding="utf-8")
    changed = json.loads(run_decp("resume", "--json", cwd=project).stdout)["staleness"]
    assert changed["files_changed"] == [
        ".gitignore",
        "models/fct_orders.sql",
        "models/new_model.sql",
    ]
    git(project, "commit", "-qam", "change")
    committed = json.loads(run_decp("resume", "--json", cwd=project).stdout)
    assert committed["staleness"]["commits_since"] == 1
    assert committed["pack"].startswith("# Resume pack: shop\n")
    assert "STALE" in committed["pack"]


def test_staleness_by_age_and_without_git(project, run_decp) -> None:
    run_decp("session", "end", cwd=project, env={"DECP_NOW": "2026-01-01T00:00:00Z"})
    later = run_decp("resume", "--json", cwd=project, env={"DECP_NOW": "2026-01-09T00:00:00Z"})
    data = json.loads(later.stdout)
    assert data["stale"] is True and data["staleness"]["age"] == "8d"
    assert "not a git repo" in data["pack"] and "STALE" in data["pack"]
    soon = run_decp("resume", "--json", cwd=project, env={"DECP_NOW": "2026-01-01T03:00:00Z"})
    assert json.loads(soon.stdout)["stale"] is False


def test_first_session_pack(project, run_decp) -> None:
    result = run_decp("resume", cwd=project)
    assert result.returncode == 0
    assert "No session summary yet" in result.stdout
    assert "goal: (not set)" in result.stdout


def _fake_tool(folder: Path, name: str, target: Path) -> None:
    script = folder / name
    script.write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(target)!r}, 'w').write(sys.stdin.read())\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_copy_uses_a_clipboard_tool_when_there_is_one(project, run_decp, tmp_path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    clipboard = tmp_path / "clipboard.txt"
    _fake_tool(bin_dir, "xclip", clipboard)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = run_decp("resume", "--copy", cwd=project, env=env)
    assert result.returncode == 0
    assert "xclip" in result.stderr
    assert clipboard.read_text(encoding="utf-8") == result.stdout


def test_copy_without_a_clipboard_tool_still_prints(project, run_decp, tmp_path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = run_decp("resume", "--copy", cwd=project, env={"PATH": str(empty)})
    assert result.returncode == 0
    assert "No working clipboard tool" in result.stderr
    assert result.stdout.startswith("# Resume pack: shop")


def test_fitting_many_loops_stays_under_the_cap_and_counts_what_it_dropped(project) -> None:
    """2,000 open loops and 200 proposals: proposals go first, then open loops, said exactly."""
    config = load_config(project)
    with edit_loops(config) as book:
        for n in range(2000):
            book.new_loop(f"question {n} on fct_orders", status="open")
        for n in range(200):
            book.new_loop(f"proposal {n}")
    pack = build_pack(config)
    counter = get_counter(config.budget.encoding)
    assert counter.count(pack.text) == pack.tokens <= PACK_CAP
    assert pack.tokens >= PACK_CAP - 60  # filled, not timid
    shown = [line for line in pack.text.splitlines() if line.startswith("- LOOP-")]
    assert shown == [
        f"- LOOP-{n:03d} question {n - 1} on fct_orders" for n in range(1, len(shown) + 1)
    ]
    assert f"… {2000 - len(shown)} more: `decp loop list --status open`" in pack.text
    assert "… 200 more: `decp loop list --status proposed`" in pack.text
    assert pack.dropped_loops == 2200 - len(shown)
    assert "(none)" not in pack.text


def test_open_loops_all_fit_then_proposals_fill_the_rest(project) -> None:
    config = load_config(project)
    with edit_loops(config) as book:
        for n in range(5):
            book.new_loop(f"open {n}", status="open")
        for n in range(400):
            book.new_loop(f"proposal {n}")
    pack = build_pack(config)
    assert pack.tokens <= PACK_CAP
    assert all(f"- LOOP-{n:03d} open {n - 1}" in pack.text for n in range(1, 6))
    kept = sum(
        1 for line in pack.text.splitlines() if line.startswith("- LOOP-") and "proposal" in line
    )
    assert 0 < kept < 400
    assert f"… {400 - kept} more: `decp loop list --status proposed`" in pack.text
    assert "more: `decp loop list --status open`" not in pack.text


def test_an_oversized_loops_file_is_refused_not_parsed(project, run_decp) -> None:
    from decp.handoff.session import MAX_PROTOCOL_FILE_BYTES

    path = project / ".project" / "LOOPS.md"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("# Loops\n\n## LOOP-001: big\n- status: open\n\n")
        handle.write(("x" * 1023 + "\n") * (MAX_PROTOCOL_FILE_BYTES // 1024 + 1))
    for command in (("resume",), ("pr",), ("session", "start"), ("session", "end")):
        result = run_decp(*command, cwd=project)
        assert result.returncode == 1, command
        assert ".project/LOOPS.md: 16 MB is too big for a decp file (the limit is 16 MB)" in (
            result.stderr
        ), result.stderr
        assert "archive" in result.stderr and "Traceback" not in result.stderr
    # a near miss: just under the limit is read as usual
    with path.open("r+", encoding="utf-8") as handle:
        handle.truncate(MAX_PROTOCOL_FILE_BYTES - 1)
    assert "too big" not in run_decp("resume", cwd=project).stderr
