"""`decp context load|exclude|unload|budget` as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from decp.context.ledger import read_ledger, skeleton
from decp.core.config import load_config
from decp.core.tokens import get_counter


@pytest.fixture
def repo(project: Path) -> Path:
    (project / "models").mkdir()
    (project / "models" / "a.sql").write_text("select id, amount from orders\n", encoding="utf-8")
    (project / "models" / "b.sql").write_text("select 1 as one -- b\n", encoding="utf-8")
    (project / "models" / ".env").write_text("DB_PASSWORD=hunter2\n", encoding="utf-8")
    return project


def ledger_path(root: Path) -> Path:
    return root / ".project" / "CONTEXT.md"


def tokens_of(*paths: Path) -> int:
    counter = get_counter("o200k_base")
    return sum(counter.count(p.read_text(encoding="utf-8")) for p in paths)


def test_load_measures_the_file_and_budget_reports_it(repo: Path, run_decp) -> None:
    result = run_decp("context", "load", "models/a.sql", "--why", "focal model", cwd=repo)
    assert result.returncode == 0, result.stderr
    expected = tokens_of(repo / "models" / "a.sql")
    assert f"{expected:,} tokens" in result.stdout
    assert "Context:" in result.stdout
    budget = run_decp("context", "budget", "--json", cwd=repo)
    data = json.loads(budget.stdout)
    assert data["loaded"][0]["target"] == "models/a.sql"
    assert data["loaded"][0]["tokens"] == expected
    assert data["loaded_tokens"] == expected
    assert data["encoding"] == get_counter("o200k_base").label
    assert data["thresholds"] == {"session_start": 40000, "working": 80000, "handoff": 100000}


def test_load_from_a_subdirectory_records_root_relative_paths(repo: Path, run_decp) -> None:
    result = run_decp("context", "load", "a.sql", cwd=repo / "models")
    assert result.returncode == 0, result.stderr
    assert [e.target for e in read_ledger(load_config(repo)).loaded] == ["models/a.sql"]
    assert run_decp("context", "unload", "a.sql", cwd=repo / "models").returncode == 0
    assert read_ledger(load_config(repo)).loaded == []


def test_glob_load_leaves_secrets_out_and_records_why(repo: Path, run_decp) -> None:
    result = run_decp("context", "load", "models/*", "--why", "all models", cwd=repo)
    assert result.returncode == 0, result.stderr
    ledger = read_ledger(load_config(repo))
    assert ledger.loaded[0].target == "models/*"
    assert ledger.loaded[0].kind == "glob"
    assert ledger.loaded[0].tokens == tokens_of(
        repo / "models" / "a.sql", repo / "models" / "b.sql"
    )
    assert [(e.target, e.kind) for e in ledger.excluded] == [("models/.env", "secret")]
    assert "hunter2" not in ledger_path(repo).read_text(encoding="utf-8")


def test_loading_a_secret_by_name_is_refused(repo: Path, run_decp) -> None:
    result = run_decp("context", "load", "models/.env", cwd=repo)
    assert result.returncode == 2
    assert "decp context exclude" in result.stderr
    assert not ledger_path(repo).exists()


def test_usage_errors_exit_2_and_write_nothing(repo: Path, run_decp) -> None:
    cases = [
        ("context", "load", "models/*.py"),  # glob matching nothing
        ("context", "load", "models/missing.sql"),
        ("context", "exclude", "models/b.sql"),  # --why is required
        ("context", "unload", "never/loaded.sql"),
        ("context", "load", "models/a.sql", "--tokens", "-5"),
    ]
    for args in cases:
        result = run_decp(*args, cwd=repo)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
    assert not ledger_path(repo).exists()


def test_exclude_and_unload(repo: Path, run_decp) -> None:
    ok = run_decp("context", "exclude", "seeds/", "--why", "40k tokens of CSV", cwd=repo)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(run_decp("context", "budget", "--json", cwd=repo).stdout)
    assert data["excluded"][0]["target"] == "seeds/"
    assert data["excluded"][0]["why"] == "40k tokens of CSV"
    assert data["excluded"][0]["tokens"] is None
    plain = run_decp("context", "budget", cwd=repo).stdout
    assert "seeds/" in plain and "40k tokens of CSV" in plain
    assert run_decp("context", "unload", "seeds/", cwd=repo).returncode == 0
    assert read_ledger(load_config(repo)).excluded == []


def test_budget_warns_at_thresholds(repo: Path, run_decp) -> None:
    warm = run_decp("context", "load", "spec.pdf", "--tokens", "3500", "--why", "pasted", cwd=repo)
    assert warm.returncode == 0, warm.stderr
    assert "warn" in warm.stdout and "warning" in warm.stderr
    run_decp("context", "load", "notes.md", "--tokens", "1000", cwd=repo)
    over = run_decp("context", "budget", cwd=repo)
    assert over.returncode == 0
    assert "4,500/4,000" in over.stdout and "over" in over.stdout
    assert "over the task budget" in over.stderr
    data = json.loads(run_decp("context", "budget", "--json", cwd=repo).stdout)
    assert data["level"] == "over" and data["loaded_tokens"] == 4500


def test_malformed_ledger_exit_1_names_line_and_keeps_bytes(repo: Path, run_decp) -> None:
    path = ledger_path(repo)
    text = skeleton("https://x.example").replace(
        "|---|---|--:|---|---|\n", "|---|---|--:|---|---|\n| a.sql | path | lots | x | y |\n", 1
    )
    path.write_text(text, encoding="utf-8")
    before = path.read_bytes()
    line = text.splitlines().index("| a.sql | path | lots | x | y |") + 1
    for args in (("context", "load", "models/b.sql"), ("context", "budget")):
        result = run_decp(*args, cwd=repo)
        assert result.returncode == 1
        assert f"CONTEXT.md:{line}:" in result.stderr and "Fix:" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert path.read_bytes() == before


def test_non_utf8_ledger_exit_1(repo: Path, run_decp) -> None:
    path = ledger_path(repo)
    path.write_bytes(skeleton("https://x.example").encode() + b"caf\xe9\n")
    before = path.read_bytes()
    result = run_decp("context", "exclude", "x", "--why", "y", cwd=repo)
    assert result.returncode == 1
    line = skeleton("https://x.example").count("\n") + 1
    assert "UTF-8" in result.stderr and f"CONTEXT.md:{line}:" in result.stderr
    assert path.read_bytes() == before


def test_outside_a_stamped_repo_says_how_to_stamp(tmp_path: Path, run_decp) -> None:
    result = run_decp("context", "budget", cwd=tmp_path)
    assert result.returncode == 1
    assert "stamp" in result.stderr


def test_concurrent_loads_lose_nothing(repo: Path) -> None:
    names = [f"m{i}.sql" for i in range(6)]
    for name in names:
        (repo / "models" / name).write_text(f"select {name!r}\n", encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "decp", "context", "load", f"models/{name}"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in names
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    targets = sorted(e.target for e in read_ledger(load_config(repo)).loaded)
    assert targets == sorted(f"models/{n}" for n in names)


def test_the_cli_surface_only_parses_calls_and_prints() -> None:
    """cli/context.py imports nothing but the context API and the CLI's printing helpers,
    and raises no domain error of its own: every check lives in decp.context.api."""
    import ast

    source = Path(__file__).resolve().parents[2] / "src" / "decp" / "cli" / "context.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("decp")
    }
    assert imported == {"decp.context.api", "decp.cli._common"}
    raised = [node for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    assert [ast.unparse(node.exc) for node in raised if node.exc] == ["typer.Exit(1)"]


def test_the_api_works_without_the_cli(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from decp.context import api
    from decp.core.errors import UsageError

    monkeypatch.chdir(repo)
    monkeypatch.delenv("DECP_ROOT", raising=False)
    loaded = api.load("models/a.sql", why="focal", cwd=repo)
    assert loaded.entry.tokens == tokens_of(repo / "models" / "a.sql")
    label = get_counter("o200k_base").label
    assert loaded.lines()[0] == (
        f"Loaded models/a.sql: {loaded.entry.tokens:,} tokens (1 file, {label})."
    )
    scoped = api.scope(["models/a.sql"], cwd=repo, budget=4000, level="0", record=False)
    assert scoped.recorded is False
    assert [c.path.name for c in scoped.scope.files] == ["a.sql"]
    assert scoped.left_out == [
        "left out models/.env: secret: environment file (often holds credentials)"
    ]
    with pytest.raises(UsageError, match=r"--level 9 is not 0\.\.3 or auto"):
        api.scope(["models/a.sql"], cwd=repo, level="9")
    with pytest.raises(UsageError, match="--budget -3 must be a positive number"):
        api.scope(["models/a.sql"], cwd=repo, budget=-3)
    with pytest.raises(UsageError, match="--sort 'size' is not path or tokens"):
        api.count_tokens(["models"], cwd=repo, sort="size")
    counted = api.count_tokens(["models"], cwd=repo, sort="tokens")
    assert counted.lines()[0] == "tokens  file"
    assert [e.target for e in api.budget_view().loaded] == ["models/a.sql"]
