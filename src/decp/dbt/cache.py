"""Cache the slim graph so repeated scopes skip re-parsing 17-50 MB of JSON.

Key: SHA-256 of the manifest file's bytes (as stored: `.json` or `.json.gz`),
so a cache entry can only ever be read for the exact bytes it came from
(hashing 50 MB takes ~40 ms; stat-based keys could go stale on a same-size
rewrite). Format: `marshal` of plain tuples, dicts and strings: several times
faster to load than JSON or pickle of objects. SQL sits in a second file that
only level-2 packs open. A cache that cannot be read is rebuilt; one that
cannot be written is skipped; neither is ever an error for the user.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from decp.dbt.graph import Graph
from decp.dbt.manifest import Node, parse_manifest, read_manifest_text

if TYPE_CHECKING:
    from decp.config import Config

CACHE_ENV = "DECP_CACHE_DIR"
FORMAT = 2
KEEP_ENTRIES = 8
GRAPH_SUFFIX = ".graph"
SQL_SUFFIX = ".sql.marshal"
_CHUNK = 1 << 20


def cache_dir(config: Config | None) -> Path:
    """$DECP_CACHE_DIR/dbt, else .project/.cache/dbt in a stamped repo, else the user cache."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env) / "dbt"
    if config is not None:
        return config.project_dir / ".cache" / "dbt"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "decp" / "dbt"


def fingerprint(path: Path) -> str:
    """Content hash of the manifest plus the cache format and interpreter's marshal version."""
    digest = hashlib.sha256(f"decp-dbt-{FORMAT}-{marshal.version}-{sys.version_info[:2]}".encode())
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def load_graph(path: Path, directory: Path | None) -> tuple[Graph, bool]:
    """The graph for `path` and whether it came from the cache."""
    if directory is None:
        data = parse_manifest(read_manifest_text(path), path)
        return Graph.build(data.nodes, data.meta, lambda: data.code), False
    try:
        key = fingerprint(path)
    except FileNotFoundError:
        read_manifest_text(path)  # raises the standard "manifest not found" error
        raise
    except OSError:
        return load_graph(path, None)
    graph_file = directory / f"{key}{GRAPH_SUFFIX}"
    sql_file = directory / f"{key}{SQL_SUFFIX}"
    cached = _read(graph_file, sql_file)
    if cached is not None:
        return cached, True
    data = parse_manifest(read_manifest_text(path), path)
    graph = Graph.build(data.nodes, data.meta, lambda: data.code)
    _write(directory, graph_file, sql_file, graph, data.code)
    return graph, False


def _read(graph_file: Path, sql_file: Path) -> Graph | None:
    try:
        blob = graph_file.read_bytes()
    except OSError:
        return None
    try:
        fmt, meta, rows, children = marshal.loads(blob)
        if fmt != FORMAT:
            return None
        make = Node._make
        nodes = {row[0]: make(row) for row in rows}
    except Exception:  # a torn or foreign cache file: rebuild it
        return None

    def load_sql() -> dict[str, str]:
        try:
            code = marshal.loads(sql_file.read_bytes())
        except Exception:
            return {}
        return code if isinstance(code, dict) else {}

    return Graph.build(nodes, meta, load_sql, children)


def _write(
    directory: Path, graph_file: Path, sql_file: Path, graph: Graph, code: dict[str, str]
) -> None:
    rows = [tuple(node) for node in graph.nodes.values()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_bytes(sql_file, marshal.dumps(code))
        _atomic_bytes(graph_file, marshal.dumps((FORMAT, graph.meta, rows, graph.children)))
        _prune(directory)
    except OSError:
        return


def _atomic_bytes(path: Path, blob: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _prune(directory: Path) -> None:
    """Keep the newest few entries: old manifests' graphs are dead weight."""
    entries = sorted(directory.glob(f"*{GRAPH_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    for old in entries[:-KEEP_ENTRIES]:
        key = old.name.removesuffix(GRAPH_SUFFIX)
        for stale in (old, directory / f"{key}{SQL_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()
