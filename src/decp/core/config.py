"""Find the stamped project and read `.project/decp.toml`.

The config is rendered by Copier from the user's answers; the package only
falls back to `defaults.yml` (the same file copier.yml includes) for keys a
user deleted, so no number is written twice.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from decp.core.errors import DataError, NotStampedError

PROJECT_DIR = ".project"
CONFIG_NAME = "decp.toml"
ANSWERS_FILE = ".copier-answers.yml"
ROOT_ENV = "DECP_ROOT"

PROJECT_TYPES = ("dbt", "airflow", "spark", "python", "generic")
GTD_BACKENDS = ("ticktick", "ticktick-csv", "todotxt", "none")
AGENT_CHOICES = ("claude", "copilot", "cursor", "gemini", "codex", "windsurf", "chat")


@cache
def defaults() -> dict[str, Any]:
    """The `default` of every question in defaults.yml, keyed by question name.

    Parsing YAML costs ~0.1 s (import, resolver regexes), paid by every command
    run outside a stamped repo; so the result is cached as JSON keyed by the
    file's content hash. A missing or unreadable cache just means parsing again.
    """
    import hashlib
    import json

    from decp.core.cachedirs import cache_dir

    raw = resources.files("decp").joinpath("defaults.yml").read_bytes()
    cached = cache_dir("defaults") / f"{hashlib.sha256(raw).hexdigest()[:16]}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    import yaml

    questions = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    found = {name: spec["default"] for name, spec in questions.items()}
    try:
        from decp.core.fsio import atomic_write

        atomic_write(cached, json.dumps(found))
    except OSError:  # a read-only cache dir must not break decp
        pass
    return found


@dataclass(frozen=True)
class Budget:
    """Token budgets: the window, its three fractions, and per-task caps."""

    context_window: int
    session_start: float
    working: float
    handoff: float
    task_budget: int
    state_cap: int
    encoding: str

    def tokens_at(self, fraction: float) -> int:
        return int(self.context_window * fraction)


@dataclass(frozen=True)
class Config:
    """What decp.toml says, with defaults filled in."""

    root: Path
    name: str
    project_type: str
    agents: tuple[str, ...]
    docs_url: str
    budget: Budget
    dbt_project_dir: str
    dbt_manifest: str
    gtd: dict[str, Any] = field(default_factory=dict)

    @property
    def project_dir(self) -> Path:
        return self.root / PROJECT_DIR

    @property
    def config_path(self) -> Path:
        return self.project_dir / CONFIG_NAME

    @property
    def manifest_path(self) -> Path:
        return self.root / self.dbt_project_dir / self.dbt_manifest

    def docs_link(self, page: str) -> str:
        return f"{self.docs_url.rstrip('/')}/{page.lstrip('/')}"


def find_root(start: Path | None = None) -> Path:
    """Walk up from `start` (or $DECP_ROOT, or cwd) to the dir holding .project/decp.toml."""
    env = os.environ.get(ROOT_ENV)
    here = Path(env) if env and start is None else (start or Path.cwd())
    here = here.resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_DIR / CONFIG_NAME).is_file():
            return candidate
    raise NotStampedError(
        f"no {PROJECT_DIR}/{CONFIG_NAME} in {here} or any parent: this repo has no decp protocol yet.",
        fix="stamp it from the repo root with `copier copy https://github.com/decp-dev/decp .`, "
        "then run `decp doctor` (or set DECP_ROOT).",
    )


def _default(name: str) -> Any:
    """A deferred default: defaults.yml is parsed only when decp.toml lacks the key."""
    return lambda: defaults()[name]


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise DataError(
            f"[{key}] must be a table.", path=path, fix=f"write it as `[{key}]` with keys below it."
        )
    return value


def _typed(
    table: dict[str, Any], key: str, kind: type, default: Any, path: Path, section: str
) -> Any:
    if key not in table and callable(default):
        default = default()
    value = table.get(key, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataError(
            f"{section}.{key} must be {kind.__name__}, got {value!r}.",
            path=path,
            fix=f"set `{key} = {default() if callable(default) else default!r}` under [{section}].",
        )
    return value


def parse_config(text: str, path: Path, root: Path) -> Config:
    """Validate decp.toml text; every error names the key and the fix."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # TOMLDecodeError.lineno arrives in Python 3.14; older ones only say it in the text.
        line = getattr(exc, "lineno", None)
        if line is None and (found := re.search(r"at line (\d+)", str(exc))):
            line = int(found.group(1))
        raise DataError(
            f"invalid TOML: {exc}.", path=path, line=line, fix="correct the TOML syntax."
        ) from exc
    project = _table(data, "project", path)
    budget_t = _table(data, "budget", path)
    dbt = _table(data, "dbt", path)
    gtd = _table(data, "gtd", path)

    ptype = _typed(project, "type", str, "dbt", path, "project")
    if ptype not in PROJECT_TYPES:
        raise DataError(
            f"project.type {ptype!r} is not one of {', '.join(PROJECT_TYPES)}.",
            path=path,
            fix='set `type = "dbt"` (or another listed type) under [project].',
        )
    budget = Budget(
        context_window=_typed(
            budget_t, "context_window", int, _default("context_window"), path, "budget"
        ),
        session_start=_typed(
            budget_t,
            "session_start",
            float,
            _default("budget_session_start"),
            path,
            "budget",
        ),
        working=_typed(budget_t, "working", float, _default("budget_working"), path, "budget"),
        handoff=_typed(budget_t, "handoff", float, _default("budget_handoff"), path, "budget"),
        task_budget=_typed(budget_t, "task_budget", int, _default("task_budget"), path, "budget"),
        state_cap=_typed(budget_t, "state_cap", int, _default("state_cap"), path, "budget"),
        encoding=_typed(budget_t, "encoding", str, _default("encoding"), path, "budget"),
    )
    if not 0 < budget.session_start < budget.working < budget.handoff < 1:
        raise DataError(
            "budget fractions must satisfy 0 < session_start < working < handoff < 1 "
            f"(got {budget.session_start}, {budget.working}, {budget.handoff}).",
            path=path,
            fix="e.g. session_start = 0.2, working = 0.4, handoff = 0.5 under [budget].",
        )
    agents = project.get("agents", [])
    if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
        raise DataError(
            "project.agents must be a list of strings.", path=path, fix='e.g. agents = ["claude"].'
        )
    unknown = [a for a in agents if a not in AGENT_CHOICES]
    if unknown:
        raise DataError(
            f"project.agents has unknown agent(s) {', '.join(map(repr, unknown))}.",
            path=path,
            fix=f"use only: {', '.join(AGENT_CHOICES)}.",
        )
    gtd_backend = gtd.get("backend", "none")
    if gtd_backend not in GTD_BACKENDS:
        raise DataError(
            f"gtd.backend {gtd_backend!r} is not one of {', '.join(GTD_BACKENDS)}.",
            path=path,
            fix='set `backend = "todotxt"` (or another listed backend) under [gtd].',
        )
    return Config(
        root=root,
        name=_typed(project, "name", str, root.name, path, "project"),
        project_type=ptype,
        agents=tuple(agents),
        docs_url=_typed(project, "docs_url", str, "https://decp.dev", path, "project"),
        budget=budget,
        dbt_project_dir=_typed(dbt, "project_dir", str, ".", path, "dbt"),
        dbt_manifest=_typed(dbt, "manifest", str, "target/manifest.json", path, "dbt"),
        gtd=dict(gtd),
    )


def load_config(root: Path | None = None) -> Config:
    """Locate the project (unless `root` is given) and load its config."""
    from decp.core.fsio import read_text

    root = root if root is not None else find_root()
    path = root / PROJECT_DIR / CONFIG_NAME
    if not path.is_file():
        raise NotStampedError(
            f"{PROJECT_DIR}/{CONFIG_NAME} is missing.",
            path=path,
            fix="restore it from git (`git checkout <commit> -- .project/decp.toml`); "
            "`copier update` does not recreate files you deleted.",
        )
    return parse_config(read_text(path), path, root)
