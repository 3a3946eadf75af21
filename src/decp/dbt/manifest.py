"""Read a dbt manifest into a slim lineage graph, fast and defensively.

Why not `json.load` the whole file: a manifest is 17-50 MB, and a lineage pack
needs only `metadata`, `nodes`, `sources` and `exposures`. We walk the top-level
object key by key with the stdlib's C scanner, slim each node as soon as it is
decoded (so the full node dicts never pile up in memory) and stop reading once
the wanted keys are seen: `macros`-after-`exposures` sections such as
`disabled`, `parent_map` and `child_map` are never decoded. Edges come from
each node's `depends_on.nodes`, the source `child_map` is derived from, so a
manifest without maps still works.

Manifests v10-v12 (dbt 1.6-1.11+) are read with `.get()` everywhere: missing
keys, null columns and unknown fields degrade to empty values, never a crash.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import zlib
from collections.abc import Callable
from json.decoder import scanstring
from pathlib import Path
from typing import Any, NamedTuple

from decp.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
WANTED_KEYS = frozenset({"metadata", "nodes", "sources", "exposures"})
# Hooks are manifest nodes but not lineage: dbt never selects them by graph.
SKIPPED_TYPES = frozenset({"operation"})
_ws = re.compile(r"[ \t\n\r]*").match
_DECODER = json.JSONDecoder()
MANIFEST_FIX = (
    "pass a dbt manifest.json (run `dbt parse` or `dbt compile`; it lands in target/manifest.json)."
)


class Node(NamedTuple):
    """One lineage node, slimmed to what selection and packs use."""

    uid: str
    name: str
    kind: str  # resource_type: model, seed, snapshot, source, exposure, test, analysis...
    package: str
    path: str  # original_file_path
    patch_path: str  # the YAML file that documents it ("" when none)
    fqn: tuple[str, ...]
    materialized: str  # config.materialized; the exposure type for exposures
    tags: tuple[str, ...]
    description: str
    columns: tuple[tuple[str, str, str], ...]  # (name, data_type, description)
    parents: tuple[str, ...]  # depends_on.nodes that exist in the graph
    source_name: str  # sources only
    test_name: str  # generic tests: test_metadata.name; "" for singular tests
    attached: str  # tests: the node the test is attached to
    column: str  # tests: the column it checks
    access: str
    group: str
    versioned: bool  # a versioned model: dbt matches its name on fqn[-2]


class ManifestData(NamedTuple):
    """What a parse yields: slim nodes, SQL kept apart (only L2 reads it), metadata."""

    nodes: dict[str, Node]
    code: dict[str, str]
    meta: dict[str, str]


# --- reading bytes ------------------------------------------------------------


def read_manifest_text(path: Path) -> str:
    """The manifest as text: `.json` or `.json.gz` (detected by magic bytes, not suffix)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError("manifest not found.", path=path, fix=MANIFEST_FIX) from exc
    except IsADirectoryError as exc:
        raise DataError(
            "is a directory, not a manifest file.", path=path, fix=MANIFEST_FIX
        ) from exc
    except OSError as exc:
        raise DataError(f"cannot read manifest: {exc.strerror}.", path=path) from exc
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except EOFError as exc:
            raise DataError(
                "gzip stream is truncated (the file was cut off while copying or writing).",
                path=path,
                fix="copy or regenerate the manifest again.",
            ) from exc
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise DataError(
                f"corrupt gzip data ({exc}).", path=path, fix="copy or regenerate it."
            ) from exc
    if not raw.strip():
        raise DataError("manifest is empty.", path=path, fix=MANIFEST_FIX)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}).",
            path=path,
            line=line,
            fix="regenerate the manifest with dbt; it always writes UTF-8.",
        ) from exc


# --- streaming the top-level object ---------------------------------------------


def _json_error(path: Path, text: str, pos: int, msg: str) -> DataError:
    line = text.count("\n", 0, pos) + 1
    if pos >= len(text.rstrip()):
        msg = f"JSON ends early ({msg}): the file looks truncated"
    return DataError(
        f"corrupt or truncated JSON: {msg}.", path=path, line=line, fix="regenerate it with dbt."
    )


def _expect(text: str, pos: int, char: str, path: Path) -> int:
    pos = _ws(text, pos).end()
    if pos >= len(text) or text[pos] != char:
        found = repr(text[pos]) if pos < len(text) else "end of file"
        raise _json_error(path, text, pos, f"expected {char!r}, found {found}")
    return pos + 1


def _iter_object(text: str, pos: int, path: Path, on_item: Callable[[str, int], int]) -> int:
    """Walk `{ "key": value, ... }` at `pos`; `on_item(key, value_pos)` returns the value's end."""
    pos = _expect(text, pos, "{", path)
    pos = _ws(text, pos).end()
    if pos < len(text) and text[pos] == "}":
        return pos + 1
    while True:
        pos = _expect(text, pos, '"', path)
        try:
            key, pos = scanstring(text, pos)
        except ValueError as exc:
            raise _json_error(path, text, pos, str(exc).split(":")[0]) from exc
        pos = _expect(text, pos, ":", path)
        pos = _ws(text, pos).end()
        pos = on_item(key, pos)
        pos = _ws(text, pos).end()
        if pos >= len(text):
            raise _json_error(path, text, pos, "object not closed")
        if text[pos] == "}":
            return pos + 1
        if text[pos] != ",":
            raise _json_error(path, text, pos, f"expected ',' or '}}', found {text[pos]!r}")
        pos += 1


def _decode_value(text: str, pos: int, path: Path) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise _json_error(path, text, exc.pos, exc.msg) from exc


class _Stop(Exception):
    """Raised inside the walk once every wanted key has been read."""


def parse_manifest(text: str, path: Path) -> ManifestData:
    """Slim nodes, code and metadata out of manifest text; DataError for anything else."""
    start = _ws(text, 0).end()
    if start < len(text) and text[start] != "{":
        what = "a JSON list" if text[start] == "[" else "not a JSON object"
        raise DataError(f"top level is {what}, not a dbt manifest.", path=path, fix=MANIFEST_FIX)
    nodes: dict[str, Node] = {}
    code: dict[str, str] = {}
    parents: dict[str, list[str]] = {}
    meta: dict[str, str] = {}
    seen: set[str] = set()

    def add(uid: str, raw: Any, section: str) -> None:
        if not isinstance(raw, dict):
            return
        node, deps, sql = _slim(uid, raw, section)
        if node.kind in SKIPPED_TYPES:
            return
        nodes[uid] = node
        parents[uid] = deps
        if sql:
            code[uid] = sql

    def each_entry(section: str) -> Callable[[str, int], int]:
        def on_entry(uid: str, pos: int) -> int:
            value, end = _decode_value(text, pos, path)
            add(uid, value, section)
            return end

        return on_entry

    def on_top(key: str, pos: int) -> int:
        if key in ("nodes", "sources", "exposures"):
            if text.startswith("null", pos):
                end = pos + 4
            else:
                end = _iter_object(text, pos, path, each_entry(key))
        else:
            value, end = _decode_value(text, pos, path)
            if key == "metadata":
                meta.update(_metadata(value, path))
        seen.add(key)
        if seen >= WANTED_KEYS:
            raise _Stop
        return end

    with contextlib.suppress(_Stop):
        _iter_object(text, start, path, on_top)
    if "nodes" not in seen:
        raise DataError(
            'no "nodes" object: this JSON is not a dbt manifest.', path=path, fix=MANIFEST_FIX
        )
    if nodes and not any(n.kind for n in nodes.values()):
        raise DataError(
            "nodes have no resource_type: this JSON is not a dbt manifest.",
            path=path,
            fix=MANIFEST_FIX,
        )
    final = {
        uid: node._replace(parents=tuple(p for p in parents[uid] if p in nodes and p != uid))
        for uid, node in nodes.items()
    }
    return ManifestData(final, code, meta)


def _metadata(value: Any, path: Path) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    schema = str(value.get("dbt_schema_version") or "")
    for other, name in (
        ("/catalog/", "catalog.json (from `dbt docs generate`)"),
        ("/run-results/", "run_results.json"),
        ("/sources/", "sources.json (source freshness)"),
        ("/semantic-manifest/", "semantic_manifest.json"),
    ):
        if other in schema:
            raise DataError(
                f"this is a {name}, not a manifest.json.",
                path=path,
                fix="point --manifest at target/manifest.json from the same dbt run.",
            )
    keys = ("dbt_schema_version", "dbt_version", "project_name", "adapter_type", "generated_at")
    return {k: str(value[k]) for k in keys if value.get(k) is not None}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _columns(raw: Any) -> tuple[tuple[str, str, str], ...]:
    if not isinstance(raw, dict):
        return ()
    out = []
    for key, col in raw.items():
        col = col if isinstance(col, dict) else {}
        name = _text(col.get("name")) or str(key)
        out.append((name, _text(col.get("data_type")), _text(col.get("description"))))
    return tuple(out)


def _slim(uid: str, raw: dict[str, Any], section: str) -> tuple[Node, list[str], str]:
    """One manifest entry to a Node, its raw parent ids and its SQL."""
    kind = _text(raw.get("resource_type")) or {"sources": "source", "exposures": "exposure"}.get(
        section, ""
    )
    name = _text(raw.get("name")) or uid.rsplit(".", 1)[-1]
    package = _text(raw.get("package_name"))
    fqn = _strings(raw.get("fqn")) or ((package, name) if package else (name,))
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    depends = raw.get("depends_on") if isinstance(raw.get("depends_on"), dict) else {}
    deps = list(dict.fromkeys(_strings(depends.get("nodes"))))
    meta_test = raw.get("test_metadata") if isinstance(raw.get("test_metadata"), dict) else {}
    materialized = _text(config.get("materialized"))
    if kind == "exposure":
        materialized = _text(raw.get("type"))
    patch = _text(raw.get("patch_path"))
    attached = _text(raw.get("attached_node"))
    if kind == "test" and not attached and deps:
        attached = deps[0]
    tags = _strings(raw.get("tags")) or _strings(config.get("tags"))
    node = Node(
        uid=uid,
        name=name,
        kind=kind,
        package=package,
        path=_text(raw.get("original_file_path")),
        patch_path=patch.split("://", 1)[-1] if patch else "",
        fqn=fqn,
        materialized=materialized,
        tags=tags,
        description=_text(raw.get("description")),
        columns=_columns(raw.get("columns")),
        parents=(),
        source_name=_text(raw.get("source_name")),
        test_name=_text(meta_test.get("name")),
        attached=attached,
        column=_text(raw.get("column_name")),
        access=_text(raw.get("access")) or _text(config.get("access")),
        group=_text(raw.get("group")) or _text(config.get("group")),
        versioned=raw.get("version") is not None and kind == "model",
    )
    sql = ""
    if kind not in ("test", "source", "exposure", "seed"):
        sql = _text(raw.get("compiled_code")) or _text(raw.get("raw_code"))
    return node, deps, sql
