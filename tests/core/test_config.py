"""decp.core.config: defaults come from defaults.yml (also through the JSON cache), errors name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import MINIMAL_CONFIG, REPO_ROOT

from decp.core import config
from decp.core.errors import DataError


def _fresh_defaults() -> dict:
    config.defaults.cache_clear()
    return config.defaults()


def test_defaults_match_the_yaml_through_the_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DECP_CACHE_DIR", str(tmp_path))
    questions = yaml.safe_load((REPO_ROOT / "src" / "decp" / "defaults.yml").read_text("utf-8"))
    expected = {name: spec["default"] for name, spec in questions.items()}
    assert _fresh_defaults() == expected  # parsed, cache written
    [cached] = (tmp_path / "defaults").iterdir()
    assert _fresh_defaults() == expected  # read back from the cache
    cached.write_text("{not json", encoding="utf-8")
    assert _fresh_defaults() == expected  # a corrupt cache is ignored
    config.defaults.cache_clear()


def test_missing_keys_fall_back_to_defaults(tmp_path: Path) -> None:
    text = MINIMAL_CONFIG.replace("task_budget = 4000\n", "").replace("state_cap = 600\n", "")
    loaded = config.parse_config(text, tmp_path / "decp.toml", tmp_path)
    assert loaded.budget.task_budget == config.defaults()["task_budget"]
    assert loaded.budget.state_cap == config.defaults()["state_cap"]


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("task_budget = 4000", 'task_budget = "x"', "budget.task_budget must be int"),
        ("working = 0.4", "working = 0.1", "0 < session_start < working < handoff < 1"),
        ('type = "dbt"', 'type = "dagster"', "project.type 'dagster'"),
        ('backend = "todotxt"', 'backend = "jira"', "gtd.backend 'jira'"),
        ("[budget]", "[budget\n", "invalid TOML"),
        ('agents = ["claude"]', 'agents = ["claud"]', "unknown agent(s) 'claud'"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(
    tmp_path: Path, old: str, new: str, needle: str
) -> None:
    with pytest.raises(DataError) as caught:
        config.parse_config(MINIMAL_CONFIG.replace(old, new, 1), tmp_path / "decp.toml", tmp_path)
    assert needle in caught.value.one_line()
    assert "Fix:" in caught.value.one_line()


# --- untrusted decp.toml: paths stay in the repo, numbers are sane, merges are named ----


def _load(root: Path, old: str, new: str) -> config.Config:
    (root / ".project").mkdir(parents=True, exist_ok=True)
    text = MINIMAL_CONFIG.replace(old, new, 1)
    assert text != MINIMAL_CONFIG or old == new
    return config.parse_config(text, root / ".project" / "decp.toml", root)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("todotxt_file", "/home/u/.bashrc"),
        ("todotxt_file", "../outside.txt"),
        ("todotxt_file", ".project/gtd/../../../x.txt"),
        ("todotxt_file", "~/.bashrc"),
        ("ticktick_csv_file", "/tmp/backup.csv"),
        ("manifest", "../../etc/passwd"),
        ("project_dir", "/"),
    ],
)
def test_config_paths_outside_the_repo_are_refused(tmp_path: Path, key: str, value: str) -> None:
    root = tmp_path / "repo"
    old = next(line for line in MINIMAL_CONFIG.splitlines() if line.startswith(f"{key} ="))
    with pytest.raises(DataError) as caught:
        _load(root, old, f"{key} = {value!r}".replace("'", '"'))
    line = caught.value.one_line()
    assert f".{key} = {value!r} points outside the repo" in line
    assert (
        f'Fix: use a path inside the repo, e.g. `{key} = "{config.PATH_KEYS[next(k for k in config.PATH_KEYS if k[1] == key)]}"`'
        in line
    )


def test_a_symlink_out_of_the_repo_is_refused_and_one_inside_is_fine(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "links").mkdir(parents=True)
    (root / "links" / "out").symlink_to(outside)
    (root / "links" / "in").symlink_to(root / ".project", target_is_directory=True)
    old = 'todotxt_file = ".project/gtd/todo.txt"'
    with pytest.raises(DataError, match=r"gtd.todotxt_file = 'links/out/todo.txt' points outside"):
        _load(root, old, 'todotxt_file = "links/out/todo.txt"')
    # Near miss: a symlink that stays inside the repo is accepted.
    loaded = _load(root, old, 'todotxt_file = "links/in/gtd/todo.txt"')
    assert loaded.gtd_file("todotxt_file") == root / "links/in/gtd/todo.txt"
    # A symlink created after loading is caught when the path is used.
    (root / "late").symlink_to(outside)
    late = _load(root, old, old)
    late.gtd["todotxt_file"] = "late/todo.txt"
    with pytest.raises(DataError, match="points outside the repo"):
        late.gtd_file("todotxt_file")


@pytest.mark.parametrize("target", [".project/LOOPS.md", ".project/decp.toml", ".git/config"])
def test_gtd_files_cannot_name_protocol_files(tmp_path: Path, target: str) -> None:
    with pytest.raises(DataError, match="names a decp protocol file"):
        _load(
            tmp_path / "r", 'todotxt_file = ".project/gtd/todo.txt"', f'todotxt_file = "{target}"'
        )


def test_default_paths_are_accepted(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    loaded = _load(root, "x", "x")
    assert loaded.gtd_file("todotxt_file") == root / ".project/gtd/todo.txt"
    assert loaded.gtd_file("ticktick_csv_file") == root / ".project/gtd/ticktick-backup.csv"
    assert loaded.manifest_path == root / "target/manifest.json"


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        (
            "context_window = 200000",
            "context_window = 0",
            "budget.context_window must be above 0, got 0.",
        ),
        (
            "context_window = 200000",
            "context_window = -5",
            "budget.context_window must be above 0, got -5.",
        ),
        ("task_budget = 4000", "task_budget = 0", "budget.task_budget must be above 0, got 0."),
        ("state_cap = 600", "state_cap = -1", "budget.state_cap must be above 0, got -1."),
        ("session_start = 0.2", "session_start = 0.0", "0 < session_start < working < handoff < 1"),
        ("handoff = 0.5", "handoff = 1.5", "0 < session_start < working < handoff < 1"),
        ("working = 0.4", "working = nan", "0 < session_start < working < handoff < 1"),
        ("handoff = 0.5", "handoff = inf", "0 < session_start < working < handoff < 1"),
    ],
)
def test_bad_numbers_are_refused(tmp_path: Path, old: str, new: str, needle: str) -> None:
    with pytest.raises(DataError) as caught:
        _load(tmp_path / "r", old, new)
    assert needle in caught.value.one_line()
    assert "Fix: " in caught.value.one_line()


def test_smallest_valid_numbers_pass(tmp_path: Path) -> None:
    loaded = _load(tmp_path / "r", "context_window = 200000", "context_window = 1")
    assert loaded.budget.context_window == 1


def test_conflict_markers_name_the_line_and_the_merge(tmp_path: Path) -> None:
    conflicted = MINIMAL_CONFIG.replace(
        "context_window = 200000\n",
        "<<<<<<< before updating\ncontext_window = 200000\n=======\n"
        "context_window = 128000\n>>>>>>> after updating\n",
    )
    path = tmp_path / "decp.toml"
    with pytest.raises(DataError) as caught:
        config.parse_config(conflicted, path, tmp_path)
    marker = conflicted.splitlines().index("<<<<<<< before updating") + 1
    line = caught.value.one_line()
    assert line.startswith(f"{path}:{marker}: holds git merge conflict markers")
    assert "resolve the merge" in line
    assert "invalid TOML" not in line


def test_conflict_marker_near_misses_are_plain_toml_errors(tmp_path: Path) -> None:
    # Six '<' is not a merge marker; it is simply bad TOML.
    text = MINIMAL_CONFIG + "<<<<<< half\n"
    with pytest.raises(DataError, match="invalid TOML"):
        config.parse_config(text, tmp_path / "decp.toml", tmp_path)
    # A marker inside a string value is not at the start of a line: the file parses.
    ok = MINIMAL_CONFIG.replace('name = "', 'name = "======= ', 1)
    assert config.parse_config(ok, tmp_path / "decp.toml", tmp_path).name.startswith("=======")


def test_docs_url_and_gtd_backend_fall_back_to_defaults_yml_like_copier(tmp_path: Path) -> None:
    from copier._template import load_template_config

    text = "\n".join(
        line
        for line in MINIMAL_CONFIG.splitlines()
        if not line.startswith(("docs_url =", "backend ="))
    )
    loaded = config.parse_config(text, tmp_path / "decp.toml", tmp_path)
    questions = load_template_config(REPO_ROOT / "copier.yml")
    assert loaded.docs_url == questions["docs_url"]["default"] == "https://decp-dev.github.io/decp"
    assert loaded.gtd["backend"] == questions["gtd_backend"]["default"] == "todotxt"


def test_an_empty_path_means_the_default(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    loaded = _load(root, 'todotxt_file = ".project/gtd/todo.txt"', 'todotxt_file = ""')
    assert loaded.gtd_file("todotxt_file") == root / ".project/gtd/todo.txt"
    with pytest.raises(DataError, match=r"gtd.todotxt_file must be str, got 3"):
        _load(root, 'todotxt_file = ".project/gtd/todo.txt"', "todotxt_file = 3")
