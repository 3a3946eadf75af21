"""Find the stamped project and read `.project/decp.toml`.

The config is rendered by Copier from the user's answers; the package only
falls back to `defaults.yml` (the same file copier.yml includes) for keys a
user deleted, so no number is written twice.

decp.toml is committed, so it is untrusted input: numbers are range-checked,
paths must resolve inside the repo (`repo_path`), and a file left with merge
conflict markers is refused with the line, never read as half of each side.
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
from decp.core.mdoc import conflict_line

PROJECT_DIR = ".project"
CONFIG_NAME = "decp.toml"
ANSWERS_FILE = ".copier-answers.yml"
ROOT_ENV = "DECP_ROOT"

PROJECT_TYPES = ("dbt", "airflow", "spark", "python", "generic")
# Config keys that name files: each must resolve inside the repo (see `repo_path`).
PATH_KEYS = {
    ("dbt", "project_dir"): ".",
    ("dbt", "manifest"): "target/manifest.json",
    ("gtd", "ticktick_csv_file"): ".project/gtd/ticktick-backup.csv",
    ("gtd", "todotxt_file"): ".project/gtd/todo.txt",
}
# decp's own data files: no config key may point a GTD export at them.
PROTOCOL_FILES = ("LOOPS.md", "STATE.md", "CONTEXT.md", "PROTOCOL.md", "README.md", "decp.toml")
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
    dbt_map_share: float = 0.6  # parse_config fills it from decp.toml or defaults.yml

    @property
    def project_dir(self) -> Path:
        return self.root / PROJECT_DIR

    @property
    def config_path(self) -> Path:
        return self.project_dir / CONFIG_NAME

    @property
    def manifest_path(self) -> Path:
        """The manifest decp.toml names; refused (DataError) when it resolves outside the repo."""
        inside = repo_path(self.root, "dbt.project_dir", self.dbt_project_dir, self.config_path)
        joined = str(Path(self.dbt_project_dir) / self.dbt_manifest)
        repo_path(self.root, "dbt.manifest", joined, self.config_path)
        return inside / self.dbt_manifest

    def gtd_file(self, key: str) -> Path:
        """A GTD file named in [gtd] (`todotxt_file`, `ticktick_csv_file`), checked to stay in the repo."""
        value = self.gtd.get(key) or PATH_KEYS[("gtd", key)]
        return repo_path(self.root, f"gtd.{key}", value, self.config_path, data_file=True)

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


def repo_path(
    root: Path, key: str, value: Any, config_path: Path, *, data_file: bool = False
) -> Path:
    """`root / value`, refused unless it resolves (symlinks followed) inside the repo.

    decp.toml is committed by teammates and rewritten by `copier update`, so a
    path in it is untrusted: it must never make decp write (or read) outside
    the repo. `data_file` also refuses decp's own protocol files, so a GTD
    export can never append to LOOPS.md. A path typed on the command line
    (`--out`) is the user's own choice and does not come through here.
    """
    section, _, name = key.partition(".")
    default = PATH_KEYS.get((section, name), "")
    fix = f'use a path inside the repo, e.g. `{name} = "{default}"` under [{section}]' + (
        " (or pass --out for a one-off file elsewhere)." if data_file else "."
    )
    if not isinstance(value, str) or not value.strip():
        raise DataError(
            f"{key} must be a non-empty path, got {value!r}.", path=config_path, fix=fix
        )
    try:
        joined = root / Path(value).expanduser()
        resolved, home = joined.resolve(), root.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, symlink loop
        raise DataError(
            f"{key} = {value!r} is not a usable path ({exc}).", path=config_path, fix=fix
        ) from None
    if not resolved.is_relative_to(home):
        raise DataError(
            f"{key} = {value!r} points outside the repo ({resolved}); "
            "decp only touches files inside the repo it was stamped into.",
            path=config_path,
            fix=fix,
        )
    if data_file and (
        resolved == home / PROJECT_DIR / CONFIG_NAME
        or (resolved.parent == home / PROJECT_DIR and resolved.name in PROTOCOL_FILES)
        or resolved.is_relative_to(home / PROJECT_DIR / "sessions")
        or resolved.is_relative_to(home / ".git")
    ):
        raise DataError(
            f"{key} = {value!r} names a decp protocol file; an export would overwrite it.",
            path=config_path,
            fix=fix,
        )
    return joined


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
    marker = conflict_line(text)
    if marker is not None:
        raise DataError(
            "holds git merge conflict markers (<<<<<<< / ======= / >>>>>>>), "
            "as a merge or `copier update` leaves them.",
            path=path,
            line=marker,
            fix="resolve the merge: keep the right side of each marked block, delete the "
            "marker lines, then rerun.",
        )
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
    for key in ("context_window", "task_budget", "state_cap"):  # divisors and caps
        if getattr(budget, key) <= 0:
            raise DataError(
                f"budget.{key} must be above 0, got {getattr(budget, key)}.",
                path=path,
                fix=f"set `{key} = {defaults()[key]}` under [budget].",
            )
    map_share = _typed(dbt, "map_share", float, _default("dbt_map_share"), path, "dbt")
    if not 0 < map_share <= 1:
        raise DataError(
            f"dbt.map_share must be a fraction in (0, 1], got {map_share}.",
            path=path,
            fix=f"set `map_share = {defaults()['dbt_map_share']}` under [dbt].",
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
    gtd_backend = gtd.get("backend") if "backend" in gtd else defaults()["gtd_backend"]
    if gtd_backend not in GTD_BACKENDS:
        raise DataError(
            f"gtd.backend {gtd_backend!r} is not one of {', '.join(GTD_BACKENDS)}.",
            path=path,
            fix='set `backend = "todotxt"` (or another listed backend) under [gtd].',
        )
    for (section, key), default in PATH_KEYS.items():
        table = dbt if section == "dbt" else gtd
        value = _typed(table, key, str, default, path, section) or default
        if section == "dbt" and key == "manifest":
            value = str(Path(table.get("project_dir", ".")) / value)
        repo_path(root, f"{section}.{key}", value, path, data_file=section == "gtd")
    return Config(
        root=root,
        name=_typed(project, "name", str, root.name, path, "project"),
        project_type=ptype,
        agents=tuple(agents),
        docs_url=_typed(project, "docs_url", str, _default("docs_url"), path, "project"),
        budget=budget,
        dbt_project_dir=_typed(dbt, "project_dir", str, ".", path, "dbt"),
        dbt_manifest=_typed(dbt, "manifest", str, "target/manifest.json", path, "dbt"),
        gtd={**gtd, "backend": gtd_backend},
        dbt_map_share=map_share,
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
