"""Cache the slim graph so repeated scopes skip re-parsing 17-50 MB of JSON.

Key: SHA-256 of the manifest file's bytes (as stored: `.json` or `.json.gz`),
so a cache entry can only ever be read for the exact bytes it came from
(hashing 50 MB takes ~40 ms; stat-based keys could go stale on a same-size
rewrite). Format: `marshal` of plain tuples, dicts and strings: several times
faster to load than JSON or pickle of objects. Descriptions, columns and SQL
sit in a second file, one blob per node at a known offset, so a pack reads
the details of the few nodes it shows and nothing else. A cache that cannot be read is rebuilt; one that
cannot be written is skipped; neither is ever an error for the user.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from decp.core.cachedirs import CACHE_ENV  # noqa: F401 - re-exported for tests
from decp.core.cachedirs import cache_dir as shared_cache_dir
from decp.dbt.graph import Graph
from decp.dbt.manifest import NO_DETAILS, Details, Node, parse_manifest, read_manifest_text

if TYPE_CHECKING:
    from decp.core.config import Config

FORMAT = 4
KEEP_ENTRIES = 8
GRAPH_SUFFIX = ".graph"
DETAILS_SUFFIX = ".details"
_CHUNK = 1 << 20


def cache_dir(config: Config | None) -> Path:
    """$DECP_CACHE_DIR/dbt, else .project/.cache/dbt in a stamped repo, else the user cache."""
    return shared_cache_dir("dbt", config.project_dir if config is not None else None)


def fingerprint(path: Path) -> str:
    """Content hash of the manifest plus the cache format and interpreter's marshal version."""
    digest = hashlib.sha256(f"decp-dbt-{FORMAT}-{marshal.version}-{sys.version_info[:2]}".encode())
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:32]


def load_graph(path: Path, directory: Path | None) -> tuple[Graph, bool]:
    """The graph for `path` and whether it came from the cache.

    The cyclic garbage collector is paused while tens of thousands of tuples are
    built (they hold no cycles, and each collection would walk them all: a third
    of a cold parse on a 70 MB manifest), then the finished graph is frozen out
    of later collections.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        graph, hit = _load_graph(path, directory)
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return graph, hit


def _load_graph(path: Path, directory: Path | None) -> tuple[Graph, bool]:
    if directory is None:
        data = parse_manifest(read_manifest_text(path), path)
        return Graph.build(data.nodes, data.meta, _from_dict(data.details)), False
    try:
        key = fingerprint(path)
    except FileNotFoundError:
        read_manifest_text(path)  # raises the standard "manifest not found" error
        raise
    except OSError:
        return _load_graph(path, None)
    graph_file = directory / f"{key}{GRAPH_SUFFIX}"
    details_file = directory / f"{key}{DETAILS_SUFFIX}"
    cached = _read(graph_file, details_file)
    if cached is not None:
        return cached, True
    data = parse_manifest(read_manifest_text(path), path)
    graph = Graph.build(data.nodes, data.meta, _from_dict(data.details))
    _write(directory, graph_file, details_file, graph, data.details)
    return graph, False


def _from_dict(details: dict[str, Details]) -> Callable[[str], Details]:
    return lambda uid: details.get(uid, NO_DETAILS)


def _read(graph_file: Path, details_file: Path) -> Graph | None:
    try:
        blob = graph_file.read_bytes()
        fmt, meta, rows, children, index, size = marshal.loads(blob)
        if fmt != FORMAT or details_file.stat().st_size != size:
            return None
        make = Node._make
        nodes = {row[0]: make(row) for row in rows}
    except Exception:  # missing, torn or foreign cache files: rebuild them
        return None

    def load_details(uid: str) -> Details:
        where = index.get(uid)
        if where is None:
            return NO_DETAILS
        try:
            with details_file.open("rb") as handle:
                handle.seek(where[0])
                return Details._make(marshal.loads(handle.read(where[1])))
        except Exception:  # the cache was pruned or rewritten under us
            return NO_DETAILS

    return Graph.build(nodes, meta, load_details, children)


def _write(
    directory: Path,
    graph_file: Path,
    details_file: Path,
    graph: Graph,
    details: dict[str, Details],
) -> None:
    """Details first (one marshal blob per node, indexed by offset), then the graph."""
    chunks, index, offset = [], {}, 0
    for uid, more in details.items():
        chunk = marshal.dumps(tuple(more))
        index[uid] = (offset, len(chunk))
        chunks.append(chunk)
        offset += len(chunk)
    rows = [tuple(node) for node in graph.nodes.values()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_bytes(details_file, b"".join(chunks))
        blob = marshal.dumps((FORMAT, graph.meta, rows, graph.children, index, offset))
        _atomic_bytes(graph_file, blob)
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
        for stale in (old, directory / f"{key}{DETAILS_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()
