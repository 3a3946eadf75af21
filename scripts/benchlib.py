"""What the benchmark scripts share: a minimal stamped decp project to time commands in."""

from __future__ import annotations

from pathlib import Path

BENCH_CONFIG = """\
[project]
name = "bench"
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
encoding = "cl100k_base"

[dbt]
project_dir = "."
manifest = "target/manifest.json"
"""


def stamp_minimal(root: Path) -> Path:
    """`root/.project/decp.toml` and nothing else: decp creates its data files on first write."""
    (root / ".project").mkdir(parents=True)
    (root / ".project" / "decp.toml").write_text(BENCH_CONFIG, encoding="utf-8")
    return root
