"""`decp tokens`: per-file counts, totals, tree sums, the content-hash cache, odd files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from decp.context.tokencount import CACHE_FILE, count_targets
from decp.core.tokens import get_counter


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(project: Path) -> Path:
    write(project, "models/staging/stg_orders.sql", "select id, status from raw.orders\n" * 20)
    write(project, "models/staging/stg_payments.sql", "select id, amount from raw.payments\n")
    write(project, "models/marts/fct_orders.sql", "with o as (select * from stg) select * from o\n")
    write(project, "README.md", "# Shop\n\nA small dbt project about orders.\n")
    return project


def expected(path: Path) -> int:
    return get_counter("o200k_base").count(path.read_text(encoding="utf-8"))


def tokens_json(run_decp, *args: str, cwd: Path, env: dict[str, str] | None = None) -> dict:
    result = run_decp("tokens", *args, "--json", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_counts_each_file_and_the_total(tree: Path, run_decp) -> None:
    data = tokens_json(run_decp, "models", "README.md", cwd=tree)
    by_path = {f["path"]: f["tokens"] for f in data["files"]}
    files = [
        "models/staging/stg_orders.sql",
        "models/staging/stg_payments.sql",
        "models/marts/fct_orders.sql",
        "README.md",
    ]
    assert by_path == {rel: expected(tree / rel) for rel in files}
    assert data["total"] == sum(by_path.values())
    assert data["encoding"] == get_counter("o200k_base").label
    plain = run_decp("tokens", "models", cwd=tree)
    assert plain.returncode == 0
    assert data["encoding"] in plain.stdout
    assert f"{expected(tree / files[0]):,}  models/staging/stg_orders.sql" in plain.stdout


def test_second_run_hits_the_cache_and_a_change_is_recounted(tree: Path, run_decp) -> None:
    first = tokens_json(run_decp, ".", cwd=tree)
    assert first["cache"]["hits"] == 0 and first["cache"]["misses"] == first["counted"]
    assert first["cache"]["path"] == str(tree / ".project" / ".cache" / "tokens" / CACHE_FILE)
    second = tokens_json(run_decp, ".", cwd=tree)
    assert second["cache"] == {**first["cache"], "hits": first["counted"], "misses": 0}
    assert second["total"] == first["total"]
    write(tree, "README.md", "# Shop\n\nNow a much longer readme than before, with more words.\n")
    third = tokens_json(run_decp, ".", cwd=tree)
    assert third["cache"]["misses"] == 1
    readme = next(f for f in third["files"] if f["path"] == "README.md")
    assert readme["tokens"] == expected(tree / "README.md") and readme["cached"] is False


def test_no_cache_flag_counts_afresh(tree: Path, run_decp) -> None:
    tokens_json(run_decp, "models", cwd=tree)
    data = tokens_json(run_decp, "models", "--no-cache", cwd=tree)
    assert data["cache"] == {"path": None, "hits": 0, "misses": 3}


def test_corrupt_cache_is_rebuilt_with_a_warning(tree: Path, run_decp) -> None:
    cache = tree / ".project" / ".cache" / "tokens" / CACHE_FILE
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"this is not sqlite at all" * 100)
    result = run_decp("tokens", "models", "--json", cwd=tree)
    assert result.returncode == 0
    assert "rebuilt" in result.stderr
    data = json.loads(result.stdout)
    assert data["total"] == sum(expected(p) for p in (tree / "models").rglob("*.sql"))
    assert tokens_json(run_decp, "models", cwd=tree)["cache"]["hits"] == 3


def test_outside_a_stamped_repo_the_user_cache_dir_is_used(tmp_path: Path, run_decp) -> None:
    work = tmp_path / "loose"
    path = write(work, "notes.md", "just some notes outside any project\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "DECP_CACHE_DIR": ""}
    data = tokens_json(run_decp, "notes.md", cwd=work, env=env)
    assert data["files"][0]["tokens"] == expected(path)
    assert data["cache"]["path"] == str(tmp_path / "xdg" / "decp" / "tokens" / CACHE_FILE)
    assert tokens_json(run_decp, "notes.md", cwd=work, env=env)["cache"]["hits"] == 1


def test_binary_is_skipped_and_non_utf8_is_counted_with_a_warning(tree: Path, run_decp) -> None:
    (tree / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tree / "latin1.csv").write_bytes("id,name\n1,Café Zoë\n".encode("latin-1"))
    result = run_decp("tokens", "logo.png", "latin1.csv", "--json", cwd=tree)
    assert result.returncode == 0
    assert "latin1.csv" in result.stderr and "UTF-8" in result.stderr
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    assert files["logo.png"]["skipped"] == "binary" and files["logo.png"]["tokens"] is None
    replaced = (tree / "latin1.csv").read_bytes().decode("utf-8", errors="replace")
    assert files["latin1.csv"]["tokens"] == get_counter("o200k_base").count(replaced)
    assert "warning" in files["latin1.csv"]


def test_tree_sums_each_directory(tree: Path, run_decp) -> None:
    data = tokens_json(run_decp, "models", "--tree", cwd=tree)

    def check(node: dict) -> None:
        if "children" in node:
            assert node["tokens"] == sum(c["tokens"] for c in node["children"])
            for child in node["children"]:
                check(child)

    check(data["tree"])
    assert data["tree"]["tokens"] == data["total"]
    plain = run_decp("tokens", "models", "--tree", cwd=tree).stdout
    staging = expected(tree / "models/staging/stg_orders.sql") + expected(
        tree / "models/staging/stg_payments.sql"
    )
    assert f"staging/ {staging:,}" in plain


def test_min_tokens_hides_small_files_but_keeps_the_total(tree: Path, run_decp) -> None:
    big = expected(tree / "models/staging/stg_orders.sql")
    data = tokens_json(run_decp, "models", "--min-tokens", str(big), cwd=tree)
    assert [f["path"] for f in data["files"]] == ["models/staging/stg_orders.sql"]
    assert data["total"] > big
    plain = run_decp("tokens", "models", "--min-tokens", str(big), cwd=tree).stdout
    assert "(2 files under" in plain


@pytest.mark.parametrize(
    "args",
    [
        ("missing.sql",),
        ("models", "--min-tokens", "-1"),
        ("models", "--sort", "size"),
        ("models", "--encoding", "nope_base"),
        ("models", "--frobnicate"),
        ("'nothing/*.sql'",),
        ("",),
        ("a" * 300,),
        ("a" * 300 + "/*.sql",),
    ],
)
def test_bad_arguments_exit_2(tree: Path, run_decp, args: tuple[str, ...]) -> None:
    result = run_decp("tokens", *(a.strip("'") for a in args), cwd=tree)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert result.stderr.startswith(("decp: error: ", "Usage: "))


def test_an_empty_or_unnamable_path_is_a_one_line_error(tree: Path, run_decp) -> None:
    empty = run_decp("tokens", "", cwd=tree)
    assert (
        empty.stderr
        == "decp: error: an empty path was given. Fix: name a file, a folder or a glob.\n"
    )
    assert empty.stdout == ""
    long = run_decp("context", "scope", "b" * 300, cwd=tree)
    assert long.returncode == 2
    assert long.stderr == (
        f"decp: error: {'b' * 300} cannot be read: File name too long. Fix: check the path.\n"
    )


def test_broken_symlink_is_reported_and_exit_1(tree: Path, run_decp) -> None:
    (tree / "models" / "gone.sql").symlink_to(tree / "nowhere.sql")
    result = run_decp("tokens", "models", "--json", cwd=tree)
    assert result.returncode == 1
    assert "gone.sql" in result.stderr and "broken symlink" in result.stderr
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    assert files["models/gone.sql"]["skipped"].startswith("unreadable")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied_is_reported(tree: Path) -> None:
    path = tree / "models" / "marts" / "fct_orders.sql"
    path.chmod(0)
    try:
        report = count_targets(["models"], base=tree, encoding="o200k_base", cache_dir=None)
    finally:
        path.chmod(0o644)
    assert any("fct_orders.sql" in w for w in report.warnings)


def test_git_ignored_files_are_not_walked_unless_named(tree: Path, run_decp) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    write(tree, ".gitignore", "target/\n*.log\n")
    write(tree, "target/compiled.sql", "select 'compiled output' from big\n")
    write(tree, "dbt.log", "log line\n")
    data = tokens_json(run_decp, ".", cwd=tree)
    paths = {f["path"] for f in data["files"]}
    assert "target/compiled.sql" not in paths and "dbt.log" not in paths
    assert data["ignored"] >= 2
    named = tokens_json(run_decp, "dbt.log", cwd=tree)
    assert [f["path"] for f in named["files"]] == ["dbt.log"]
    everything = tokens_json(run_decp, ".", "--include-ignored", cwd=tree)
    assert "target/compiled.sql" in {f["path"] for f in everything["files"]}


def test_encoding_flag_names_the_encoding_used(tree: Path, run_decp) -> None:
    data = tokens_json(run_decp, "README.md", "--encoding", "cl100k_base", cwd=tree)
    counter = get_counter("cl100k_base")
    assert data["encoding"] == counter.label
    assert data["total"] == counter.count((tree / "README.md").read_text(encoding="utf-8"))
