"""mkdocs-macros hooks: pages show numbers, questions, CLI help and stamped files
generated from the real sources at build time, so the docs cannot drift.

- `defaults`: the budget defaults from src/decp/defaults.yml (the single source).
- `copier_questions()`: a table of every question in copier.yml (includes resolved).
- `cli_reference()`: `decp … --help` for every command, from the real typer app.
- `stamped(path)`: a file exactly as `copier copy --defaults` stamps it.
- `run_decp(args)`: the real output of a decp command in a stamped example repo.
- `dbt_pack(manifest, select, budget)`: a real lineage pack from a committed manifest.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _load_copier_yml() -> dict[str, Any]:
    from copier._template import load_template_config

    return load_template_config(ROOT / "copier.yml")


@cache
def _stamped_repo() -> Path:
    """One `copier copy --defaults` of this template for the whole build."""
    import warnings

    from copier import run_copy
    from copier.errors import DirtyLocalWarning

    warnings.simplefilter("ignore", DirtyLocalWarning)
    dest = Path(tempfile.mkdtemp(prefix="decp-docs-"))
    atexit.register(shutil.rmtree, dest, True)
    run_copy(str(ROOT), dest, defaults=True, quiet=True, vcs_ref="HEAD", unsafe=False)
    return dest


def define_env(env: Any) -> None:
    questions = yaml.safe_load((ROOT / "src" / "decp" / "defaults.yml").read_text("utf-8"))
    env.variables["defaults"] = {name: spec["default"] for name, spec in questions.items()}

    @env.filter
    def pct(value: float) -> str:
        return f"{round(value * 100)}%"

    @env.macro
    def copier_questions() -> str:
        config = _load_copier_yml()
        rows = [
            "| Question | Type | Default | Asked when | What it is for |",
            "|---|---|---|---|---|",
        ]
        for name, spec in config.items():
            if name.startswith("_") or not isinstance(spec, dict):
                continue
            when = spec.get("when", True)
            when_text = (
                "always"
                if when is True
                else ("never (pass with `--data`)" if when is False else f"`{when.strip('{} ')}`")
            )
            default = spec.get("default", "")
            if isinstance(default, list):
                default = ", ".join(default)
            help_text = " ".join(str(spec.get("help", "")).split()).replace("|", "\\|")
            choices = spec.get("choices")
            if choices:
                values = choices.values() if isinstance(choices, dict) else choices
                help_text += " Choices: " + ", ".join(f"`{v}`" for v in values) + "."
            kind = spec.get("type", "str") + (" (multi)" if spec.get("multiselect") else "")
            rows.append(f"| `{name}` | {kind} | `{default}` | {when_text} | {help_text} |")
        return "\n".join(rows)

    @env.macro
    def cli_reference() -> str:
        from typer.main import get_command

        from decp.cli import app

        root = get_command(app)
        parts: list[str] = []

        def walk(cmd: Any, path: list[str]) -> None:
            ctx = type(root).context_class(
                cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100
            )
            help_text = cmd.get_help(ctx)
            title = " ".join(path)
            parts.append(f"### `{title}`\n\n```text\n{help_text}\n```\n")
            if hasattr(cmd, "list_commands"):  # typer vendors its own click
                for name in sorted(cmd.list_commands(ctx)):
                    sub = cmd.get_command(ctx, name)
                    if sub is not None and not sub.hidden:
                        walk(sub, [*path, name])

        walk(root, ["decp"])
        return "\n".join(parts)

    @env.macro
    def stamped(path: str) -> str:
        return (_stamped_repo() / path).read_text("utf-8")

    @env.macro
    def dbt_pack(manifest: str, select: str, budget: int) -> str:
        """A real `decp dbt scope` pack from a committed manifest (Markdown)."""
        from decp.dbt import render_example

        return render_example(ROOT / manifest, select, budget).rstrip("\n")

    @env.macro
    def run_decp(args: str) -> str:
        """Run `decp ARGS` in the stamped example repo; return stdout (stderr on failure)."""
        env_vars = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
        proc = subprocess.run(
            [sys.executable, "-m", "decp", *shlex.split(args)],
            cwd=_stamped_repo(),
            capture_output=True,
            text=True,
            env=env_vars,
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"`decp {args}` failed in docs build: {proc.stderr.strip()}")
        return proc.stdout.rstrip("\n")
