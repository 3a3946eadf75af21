"""What a fitted lineage pack holds: the named nodes, details and groups, with lookups.

The fitter (`pack`) decides what goes in; the renderers (`render`) turn it into
Markdown, JSON or Mermaid. Both read this type, so it sits below them.

Free text from the manifest (descriptions, raw and compiled SQL) passes through
`clean` on its way into a pack: compiled SQL holds whatever `env_var()`
rendered, so secrets are redacted and the kinds found are kept on the pack for
the ledger.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from decp.dbt.analysis import Analysis
from decp.dbt.commands import Commands
from decp.dbt.groups import Group

if TYPE_CHECKING:
    from decp.dbt.catalog import Catalog, ColumnView

HEADING_DEPTH = 2  # map headings: package + first folder; deeper folders prefix the name

__all__ = ["HEADING_DEPTH", "Pack", "Verdicts", "redact"]


@lru_cache(maxsize=8192)
def redact(text: str) -> tuple[str, tuple[str, ...]]:
    """`decp.core.secrets.redact` (text without secrets, kinds found), memoised per text.

    The detectors cost ~0.15 s to load, more than the rest of a warm scope, so
    verdicts persist (see `Verdicts`): a text seen before is not scanned again.
    """
    if not text:
        return text, ()
    verdicts = Verdicts.get()
    known = verdicts.lookup(text)
    if known is not None:
        return known
    from decp.core.secrets import redact as core_redact

    cleaned, kinds = core_redact(text)
    verdicts.add(text, cleaned, tuple(kinds))
    return cleaned, tuple(kinds)


class Verdicts:
    """Redaction verdicts by text digest, kept in `<cache>/redact` between runs.

    A clean text is stored as its 16-byte digest only; a text with secrets as
    its redacted form and kinds, so the cache never holds a secret. The file
    name carries a fingerprint of the rules (decp's secrets module and the
    installed detect-secrets, by size and mtime), so new rules start afresh.
    Unreadable or unwritable caches are ignored: they only cost speed.
    """

    KEEP = 100_000
    _instance: Verdicts | None = None

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.known: dict[bytes, tuple[str, tuple[str, ...]] | None] = {}
        self.added = False
        if path is not None:
            import marshal

            with contextlib.suppress(Exception):
                loaded = marshal.loads(path.read_bytes())
                if isinstance(loaded, dict):
                    self.known = loaded

    @classmethod
    def get(cls) -> Verdicts:
        if cls._instance is None:
            cls._instance = cls(_verdicts_path())
        return cls._instance

    @staticmethod
    def digest(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def lookup(self, text: str) -> tuple[str, tuple[str, ...]] | None:
        key = self.digest(text)
        if key not in self.known:
            return None
        found = self.known[key]
        if found is None:
            return text, ()
        try:
            cleaned, kinds = found
            if isinstance(cleaned, str) and all(isinstance(k, str) for k in kinds):
                return cleaned, tuple(kinds)
        except (TypeError, ValueError):
            pass
        return None  # a damaged entry: scan again

    def add(self, text: str, cleaned: str, kinds: tuple[str, ...]) -> None:
        self.known[self.digest(text)] = (cleaned, kinds) if kinds else None
        self.added = True

    def save(self) -> None:
        if not self.added or self.path is None:
            return
        import marshal

        from decp.core.fsio import atomic_write_bytes

        items = list(self.known.items())[-self.KEEP :]
        with contextlib.suppress(Exception):
            atomic_write_bytes(self.path, marshal.dumps(dict(items)))
        self.added = False


def _verdicts_path() -> Path | None:
    """`<cache>/redact/verdicts-<rules>.marshal`, or None when the rules cannot be located."""
    from importlib.util import find_spec

    from decp.core.cachedirs import cache_dir

    stamp = []
    for module in ("decp.core.secrets", "detect_secrets"):
        try:
            spec = find_spec(module)
            origin = spec.origin if spec else None
            info = os.stat(origin) if origin else None
        except (ImportError, ValueError, OSError):
            return None
        if info is None:
            return None
        stamp.append(f"{module}:{info.st_size}:{info.st_mtime_ns}")
    rules = hashlib.sha256("|".join(stamp).encode()).hexdigest()[:16]
    return cache_dir("redact") / f"verdicts-{rules}.marshal"


@dataclass
class Pack:
    analysis: Analysis
    select: str
    exclude: str | None
    manifest: str
    budget: int
    level: int
    fmt: str
    encoding: str
    commands: Commands
    named: list[str]
    details: list[str]
    groups: list[Group]
    level_costs: dict[int, int]
    omitted: list[str] = field(default_factory=list)
    omitted_command: str = ""
    omitted_need: int = 0  # tokens the omitted details need when over the task budget
    task_budget: int = 0  # what hints must stay within (0: the budget)
    mermaid: bool = False
    tokens: int = 0
    text: str = ""
    catalog: Catalog | None = None
    _redacted: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.focal_set = set(self.analysis.focal)
        self.details_set = set(self.details)
        self.named_set = set(self.named)
        self.owner = {uid: g.gid for g in self.groups for uid in g.members}
        self.tests = {
            uid: [t.uid for t in tests]
            for uid, tests in self.analysis.graph.tests_on(self.details).items()
        }

    def clean(self, text: str) -> str:
        """Manifest free text as it may enter the pack (secrets redacted, kinds kept)."""
        cleaned, kinds = redact(text)
        if kinds:
            self._redacted[text] = kinds
        return cleaned

    @property
    def redactions(self) -> list[str]:
        """Kinds of secrets redacted from what this pack shows, once per text (for the ledger)."""
        return [kind for kinds in self._redacted.values() for kind in kinds]

    def relation(self, uid: str) -> str:
        """The warehouse name (`relation_name`), when the manifest has one."""
        return str(getattr(self.analysis.node(uid), "relation_name", "") or "")

    def columns(self, uid: str) -> ColumnView:
        """Columns for level 1: catalog.json's names and types when present, else YAML's."""
        from decp.dbt.catalog import column_view

        return column_view(self.analysis.graph.details(uid).columns, self.catalog, uid)

    @property
    def collapsed_count(self) -> int:
        return sum(len(g.members) for g in self.groups)

    def ref(self, key: str) -> str:
        """A group id stays as is; a node uid becomes its display name."""
        return self.analysis.names.get(key, key)

    def parents_split(self, uid: str) -> tuple[list[str], Counter[str]]:
        """Named parents and per-group parent counts, in a stable order (output is diffable)."""
        named: list[str] = []
        grouped: Counter[str] = Counter()
        for parent in self.analysis.parents_in(uid):
            if parent in self.named_set:
                named.append(parent)
            else:
                grouped[self.owner[parent]] += 1
        named.sort(key=lambda p: (self.analysis.names[p], p))
        return named, Counter(dict(sorted(grouped.items())))

    def folder(self, uid: str) -> str:
        node = self.analysis.node(uid)
        if node.kind == "source":
            return f"sources of {node.package}"
        return "/".join(node.fqn[:-1]) or node.package

    def has_edges(self) -> bool:
        """Anything for a diagram to draw: an edge into a named node, or between groups."""
        return any(self.analysis.parents_in(u) for u in self.named) or any(
            g.edges_out for g in self.groups
        )

    def section(self, uid: str) -> str:
        """The map heading a node sits under: the first HEADING_DEPTH parts of its folder."""
        node = self.analysis.node(uid)
        if node.kind == "source":
            return f"sources of {node.package}"
        return "/".join(node.fqn[:-1][:HEADING_DEPTH]) or node.package

    def subpath(self, uid: str) -> str:
        """The rest of the folder, written before the name (`finance/` in `finance/fct_x`)."""
        node = self.analysis.node(uid)
        if node.kind == "source":
            return ""
        rest = node.fqn[:-1][HEADING_DEPTH:]
        return "/".join(rest) + "/" if rest else ""

    def named_by_folder(self) -> list[tuple[str, list[str]]]:
        topo = self.analysis.topo
        sections: dict[str, list[str]] = {}
        for uid in sorted(self.named, key=topo.__getitem__):
            sections.setdefault(self.section(uid), []).append(uid)
        return list(sections.items())

    def accounting_ok(self) -> bool:
        counted = self.named_set | {u for g in self.groups for u in g.members}
        return counted == set(self.analysis.lineage) and len(
            self.named
        ) + self.collapsed_count == len(self.analysis.lineage)
