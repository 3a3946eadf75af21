"""todo.txt both ways: the standard format, in-place updates, user lines kept byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from decp.core.config import load_config
from decp.core.errors import DataError
from decp.gtd import todotxt
from decp.gtd.sync import SyncOptions, export_loops, import_loops
from decp.handoff.loops import edit_loops, read_loops

EXAMPLE = "x 2026-01-05 2026-01-02 Decide cache policy +shop @review id:LOOP-003"


def test_the_standard_example_parses_and_renders_back_exactly(tmp_path: Path) -> None:
    item = todotxt.parse_line(EXAMPLE, 1, tmp_path / "todo.txt")
    assert item is not None
    assert (item.done, item.completion, item.creation) == (True, "2026-01-05", "2026-01-02")
    assert (item.text, item.projects, item.contexts, item.loop_id) == (
        "Decide cache policy",
        ("shop",),
        ("review",),
        "LOOP-003",
    )
    assert todotxt.render(item) == EXAMPLE
    for line in (
        "(A) 2026-01-02 Call Mom @phone +family due:2026-01-09",
        "(B) plain",
        "x done thing",
        "no dates at all +p",
    ):
        parsed = todotxt.parse_line(line, 1, tmp_path)
        assert parsed is not None and todotxt.render(parsed) == line


def test_spaces_in_values_are_encoded_and_come_back() -> None:
    item = todotxt.build_item(
        title="Check freshness",
        tags=("late data",),
        project="my shop",
        loop_id="LOOP-004",
        source="models/my orders.sql:12",
        created="2026-01-02",
        done=False,
        completion="",
    )
    line = todotxt.render(item)
    assert (
        line
        == "2026-01-02 Check freshness +my-shop @late%20data id:LOOP-004 src:models/my%20orders.sql:12"
    )
    back = todotxt.parse_line(line, 1, Path("todo.txt"))
    assert (
        back is not None
        and back.value("src") == "models/my orders.sql:12"
        and back.contexts == ("late data",)
    )


def test_changes_keep_what_the_user_added_to_our_line(tmp_path: Path) -> None:
    item = todotxt.parse_line(
        "(A) 2026-01-02 Check @dbt freshness +shop id:LOOP-004 due:2026-02-01", 1, tmp_path
    )
    assert item is not None
    done = todotxt.with_changes(
        item,
        title="Check source freshness",
        tags=("dbt", "ops"),
        done=True,
        completion="2026-01-07",
    )
    assert (
        todotxt.render(done)
        == "x 2026-01-07 2026-01-02 Check source freshness +shop @dbt @ops id:LOOP-004 due:2026-02-01 pri:A"
    )
    reopened = todotxt.parse_line(todotxt.render(done), 1, tmp_path)
    assert reopened is not None
    assert (
        todotxt.render(todotxt.with_changes(reopened, done=False))
        == "(A) 2026-01-02 Check source freshness +shop @dbt @ops id:LOOP-004 due:2026-02-01"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x 2026-02-30 Decide", "completion date '2026-02-30'"),
        ("2026-13-01 Decide", "creation date '2026-13-01'"),
        ("Decide id:LOOP-x7", "id:LOOP-x7 is not a loop id"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(DataError) as info:
        todotxt.parse_line(line, 7, tmp_path / "todo.txt")
    assert info.value.line == 7 and message in info.value.one_line()


def add_loops(root: Path) -> list[str]:
    with edit_loops(load_config(root)) as book:
        a = book.new_loop(
            "Decide cache policy", status="open", body="TTL or event based?", tags=["review"]
        )
        b = book.new_loop(
            "Check source freshness",
            status="clarifying",
            source="models/my orders.sql:12",
            tags=["dbt"],
        )
        c = book.new_loop("Not yet approved", status="proposed")
    return [a.id, b.id, c.id]


def todo(root: Path) -> Path:
    return root / ".project" / "gtd" / "todo.txt"


def test_cli_round_trip_keeps_user_lines_and_updates_ours_in_place(project: Path, run_decp) -> None:
    ids = add_loops(project)
    exported = run_decp("gtd", "export", cwd=project)  # todotxt is the configured backend
    assert exported.returncode == 0, exported.stderr
    lines = todo(project).read_text().splitlines()
    day = read_loops(load_config(project)).get(ids[0]).created[:10]
    assert lines == [
        f"{day} Decide cache policy +shop @review id:{ids[0]}",
        f"{day} Check source freshness +shop @dbt id:{ids[1]} src:models/my%20orders.sql:12",
    ]
    # The user works in their todo app: edits ours, adds theirs, captures a new loop.
    todo(project).write_text(
        "(B) call mom @phone\n"
        f"x 2026-11-27 {day} Decide cache policy: 1h TTL +shop @review @ops id:{ids[0]}\n"
        f"(A) {day} Check source freshness +shop @dbt id:{ids[1]} src:models/my%20orders.sql:12 due:2026-12-01\n"
        "Ask finance which revenue definition wins @decp\n"
        "\n"
        "x 2026-11-20 their own finished thing\n"
    )
    imported = run_decp("gtd", "import", "--json", cwd=project)
    assert imported.returncode == 0, imported.stderr
    actions = {r["loop"]: r["action"] for r in json.loads(imported.stdout)["results"]}
    book = read_loops(load_config(project))
    a, b = book.get(ids[0]), book.get(ids[1])
    assert (a.title, a.status, a.tags, a.outcome) == (
        "Decide cache policy: 1h TTL",
        "closed",
        ["review", "ops"],
        "done in todo.txt on 2026-11-27",
    )
    assert a.body == "TTL or event based?"  # todo.txt has no notes: the body is never touched
    assert (b.status, b.title) == ("clarifying", "Check source freshness")
    captured = [loop for loop in book.loops if loop.id not in ids]
    assert [(c.title, c.status) for c in captured] == [
        ("Ask finance which revenue definition wins", "open")
    ]
    assert actions[captured[0].id] == "new-loop" and actions[ids[1]] == "unchanged"

    with edit_loops(load_config(project)) as edit:
        edit.get(ids[1]).title = "Check source freshness for orders"
    before = todo(project).read_text().splitlines()
    again = run_decp("gtd", "export", cwd=project)
    assert again.returncode == 0, again.stderr
    after = todo(project).read_text().splitlines()
    assert len(after) == len(before)  # no duplicates, nothing appended
    assert after[0] == "(B) call mom @phone" and after[4:] == [
        "",
        "x 2026-11-20 their own finished thing",
    ]
    assert after[1] == before[1]  # closed loop, already done in the file
    assert (
        after[2]
        == f"(A) {day} Check source freshness for orders +shop @dbt id:{ids[1]} src:models/my%20orders.sql:12 due:2026-12-01"
    )
    assert after[3] == f"Ask finance which revenue definition wins @decp id:{captured[0].id}"
    third = run_decp("gtd", "import", cwd=project)
    assert (
        third.returncode == 0 and len(read_loops(load_config(project)).loops) == 4
    )  # not captured twice


def test_dry_run_writes_nothing(project: Path, run_decp) -> None:
    add_loops(project)
    loops_md = project / ".project" / "LOOPS.md"
    before = loops_md.read_bytes()
    dry = run_decp("gtd", "export", "--dry-run", cwd=project)
    assert dry.returncode == 0 and "Decide cache policy +shop @review" in dry.stdout
    assert loops_md.read_bytes() == before and not todo(project).exists()
    export_loops(load_config(project), SyncOptions("todotxt"))
    text = todo(project).read_text().replace("Decide cache policy", "Decide the cache policy")
    todo(project).write_text(text)
    before, before_todo = loops_md.read_bytes(), todo(project).read_bytes()
    dry_import = run_decp("gtd", "import", "--dry-run", "--json", cwd=project)
    changes = [c for r in json.loads(dry_import.stdout)["results"] for c in r["changes"]]
    assert {
        "side": "local",
        "field": "title",
        "before": "Decide cache policy",
        "after": "Decide the cache policy",
    } in changes
    assert loops_md.read_bytes() == before and todo(project).read_bytes() == before_todo


def test_both_sides_renamed_keeps_both_titles(project: Path) -> None:
    ids = add_loops(project)
    config = load_config(project)
    export_loops(config, SyncOptions("todotxt"))
    todo(project).write_text(
        todo(project).read_text().replace("Decide cache policy", "Decide cache TTL")
    )
    with edit_loops(config) as book:
        book.get(ids[0]).title = "Decide cache invalidation"
    report = import_loops(config, SyncOptions("todotxt"))
    assert next(r for r in report.results if r.loop == ids[0]).conflicts == ["title"]
    loop = read_loops(config).get(ids[0])
    assert loop.title == "Decide cache invalidation" and "conflict" in loop.tags
    assert "Decide cache TTL" in loop.body and "TTL or event based?" in loop.body
    assert "Decide cache TTL" in todo(project).read_text()  # export left their line alone
    assert (
        next(
            r for r in export_loops(config, SyncOptions("todotxt")).results if r.loop == ids[0]
        ).action
        == "skipped"
    )


def test_out_file_and_bad_files(project: Path, run_decp, tmp_path: Path) -> None:
    add_loops(project)
    out = tmp_path / "elsewhere" / "todo.txt"
    assert run_decp("gtd", "export", "--out", str(out), cwd=project).returncode == 0
    assert "id:LOOP-001" in out.read_text()
    out.write_text(out.read_text() + "Second copy id:LOOP-001\n")
    dup = run_decp("gtd", "import", str(out), cwd=project)
    assert (
        dup.returncode == 1
        and f"{out}:3:" in dup.stderr
        and "id:LOOP-001 is on line 1 too" in dup.stderr
    )
    config = load_config(project)
    before = (project / ".project" / "LOOPS.md").read_bytes()
    bad_bytes = tmp_path / "latin1.txt"
    bad_bytes.write_bytes(b"fine line\ncaf\xe9 id:LOOP-001\n")
    bad_date = tmp_path / "dates.txt"
    bad_date.write_text("x 2026-02-30 Decide id:LOOP-001\n")
    for path, line, words in (
        (bad_bytes, 2, "UTF-8"),
        (bad_date, 1, "not a real date"),
        (tmp_path / "nope.txt", None, "file not found"),
    ):
        with pytest.raises(DataError) as info:
            import_loops(config, SyncOptions("todotxt", path=path))
        assert (info.value.path, info.value.line) == (path, line) and words in info.value.one_line()
    assert (project / ".project" / "LOOPS.md").read_bytes() == before
    usage = run_decp("gtd", "export", "--status", "open,bogus", cwd=project)
    assert usage.returncode == 2 and "bogus" in usage.stderr


def test_backend_and_status_choices(project: Path) -> None:
    from decp.core.errors import UsageError
    from decp.gtd.sync import parse_statuses, resolve_backend

    config = load_config(project)
    assert resolve_backend(config, None) == "todotxt"
    assert resolve_backend(config, "ticktick-csv") == "ticktick-csv"
    with pytest.raises(UsageError, match="unknown GTD backend 'trello'"):
        resolve_backend(config, "trello")
    path = project / ".project" / "decp.toml"
    path.write_text(path.read_text().replace('backend = "todotxt"', 'backend = "none"'))
    with pytest.raises(UsageError, match="no GTD backend configured"):
        resolve_backend(load_config(project), None)
    assert parse_statuses("open, clarifying,proposed") == ("open", "clarifying", "proposed")
    with pytest.raises(UsageError):
        parse_statuses(",")


@pytest.mark.parametrize(
    ("key", "backend"), [("todotxt_file", "todotxt"), ("ticktick_csv_file", "ticktick-csv")]
)
def test_a_config_path_outside_the_repo_is_refused_but_out_may_point_anywhere(
    project: Path, run_decp, tmp_path: Path, key: str, backend: str
) -> None:
    victim = tmp_path / "home" / ".bashrc"
    victim.parent.mkdir()
    victim.write_text("export PATH=/usr/bin\n", encoding="utf-8")
    config_path = project / ".project" / "decp.toml"
    text = config_path.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith(f"{key} ="))
    config_path.write_text(text.replace(old, f'{key} = "{victim}"'), encoding="utf-8")
    with edit_loops(_unchecked(project)) as book:
        book.new_loop("Title; rm -rf ~; #", status="open")
    refused = run_decp("gtd", "export", "--to", backend, cwd=project)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"decp: error: {config_path}: gtd.{key} = '{victim}' points outside the repo ({victim}); "
        "decp only touches files inside the repo it was stamped into. "
        f'Fix: use a path inside the repo, e.g. `{key} = "{_default(key)}"` under [gtd] '
        "(or pass --out for a one-off file elsewhere).\n"
    )
    assert victim.read_text(encoding="utf-8") == "export PATH=/usr/bin\n"
    # The user typing --out is their own choice: allowed anywhere (config fixed first).
    config_path.write_text(text, encoding="utf-8")
    chosen = tmp_path / "mine" / "export.out"
    typed = run_decp("gtd", "export", "--to", backend, "--out", str(chosen), cwd=project)
    assert typed.returncode == 0, typed.stderr
    assert "Title; rm -rf ~; #" in chosen.read_text(encoding="utf-8")


def _default(key: str) -> str:
    from decp.core.config import PATH_KEYS

    return PATH_KEYS[("gtd", key)]


def _unchecked(project: Path):
    """The config as it was before the bad path went in (loops are added through the API)."""
    from decp.core.config import parse_config

    text = (project / ".project" / "decp.toml").read_text(encoding="utf-8")
    good = "\n".join(
        line for line in text.splitlines() if not line.startswith(("todotxt_file", "ticktick_csv"))
    )
    return parse_config(good, project / ".project" / "decp.toml", project)
