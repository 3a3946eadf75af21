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
