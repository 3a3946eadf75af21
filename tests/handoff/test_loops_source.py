"""`--source FILE:LINE` is checked (a warning, the loop still recorded); `--status` parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from decp.core.errors import UsageError
from decp.handoff.loops import ACTIVE_STATUSES, check_source, status_filter


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fct.sql").write_text("a\nb\nc\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "source", ["models/fct.sql:1", "models/fct.sql:3", "models/fct.sql", "fct_orders", "x:y"]
)
def test_sources_that_exist_or_are_not_paths_pass(root: Path, source: str) -> None:
    assert check_source(source, root) is None


def test_a_missing_file_warns(root: Path) -> None:
    assert check_source("models/gone.sql:3", root) == (
        f"--source models/gone.sql:3: no such file (from {root}); the loop is recorded anyway."
    )
    assert check_source("models/gone.sql", root) is not None


def test_a_line_past_the_end_warns_and_the_last_line_does_not(root: Path) -> None:
    assert check_source("models/fct.sql:3", root) is None
    assert check_source("models/fct.sql:4", root) == (
        "--source models/fct.sql:4: models/fct.sql has 3 line(s), so there is no line 4; "
        "the loop is recorded anyway."
    )
    assert "count from 1" in (check_source("models/fct.sql:0", root) or "")
    assert check_source("models/fct.sql:3:7", root) is None  # FILE:LINE:COL


def test_relative_to_cwd_also_counts_and_outside_the_repo_is_not_read(root: Path) -> None:
    assert check_source("fct.sql:2", root, cwd=root / "models") is None
    outside = root.parent / "outside.sql"
    outside.write_text("x\n", encoding="utf-8")
    assert "outside the repo" in (check_source(f"{outside}:1", root) or "")


def test_cli_warns_on_one_stderr_line_and_still_records(project: Path, run_decp) -> None:
    result = run_decp("loop", "add", "Q", "--source", "models/nope.sql:12", cwd=project)
    assert result.returncode == 0 and result.stdout == "LOOP-001\n"
    warning, *_ = result.stderr.splitlines()
    assert warning.startswith("decp: warning: --source models/nope.sql:12: no such file")
    shown = run_decp("loop", "show", "1", "--json", cwd=project)
    assert '"source": "models/nope.sql:12"' in shown.stdout
    quiet = run_decp("loop", "propose", "R", "--source", "fct_orders", cwd=project)
    assert "warning" not in quiet.stderr


def test_status_filter() -> None:
    assert status_filter([]) == ACTIVE_STATUSES
    assert status_filter(None) == ACTIVE_STATUSES
    assert status_filter(["all"]) is None
    assert status_filter(["closed, Open", "closed"]) == ("closed", "open")
    assert status_filter(["active,closed"]) == (*ACTIVE_STATUSES, "closed")
    with pytest.raises(UsageError, match="unknown status 'opened'"):
        status_filter(["opened"])
