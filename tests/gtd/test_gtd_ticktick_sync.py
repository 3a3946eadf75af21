"""Loops ↔ TickTick round trips against the local fake server, over real HTTP.

CLI-level tests run real `decp` processes pointed at the fake through
DECP_TICKTICK_BASE_URL and TICKTICK_TOKEN, exactly as a user would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ticktick_server import INBOX_ID, FakeTickTick

from decp.core.config import load_config
from decp.core.errors import DecpError
from decp.gtd.sync import SyncOptions, export_loops, import_loops
from decp.handoff.loops import edit_loops, read_loops, transition


@pytest.fixture
def fake() -> Iterator[FakeTickTick]:
    with FakeTickTick() as server:
        yield server


@pytest.fixture
def env(fake: FakeTickTick, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "TICKTICK_TOKEN": fake.token,
        "DECP_TICKTICK_BASE_URL": fake.api_url,
        "DECP_TICKTICK_RETRY_DELAY": "0.001",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def add_loops(root: Path) -> list[str]:
    config = load_config(root)
    with edit_loops(config) as book:
        a = book.new_loop(
            "Should stg_orders dedupe on order_id?",
            status="open",
            body="Duplicates after backfill.",
            context="building fct_orders",
            source="models/staging/stg_orders.sql:14",
            tags=["dbt"],
        )
        b = book.new_loop(
            "Decide cache policy", status="clarifying", body="TTL or event based?", tags=["review"]
        )
        c = book.new_loop("Maybe rename dim_customers", status="proposed")
    return [a.id, b.id, c.id]


def ticktick(root: Path, *, dry_run: bool = False, direction: str = "export"):
    run = export_loops if direction == "export" else import_loops
    return run(load_config(root), SyncOptions("ticktick", dry_run=dry_run))


def loops_by_id(root: Path) -> dict:
    return {loop.id: loop for loop in read_loops(load_config(root)).loops}


def all_text_under(path: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in path.rglob("*") if p.is_file()
    )


def test_cli_round_trip_export_edit_import_reexport(
    project: Path, fake: FakeTickTick, env: dict[str, str], run_decp
) -> None:
    ids = add_loops(project)
    first = run_decp("gtd", "export", "--to", "ticktick", "--json", cwd=project, env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert [(r["loop"], r["action"]) for r in report["results"]] == [
        (ids[0], "created"),
        (ids[1], "created"),
    ]
    assert "created the list 'decp'" in report["notes"]
    project_id = fake.project_named("decp")["id"]
    task_a, task_b = fake.task_for(ids[0]), fake.task_for(ids[1])
    assert task_a["title"] == f"[{ids[0]}] Should stg_orders dedupe on order_id?"
    assert task_a["content"].startswith(
        "Duplicates after backfill.\n\nContext: building fct_orders\nSource: models/staging/stg_orders.sql:14\n"
    )
    assert f"Loop: {ids[0]} in shop .project/LOOPS.md" in task_a["content"]
    assert task_a["tags"] == ["dbt", "decp"] and task_a["projectId"] == project_id
    loops = loops_by_id(project)
    assert loops[ids[0]].gtd.startswith(f"ticktick:task={task_a['id']};project={project_id};h=")

    # The user clarifies in TickTick between sessions.
    fake.edit_task(
        task_a["id"],
        title=f"[{ids[0]}] Dedupe stg_orders on (order_id, updated_at)",
        content=task_a["content"].replace(
            "Duplicates after backfill.", "Duplicates after backfill. Source has no unique key."
        ),
        tags=["dbt", "decp", "quality"],
    )
    fake.edit_task(
        task_b["id"],
        content="Event based: invalidate on load.\n\n" + task_b["content"].split("\n\n")[-1],
    )
    fake.complete_task(task_b["id"])
    captured = fake.add_task(
        project_id,
        "Ask finance which revenue definition wins",
        content="Net or gross?",
        tags=["decp", "finance"],
    )
    fake.add_task(project_id, "Call the plumber")

    imported = run_decp("gtd", "import", "--from", "ticktick", cwd=project, env=env)
    assert imported.returncode == 0, imported.stderr
    loops = loops_by_id(project)
    a, b = loops[ids[0]], loops[ids[1]]
    assert a.title == "Dedupe stg_orders on (order_id, updated_at)"
    assert a.body == "Duplicates after backfill. Source has no unique key."
    assert a.tags == ["dbt", "quality"] and a.status == "open"
    assert (b.status, b.outcome, b.body) == (
        "closed",
        "Event based: invalidate on load.",
        "TTL or event based?",
    )
    new = [loop for loop in loops.values() if loop.id not in ids]
    assert [(n.title, n.status, n.body, n.tags) for n in new] == [
        ("Ask finance which revenue definition wins", "open", "Net or gross?", ["finance"])
    ]
    assert f"task={captured['id']}" in new[0].gtd
    assert not any("plumber" in loop.title for loop in loops.values())

    again = run_decp("gtd", "export", "--to", "ticktick", "--json", cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    actions = {r["loop"]: r["action"] for r in json.loads(again.stdout)["results"]}
    assert actions[ids[0]] == "unchanged" and actions[new[0].id] == "updated"
    assert len(fake.tasks_in(project_id)) == 4  # 2 exported + captured + plumber: no duplicates
    assert fake.task_for(new[0].id)["id"] == captured["id"]  # the captured task got its [LOOP-NNN]
    assert {r.action for r in ticktick(project).results} == {"unchanged"}
    assert len(fake.tasks_in(project_id)) == 4
    writes_before = len(fake.writes())
    ticktick(project, direction="import")
    assert len(fake.writes()) == writes_before  # import never writes to TickTick

    for result in (first, imported, again):
        assert fake.token not in result.stdout + result.stderr
    assert fake.token not in all_text_under(project.parent)


def test_conflict_keeps_both_texts_and_blocks_export_until_resolved(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    ticktick(project)
    task = fake.task_for(ids[0])
    fake.edit_task(
        task["id"],
        content=task["content"].replace(
            "Duplicates after backfill.", "Remote: dedupe in the source."
        ),
    )
    with edit_loops(load_config(project)) as book:
        book.get(ids[0]).body = "Local: dedupe in staging."
    report = ticktick(project, direction="import")
    result = next(r for r in report.results if r.loop == ids[0])
    assert result.action == "conflict" and result.conflicts == ["body"]
    loop = loops_by_id(project)[ids[0]]
    assert "Local: dedupe in staging." in loop.body and "Remote: dedupe in the source." in loop.body
    assert "<<<<<<< body in LOOPS.md" in loop.body and ">>>>>>> body in TickTick" in loop.body
    assert "conflict" in loop.tags
    # A second import does not stack another conflict block.
    ticktick(project, direction="import")
    assert loops_by_id(project)[ids[0]].body == loop.body

    blocked = ticktick(project)
    assert next(r for r in blocked.results if r.loop == ids[0]).action == "skipped"
    assert "Remote: dedupe in the source." in fake.task_for(ids[0])["content"]

    with edit_loops(load_config(project)) as book:
        resolved = book.get(ids[0])
        resolved.body = "Dedupe in staging; ask the source team too."
        resolved.tags = [t for t in resolved.tags if t != "conflict"]
    pushed = ticktick(project)
    assert next(r for r in pushed.results if r.loop == ids[0]).action == "updated"
    assert fake.task_for(ids[0])["content"].startswith(
        "Dedupe in staging; ask the source team too.\n\n"
    )
    assert "conflict" not in fake.task_for(ids[0])["tags"]


def test_export_merges_into_the_full_task_and_keeps_user_fields(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    ticktick(project)
    task = fake.task_for(ids[1])
    fake.edit_task(
        task["id"],
        dueDate="2026-02-01T09:00:00+0000",
        startDate="2026-02-01T09:00:00+0000",
        priority=5,
        tags=["review", "decp", "someday"],
    )
    with edit_loops(load_config(project)) as book:
        book.get(ids[1]).title = "Decide cache policy for fct_orders"
    report = ticktick(project)
    assert next(r for r in report.results if r.loop == ids[1]).action == "updated"
    after = fake.task_for(ids[1])
    assert after["title"] == f"[{ids[1]}] Decide cache policy for fct_orders"
    assert (after["dueDate"], after["priority"]) == ("2026-02-01T09:00:00+0000", 5)
    assert set(after["tags"]) == {"review", "decp", "someday"}  # the TickTick-only tag stays
    ticktick(project, direction="import")
    assert loops_by_id(project)[ids[1]].tags == ["review", "someday"]


def test_closing_and_rejecting_travel_both_ways(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    ticktick(project)
    config = load_config(project)
    with edit_loops(config) as book:
        transition(book.get(ids[0]), "closed", outcome="Dedupe on order_id.")
    ticktick(project)
    assert fake.task_for(ids[0])["status"] == 2
    fake.abandon_task(fake.task_for(ids[1])["id"])
    fake.completed_endpoint = False  # also exercises the /task/filter fallback path
    report = ticktick(project, direction="import")
    loop = loops_by_id(project)[ids[1]]
    assert (loop.status, loop.outcome) == ("rejected", "abandoned (won't do) in TickTick")
    assert loops_by_id(project)[ids[0]].status == "closed"
    assert next(r for r in report.results if r.loop == ids[1]).action == "updated"


def test_inbox_is_addressed_by_its_literal_name(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    config_path = project / ".project" / "decp.toml"
    config_path.write_text(
        config_path.read_text().replace('ticktick_list = "decp"', 'ticktick_list = "inbox"')
    )
    ids = add_loops(project)
    ticktick(project)
    assert fake.task_for(ids[0])["projectId"] == INBOX_ID
    assert fake.projects == {}  # no list named "inbox" was created
    fake.complete_task(fake.task_for(ids[0])["id"])
    ticktick(project, direction="import")
    assert loops_by_id(project)[ids[0]].status == "closed"


def test_partial_failure_is_reported_per_loop_and_a_rerun_finishes(
    project: Path, fake: FakeTickTick, env: dict[str, str], run_decp
) -> None:
    ids = add_loops(project)
    fake.add_project("decp")
    fake.fail("POST", r"^/task$", 500, times=1, echo_auth=True)
    failed = run_decp("gtd", "export", "--to", "ticktick", "--json", cwd=project, env=env)
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    outcome = {r["loop"]: (r["action"], r["error"]) for r in report["results"]}
    assert outcome[ids[0]][0] == "failed" and "HTTP 500" in outcome[ids[0]][1]
    assert outcome[ids[1]][0] == "created"
    assert "1 loop(s) failed" in failed.stderr and "Rerun" in failed.stderr
    assert fake.token not in failed.stdout + failed.stderr
    loops = loops_by_id(project)
    assert loops[ids[0]].gtd == "" and loops[ids[1]].gtd.startswith("ticktick:")
    rerun = run_decp("gtd", "export", "--to", "ticktick", "--json", cwd=project, env=env)
    assert rerun.returncode == 0, rerun.stderr
    actions = {r["loop"]: r["action"] for r in json.loads(rerun.stdout)["results"]}
    assert actions == {ids[0]: "created", ids[1]: "unchanged"}
    assert len(fake.tasks_in(fake.project_named("decp")["id"])) == 2


def test_ambiguous_5xx_on_create_is_adopted_on_rerun_not_duplicated(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    fake.add_project("decp")
    fake.fail("POST", r"^/task$", 502, times=1, after=True)  # TickTick created it, then failed
    first = ticktick(project)
    assert [r.action for r in first.results] == ["failed", "created"]
    second = ticktick(project)
    assert next(r for r in second.results if r.loop == ids[0]).action == "adopted"
    assert len(fake.tasks_in(fake.project_named("decp")["id"])) == 2
    assert "ticktick:task=" in loops_by_id(project)[ids[0]].gtd


def test_429_then_success(project: Path, fake: FakeTickTick, env: dict[str, str], run_decp) -> None:
    add_loops(project)
    fake.fail("GET", r"^/project$", 429, times=2, retry_after="0")
    fake.fail("POST", r"^/task$", 429, times=1, retry_after="0")
    result = run_decp("gtd", "export", "--to", "ticktick", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert [r.status for r in fake.requests if r.path.endswith("/project")][:3] == [429, 429, 200]
    assert len(fake.tasks_in(fake.project_named("decp")["id"])) == 2


def test_dry_run_writes_nothing_on_either_side(
    project: Path, fake: FakeTickTick, env: dict[str, str], run_decp
) -> None:
    ids = add_loops(project)
    loops_md = project / ".project" / "LOOPS.md"
    before = loops_md.read_bytes()
    dry = run_decp("gtd", "export", "--to", "ticktick", "--dry-run", cwd=project, env=env)
    assert dry.returncode == 0, dry.stderr
    assert (
        "[dry run: nothing written]" in dry.stdout and "would create the list 'decp'" in dry.stdout
    )
    assert f"[{ids[0]}] Should stg_orders dedupe on order_id?" in dry.stdout
    assert fake.writes() == [] and loops_md.read_bytes() == before
    assert not (project / ".project" / "gtd").exists()

    ticktick(project)
    before = loops_md.read_bytes()
    state_files = {p: p.read_bytes() for p in (project / ".project" / "gtd").iterdir()}
    task = fake.task_for(ids[0])
    fake.edit_task(task["id"], title=f"[{ids[0]}] Edited in TickTick")
    with edit_loops(load_config(project)) as book:
        book.get(ids[1]).body = "Locally clarified."
    before = loops_md.read_bytes()
    writes = len(fake.writes())
    changes = {
        r["loop"]: r["changes"] for r in ticktick(project, dry_run=True).to_dict()["results"]
    }
    assert any(
        c["side"] == "remote"
        and c["field"] == "content"
        and c["after"].startswith("Locally clarified.")
        for c in changes[ids[1]]
    )
    dry_import = run_decp(
        "gtd", "import", "--from", "ticktick", "--dry-run", "--json", cwd=project, env=env
    )
    assert dry_import.returncode == 0, dry_import.stderr
    changes = {r["loop"]: r["changes"] for r in json.loads(dry_import.stdout)["results"]}
    assert {
        "side": "local",
        "field": "title",
        "before": "Should stg_orders dedupe on order_id?",
        "after": "Edited in TickTick",
    } in changes[ids[0]]
    assert len(fake.writes()) == writes and loops_md.read_bytes() == before
    assert {p: p.read_bytes() for p in (project / ".project" / "gtd").iterdir()} == state_files


def test_token_never_printed_on_401_or_500(
    project: Path, fake: FakeTickTick, env: dict[str, str], run_decp
) -> None:
    add_loops(project)
    wrong = "tt-wrong-" + "5eed" * 6
    denied = run_decp(
        "gtd", "export", "--to", "ticktick", cwd=project, env={**env, "TICKTICK_TOKEN": wrong}
    )
    assert denied.returncode == 1
    assert (
        "TickTick refused the token" in denied.stderr and "decp gtd auth ticktick" in denied.stderr
    )
    assert wrong not in denied.stdout + denied.stderr and "Traceback" not in denied.stderr
    fake.fail("GET", r"^/project$", 500, times=10, echo_auth=True)
    broken = run_decp("gtd", "import", "--from", "ticktick", cwd=project, env=env)
    assert broken.returncode == 1 and "HTTP 500" in broken.stderr
    assert fake.token not in broken.stdout + broken.stderr and "Traceback" not in broken.stderr
    assert fake.token not in all_text_under(project.parent) and wrong not in all_text_under(
        project.parent
    )


def test_missing_token_and_missing_list_are_clear_errors(
    project: Path, fake: FakeTickTick, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_loops(project)
    monkeypatch.delenv("TICKTICK_TOKEN")
    with pytest.raises(DecpError) as info:
        ticktick(project)
    assert "no TickTick token" in info.value.one_line() and "API Token" in info.value.one_line()
    monkeypatch.setenv("TICKTICK_TOKEN", fake.token)
    with pytest.raises(DecpError) as missing:
        ticktick(project, direction="import")
    assert "no list named 'decp'" in missing.value.one_line()


def test_loops_deleted_in_ticktick_are_recreated_on_export(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    ticktick(project)
    gone = fake.task_for(ids[0])
    with fake.lock:
        del fake.tasks[gone["id"]]
    report = ticktick(project, direction="import")
    assert any("is gone from TickTick" in note for note in report.notes)
    again = ticktick(project)
    result = next(r for r in again.results if r.loop == ids[0])
    assert result.action == "created" and "recreated" in result.note
    assert fake.task_for(ids[0])["id"] != gone["id"]


def test_remote_edits_during_an_unresolved_conflict_stay_pending(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    ticktick(project)
    task = fake.task_for(ids[0])
    fake.edit_task(
        task["id"], content=task["content"].replace("Duplicates after backfill.", "Remote v1.")
    )
    with edit_loops(load_config(project)) as book:
        book.get(ids[0]).body = "Local v1."
    ticktick(project, direction="import")
    marked = loops_by_id(project)[ids[0]].body
    fake.edit_task(
        task["id"], content=task["content"].replace("Duplicates after backfill.", "Remote v2.")
    )
    report = ticktick(project, direction="import")
    result = next(r for r in report.results if r.loop == ids[0])
    assert "texts untouched" in result.note
    assert (
        loops_by_id(project)[ids[0]].body == marked
    )  # Local v1 is still there, nothing overwritten
    with edit_loops(load_config(project)) as book:
        book.get(ids[0]).body = "Local v1, resolved against Remote v1."
        book.get(ids[0]).tags = ["dbt"]
    blocked = ticktick(project)
    assert next(r for r in blocked.results if r.loop == ids[0]).action == "conflict"
    assert "Remote v2." in fake.task_for(ids[0])["content"]  # not overwritten either
    ticktick(project, direction="import")
    body = loops_by_id(project)[ids[0]].body
    assert "Local v1, resolved against Remote v1." in body and "Remote v2." in body


def test_settled_closed_loops_cost_no_requests(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    ticktick(project)
    with edit_loops(load_config(project)) as book:
        transition(book.get(ids[0]), "closed", outcome="done")
        transition(book.get(ids[1]), "closed", outcome="done")
    ticktick(project)  # completes both tasks
    assert {fake.task_for(i)["status"] for i in ids[:2]} == {2}
    fake.requests.clear()
    report = ticktick(project)
    assert (
        report.results == [] and fake.requests == []
    )  # nothing open, nothing to finish: no HTTP at all
    assert "no loops with status open, clarifying to export" in report.notes


def test_a_rejected_loop_goes_out_completed_with_its_reason(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    """Open API v1 cannot set won't-do (-1): completed plus a `Rejected: WHY` footer line."""
    ids = add_loops(project)
    ticktick(project)
    with edit_loops(load_config(project)) as book:
        transition(book.get(ids[1]), "rejected", outcome="Out of scope for  Q3.")
    report = ticktick(project)
    assert next(r for r in report.results if r.loop == ids[1]).action == "updated"
    task = fake.task_for(ids[1])
    assert task["status"] == 2
    assert task["content"] == (
        f"TTL or event based?\n\nRejected: Out of scope for Q3.\nLoop: {ids[1]} in shop .project/LOOPS.md (decp)"
    )
    writes = [(r.method, r.path) for r in fake.writes()]
    assert writes[-1][1].endswith(f"/task/{task['id']}/complete")
    assert not any((r.body or {}).get("status") == -1 for r in fake.writes())
    # Reading it back keeps it rejected (not closed), and a second export changes nothing.
    imported = ticktick(project, direction="import")
    assert loops_by_id(project)[ids[1]].status == "rejected"
    assert all(r.action == "unchanged" for r in imported.results if r.loop == ids[1])
    before = len(fake.writes())
    again = ticktick(project)
    assert all(r.action == "unchanged" for r in again.results if r.loop == ids[1])
    assert len(fake.writes()) == before


def test_reading_rejected_from_minus_one_and_from_the_footer(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    from decp.gtd.ticktick_sync import task_fields

    footer = "Rejected: no\nLoop: LOOP-001 in shop .project/LOOPS.md (decp)"
    assert task_fields({"title": "[LOOP-001] x", "status": -1})[1].state == "abandoned"
    assert task_fields({"title": "[LOOP-001] x", "status": 2, "content": footer})[1].state == (
        "abandoned"
    )
    # Near misses: completed without the line is done; the line on an open task is open.
    assert task_fields({"title": "[LOOP-001] x", "status": 2})[1].state == "done"
    assert task_fields({"title": "[LOOP-001] x", "status": 0, "content": footer})[1].state == (
        "open"
    )
    # A body line that merely says "Rejected:" is the user's text, not the footer.
    body = "Rejected: maybe\n\nLoop: LOOP-001 in shop .project/LOOPS.md (decp)"
    assert task_fields({"title": "[LOOP-001] x", "status": 2, "content": body})[1].state == "done"


def test_the_fake_ignores_a_minus_one_update_like_the_real_v1(
    project: Path, fake: FakeTickTick, env: dict[str, str]
) -> None:
    ids = add_loops(project)
    ticktick(project)
    task = fake.task_for(ids[0])
    from decp.gtd.auth import require_token
    from decp.gtd.ticktick import TickTickClient

    with TickTickClient(fake.api_url, require_token().secret, retry_base=0.001) as client:
        client.update_task({**task, "status": -1})
    assert fake.task_for(ids[0])["status"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:18099/open/v1",
        "https://evil.example/open/v1",
        "http://api.ticktick.com/open/v1",
        "https://api.ticktick.com.evil.example/open/v1",
        "https://api.ticktick.com:8443/open/v1",
    ],
)
def test_a_repo_file_cannot_send_the_token_elsewhere(
    project: Path, fake: FakeTickTick, env: dict[str, str], monkeypatch, run_decp, url: str
) -> None:
    monkeypatch.delenv("DECP_TICKTICK_BASE_URL")
    config_path = project / ".project" / "decp.toml"
    config_path.write_text(
        config_path.read_text().replace("https://api.ticktick.com/open/v1", url), encoding="utf-8"
    )
    add_loops(project)
    env = {k: v for k, v in env.items() if k != "DECP_TICKTICK_BASE_URL"}
    result = run_decp("gtd", "export", "--to", "ticktick", cwd=project, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"decp: error: {config_path}: gtd.ticktick_api_url = '{url}' is not an official TickTick host"
    )
    assert "DECP_TICKTICK_BASE_URL" in result.stderr and "Traceback" not in result.stderr
    assert fake.requests == []


def test_the_official_hosts_are_accepted(project: Path, monkeypatch) -> None:
    from decp.gtd.ticktick_sync import api_url

    monkeypatch.delenv("DECP_TICKTICK_BASE_URL", raising=False)
    config = load_config(project)
    assert api_url(config) == "https://api.ticktick.com/open/v1"
    config.gtd["ticktick_api_url"] = "https://api.dida365.com/open/v1/"
    assert api_url(config) == "https://api.dida365.com/open/v1"


@pytest.mark.parametrize("url", ["http://256.0.0.1", "http://[::1", "not a url", "ftp://x/y"])
def test_a_bad_url_in_the_environment_is_one_line(
    project: Path, env: dict[str, str], run_decp, url: str
) -> None:
    add_loops(project)
    result = run_decp(
        "gtd", "export", "--to", "ticktick", cwd=project, env={**env, "DECP_TICKTICK_BASE_URL": url}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("decp: error: $DECP_TICKTICK_BASE_URL is not")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
