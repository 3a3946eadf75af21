"""Task-breakdown templates, as Copier really stamps them, and `decp task new|list` on them.

The templates are read where the user sees them (.project/templates/ in a stamped
repo). Every `decp` command they tell an agent to run is checked against the real
typer app, and their proof-of-correctness SQL runs on DuckDB against tables with a
known duplicated key and a known changed value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, Result

KINDS = ("grain-refactor", "debug-test", "new-model", "incident")
RCA_KINDS = ("debug-test", "incident")
RCA_STEPS = ("Symptom", "Timeline", "Hypotheses", "Evidence", "Root cause", "Fix", "Prevention")
TOKEN_CAP = 700  # cl100k, per template, as stamped
DOCS_URL = "https://docs.decp.invalid/site"
CHECKPOINT = "Checkpoint — user decides:"
TITLE = "fct_orders to order-line grain"

RunDecp = Callable[..., Result]


def _stamp(dest: Path, **data: Any) -> Path:
    from copier import run_copy
    from copier.errors import DirtyLocalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DirtyLocalWarning)
        run_copy(
            str(REPO_ROOT),
            dest,
            defaults=True,
            quiet=True,
            vcs_ref="HEAD",
            data={"docs_url": DOCS_URL, **data},
        )
    return dest


@pytest.fixture(scope="module")
def stamped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real `copier copy --defaults` (a dbt repo) for the whole module; never modified."""
    return _stamp(tmp_path_factory.mktemp("stamp") / "repo")


@pytest.fixture(scope="module")
def stamped_generic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _stamp(tmp_path_factory.mktemp("stamp-generic") / "repo", project_type="generic")


@pytest.fixture
def repo(stamped: Path, tmp_path: Path) -> Path:
    """A private copy of the stamped repo that a test may edit."""
    return Path(shutil.copytree(stamped, tmp_path / "repo"))


def _template(root: Path, kind: str) -> str:
    return (root / ".project" / "templates" / f"{kind}.md").read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


# --- the stamped files ------------------------------------------------------


def test_the_template_stamps_exactly_the_shipped_kinds(stamped: Path) -> None:
    from decp.handoff.tasks import SHIPPED_KINDS

    found = sorted(p.name for p in (stamped / ".project" / "templates").iterdir())
    assert found == sorted(f"{kind}.md" for kind in KINDS)
    assert sorted(SHIPPED_KINDS) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_template_teaches_its_plan(stamped: Path, kind: str) -> None:
    text = _template(stamped, kind)
    first = text.splitlines()[0]
    assert first.startswith("> ") and " Why: " in first, f"line 1 must be the why: {first!r}"
    assert first.endswith(f"Guide: {DOCS_URL}/how-to/task-templates/")
    assert "{{" not in text.replace("{{ ref('MODEL') }}", "") and "{%" not in text, (
        "unrendered Jinja"
    )
    assert "<<TITLE>>" in text and "<<DATE>>" in text
    # the problem comes from the user, before any solution
    assert re.search(r"^## 1\. .*in the user's words \(before any", text, re.M)
    steps = re.findall(r"^## \d+\. ", text, re.M)
    assert len(steps) >= 4, f"{kind}: only {len(steps)} numbered steps"
    checkpoints = [line for line in text.splitlines() if CHECKPOINT in line]
    assert len(checkpoints) >= 2, f"{kind}: needs >= 2 user checkpoints, has {len(checkpoints)}"
    for line in checkpoints:
        assert len(line.split(CHECKPOINT, 1)[1].strip()) > 10, f"empty checkpoint: {line!r}"
    # the reasoning trail: loops and decisions with their why
    assert "`decp loop propose" in text and "`decp decision add" in text and '--why "' in text
    narrative = _section(text, "PR narrative")
    assert "user's words" in narrative and "proof" in narrative.lower()
    proof = _section(text, "Proof of correctness")
    sql = _sql_block(text)
    assert "count(*)" in sql and "having count(*) > 1" in sql and " except select " in sql
    assert "BigQuery: EXCEPT DISTINCT" in sql
    assert "dbt show --inline" in proof, "the SQL must say how to run it on the project's adapter"


@pytest.mark.parametrize("kind", RCA_KINDS)
def test_rca_templates_follow_the_root_cause_template(stamped: Path, kind: str) -> None:
    rca = _section(_template(stamped, kind), "3. Root-cause analysis")
    positions = [rca.find(step) for step in RCA_STEPS]
    assert all(p >= 0 for p in positions), dict(zip(RCA_STEPS, positions, strict=True))
    assert positions == sorted(positions), "RCA steps out of order"
    assert re.search(r"Hypotheses, one loop each: `decp loop propose", rca)


@pytest.mark.parametrize("kind", KINDS)
def test_each_template_stays_under_its_token_cap(
    stamped: Path, stamped_generic: Path, kind: str
) -> None:
    from decp.core.tokens import get_counter

    counter = get_counter("cl100k_base")
    for root in (stamped, stamped_generic):
        tokens = counter.count(_template(root, kind))
        assert tokens <= TOKEN_CAP, f"{kind}: {tokens} tokens ({counter.label}) > {TOKEN_CAP}"


def test_scope_commands_follow_the_project_type(stamped: Path, stamped_generic: Path) -> None:
    for kind in KINDS:
        assert "`decp dbt scope --select" in _template(stamped, kind)
        generic = _template(stamped_generic, kind)
        assert "decp dbt scope" not in generic and "`decp context scope PATH --budget " in generic


def test_the_package_carries_no_copy_of_the_template_text() -> None:
    """One copy only: the stamped file. A second one in the package would drift."""
    needles = (CHECKPOINT, "select <key>, count(*) as n from <new>")
    for path in (REPO_ROOT / "src" / "decp").rglob("*"):
        if path.is_file() and path.suffix in {".py", ".md", ".txt", ".yml", ".jinja", ".json"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            for needle in needles:
                assert needle not in text, f"{path} duplicates template text ({needle!r})"


# --- every decp command a template mentions is real -------------------------

_COMMAND_RE = re.compile(r"`(decp [^`]+)`")
_SHELL_STOP = {">", ">>", "|", "&&", ";", "<"}


def _cli_tree() -> Any:
    from typer.main import get_command

    from decp.cli import app

    return get_command(app)


def _check_command(root: Any, snippet: str) -> str | None:
    """None if `snippet` names a registered leaf command whose flags all exist, else why not."""
    tokens = shlex.split(snippet.replace("…", "x"))
    command, path = root, ["decp"]
    args = tokens[1:]
    while args and hasattr(command, "list_commands"):
        name = args[0]
        ctx = command.context_class(command, info_name=path[-1])
        sub = command.get_command(ctx, name)
        if sub is None:
            return f"`{' '.join(path)}` has no command {name!r}"
        command, path, args = sub, [*path, name], args[1:]
    if hasattr(command, "list_commands"):
        return f"`{' '.join(path)}` is a group, not a command"
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for token in args:
        if token in _SHELL_STOP:
            break
        flag = token.split("=", 1)[0]
        if flag.startswith("-") and flag not in known:
            return f"`{' '.join(path)}` has no option {flag}"
    return None


def test_every_decp_command_in_the_templates_is_registered(
    stamped: Path, stamped_generic: Path
) -> None:
    root = _cli_tree()
    problems: list[str] = []
    seen: set[str] = set()
    for repo_root in (stamped, stamped_generic):
        for kind in KINDS:
            for snippet in _COMMAND_RE.findall(_template(repo_root, kind)):
                seen.add(snippet)
                why = _check_command(root, snippet)
                if why:
                    problems.append(f"{kind}: {snippet!r}: {why}")
    assert not problems, "\n".join(problems)
    groups = {s.split()[1] for s in seen}
    assert {"dbt", "context", "loop", "decision", "state", "session", "pr"} <= groups, groups


def test_the_command_checker_rejects_what_does_not_exist() -> None:
    root = _cli_tree()
    assert _check_command(root, 'decp task new KIND "T" --out F') is None
    assert "no command" in (_check_command(root, "decp nosuchgroup x") or "")
    assert "no option --nope" in (_check_command(root, "decp task new K T --nope") or "")
    assert "is a group" in (_check_command(root, "decp task") or "")


# --- the proof SQL runs and finds what it should ----------------------------

_SQL_FENCE = re.compile(r"```sql\n(.*?)```", re.S)
# Placeholders the templates use, bound to the test tables below.
_BINDINGS = {
    "<old>": "old_t",
    "<new>": "new_t",
    "<key>": "order_id",
    "<cols>": "customer_id, amount",
    "<measure>": "amount",
}
_OLD_ROWS = [(1, "a", 10), (2, "b", 20), (3, "c", 30)]
# Key 3 duplicated (a fan-out) and key 2's amount changed (20 -> 25).
_NEW_ROWS = [(1, "a", 10), (2, "b", 25), (3, "c", 30), (3, "c", 30)]


def _sql_block(text: str) -> str:
    blocks = _SQL_FENCE.findall(text)
    assert len(blocks) == 1, f"expected one ```sql block, found {len(blocks)}"
    return blocks[0]


def _statements(sql: str, bigquery: bool = False) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    for placeholder, name in _BINDINGS.items():
        body = body.replace(placeholder, name)
    assert "<" not in body.replace("<>", ""), f"unbound placeholder left in: {body}"
    if bigquery:
        body = re.sub(r"\bexcept\b", "except distinct", body)
    return [s.strip() for s in body.split(";") if s.strip()]


def _run_proof(sql: str, old_rows: list[tuple], new_rows: list[tuple], bigquery: bool = False):
    duckdb = pytest.importorskip("duckdb", reason="duckdb not installed: proof SQL not executed")
    con = duckdb.connect()
    for table, rows in (("old_t", old_rows), ("new_t", new_rows)):
        con.execute(f"create table {table} (order_id int, customer_id varchar, amount int)")
        con.executemany(f"insert into {table} values (?, ?, ?)", rows)
    results: dict[str, list[list[tuple]]] = {}
    for statement in _statements(sql, bigquery):
        if "having count(*) > 1" in statement:
            kind = "duplicates"
        elif " except " in statement:
            kind = "lost" if statement.index("old_t") < statement.index("new_t") else "gained"
        elif "sum(" in statement:
            kind = "totals"
        elif "distinct order_id" in statement:
            kind = "keys"
        elif "count(*)" in statement:
            kind = "rows"
        else:
            raise AssertionError(f"unexpected statement: {statement}")
        results.setdefault(kind, []).append(sorted(con.execute(statement).fetchall()))
    return results


@pytest.mark.parametrize("bigquery", [False, True], ids=["except", "except-distinct"])
@pytest.mark.parametrize("kind", KINDS)
def test_proof_sql_finds_a_duplicated_key_and_a_changed_column(
    stamped: Path, kind: str, bigquery: bool
) -> None:
    got = _run_proof(_sql_block(_template(stamped, kind)), _OLD_ROWS, _NEW_ROWS, bigquery)
    assert got["duplicates"] == [[(3, 2)]]
    assert got["lost"] == [[(2, "b", 20)]], "old -> new diff must show the old value"
    assert got["gained"] == [[(2, "b", 25)]], "new -> old diff must show the new value"
    if "rows" in got:
        assert sorted(r[0][0] for r in got["rows"]) in ([3, 4], [4])
    if "totals" in got:
        assert [r[0][0] for r in got["totals"]] == [60, 95]
    if "keys" in got:
        assert got["keys"] == [[(3,)]]


@pytest.mark.parametrize("kind", KINDS)
def test_proof_sql_is_silent_when_nothing_changed(stamped: Path, kind: str) -> None:
    got = _run_proof(_sql_block(_template(stamped, kind)), _OLD_ROWS, list(_OLD_ROWS))
    assert got["duplicates"] == [[]] and got["lost"] == [[]] and got["gained"] == [[]]


# --- decp task new / list ---------------------------------------------------


def test_task_list_shows_each_kind_with_its_summary(repo: Path, run_decp: RunDecp) -> None:
    result = run_decp("task", "list", cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(KINDS)
    assert "Refactor a model's grain" in result.stdout and "Why:" not in result.stdout
    as_json = json.loads(run_decp("task", "list", "--json", cwd=repo).stdout)
    assert {item["kind"]: item["path"] for item in as_json}["incident"] == (
        ".project/templates/incident.md"
    )


def test_task_new_fills_title_and_date_and_records_the_task(repo: Path, run_decp: RunDecp) -> None:
    result = run_decp("task", "new", "grain-refactor", TITLE, cwd=repo)
    assert result.returncode == 0, result.stderr
    template = _template(repo, "grain-refactor")
    expected = template.replace("<<TITLE>>", TITLE).replace("<<DATE>>", dt.date.today().isoformat())
    assert expected.endswith("\n") and result.stdout == expected
    assert "<<" not in result.stdout
    state = (repo / ".project" / "STATE.md").read_text(encoding="utf-8")
    assert f"task: grain-refactor: {TITLE}" in state


def test_task_new_no_record_leaves_state_alone(repo: Path, run_decp: RunDecp) -> None:
    state = repo / ".project" / "STATE.md"
    before = state.read_bytes()
    result = run_decp("task", "new", "incident", "orders late", "--no-record", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert state.read_bytes() == before


def test_task_new_json(repo: Path, run_decp: RunDecp) -> None:
    result = run_decp("task", "new", "debug-test", "not_null fails", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "debug-test" and data["title"] == "not_null fails"
    assert data["template"] == ".project/templates/debug-test.md"
    assert "# Debug test: not_null fails" in data["text"]
    assert 0 < data["tokens"] <= TOKEN_CAP + 20 and data["encoding"]


def test_task_new_out_writes_and_refuses_to_overwrite(repo: Path, run_decp: RunDecp) -> None:
    plan = repo / "PLAN.md"
    first = run_decp("task", "new", "new-model", "dim_customers", "--out", "PLAN.md", cwd=repo)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "wrote PLAN.md"
    written = plan.read_text(encoding="utf-8")
    assert "# New model: dim_customers" in written
    assert not list(repo.glob(".PLAN.md*")), "no temp or lock file may be left behind"

    state = repo / ".project" / "STATE.md"
    state_before = state.read_bytes()
    again = run_decp("task", "new", "incident", "other", "--out", "PLAN.md", cwd=repo)
    assert again.returncode == 2
    assert "PLAN.md" in again.stderr and "--force" in again.stderr
    assert plan.read_text(encoding="utf-8") == written, "refused write must not touch the file"
    assert state.read_bytes() == state_before, "refused write must not touch STATE.md either"

    forced = run_decp("task", "new", "incident", "other", "--out", "PLAN.md", "--force", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert "# Incident: other" in plan.read_text(encoding="utf-8")


def test_user_edits_and_user_kinds_win(repo: Path, run_decp: RunDecp) -> None:
    folder = repo / ".project" / "templates"
    edited = _template(repo, "incident").replace(
        "## 2. Scope", "## 2. Page the on-call, then scope"
    )
    (folder / "incident.md").write_text(edited, encoding="utf-8")
    (folder / "backfill.md").write_text(
        "> Backfill a date range. Why: reloads hide bugs. Guide: https://x.invalid/\n\n# <<TITLE>>\n",
        encoding="utf-8",
    )
    out = run_decp("task", "new", "incident", "x", "--no-record", cwd=repo)
    assert "## 2. Page the on-call, then scope" in out.stdout
    listed = run_decp("task", "list", cwd=repo).stdout
    assert "backfill        Backfill a date range." in listed
    custom = run_decp("task", "new", "backfill", "orders 2024-01", "--no-record", cwd=repo)
    assert custom.returncode == 0 and custom.stdout.startswith("> Backfill")
    assert "# orders 2024-01" in custom.stdout


def test_unknown_kind_exits_2_listing_the_kinds(repo: Path, run_decp: RunDecp) -> None:
    result = run_decp("task", "new", "refactor", "x", cwd=repo)
    assert result.returncode == 2
    assert result.stdout == ""
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert "unknown task kind 'refactor'" in line
    assert "debug-test, grain-refactor, incident, new-model" in line


@pytest.mark.parametrize("kind", ["../../etc/passwd", "Grain", "", "a/b"])
def test_kind_that_is_not_a_file_name_is_a_usage_error(stamped: Path, kind: str) -> None:
    from decp.core.config import load_config
    from decp.core.errors import UsageError
    from decp.handoff.tasks import new_task

    with pytest.raises(UsageError, match="not a template name"):
        new_task(load_config(stamped), kind, "x")


@pytest.mark.parametrize("title", ["", "   ", "two\nlines", "a\rb"])
def test_bad_title_is_a_usage_error(stamped: Path, title: str) -> None:
    from decp.core.config import load_config
    from decp.core.errors import UsageError
    from decp.handoff.tasks import new_task

    with pytest.raises(UsageError, match="title"):
        new_task(load_config(stamped), "incident", title)


def test_bad_kind_or_title_exits_2_and_writes_nothing(repo: Path, run_decp: RunDecp) -> None:
    state = repo / ".project" / "STATE.md"
    before = state.read_bytes()
    for args in (("../../etc/passwd", "x"), ("incident", "two\nlines")):
        result = run_decp("task", "new", *args, "--out", "P.md", cwd=repo)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("decp: error:") and "Traceback" not in result.stderr
        assert not (repo / "P.md").exists() and state.read_bytes() == before


def test_missing_shipped_template_names_the_path_and_the_fix(repo: Path, run_decp: RunDecp) -> None:
    (repo / ".project" / "templates" / "debug-test.md").unlink()
    result = run_decp("task", "new", "debug-test", "x", cwd=repo)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert ".project/templates/debug-test.md" in line
    assert "copier update" in line and "git checkout" in line
    assert "debug-test" not in run_decp("task", "list", cwd=repo).stdout


def test_missing_templates_folder_fails_list_with_the_fix(repo: Path, run_decp: RunDecp) -> None:
    shutil.rmtree(repo / ".project" / "templates")
    result = run_decp("task", "list", cwd=repo)
    assert result.returncode == 1
    assert ".project/templates" in result.stderr and "copier update" in result.stderr


def test_non_utf8_template_fails_naming_the_line(repo: Path, run_decp: RunDecp) -> None:
    path = repo / ".project" / "templates" / "incident.md"
    path.write_bytes(b"> ok\n\n# caf\xe9 <<TITLE>>\n")
    result = run_decp("task", "new", "incident", "x", cwd=repo)
    assert result.returncode == 1
    assert "incident.md:3:" in result.stderr and "UTF-8" in result.stderr


def test_outside_a_stamped_repo_says_how_to_stamp(tmp_path: Path, run_decp: RunDecp) -> None:
    result = run_decp("task", "new", "incident", "x", cwd=tmp_path)
    assert result.returncode == 1
    assert "copier copy" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("brk", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1e"])
def test_unicode_line_breaks_in_a_title_become_one_space(
    repo: Path, run_decp: RunDecp, brk: str
) -> None:
    result = run_decp("task", "new", "incident", f"orders{brk}late  again", cwd=repo)
    assert result.returncode == 0, result.stderr
    state = (repo / ".project" / "STATE.md").read_text(encoding="utf-8")
    assert "- task: incident: orders late again\n" in state
    again = run_decp("state", "show", "--json", cwd=repo)  # STATE.md still reads
    assert again.returncode == 0, again.stderr
    assert '"task": "incident: orders late again"' in again.stdout
