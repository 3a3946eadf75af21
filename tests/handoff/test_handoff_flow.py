"""The scripted session from the handoff issue, end to end, through real `decp` processes.

propose → approve → session start → decision --loop (closes the loop) → session end
→ resume → pr, in a real git repo with a real change, checked through --json.
"""

from __future__ import annotations

import json

from test_resume import git, init_repo

from decp.core.tokens import get_counter


def test_scripted_session(project, run_decp) -> None:
    init_repo(project)
    git(project, "checkout", "-q", "-b", "feature/late-data")

    def decp_json(*args: str):
        result = run_decp(*args, "--json", cwd=project)
        assert result.returncode == 0, f"decp {' '.join(args)}: {result.stderr}"
        return json.loads(result.stdout)

    # 0. the user states the goal
    decp_json("state", "set", "goal", "Handle late-arriving orders in fct_orders")

    # 1. the agent proposes a loop
    proposed = decp_json(
        "loop",
        "propose",
        "Is a 3-day lookback enough for late orders?",
        "--source",
        "models/fct_orders.sql:1",
        "--tag",
        "late-data",
    )
    loop_id = proposed["id"]
    assert proposed["status"] == "proposed"

    # 2. the user approves it
    assert decp_json("loop", "approve", loop_id)[0]["status"] == "open"

    # 3. the session starts
    started = decp_json("session", "start")
    assert started["loops"] == {loop_id: "open"}
    assert started["head"] == git(project, "rev-parse", "HEAD").strip()

    # a real change to a model
    (project / "models" / "fct_orders.sql").write_text(
        "select 1 as id -- 3-day lookback\n", encoding="utf-8"
    )
    (project / "models" / "int_late_payments.sql").write_text("select 1 as id\n", encoding="utf-8")

    # 4. the user decides; the decision closes the loop
    decision = decp_json(
        "decision",
        "add",
        "Use a 3-day lookback on updated_at",
        "--why",
        "the source system settles orders within 72 hours",
        "--loop",
        loop_id,
    )
    assert decision["id"] == "DECISION-001"

    # 5. the loop is closed, with the decision as its outcome
    closed = decp_json("loop", "show", loop_id)
    assert closed["status"] == "closed"
    assert closed["outcome"] == "DECISION-001: Use a 3-day lookback on updated_at"

    # 6. the session ends with a handoff
    summary = decp_json(
        "session",
        "end",
        "--done",
        "added a 3-day lookback to fct_orders",
        "--next",
        "backfill the last 30 days",
        "--verified",
        "dbt build -s fct_orders+ passed",
    )
    assert [d["id"] for d in summary["decisions"]] == ["DECISION-001"]
    assert [x["id"] for x in summary["closed"]] == [loop_id]
    handoff = (project / summary["path"]).read_text(encoding="utf-8")
    assert "Why: the source system settles orders within 72 hours" in handoff
    assert decp_json("state", "show")["decisions"] == []  # moved to the summary

    # 7. a fresh agent resumes
    pack = decp_json("resume")
    assert pack["next_steps"] == ["backfill the last 30 days"]
    assert pack["open_loops"] == []
    # the model changed during the session, before the summary: not stale
    assert pack["stale"] is False, pack["staleness"]
    text = pack["pack"]
    assert ".project/PROTOCOL.md" in text and "Handle late-arriving orders" in text
    assert pack["tokens"] == get_counter("o200k_base").count(text)
    print(f"resume pack after the scripted session: {pack['tokens']} tokens ({pack['encoding']})")

    # committing the session's work afterwards does not make the summary stale either
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "late data")
    after_commit = decp_json("resume")
    assert after_commit["stale"] is False
    assert after_commit["staleness"]["commits_since"] == 1

    # 8. the PR narrative
    narrative = decp_json("pr")
    assert narrative["since"]["label"] == "since the merge-base with main"
    assert "models/fct_orders.sql" in narrative["diff_stat"]
    assert "models/int_late_payments.sql" in narrative["diff_stat"]
    assert [d["id"] for d in narrative["decisions"]] == ["DECISION-001"]
    assert [x["id"] for x in narrative["loops_closed"]] == [loop_id]
    assert narrative["verified"][0].startswith("dbt build -s fct_orders+ passed")
    assert "Handle late-arriving orders in fct_orders" in narrative["markdown"]
