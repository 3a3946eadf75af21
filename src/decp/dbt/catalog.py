"""Real columns and types from `target/catalog.json`, and where the YAML docs drift.

Why: level-1 columns come from the YAML docs, which drift from the SQL (a
renamed column keeps its old documented name for months). `dbt docs generate`
writes `catalog.json` with what the warehouse actually has. When it sits beside
the manifest, a pack lists the catalog's columns and types, keeps the YAML
descriptions that still match, and flags both directions of drift: documented
columns the warehouse lacks, and warehouse columns nobody documented.

The catalog is untrusted input: anything but the expected shape degrades to
"no columns" for that node; unreadable or non-JSON files are a DataError that
names the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decp.core.errors import DataError

CATALOG_NAME = "catalog.json"
CATALOG_FIX = "regenerate it with `dbt docs generate`, or delete it to use the YAML columns."

Column = tuple[str, str, str]  # (name, data_type, description), as Details.columns


@dataclass(frozen=True)
class Catalog:
    path: Path
    columns: dict[str, tuple[tuple[str, str], ...]]  # unique_id -> (name, type) by index


@dataclass(frozen=True)
class ColumnView:
    """The columns a level-1 detail shows, and the drift between YAML and the catalog."""

    columns: tuple[Column, ...]
    from_catalog: bool  # names and types come from catalog.json
    in_catalog: bool  # the node is in catalog.json (False also when there is no catalog)
    missing: tuple[str, ...] = ()  # documented in YAML, absent from catalog.json
    undocumented: tuple[str, ...] = ()  # in catalog.json, not documented in YAML


def catalog_beside(manifest: str | Path) -> Catalog | None:
    """The catalog.json in the manifest's directory, if the manifest is a real file."""
    path = Path(manifest)
    if not path.is_file():
        return None
    candidate = path.with_name(CATALOG_NAME)
    return load_catalog(candidate) if candidate.is_file() else None


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read catalog: {exc}.", path=path, fix=CATALOG_FIX) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"corrupt catalog JSON: {exc.msg}.", path=path, line=exc.lineno, fix=CATALOG_FIX
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise DataError('no "nodes" object: not a dbt catalog.json.', path=path, fix=CATALOG_FIX)
    schema = str(_dict(data.get("metadata")).get("dbt_schema_version") or "")
    if schema and "/catalog/" not in schema:
        raise DataError(
            f"dbt_schema_version {schema!r} is not a catalog.", path=path, fix=CATALOG_FIX
        )
    columns: dict[str, tuple[tuple[str, str], ...]] = {}
    for section in ("nodes", "sources"):
        for uid, entry in _dict(data.get(section)).items():
            if isinstance(uid, str) and isinstance(entry, dict):
                columns[uid] = _entry_columns(entry)
    return Catalog(path, columns)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _entry_columns(entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    rows: list[tuple[int, int, str, str]] = []
    for key, raw in _dict(entry.get("columns")).items():
        col = _dict(raw)
        name, dtype = col.get("name"), col.get("type")
        name = name if isinstance(name, str) and name else str(key)
        dtype = dtype if isinstance(dtype, str) else ""
        index = col.get("index")
        order = index if isinstance(index, int) and not isinstance(index, bool) else 1 << 30
        rows.append((order, len(rows), name, dtype))
    rows.sort()
    return tuple((name, dtype) for _, _, name, dtype in rows)


def column_view(documented: tuple[Column, ...], catalog: Catalog | None, uid: str) -> ColumnView:
    """Catalog columns with the YAML descriptions that match (case-insensitively)."""
    if catalog is None:
        return ColumnView(documented, from_catalog=False, in_catalog=False)
    real = catalog.columns.get(uid)
    if real is None:
        return ColumnView(documented, from_catalog=False, in_catalog=False)
    docs = {name.lower(): desc for name, _, desc in documented}
    present = {name.lower() for name, _ in real}
    columns = tuple((name, dtype, docs.get(name.lower(), "")) for name, dtype in real)
    missing = tuple(name for name, _, _ in documented if name.lower() not in present)
    undocumented = tuple(name for name, _ in real if name.lower() not in docs)
    return ColumnView(columns, True, True, missing, undocumented)
