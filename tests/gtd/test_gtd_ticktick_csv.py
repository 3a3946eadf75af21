"""TickTick backup CSV: read real-shaped exports (v7.2 and older), write importable files, round trip."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from decp.core.config import load_config
from decp.core.errors import DataError
from decp.gtd import ticktick_csv as tcsv
from decp.gtd.sync import SyncOptions, export_loops, import_loops
from decp.handoff.loops import edit_loops, read_loops

DATA = Path(__file__).resolve().parents[1] / "data" / "ticktick"
V72_HEADER = '"Folder Name","List Name","Title","Kind","Tags","Content","Is Check list","Start Date","Due Date","Reminder","Repeat","Priority","Status","Created Time","Completed Time","Order","Timezone","Is All Day","Is Floating","Column Name","Column Order","View Mode","taskId","parentId","projectKind"'


def test_reads_the_recorded_v72_backup() -> None:
    tasks = tcsv.read_backup(DATA / "backup-v7.2.csv")
    assert [t.list_name for t in tasks] == ["Inbox", "decp", "decp", "decp", "decp", "Groceries"]
    first_loop = tasks[1]
    assert first_loop.title == "[LOOP-001] Should stg_orders dedupe on order_id?"
    assert first_loop.tags == ("decp", "dbt") and first_loop.priority == 3
    assert first_loop.content.startswith(
        "Duplicates show up after the nightly backfill.\n\nChecked:"
    )
    assert first_loop.line == 9  # the preamble spans 6 lines, the header 1, the inbox row 1
    assert [t.state for t in tasks] == ["open", "open", "done", "open", "open", "open"]
    assert tasks[2].completed == "2026-01-05T16:30:00+0000"


def test_reads_an_older_backup_without_kind_or_project_kind() -> None:
    old = tcsv.read_backup(DATA / "backup-v6.csv")
    new = tcsv.read_backup(DATA / "backup-v7.2.csv")[:5]
    assert [(t.title, t.content, t.tags, t.state) for t in old] == [
        (t.title, t.content, t.tags, t.state) for t in new
    ]


def test_written_backup_has_the_preamble_and_the_exact_v72_header(tmp_path: Path) -> None:
    out = tcsv.render_backup(
        [
            tcsv.CsvOut(
                "decp",
                "[LOOP-001] A, with comma",
                'Line one\n"quoted"',
                ("decp", "dbt"),
                "2026-01-02T09:00:00+0000",
            )
        ]
    )
    lines = out.split("\n")
    assert lines[0].startswith('"Date: ') and lines[0].endswith('+0000"')
    assert lines[1] == '"Version: 7.2"'
    assert lines[2:6] == ['"Status:', "0 Normal", "-1 Abandoned", '2 Completed"']
    assert lines[6] == V72_HEADER
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[4][:6] == [
        "",
        "decp",
        "[LOOP-001] A, with comma",
        "TEXT",
        "decp,dbt",
        'Line one\n"quoted"',
    ]
    assert all(len(row) == 25 for row in rows[3:])
    simple = tcsv.render_backup(
        [tcsv.CsvOut("decp", f"[LOOP-00{n}] t", "c", ("decp",), "") for n in (1, 2)]
    )
    quoted = re.compile(r'^"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*$')
    assert all(quoted.match(line) for line in simple.split("\n")[6:] if line)  # every field quoted
    path = tmp_path / "b.csv"
    path.write_text(out)
    (task,) = tcsv.read_backup(path)
    assert (task.title, task.content, task.tags, task.state) == (
        "[LOOP-001] A, with comma",
        'Line one\n"quoted"',
        ("decp", "dbt"),
        "open",
    )


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            '"Date: 2026-01-06+0000"\n"Version: 7.2"\n"Title","Status"\n"x","0"\n',
            1,
            "no header row",
        ),
        ('"Folder Name","Title","Status"\n"","x","0"\n', 1, "lacks List Name"),
        (
            '"Folder Name","List Name","Title","Status"\n"","decp","ok","0"\n"","decp","bad","7"\n',
            3,
            "Status '7'",
        ),
        (
            '"Folder Name","List Name","Title","Priority","Status"\n"","decp","x","2","0"\n',
            2,
            "Priority '2'",
        ),
        (
            '"Folder Name","List Name","Title","Status"\n"","decp","ok","0"\n"","decp","unclosed,"0"\n',
            3,
            "broken CSV",
        ),
    ],
)
def test_malformed_backups_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "backup.csv"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        tcsv.read_backup(path)
    assert info.value.line == line and words in info.value.one_line()


def add_loops(root: Path) -> list[str]:
    with edit_loops(load_config(root)) as book:
        a = book.new_loop(
            "Should stg_orders dedupe on order_id?",
            status="open",
            body="Duplicates after backfill.",
            source="models/staging/stg_orders.sql:14",
            tags=["dbt"],
        )
        b = book.new_loop("Decide cache policy", status="open", body="TTL or event based?")
        c = book.new_loop("Rename dim_customers", status="open", body="Too generic.")
    return [a.id, b.id, c.id]


def as_ticktick_backup(exported: str, *, older: bool) -> str:
    """What TickTick gives back after importing our file and the user's edits, as a fresh backup."""
    rows = list(csv.reader(io.StringIO(exported)))
    header, body = rows[3], rows[4:]
    tasks = [dict(zip(header, row, strict=True)) for row in body]
    tasks[0]["Title"] = tasks[0]["Title"].replace("on order_id?", "on (order_id, updated_at)?")
    tasks[0]["Tags"] = "decp, dbt, quality"
    tasks[1]["Content"] = (
        "Event based: invalidate on load.\n\n" + tasks[1]["Content"].split("\n\n")[-1]
    )
    tasks[1]["Status"], tasks[1]["Completed Time"] = "2", "2026-01-05T16:30:00+0000"
    tasks[2]["Status"] = "-1"
    tasks.append(
        {
            **tasks[2],
            "Title": "Ask finance which revenue wins",
            "Content": "Net or gross?",
            "Tags": "decp, finance",
            "Status": "0",
            "Created Time": "2026-01-04T10:00:00+0000",
        }
    )
    tasks.append(
        {
            **tasks[2],
            "List Name": "Groceries",
            "Title": "Milk",
            "Content": "",
            "Tags": "",
            "Status": "0",
        }
    )
    columns = list(header)
    preamble = [
        '"Date: 2026-01-06+0000"',
        '"Version: 7.2"',
        '"Status:\n0 Normal\n-1 Abandoned\n2 Completed"',
    ]
    if older:
        columns = [c for c in columns if c not in ("Kind", "projectKind")]
        preamble = [
            '"Date: 2026-01-06+0000"',
            '"Version: 6.0"',
            '"Status: \n0 Normal\n1 Completed\n2 Archived"',
        ]
        for task in tasks:
            task["Status"] = {"2": "1"}.get(task["Status"], task["Status"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(columns)
    for task in tasks:
        writer.writerow([task[c] for c in columns])
    return "\n".join(preamble) + "\n" + buffer.getvalue()


@pytest.mark.parametrize("older", [False, True], ids=["v7.2", "older-without-kind"])
def test_cli_round_trip_through_a_backup(
    project: Path, run_decp, tmp_path: Path, older: bool
) -> None:
    ids = add_loops(project)
    exported = run_decp("gtd", "export", "--to", "ticktick-csv", cwd=project)
    assert exported.returncode == 0, exported.stderr
    out = project / ".project" / "gtd" / "ticktick-backup.csv"
    assert out.read_text().split("\n")[6] == V72_HEADER
    assert "Settings → Backup → Import backup" in exported.stdout
    backup = tmp_path / "TickTick-backup.csv"
    backup.write_text(as_ticktick_backup(out.read_text(), older=older))
    imported = run_decp(
        "gtd", "import", "--from", "ticktick-csv", str(backup), "--json", cwd=project
    )
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    book = read_loops(load_config(project))
    a, b, c = (book.get(i) for i in ids)
    assert (a.title, a.tags) == (
        "Should stg_orders dedupe on (order_id, updated_at)?",
        ["dbt", "quality"],
    )
    assert (b.status, b.outcome, b.body) == (
        "closed",
        "Event based: invalidate on load.",
        "TTL or event based?",
    )
    assert (c.status, c.outcome) == ("rejected", "abandoned (won't do) in TickTick backup")
    new = [loop for loop in book.loops if loop.id not in ids]
    assert [(n.title, n.body, n.tags, n.status) for n in new] == [
        ("Ask finance which revenue wins", "Net or gross?", ["finance"], "open")
    ]
    assert any("left alone" in note for note in report["notes"])  # the Groceries row
    again = import_loops(load_config(project), SyncOptions("ticktick-csv", path=backup))
    assert {r.action for r in again.results} == {"unchanged"}  # same backup twice: nothing new
    assert len(read_loops(load_config(project)).loops) == 4


def test_recorded_backup_without_prior_export_keeps_both_texts(project: Path) -> None:
    with edit_loops(load_config(project)) as book:
        book.new_loop(
            "Should stg_orders dedupe on order_id?",
            status="open",
            body="Duplicates show up.",
            tags=["dbt"],
        )
        book.new_loop("Decide cache policy", status="open", body="TTL?")
    report = import_loops(
        load_config(project), SyncOptions("ticktick-csv", path=DATA / "backup-v7.2.csv")
    )
    actions = {r.loop: r.action for r in report.results}
    book = read_loops(load_config(project))
    first = book.get("LOOP-001")
    assert (
        actions["LOOP-001"] == "conflict"
        and "Duplicates show up." in first.body
        and "Dedupe on (order_id, updated_at)." in first.body
    )
    assert book.get("LOOP-002").status == "closed"  # ticking it off is enough, even without history
    assert [loop.title for loop in book.loops][2:] == ["Ask finance which revenue definition wins"]


def test_export_never_overwrites_a_real_backup(project: Path, tmp_path: Path) -> None:
    add_loops(project)
    target = tmp_path / "mine.csv"
    target.write_bytes((DATA / "backup-v7.2.csv").read_bytes())
    with pytest.raises(DataError) as info:
        export_loops(load_config(project), SyncOptions("ticktick-csv", path=target))
    assert info.value.line == 8 and "refusing to overwrite" in info.value.one_line()
    assert target.read_bytes() == (DATA / "backup-v7.2.csv").read_bytes()
    ours = tmp_path / "ours.csv"
    export_loops(load_config(project), SyncOptions("ticktick-csv", path=ours))
    export_loops(load_config(project), SyncOptions("ticktick-csv", path=ours))  # our own file: fine
    assert len(tcsv.read_backup(ours)) == 3


def test_dry_run_writes_nothing(project: Path, tmp_path: Path) -> None:
    add_loops(project)
    loops_md = project / ".project" / "LOOPS.md"
    before = loops_md.read_bytes()
    out = tmp_path / "dry.csv"
    report = export_loops(load_config(project), SyncOptions("ticktick-csv", path=out, dry_run=True))
    assert [r.action for r in report.results] == ["exported"] * 3
    assert not out.exists() and loops_md.read_bytes() == before
    report = import_loops(
        load_config(project),
        SyncOptions("ticktick-csv", path=DATA / "backup-v7.2.csv", dry_run=True),
    )
    assert any(r.action == "new-loop" for r in report.results)
    assert loops_md.read_bytes() == before and not (project / ".project" / "gtd").exists()
