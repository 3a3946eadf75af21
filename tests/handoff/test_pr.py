"""`decp pr`: the narrative's range, decisions, diff stat, loops and verification, from real git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MINIMAL_CONFIG, _run
from test_resume import git, init_repo


def _decp(*args: str, cwd: Path):
    return _run(list(args), cwd, None, None)


@pytest.fixture(scope="module")
def feature_repo(tmp_path_factory) -> Path:
    """One repo with a finished feature-branch session, shared by the read-only PR tests."""
    root = tmp_path_factory.mktemp("pr") / "repo"
    (root / ".project").mkdir(parents=True)
    (root / ".project" / "decp.toml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    init_repo(root)
    _feature_work(root, lambda *a, cwd: _decp(*a, cwd=cwd))
    return root


def _feature_work(project: Path, run_decp) -> None:
    git(project, "checkout", "-q", "-b", "feature/incremental")
    run_decp("state", "set", "goal", "Make fct_orders incremental", cwd=project)
    run_decp("session", "start", cwd=project)
    run_decp("loop", "propose", "Is a 3-day lookback enough?", cwd=project)
    run_decp("loop", "approve", "1", cwd=project)
    run_decp("loop", "add", "Backfill old partitions later", cwd=project)
    (project / "models" / "fct_orders.sql").write_text(
        "{{ config(materialized='incremental') }}\nselect 1 as id\n", encoding="utf-8"
    )
    run_decp(
        "decision",
        "add",
        "Use a 3-day lookback",
        "--why",
        "late orders land within 72h",
        "--loop",
        "1",
        cwd=project,
    )
    run_decp(
        "session",
        "end",
        "--done",
        "made fct_orders incremental",
        "--verified",
        "dbt build -s fct_orders+ passed",
        cwd=project,
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "incremental fct_orders")


def test_pr_on_a_feature_branch(feature_repo, run_decp) -> None:
    project = feature_repo
    result = run_decp("pr", "--json", "--verified", "row counts match prod", cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["since"]["label"] == "since the merge-base with main"
    assert data["since"]["sha"] == git(project, "rev-parse", "main").strip()
    assert "models/fct_orders.sql" in data["diff_stat"]
    assert ".project" not in data["diff_stat"]
    assert [d["id"] for d in data["decisions"]] == ["DECISION-001"]
    assert [x["id"] for x in data["loops_closed"]] == ["LOOP-001"]
    assert [x["id"] for x in data["follow_ups"]] == ["LOOP-002"]
    assert data["verified"][0].startswith("dbt build -s fct_orders+ passed (")
    assert data["verified"][1] == "row counts match prod"
    md = data["markdown"]
    for heading in (
        "## Problem",
        "## Reasoning trail",
        "## What changed",
        "## Loops closed",
        "## Open follow-ups",
        "## How it was verified",
    ):
        assert heading in md
    assert "Make fct_orders incremental" in md
    assert "**DECISION-001** (closes LOOP-001): Use a 3-day lookback. Why: late orders" in md
    assert "- made fct_orders incremental" in md
    assert "LOOP-001 (closed) Is a 3-day lookback enough?: DECISION-001: Use a 3-day lookback" in md


def test_pr_out_writes_the_markdown(feature_repo, run_decp, tmp_path) -> None:
    project = feature_repo
    printed = run_decp("pr", cwd=project).stdout
    target = tmp_path / "PR.md"
    result = run_decp("pr", "--out", str(target), cwd=project)
    assert result.returncode == 0 and result.stdout == ""
    assert target.read_text(encoding="utf-8") == printed


def test_pr_says_its_range_on_stderr_and_guards_out(feature_repo, run_decp, tmp_path) -> None:
    project = feature_repo
    result = run_decp("pr", cwd=project)
    base = git(project, "rev-parse", "--short=10", "main").strip()
    range_line = f"Range: since the merge-base with main (`{base}`); sessions: "
    assert result.stderr.startswith(range_line), result.stderr
    loops = project / ".project" / "LOOPS.md"
    before = loops.read_bytes()
    refused = run_decp("pr", "--out", str(loops), "--force", cwd=project)
    assert refused.returncode == 2
    assert "is a decp data file in .project/; decp never overwrites it." in refused.stderr
    assert loops.read_bytes() == before
    existing = tmp_path / "PR.md"
    existing.write_text("mine\n", encoding="utf-8")
    kept = run_decp("pr", "--out", str(existing), cwd=project)
    assert kept.returncode == 2 and "already exists" in kept.stderr
    assert existing.read_text(encoding="utf-8") == "mine\n"
    replaced = run_decp("pr", "--out", str(existing), "--force", cwd=project)
    assert replaced.returncode == 0 and existing.read_text(encoding="utf-8").startswith(
        "## Problem"
    )


def test_pr_names_the_impact_command_for_its_base(feature_repo, run_decp) -> None:
    """A dbt project's narrative gives the reviewer the blast-radius command for its range."""
    project = feature_repo
    base = git(project, "rev-parse", "main").strip()
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    command = f"decp dbt impact --changed-since {base[:10]}"
    assert data["impact_command"] == command
    line = f"Blast radius, for review: `{command}` (what changed, all downstream, exposures)."
    md = data["markdown"].splitlines()
    assert line in md
    assert md.index(line) < md.index("## Loops closed")  # part of "What changed"
    # --since moves the base the command compares with
    since_head = json.loads(run_decp("pr", "--since", "HEAD", "--json", cwd=project).stdout)
    head = git(project, "rev-parse", "HEAD").strip()
    assert since_head["impact_command"] == f"decp dbt impact --changed-since {head[:10]}"


def test_pr_of_a_generic_project_does_not_mention_dbt_impact(tmp_path, run_decp) -> None:
    root = tmp_path / "repo"
    (root / ".project").mkdir(parents=True)
    config = MINIMAL_CONFIG.replace('type = "dbt"', 'type = "generic"')
    assert config != MINIMAL_CONFIG
    (root / ".project" / "decp.toml").write_text(config, encoding="utf-8")
    init_repo(root)
    _feature_work(root, run_decp)
    data = json.loads(run_decp("pr", "--json", cwd=root).stdout)
    assert data["impact_command"] is None
    assert "decp dbt impact" not in data["markdown"] and "Blast radius" not in data["markdown"]
    assert "## What changed" in data["markdown"]


def test_pr_since_an_explicit_ref_and_a_bad_one(feature_repo, run_decp) -> None:
    project = feature_repo
    same = json.loads(run_decp("pr", "--since", "HEAD", "--json", cwd=project).stdout)
    assert same["since"]["label"] == "since HEAD"
    assert "fct_orders" not in (same["diff_stat"] or "")
    bad = run_decp("pr", "--since", "no-such-ref", cwd=project)
    assert bad.returncode == 2 and "no-such-ref" in bad.stderr


def test_pr_on_main_without_a_tag_starts_at_the_stamp_commit(project, run_decp) -> None:
    init_repo(project)
    stamp = git(project, "rev-parse", "HEAD").strip()
    run_decp("session", "start", cwd=project)
    (project / "models" / "fct_orders.sql").write_text("select 3 as id\n", encoding="utf-8")
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"]["label"] == "since the stamp commit (the first commit with .project/)"
    assert data["since"]["sha"] == stamp
    assert "models/fct_orders.sql" in data["diff_stat"]
    (project / "models" / "brand_new.sql").write_text("select 4\n", encoding="utf-8")
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["untracked"] == ["models/brand_new.sql"]
    assert "`models/brand_new.sql`" in data["markdown"]
    assert "Not recorded" in data["markdown"]  # no verification recorded: says so


def _session(project: Path, run_decp, n: int, *, loop: str = "", commit: bool = True) -> None:
    """One committed session: a model change, a decision, maybe a new open loop."""
    assert run_decp("session", "start", cwd=project).returncode == 0
    if loop:
        assert run_decp("loop", "add", loop, cwd=project).returncode == 0
    (project / "models" / f"model_{n}.sql").write_text(f"select {n}\n", encoding="utf-8")
    added = run_decp(
        "decision", "add", f"Decision of session {n}", "--why", f"reason {n}", cwd=project
    )
    assert added.returncode == 0, added.stderr
    end = run_decp("session", "end", "--done", f"work {n}", "--verified", f"check {n}", cwd=project)
    assert end.returncode == 0, end.stderr
    if commit:
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", f"session {n}")


def test_pr_on_main_covers_every_session_since_the_stamp(project, run_decp) -> None:
    """Seen on main: only the last session, DECISION-001 and the diff left out, loops 'none'."""
    init_repo(project)
    stamp = git(project, "rev-parse", "HEAD").strip()
    _session(project, run_decp, 1, loop="Backfill before 2024?")
    _session(project, run_decp, 2)
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"]["sha"] == stamp
    assert len(data["sessions"]) == 2
    assert [d["id"] for d in data["decisions"]] == ["DECISION-001", "DECISION-002"]
    assert "models/model_1.sql" in data["diff_stat"] and "models/model_2.sql" in data["diff_stat"]
    assert [x["id"] for x in data["follow_ups"]] == ["LOOP-001"]
    assert data["warnings"] == []
    md = data["markdown"]
    assert "- LOOP-001 (open) Backfill before 2024?" in md and "Open follow-ups\n- none" not in md
    first, second = data["sessions"]
    assert (
        f"Range: since the stamp commit (the first commit with .project/) (`{stamp[:10]}`); "
        f"sessions: {first}, {second}." in md
    )
    assert md.index("## What changed\nRange: ") > 0


def test_pr_on_main_starts_at_the_last_tag(project, run_decp) -> None:
    init_repo(project)
    _session(project, run_decp, 1, loop="still open from before the tag")
    git(project, "tag", "-a", "v0.1", "-m", "release")
    tagged = git(project, "rev-parse", "HEAD").strip()
    _session(project, run_decp, 2)
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"]["label"] == "since the last tag v0.1"
    assert data["since"]["sha"] == tagged
    assert [d["id"] for d in data["decisions"]] == ["DECISION-002"]
    assert "model_2.sql" in data["diff_stat"] and "model_1.sql" not in data["diff_stat"]
    assert [x["id"] for x in data["follow_ups"]] == ["LOOP-001"]  # open now, though older
    assert len(data["sessions"]) == 1 and data["done"] == ["work 2"]


def test_pr_on_a_branch_uses_origin_head_first(project, run_decp) -> None:
    init_repo(project)
    git(project, "checkout", "-q", "-b", "trunk")
    _session(project, run_decp, 1, loop="asked on trunk")
    trunk = git(project, "rev-parse", "HEAD").strip()
    git(project, "update-ref", "refs/remotes/origin/trunk", trunk)
    git(project, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    git(project, "checkout", "-q", "-b", "feature/x")
    _session(project, run_decp, 2)
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"]["label"] == "since the merge-base with origin/trunk"
    assert data["since"]["sha"] == trunk  # not the older merge-base with main
    assert [d["id"] for d in data["decisions"]] == ["DECISION-002"]
    assert [x["id"] for x in data["follow_ups"]] == ["LOOP-001"]
    # on the default branch itself (origin/trunk → local trunk): tag, else the stamp commit
    git(project, "checkout", "-q", "trunk")
    on_trunk = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert on_trunk["since"]["label"].startswith("since the stamp commit")


def test_pr_on_a_branch_falls_back_to_master(project, run_decp) -> None:
    init_repo(project)
    git(project, "branch", "-m", "main", "master")
    base = git(project, "rev-parse", "HEAD").strip()
    git(project, "checkout", "-q", "-b", "feature/y")
    _session(project, run_decp, 1)
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"]["label"] == "since the merge-base with master"
    assert data["since"]["sha"] == base
    assert [d["id"] for d in data["decisions"]] == ["DECISION-001"]


def test_pr_never_drops_a_decision_sharing_an_id(project, run_decp) -> None:
    """STATE.md lost its high-water mark, so ids restarted: both DECISION-001 are listed."""
    init_repo(project)
    _session(project, run_decp, 1)
    state = project / ".project" / "STATE.md"
    text = state.read_text(encoding="utf-8")
    assert "<!-- next-id: DECISION-002 -->" in text
    state.write_text(
        text.replace(
            "<!-- next-id: DECISION-002 -->",
            "- DECISION-001 (2026-11-30): Second first decision. Why: ids restarted",
        ),
        encoding="utf-8",
    )
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    whats = [(d["id"], d["what"]) for d in data["decisions"]]
    assert whats == [
        ("DECISION-001", "Decision of session 1"),
        ("DECISION-001", "Second first decision"),
    ]
    assert len(data["warnings"]) == 1
    assert data["warnings"][0].startswith("DECISION-001 is used by 2 different decisions (session ")
    assert data["warnings"][0].endswith(", STATE.md); all are listed. Give one a new id.")


def test_pr_keeps_both_decisions_of_two_summaries_with_one_id(project, run_decp) -> None:
    init_repo(project)
    _session(project, run_decp, 1)
    sessions = project / ".project" / "sessions"
    (original,) = [p for p in sessions.glob("*.md")]
    text = original.read_text(encoding="utf-8")
    copy = sessions / "2999-01-01-1.md"
    copy.write_text(text, encoding="utf-8")  # the same decision twice: listed once
    other = sessions / "2999-01-01-2.md"
    other.write_text(text.replace("Decision of session 1", "Another decision"), encoding="utf-8")
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert [d["what"] for d in data["decisions"]] == [
        "Decision of session 1",
        "Another decision",
    ]
    assert data["warnings"] == [
        f"DECISION-001 is used by 2 different decisions (session {original.stem}, "
        "session 2999-01-01-2); all are listed. Give one a new id."
    ]
    md = data["markdown"]
    assert md.count("**DECISION-001**") == 2


def test_pr_outside_git_uses_every_session(project, run_decp) -> None:
    run_decp("decision", "add", "Keep it simple", "--why", "small team", cwd=project)
    run_decp("session", "end", "--verified", "eyeballed", cwd=project)
    data = json.loads(run_decp("pr", "--json", cwd=project).stdout)
    assert data["since"] == {
        "ref": None,
        "sha": None,
        "label": "every session (not a git repository)",
        "time": None,
    }
    assert data["decisions"][0]["what"] == "Keep it simple"
    assert data["verified"][0].startswith("eyeballed")
    assert run_decp("pr", "--since", "main", cwd=project).returncode == 2


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from decp.handoff.pr import collect_decisions  # noqa: E402
from decp.handoff.state import Decision  # noqa: E402

_decision = st.builds(
    Decision,
    id=st.integers(1, 4).map(lambda n: f"DECISION-{n:03d}"),
    date=st.sampled_from(["2026-01-01", "2026-01-02"]),
    what=st.sampled_from(["a", "b"]),
    why=st.sampled_from(["", "x"]),
    loop=st.sampled_from(["", "LOOP-001"]),
)


@given(st.lists(st.tuples(st.sampled_from(["s1", "s2", "STATE.md"]), st.lists(_decision))))
def test_collect_decisions_never_drops_one(sources) -> None:
    decisions, warnings = collect_decisions(sources)
    distinct = {tuple(d.to_dict().values()) for _, ds in sources for d in ds}
    assert {tuple(d.to_dict().values()) for d in decisions} == distinct
    assert len(decisions) == len(distinct)  # identical copies listed once
    assert [d.number for d in decisions] == sorted(d.number for d in decisions)
    shared = {d.id for d in decisions if sum(x.id == d.id for x in decisions) > 1}
    assert sorted(w.split(" ", 1)[0] for w in warnings) == sorted(shared)
