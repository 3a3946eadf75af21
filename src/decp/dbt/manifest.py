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
from json.decoder import scanstring  # type: ignore[attr-defined]  # C scanner, untyped
from pathlib import Path
from typing import Any, NamedTuple, cast

from decp.core.errors import DataError
from decp.core.fsio import decode_utf8

GZIP_MAGIC = b"\x1f\x8b"
WANTED_KEYS = frozenset({"metadata", "nodes", "sources", "exposures"})
# Hooks are manifest nodes but not lineage: dbt never selects them by graph.
SKIPPED_TYPES = frozenset({"operation"})
# Always matches (possibly empty), so callers take `.end()` directly.
_ws = cast(Callable[[str, int], re.Match[str]], re.compile(r"[ \t\n\r]*").match)
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
    parents: tuple[str, ...]  # depends_on.nodes that exist in the graph
    source_name: str  # sources only
    test_name: str  # generic tests: test_metadata.name; "" for singular tests
    attached: str  # tests: the node the test is attached to
    column: str  # tests: the column it checks
    access: str
    group: str
    versioned: bool  # a versioned model: dbt matches its name on fqn[-2]
    relation_name: str = ""  # the warehouse name (`"db"."schema"."table"`); "" for ephemerals
    checksum: str = ""  # dbt's sha256 of the file's stripped contents; "" when not sha256
    version: str = ""  # a versioned model's version ("" otherwise)

    @property
    def original_file_path(self) -> str:
        """dbt's name for `path`: the file relative to the project root."""
        return self.path


class Details(NamedTuple):
    """What only a level-1/2 pack shows: kept apart from the graph, read per node on demand."""

    description: str
    columns: tuple[tuple[str, str, str], ...]  # (name, data_type, description)
    sql: str  # compiled if the manifest has it, else raw; "" for seeds, sources, tests


NO_DETAILS = Details("", (), "")


class ManifestData(NamedTuple):
    """What a parse yields: slim nodes, their details apart, and the manifest metadata."""

    nodes: dict[str, Node]
    details: dict[str, Details]
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
    return decode_utf8(raw, path, fix="regenerate the manifest with dbt; it always writes UTF-8.")


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
    details: dict[str, Details] = {}
    parents: dict[str, list[str]] = {}
    meta: dict[str, str] = {}
    seen: set[str] = set()
    interned: dict[str, str] = {}
    share = interned.setdefault  # one object per distinct string: smaller cache, faster load

    def add(uid: str, raw: Any, section: str) -> None:
        if not isinstance(raw, dict):
            return
        node, deps, more = _slim(uid, raw, section, share)
        if node.kind in SKIPPED_TYPES:
            return
        nodes[uid] = node
        parents[uid] = deps
        if more is not NO_DETAILS:
            details[uid] = more

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
    # Parent ids become the very key objects, so marshal writes each uid once.
    same = {uid: uid for uid in nodes}
    final = {
        uid: node._replace(
            parents=tuple(same[p] for p in parents[uid] if p in same and p != uid),
            attached=same.get(node.attached, node.attached),
        )
        for uid, node in nodes.items()
    }
    return ManifestData(final, details, meta)


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
    return value if value.__class__ is str else ""


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings as a tuple; anything else (null, non-strings) dropped."""
    if value.__class__ is not list:
        return ()
    try:
        "".join(value)  # C-speed check that every item is a str
    except TypeError:
        return tuple(v for v in value if isinstance(v, str))
    return tuple(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if value.__class__ is dict else _EMPTY


_EMPTY: dict[str, Any] = {}
_SECTION_KIND = {"sources": "source", "exposures": "exposure"}
_NO_SQL = frozenset({"test", "source", "exposure", "seed"})


def _checksum(raw: Any) -> str:
    """The sha256 hex of dbt's `checksum` ({"name": "sha256", "checksum": hex}); else ""."""
    if raw.__class__ is not dict or raw.get("name") != "sha256":
        return ""
    value = raw.get("checksum")
    return value if value.__class__ is str else ""


def _columns(raw: Any) -> tuple[tuple[str, str, str], ...]:
    if raw.__class__ is not dict or not raw:
        return ()
    out = []
    for key, col in raw.items():
        if col.__class__ is not dict:
            out.append((str(key), "", ""))
            continue
        get = col.get
        name, dtype, desc = get("name"), get("data_type"), get("description")
        out.append(
            (
                name if name.__class__ is str and name else str(key),
                dtype if dtype.__class__ is str else "",
                desc if desc.__class__ is str else "",
            )
        )
    return tuple(out)


def _slim(
    uid: str, raw: dict[str, Any], section: str, share: Callable[[str, str], str] = lambda s, _: s
) -> tuple[Node, list[str], Details]:
    """One manifest entry to a Node, its raw parent ids and its details.

    Runs once per node of a 20,000-node manifest, so it reads each key once and
    skips what a kind never needs (tests have no columns or SQL worth keeping).
    """
    get = raw.get
    kind = share(k := _text(get("resource_type")) or _SECTION_KIND.get(section, ""), k)
    name = _text(get("name")) or uid.rsplit(".", 1)[-1]
    package = share(p := _text(get("package_name")), p)
    fqn = _strings(get("fqn")) or ((package, name) if package else (name,))
    fqn = (*(share(part, part) for part in fqn[:-1]), name if fqn[-1] == name else fqn[-1])
    config = _dict(get("config"))
    deps = list(dict.fromkeys(_strings(_dict(get("depends_on")).get("nodes"))))
    tags = _strings(get("tags")) or _strings(config.get("tags"))
    path = share(f := _text(get("original_file_path")), f)
    patch = _text(get("patch_path"))
    patch = share(p := patch.split("://", 1)[-1], p) if patch else ""
    if kind == "test":
        attached = _text(get("attached_node")) or (deps[0] if deps else "")
        test_name = share(t := _text(_dict(get("test_metadata")).get("name")), t)
        column = _text(get("column_name"))
        node = Node(
            uid, name, kind, package, path, patch, fqn, "test", tags, (),
            "", test_name, attached, column, "", "", False, "", _checksum(get("checksum")),
        )  # fmt: skip
        return node, deps, NO_DETAILS
    materialized = _text(get("type")) if kind == "exposure" else _text(config.get("materialized"))
    materialized = share(materialized, materialized)
    node = Node(
        uid=uid,
        name=name,
        kind=kind,
        package=package,
        path=path,
        patch_path=patch,
        fqn=fqn,
        materialized=materialized,
        tags=tags,
        parents=(),
        source_name=_text(get("source_name")),
        test_name="",
        attached="",
        column="",
        access=_text(get("access")) or _text(config.get("access")),
        group=_text(get("group")) or _text(config.get("group")),
        versioned=(version := get("version")) is not None and kind == "model",
        relation_name=_text(get("relation_name")),
        checksum=_checksum(get("checksum")),
        version=str(version) if version is not None and version.__class__ is not bool else "",
    )
    sql = "" if kind in _NO_SQL else (_text(get("compiled_code")) or _text(get("raw_code")))
    more = Details(_text(get("description")), _columns(get("columns")), sql)
    return node, deps, (more if more != NO_DETAILS else NO_DETAILS)
