"""Where decp keeps rebuildable caches (token counts, parsed manifests, tokenizer tables).

One rule for all of them, so users learn one thing: `$DECP_CACHE_DIR/<kind>`
when set, else `.project/.cache/<kind>` inside a stamped repo (gitignored by
the stamped .gitignore), else the user cache dir (`$XDG_CACHE_HOME/decp/<kind>`).
Deleting any of them is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DECP_CACHE_DIR"


def user_cache_root() -> Path:
    """The per-user cache root, following each OS's convention."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "decp"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "decp"


def cache_dir(kind: str, project_dir: Path | None = None) -> Path:
    """The cache directory for `kind` ("tokens", "dbt", "tiktoken")."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env) / kind
    if project_dir is not None:
        return project_dir / ".cache" / kind
    return user_cache_root() / kind
