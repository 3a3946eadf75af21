"""Which dbt nodes changed: `state:` selectors, `--changed-since REF`, stale manifests.

Three ways to answer "what did my branch touch", from cheapest to richest:

* **the working tree against the manifest's checksums** (no second manifest):
  `dbt parse` records, for every model, seed, snapshot, analysis and singular
  test, the sha256 of its file's stripped contents. A file whose hash no longer
  matches was edited since the manifest was built (`state:modified.body`); a
  missing file was deleted. YAML edits leave no checksum, so they need one of
  the next two. This is also the freshness check: one hash per file, cached by
  (mtime, size).
* **`--state DIR`**: compare with another manifest as dbt-core 1.11's
  StateSelectorMethod does (body, configs, relation, persisted descriptions,
  fqn, ref-related fields, contract, upstream macros), from digests computed
  once per manifest and cached beside the graph.
* **`--changed-since REF`**: the nodes whose files (SQL, seeds, snapshots, and the
  YAML that defines or documents them) differ between REF and the working tree.

Each is a `StateComparison` that `decp.dbt.select` asks for `state:<check>`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from decp.core.errors import DataError, UsageError
from decp.dbt.graph import TEST, Graph

if TYPE_CHECKING:
    from decp.core.config import Config

STATE_CHECKS = (
    "new",
    "old",
    "modified",
    "unmodified",
    "modified.body",
    "modified.configs",
    "modified.persisted_descriptions",
    "modified.relation",
    "modified.macros",
    "modified.contract",
)
TREE_CHECKS = ("new", "old", "modified", "unmodified", "modified.body")
NODE_FILE_SUFFIXES = (".sql", ".py", ".csv")
HASH_CACHE_NAME = "file-hashes.marshal"
HASH_CACHE_FORMAT = 1
STATE_SUFFIX = ".state"
STATE_FORMAT = 1
SHOW_FILES = 3
_PARSED = frozenset({"model", "seed", "snapshot", "analysis", "test", "sql_operation"})


def _unknown_check(value: str, allowed: Iterable[str], why: str = "") -> UsageError:
    return UsageError(
        f"`state:{value}` is not a state check decp can decide here{why}.",
        fix=f"use one of: {', '.join('state:' + c for c in allowed)}.",
    )


# --- file hashes, as dbt computes them ----------------------------------------------


def file_checksum(path: Path) -> str:
    """dbt's checksum of a project file: sha256 of its UTF-8 text, stripped."""
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    return hashlib.sha256(text.strip().encode("utf-8", errors="surrogateescape")).hexdigest()


class HashCache:
    """sha256 per file, reused while the file's (mtime_ns, size) is unchanged."""

    def __init__(self, directory: Path | None) -> None:
        self.file = directory / HASH_CACHE_NAME if directory is not None else None
        self.entries: dict[str, tuple[int, int, str]] = {}
        self.dirty = False
        if self.file is not None:
            with contextlib.suppress(Exception):
                fmt, entries = marshal.loads(self.file.read_bytes())
                if fmt == HASH_CACHE_FORMAT and isinstance(entries, dict):
                    self.entries = entries

    def checksum(self, path: Path) -> str | None:
        """The file's checksum, or None when it does not exist (or cannot be read)."""
        try:
            stat = path.stat()
        except OSError:
            return None
        key = str(path)
        hit = self.entries.get(key)
        if (
            isinstance(hit, tuple)
            and len(hit) == 3
            and hit[0] == stat.st_mtime_ns
            and hit[1] == stat.st_size
            and isinstance(hit[2], str)
        ):
            return hit[2]
        try:
            digest = file_checksum(path)
        except OSError:
            return None
        self.entries[key] = (stat.st_mtime_ns, stat.st_size, digest)
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.file is None or not self.dirty:
            return
        with contextlib.suppress(OSError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps((HASH_CACHE_FORMAT, self.entries)))
            os.replace(tmp, self.file)


# --- the working tree against the manifest ----------------------------------------


@dataclass(frozen=True)
class TreeChanges:
    """How the project's files differ from the manifest's checksums."""

    modified: tuple[str, ...]  # node ids whose file's checksum changed
    deleted: tuple[str, ...]  # node ids whose file is gone
    new_files: tuple[str, ...]  # project-relative files newer than the manifest, in no node
    paths: dict[str, str] = field(default_factory=dict)  # node id -> its file
    checked: int = 0  # files hashed (or found in the cache)

    @property
    def stale_files(self) -> list[str]:
        """Every file that makes the manifest out of date, sorted."""
        files = {self.paths[u] for u in (*self.modified, *self.deleted)}
        return sorted(files | set(self.new_files))


def _root_project_nodes(graph: Graph) -> list[tuple[str, str, str]]:
    """(uid, path, checksum) of the root project's nodes that carry a sha256 checksum."""
    project = graph.meta.get("project_name")
    return [
        (uid, n.path, n.checksum)
        for uid, n in graph.nodes.items()
        if n.checksum and n.path and (not project or n.package == project)
    ]


def tree_changes(
    graph: Graph, project_dir: Path, manifest: Path | None, cache: Path | None
) -> TreeChanges:
    """Compare each checksummed node's file under `project_dir` with the manifest.

    New files are those under the folders the manifest's files live in (models,
    seeds, snapshots...) with a node suffix, in no node, and modified after the
    manifest was written (so disabled models, which dbt leaves out of `nodes`,
    are not reported forever).
    """
    hashes = HashCache(cache)
    modified, deleted, paths = [], [], {}
    known: set[str] = set()
    folders: set[str] = set()
    for uid, rel, checksum in _root_project_nodes(graph):
        paths[uid] = rel
        known.add(rel)
        parts = PurePosixPath(rel).parts
        if len(parts) > 1:
            folders.add(parts[0])
        actual = hashes.checksum(project_dir / rel)
        if actual is None:
            deleted.append(uid)
        elif actual != checksum:
            modified.append(uid)
    hashes.save()
    known.update(n.path for n in graph.nodes.values() if n.path)
    new_files = _new_files(project_dir, folders, known, manifest)
    return TreeChanges(
        tuple(sorted(modified)),
        tuple(sorted(deleted)),
        tuple(new_files),
        paths,
        len(paths),
    )


def _new_files(
    project_dir: Path, folders: set[str], known: set[str], manifest: Path | None
) -> list[str]:
    try:
        since = manifest.stat().st_mtime if manifest is not None else None
    except OSError:
        since = None
    out = []
    for folder in sorted(folders):
        base = project_dir / folder
        if not base.is_dir() or base.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "generic")
            for name in sorted(filenames):
                if name.startswith(".") or not name.endswith(NODE_FILE_SUFFIXES):
                    continue
                full = Path(dirpath) / name
                rel = full.relative_to(project_dir).as_posix()
                if rel in known:
                    continue
                try:
                    if since is not None and full.stat().st_mtime <= since:
                        continue
                except OSError:
                    continue
                out.append(rel)
    return out


def freshness_warning(changes: TreeChanges, manifest_label: str = "the manifest") -> str | None:
    """One line naming how many files differ, a few of them, and the fix; None when fresh."""
    files = changes.stale_files
    if not files:
        return None
    shown = ", ".join(files[:SHOW_FILES]) + (
        f" (+{len(files) - SHOW_FILES} more)" if len(files) > SHOW_FILES else ""
    )
    what = []
    if changes.modified:
        what.append(f"{len(changes.modified)} changed")
    if changes.new_files:
        what.append(f"{len(changes.new_files)} new")
    if changes.deleted:
        what.append(f"{len(changes.deleted)} deleted")
    return (
        f"{manifest_label} is stale: {len(files)} project "
        f"{'file differs' if len(files) == 1 else 'files differ'} from its checksums "
        f"({', '.join(what)}): {shown}. Run `dbt parse` to refresh it."
    )


def stale_files(config: Config) -> list[str]:
    """Project files (relative to `[dbt] project_dir`) that differ from the manifest.

    For `decp doctor`: [] when the manifest is fresh. Raises DecpError when the
    manifest cannot be read (the caller reports that as its own problem).
    """
    from decp.dbt import load
    from decp.dbt.cache import cache_dir

    manifest = config.manifest_path
    graph, _ = load(manifest, config)
    project_dir = config.root / config.dbt_project_dir
    return tree_changes(graph, project_dir, manifest, cache_dir(config)).stale_files


def stale_manifest_warning(config: Config) -> str | None:
    """The one-line stale-manifest warning scope prints, for `decp doctor`; None when fresh
    (or when there is no dbt project folder to compare with)."""
    from decp.dbt import freshness, load

    manifest = config.manifest_path
    graph, _ = load(manifest, config)
    return freshness(graph, manifest, config, None)[1]


class WorkingTreeState:
    """`state:` answered from the working tree and the manifest's checksums."""

    def __init__(self, changes: TreeChanges) -> None:
        self.changes = changes

    def matches(self, graph: Graph, value: str) -> set[str]:
        changed = set(self.changes.modified) | set(self.changes.deleted)
        if value in ("modified", "modified.body"):
            return changed & graph.nodes.keys()
        if value == "unmodified":
            return set(graph.nodes) - changed
        if value == "new":
            return set()  # new files are not in the manifest yet: see the freshness note
        if value == "old":
            return set(graph.nodes)
        if value in STATE_CHECKS:
            raise UsageError(
                f"`state:{value}` needs a second manifest: without --state, decp compares "
                "file checksums only.",
                fix="pass --state DIR (a folder with the other run's manifest.json), "
                "or use state:modified / state:modified.body.",
            )
        raise _unknown_check(value, TREE_CHECKS)


# --- another manifest (--state DIR) -----------------------------------------------

# Config keys dbt leaves out of `same_config` (they belong to the relation, or are metadata).
_CONFIG_EXCLUDED = frozenset({"alias", "schema", "database", "tags", "group", "docs"})
# For tests, dbt compares only these config keys.
_TEST_CONFIG_KEYS = (
    "severity", "where", "limit", "fail_calc", "warn_if", "error_if", "store_failures",
    "store_failures_as",
)  # fmt: skip


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _state_row(raw: dict[str, Any], section: str) -> tuple[Any, ...]:
    """(kind, body, configs, relation, docs, fqn, refs, contract, other): short digests of
    what dbt's same_* checks compare (macros are compared separately, transitively)."""
    kind = raw.get("resource_type") or {"sources": "source", "exposures": "exposure"}.get(
        section, ""
    )
    config = _as_dict(raw.get("config"))
    unrendered = _as_dict(raw.get("unrendered_config"))
    body = relation = docs = refs = contract = other = ""
    if kind == "test" and raw.get("test_metadata"):
        configs = _digest({k: unrendered.get(k) for k in _TEST_CONFIG_KEYS})
    else:
        configs = _digest({k: v for k, v in unrendered.items() if k not in _CONFIG_EXCLUDED})
    if kind == "source":
        relation = _digest(
            [
                raw.get("unrendered_database", raw.get("database")),
                raw.get("unrendered_schema", raw.get("schema")),
                raw.get("identifier"),
            ]
        )
        other = _digest(
            [raw.get(k) for k in ("quoting", "freshness", "loaded_at_field", "external")]
        )
    elif kind == "exposure":
        deps = sorted(_as_dict(raw.get("depends_on")).get("nodes") or ())
        keys = ("type", "owner", "maturity", "url", "description", "label")
        other = _digest([*(raw.get(k) for k in keys), deps])
    else:
        body = _digest(raw.get("checksum") if kind == "seed" else raw.get("raw_code"))
        relation = _digest([unrendered.get(k) for k in ("database", "schema", "alias")])
        persist = _as_dict(config.get("persist_docs"))
        docs = _digest(
            [
                raw.get("description") if persist.get("relation") else None,
                {
                    str(k): _as_dict(c).get("description")
                    for k, c in _as_dict(raw.get("columns")).items()
                }
                if persist.get("columns")
                else None,
            ]
        )
        if kind == "model":
            refs = _digest([raw.get(k) for k in ("latest_version", "access", "deprecation_date")])
            terms = _as_dict(raw.get("contract"))
            contract = _digest([terms.get("enforced"), terms.get("checksum")])
    return (kind, body, configs, relation, docs, _digest(raw.get("fqn")), refs, contract, other)


def _macro_rows(macros: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    out = {}
    for uid, raw in _as_dict(macros).items():
        raw = _as_dict(raw)
        deps = _as_dict(raw.get("depends_on")).get("macros")
        strings = tuple(d for d in deps if isinstance(d, str)) if isinstance(deps, list) else ()
        out[uid] = (_digest(raw.get("macro_sql")), strings)
    return out


@dataclass
class ManifestDigests:
    """What `state:` compares, per node of one manifest, plus each macro's digest."""

    rows: dict[str, tuple[Any, ...]]
    node_macros: dict[str, tuple[str, ...]]
    macros: dict[str, tuple[str, tuple[str, ...]]]


def manifest_digests(path: Path, cache: Path | None = None) -> ManifestDigests:
    """Digests of every node of the manifest at `path`, cached by the file's content hash."""
    from decp.dbt.cache import fingerprint
    from decp.dbt.manifest import MANIFEST_FIX, read_manifest_text

    key_file = None
    if cache is not None:
        with contextlib.suppress(OSError):
            key_file = cache / f"{fingerprint(path)}{STATE_SUFFIX}"
            with contextlib.suppress(Exception):
                cached = marshal.loads(key_file.read_bytes())
                if cached[0] == STATE_FORMAT:
                    return ManifestDigests(cached[1], cached[2], cached[3])
    text = read_manifest_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"corrupt or truncated JSON: {exc.msg}.", path=path, line=exc.lineno, fix=MANIFEST_FIX
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise DataError('no "nodes" object: this JSON is not a dbt manifest.', path=path)
    rows: dict[str, tuple[Any, ...]] = {}
    node_macros: dict[str, tuple[str, ...]] = {}
    for section in ("nodes", "sources", "exposures"):
        for uid, raw in _as_dict(data.get(section)).items():
            if isinstance(raw, dict) and raw.get("resource_type") != "operation":
                rows[uid] = _state_row(raw, section)
                deps = _as_dict(raw.get("depends_on")).get("macros")
                listed = deps if isinstance(deps, list) else ()
                node_macros[uid] = tuple(d for d in listed if isinstance(d, str))
    digests = ManifestDigests(rows, node_macros, _macro_rows(data.get("macros")))
    if key_file is not None:
        with contextlib.suppress(OSError):
            key_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps((STATE_FORMAT, rows, node_macros, digests.macros)))
            os.replace(tmp, key_file)
    return digests


def state_manifest_path(state: Path) -> Path:
    """`--state DIR` holds manifest.json (dbt's rule); a manifest file is accepted too."""
    if state.is_dir():
        for name in ("manifest.json", "manifest.json.gz"):
            if (state / name).is_file():
                return state / name
        raise DataError(
            "no manifest.json in the --state folder.",
            path=state,
            fix="point --state at the folder of the other run's target/ (holding manifest.json).",
        )
    if state.is_file():
        return state
    raise DataError(
        "--state folder not found.",
        path=state,
        fix="pass the folder holding the comparison manifest.json (e.g. prod-run-artifacts/).",
    )


_INDEX = {"body": 1, "configs": 2, "relation": 3, "persisted_descriptions": 4}


class ManifestState:
    """`state:` answered against another manifest, as dbt-core's StateSelectorMethod."""

    def __init__(self, current: ManifestDigests, previous: ManifestDigests) -> None:
        self.current = current
        self.previous = previous
        self._modified_macros: set[str] | None = None

    def modified_macros(self) -> set[str]:
        if self._modified_macros is None:
            new, old = self.current.macros, self.previous.macros
            changed = {u for u, m in new.items() if u not in old or old[u][0] != m[0]}
            self._modified_macros = changed | (old.keys() - new.keys())
        return self._modified_macros

    def macros_modified(self, uid: str) -> bool:
        """Does the node call, directly or through other macros, a changed macro?"""
        modified = self.modified_macros()
        if not modified:
            return False
        seen: set[str] = set()
        stack = list(self.current.node_macros.get(uid, ()))
        while stack:
            macro = stack.pop()
            if macro in seen:
                continue
            seen.add(macro)
            if macro in modified:
                return True
            stack.extend(self.current.macros.get(macro, ("", ()))[1])
        return False

    def _modified(self, uid: str, new: tuple[Any, ...], old: tuple[Any, ...] | None) -> bool:
        kind = new[0]
        if kind in ("source", "exposure"):
            # dbt: a new source or exposure is `state:new`, never `state:modified`
            return old is not None and new[1:] != old[1:]
        if old is None:
            return True
        if kind == TEST and new[1] == old[1] and new[2:] == old[2:]:
            return self.macros_modified(uid)
        return new[1:] != old[1:] or self.macros_modified(uid)

    def matches(self, graph: Graph, value: str) -> set[str]:
        if value not in STATE_CHECKS:
            raise _unknown_check(value, STATE_CHECKS)
        out = set()
        for uid in graph.nodes:
            new = self.current.rows.get(uid)
            if new is None:
                continue
            old = self.previous.rows.get(uid)
            if self._check(value, uid, new, old):
                out.add(uid)
        return out

    def _check(
        self, value: str, uid: str, new: tuple[Any, ...], old: tuple[Any, ...] | None
    ) -> bool:
        kind = new[0]
        if value == "new":
            return old is None
        if value == "old":
            return old is not None
        if value == "modified":
            return self._modified(uid, new, old)
        if value == "unmodified":
            return not self._modified(uid, new, old)
        if value == "modified.macros":
            return self.macros_modified(uid)
        sub = value.split(".", 1)[1]
        if sub == "contract":
            return kind == "model" and (old is None or new[7] != old[7])
        index = _INDEX[sub]
        has_it = kind in _PARSED or (kind == "source" and sub in ("configs", "relation"))
        has_it = has_it or (kind == "exposure" and sub == "configs")
        return has_it and (old is None or new[index] != old[index])


# --- git: --changed-since REF -----------------------------------------------------

_SAFE_REF = re.compile(r"[A-Za-z0-9._/@{}~^:+-]{1,200}")


def validate_ref(ref: str) -> str:
    """A user-typed revision, refused when it could be read as a git option or is odd."""
    if not ref or ref.startswith("-") or not _SAFE_REF.fullmatch(ref) or ".." in ref:
        raise UsageError(
            f"--changed-since {ref!r} is not a git revision decp will pass to git.",
            fix="use a branch, tag or commit id, e.g. --changed-since main.",
        )
    return ref


@dataclass(frozen=True)
class ChangedFiles:
    """Project files changed between a revision and the working tree, and their nodes."""

    ref: str
    commit: str
    files: tuple[str, ...]  # project-relative
    modified: frozenset[str]  # node ids whose SQL/seed/YAML file changed
    body: frozenset[str]  # node ids whose own file (SQL, seed, snapshot) changed
    new: frozenset[str]  # node ids whose own file was added since REF
    unmatched: tuple[str, ...]  # changed node-like files no manifest node comes from


def changed_since(graph: Graph, ref: str, repo_root: Path, project_dir: Path) -> ChangedFiles:
    """Nodes whose files differ between `ref` and the working tree (untracked files too)."""
    from decp.core.gitinfo import end_of_options, git, resolve

    validate_ref(ref)
    top = git(repo_root, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(
            "--changed-since needs a git repository.", path=repo_root, fix="run it inside one."
        )
    commit = resolve(Path(top), ref)
    if commit is None:
        raise UsageError(
            f"--changed-since {ref!r}: git knows no such commit.",
            fix="check the name with `git log --oneline -1 REF` (fetch it first if remote).",
        )
    top_path = Path(top)
    diff = git(top_path, "diff", "--name-only", "--no-renames", *end_of_options(), commit, "--")
    added = git(
        top_path,
        "diff",
        "--name-only",
        "--no-renames",
        "--diff-filter=A",
        *end_of_options(),
        commit,
        "--",
    )
    untracked = git(top_path, "ls-files", "--others", "--exclude-standard", "--", ".")
    if diff is None or untracked is None or added is None:
        raise UsageError(f"git diff {commit[:12]} failed.", path=top_path)
    try:
        prefix = project_dir.resolve().relative_to(top_path.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            "the dbt project is outside the git repository.",
            path=project_dir,
            fix="set [dbt] project_dir to a folder inside the repo.",
        ) from None

    def project_relative(lines: str) -> set[str]:
        out = set()
        for line in lines.splitlines():
            if not line:
                continue
            if prefix in ("", "."):
                out.add(line)
            elif line.startswith(prefix + "/"):
                out.add(line[len(prefix) + 1 :])
        return out

    new_files = project_relative(added) | project_relative(untracked)
    files = project_relative(diff) | new_files
    modified, body, new = set(), set(), set()
    claimed: set[str] = set()
    project = graph.meta.get("project_name")
    for uid, node in graph.nodes.items():
        if project and node.package != project:
            continue
        if node.path in files:
            modified.add(uid)
            claimed.add(node.path)
            if node.checksum:
                body.add(uid)
            if node.path in new_files:
                new.add(uid)
        if node.patch_path in files:
            modified.add(uid)
            claimed.add(node.patch_path)
    unmatched = sorted(f for f in files - claimed if f.endswith(NODE_FILE_SUFFIXES) and "/" in f)
    return ChangedFiles(
        ref,
        commit,
        tuple(sorted(files)),
        frozenset(modified),
        frozenset(body),
        frozenset(new),
        tuple(unmatched),
    )


class ChangedSinceState:
    """`state:` answered from `git diff REF`: modified = changed files' nodes."""

    def __init__(self, changed: ChangedFiles) -> None:
        self.changed = changed

    def matches(self, graph: Graph, value: str) -> set[str]:
        if value == "modified":
            return set(self.changed.modified) & graph.nodes.keys()
        if value == "modified.body":
            return set(self.changed.body) & graph.nodes.keys()
        if value == "new":
            return set(self.changed.new) & graph.nodes.keys()
        if value == "old":
            return set(graph.nodes) - self.changed.new
        if value == "unmodified":
            return set(graph.nodes) - self.changed.modified
        if value in STATE_CHECKS:
            raise UsageError(
                f"`state:{value}` needs a second manifest, not a git diff.",
                fix="pass --state DIR instead of --changed-since.",
            )
        raise _unknown_check(value, TREE_CHECKS)
