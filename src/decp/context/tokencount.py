"""Count tokens of files and trees, cached by content hash.

Why: a budget is only real when it is measured. Counting a big repo is slow
(the tokenizer reads every byte), but most files don't change between counts,
so each count is cached under sha256(bytes) + encoding name. A warm run only
hashes files and never loads the tokenizer at all.

The cache is one stdlib sqlite file: `.project/.cache/tokens/counts.sqlite3`
in a stamped repo (gitignored by the stamped `.project/.gitignore`), else the
user cache dir (`$XDG_CACHE_HOME/decp/tokens`, `~/.cache/decp/tokens`), which
is safe to share because keys are content hashes. It is only an optimisation:
a broken cache is rebuilt, an unwritable one is skipped, never fatal.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from decp.core.cachedirs import cache_dir
from decp.core.errors import UsageError
from decp.core.gitinfo import git_ignored, git_toplevel
from decp.core.secrets import NotRegularFile, inside, placement_exclusion, read_capped
from decp.core.tokens import TokenCounter

CACHE_FILE = "counts.sqlite3"
SNIFF_BYTES = 8192
# No text file worth counting is bigger; the cap also bounds memory per read.
MAX_COUNT_BYTES = 32 * 1024 * 1024
# Skip reasons that say a file was refused before it was opened (see core.secrets).
REFUSED_KINDS = ("outside", "git", "special")
# Directories that hold tooling state, not project text; never walked.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".cache",
    }
)
_GLOB_CHARS = set("*?[")


@dataclass
class FileCount:
    """One file's outcome: counted (tokens), or skipped with a reason."""

    path: str  # as displayed: relative to the base dir when possible, POSIX separators
    size: int
    tokens: int | None = None
    skipped: str | None = None  # "binary", "unreadable: …", "large: …", "outside: …", "git: …"
    warning: str | None = None  # e.g. non-UTF-8 text counted with replacement chars
    cached: bool = False
    secrets: list[str] = field(default_factory=list)  # credential kinds found (see count_files)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"path": self.path, "bytes": self.size, "tokens": self.tokens}
        if self.skipped:
            data["skipped"] = self.skipped
        if self.warning:
            data["warning"] = self.warning
        if self.secrets:
            data["secrets"] = self.secrets
        data["cached"] = self.cached
        return data


@dataclass
class CountReport:
    encoding: str
    files: list[FileCount] = field(default_factory=list)
    cache_path: str | None = None
    cache_hits: int = 0
    cache_misses: int = 0
    ignored: int = 0  # files left out of directory walks because git ignores them
    notes: list[str] = field(default_factory=list)  # cache trouble and the like

    @property
    def counted(self) -> list[FileCount]:
        return [f for f in self.files if f.tokens is not None]

    @property
    def skipped(self) -> list[FileCount]:
        return [f for f in self.files if f.skipped]

    @property
    def total(self) -> int:
        return sum(f.tokens or 0 for f in self.files)

    @property
    def warnings(self) -> list[str]:
        notes = list(self.notes)
        notes += [f"{f.path}: {f.warning}" for f in self.files if f.warning]
        notes += [
            f"{f.path}: skipped ({f.skipped})"
            for f in self.files
            if f.skipped and f.skipped.startswith(("unreadable", "large", *REFUSED_KINDS))
        ]
        return notes

    def to_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "total": self.total,
            "files": [f.to_dict() for f in self.files],
            "counted": len(self.counted),
            "skipped": len(self.skipped),
            "ignored": self.ignored,
            "cache": {
                "path": self.cache_path,
                "hits": self.cache_hits,
                "misses": self.cache_misses,
            },
            "warnings": self.warnings,
        }


# --- the counter, loaded only on a cache miss ----------------------------------


class LazyCounter:
    """Names its encoding without loading it; loads the tokenizer on the first miss.

    The name is predicted with the same rules as `decp.core.tokens.get_counter`; if
    the real load lands elsewhere, the real name wins from then on, so a count
    is always stored under the name of the encoding that made it.
    """

    def __init__(self, preferred: str) -> None:
        self.preferred = preferred
        self._counter: TokenCounter | None = None
        self._name = _predict_name(preferred)

    @property
    def name(self) -> str:
        return self._counter.name if self._counter else self._name

    @property
    def label(self) -> str:
        return self.counter().label if self._counter or _estimated(self._name) else self.name

    def counter(self) -> TokenCounter:
        if self._counter is None:
            from decp.core.tokens import get_counter

            self._counter = get_counter(self.preferred)
        return self._counter

    def count(self, text: str) -> int:
        return self.counter().count(text)


def _estimated(name: str) -> bool:
    from decp.core.tokens import ESTIMATE_ENCODING

    return name == ESTIMATE_ENCODING


def _predict_name(preferred: str) -> str:
    from decp.core.tokens import resolve_name

    return resolve_name(preferred)


# --- the cache ------------------------------------------------------------------


def cache_dir_for(project_dir: Path | None) -> Path:
    """Where counts go: $DECP_CACHE_DIR/tokens when set, else the stamped repo's
    .project/.cache/tokens, else the user's cache dir (`project_dir` None)."""
    return cache_dir("tokens", project_dir)


class CountCache:
    """sha256(bytes):encoding → tokens, in one sqlite file. Failures degrade to no cache."""

    def __init__(self, directory: Path | None) -> None:
        self.path = directory / CACHE_FILE if directory is not None else None
        self.problem: str | None = None
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, int]] = []
        if self.path is not None:
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
        except sqlite3.DatabaseError:
            # Not a database any more (truncated, overwritten): it is only a cache.
            try:
                self.path.unlink(missing_ok=True)
                self._db = self._connect()
                self.problem = f"token cache {self.path} was corrupt and has been rebuilt."
            except (OSError, sqlite3.Error) as exc:
                self._disable(exc)
        except (OSError, sqlite3.Error) as exc:
            self._disable(exc)

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, tokens INTEGER)")
        db.execute("SELECT count(*) FROM counts").fetchone()
        return db

    def _disable(self, exc: BaseException) -> None:
        self.problem = f"token cache {self.path} unusable ({exc}); counting without it."
        self._db = None

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def lookup(self, keys: list[str]) -> dict[str, int]:
        if self._db is None or not keys:
            return {}
        found: dict[str, int] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, tokens FROM counts WHERE key IN ({marks})", chunk
                )
                found.update(dict(rows))
        except sqlite3.Error as exc:
            self._disable(exc)
        return found

    def store(self, key: str, tokens: int) -> None:
        if self._db is not None:
            self._pending.append((key, tokens))

    def close(self) -> None:
        if self._db is None:
            return
        try:
            if self._pending:
                with self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO counts (key, tokens) VALUES (?, ?)", self._pending
                    )
            self._db.close()
        except sqlite3.Error as exc:
            self._disable(exc)
        self._pending = []
        self._db = None


# --- finding files -----------------------------------------------------------------


def has_glob(text: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in text)


def walk_files(directory: Path) -> Iterator[Path]:
    """Files under `directory`, sorted, skipping tooling dirs and not following dir symlinks."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _glob(target: str, base: Path) -> list[Path]:
    """Files matching a glob; an absolute pattern is globbed from its literal prefix."""
    pattern = Path(target)
    if not pattern.is_absolute():
        return sorted(p for p in base.glob(target) if p.is_file())
    parts = pattern.parts
    cut = next(i for i, part in enumerate(parts) if has_glob(part))
    anchor = Path(*parts[:cut])
    return sorted(p for p in anchor.glob(str(Path(*parts[cut:]))) if p.is_file())


def _literal_prefix(target: str, base: Path) -> Path:
    """The folder a glob starts from: its parts before the first wildcard."""
    parts = Path(target).parts
    cut = next((i for i, part in enumerate(parts) if has_glob(part)), len(parts))
    return base.joinpath(*parts[:cut]) if cut else base


def _kind_of(path: Path, target: str) -> str:
    """ "file", "dir", "special", "broken" (a dangling symlink) or "missing", by stat alone;
    an OS refusal (a name too long, a loop of links) is a one-line usage error."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken" if os.path.islink(path) else "missing"
    except NotADirectoryError:
        return "missing"
    except OSError as exc:
        raise UsageError(
            f"{target} cannot be read: {exc.strerror or exc.__class__.__name__}.",
            fix="check the path.",
        ) from None
    if stat.S_ISREG(mode):
        return "file"
    return "dir" if stat.S_ISDIR(mode) else "special"


def _refuse_outside(target: str, path: Path, root: Path) -> None:
    if not inside(path, root):
        raise UsageError(
            f"{target} is outside the repo ({root}); decp never reads files from outside it.",
            fix="name a path inside the repo (symlinks count by where they point).",
        )


def expand_targets(
    targets: Iterable[str],
    base: Path,
    *,
    respect_gitignore: bool = True,
    root: Path | None = None,
) -> tuple[list[Path], int]:
    """Files named by paths, directories and globs; (files, how many git-ignored were dropped).

    Explicit file paths are always kept; only directory walks and globs drop
    git-ignored files, the way repomix and ripgrep do. With `root`, a target whose
    real path is outside it (`/`, `..`, a symlink out) is refused before any walk;
    files found inside that point out are left for the reader to refuse.
    """
    explicit: list[Path] = []
    walked: list[Path] = []
    for target in targets:
        if not target.strip():
            raise UsageError("an empty path was given.", fix="name a file, a folder or a glob.")
        path = (base / target) if not Path(target).is_absolute() else Path(target)
        kind = _kind_of(path, target)
        if has_glob(target) and kind == "missing":
            if root is not None:
                _refuse_outside(target, _literal_prefix(target, base), root)
            matches = _glob(target, base)
            if not matches:
                raise UsageError(
                    f"glob {target!r} matches no file under {base}.",
                    fix="check the pattern (quote it so the shell does not expand it).",
                )
            walked.extend(
                m for m in matches if not (set(Path(os.path.relpath(m, base)).parts) & SKIP_DIRS)
            )
            continue
        if root is not None and kind != "missing":
            _refuse_outside(target, path, root)
        if kind in ("file", "broken"):
            explicit.append(path)  # a broken symlink is reported as unreadable, not as missing
        elif kind == "dir":
            walked.extend(walk_files(path))
        elif kind == "special":
            raise UsageError(
                f"{target} is not a regular file or directory (a FIFO, socket or device).",
                fix="name a file or a directory.",
            )
        else:
            raise UsageError(f"no such file or directory: {target}.", fix="check the path.")
    ignored: set[Path] = set()
    if respect_gitignore and walked and git_toplevel(base) is not None:
        ignored = git_ignored(walked, base)
    kept = [p for p in walked if p not in ignored]
    seen: set[str] = set()
    files: list[Path] = []
    for p in explicit + kept:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            files.append(p)
    return files, len(walked) - len(kept)


def display_path(path: Path, base: Path) -> str:
    """`path` relative to `base` in POSIX form, or absolute when it lies outside."""
    full, prefix = os.path.abspath(path), os.path.abspath(base)
    if full == prefix:
        return "."
    if full.startswith(prefix.rstrip(os.sep) + os.sep):
        return full[len(prefix.rstrip(os.sep)) + 1 :].replace(os.sep, "/")
    return Path(full).as_posix()


# --- counting ------------------------------------------------------------------------


def is_binary(data: bytes) -> bool:
    """A NUL byte in the first 8 KiB is how git and grep tell binary from text."""
    return b"\0" in data[:SNIFF_BYTES]


def decode_text(data: bytes) -> tuple[str, str | None]:
    """UTF-8 text, or text with U+FFFD replacements plus a warning naming the first bad byte."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        text = data.decode("utf-8", errors="replace")
        return text, f"not valid UTF-8 (first bad byte at line {line}); counted with replacements."


@dataclass
class Counted:
    """One file read and counted: what scoping needs to build a pack."""

    file: FileCount
    text: str | None


BATCH_FILES = 256
BATCH_BYTES = 32 * 1024 * 1024


def _read(path: Path, shown: str, root: Path | None) -> tuple[FileCount, bytes | None]:
    """A file's bytes, or why not: refused (outside the repo, .git, FIFO, device) before it is
    opened; too big, binary or unreadable after."""
    refused = placement_exclusion(path, root)
    if refused is not None:
        return FileCount(shown, 0, skipped=refused.why), None
    try:
        data = read_capped(path, MAX_COUNT_BYTES)
    except NotRegularFile:
        return FileCount(shown, 0, skipped="special: not a regular file"), None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        if path.is_symlink() and not path.exists():
            reason = "broken symlink"
        return FileCount(shown, 0, skipped=f"unreadable: {reason}"), None
    if len(data) > MAX_COUNT_BYTES:
        return FileCount(shown, len(data), skipped=f"large: over {MAX_COUNT_BYTES:,} bytes"), None
    if is_binary(data):
        return FileCount(shown, len(data), skipped="binary"), None
    return FileCount(shown, len(data)), data


def _batches(
    files: list[Path], base: Path, root: Path | None
) -> Iterator[list[tuple[FileCount, bytes | None]]]:
    """Read files in bounded batches: one cache query per batch, never the whole repo in RAM."""
    batch: list[tuple[FileCount, bytes | None]] = []
    size = 0
    for path in files:
        entry, data = _read(path, display_path(path, base), root)
        batch.append((entry, data))
        size += len(data or b"")
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def count_files(
    files: list[Path],
    *,
    base: Path,
    encoding: str,
    cache_dir: Path | None,
    keep_text: bool = False,
    root: Path | None = None,
    secrets: str = "ignore",
) -> tuple[CountReport, list[Counted]]:
    """Count each file (cache first); binaries and unreadable files are skipped, not fatal.

    `root` refuses files whose real path is outside it. `secrets`: "ignore"; "flag"
    lists the credential kinds each file holds in `FileCount.secrets`; "redact" also
    replaces each value by `[redacted: KIND]` and counts the text as redacted, which
    is the text a pack carries.
    """
    if secrets not in ("ignore", "flag", "redact"):
        raise ValueError(f"secrets={secrets!r}")
    counter = LazyCounter(encoding)
    cache = CountCache(cache_dir)
    report = CountReport(
        encoding="", cache_path=str(cache.path) if cache.enabled and cache.path else None
    )

    def key(data: bytes) -> str:
        return f"{hashlib.sha256(data).hexdigest()}:{counter.name}"

    results: list[Counted] = []
    for batch in _batches(files, base, root):
        texts: list[str | None] = []
        hashed: list[bytes] = []  # what the cache key hashes: the bytes the count is of
        for entry, data in batch:
            text: str | None = None
            if data is not None:
                text, entry.warning = decode_text(data)
                if secrets != "ignore":
                    from decp.core.secrets import redact

                    clean, entry.secrets = redact(text)
                    if entry.secrets and secrets == "redact":
                        text, data = clean, clean.encode("utf-8")
            texts.append(text)
            hashed.append(data or b"")
        keys = [
            key(data) if body is not None else "" for body, data in zip(texts, hashed, strict=True)
        ]
        hits = cache.lookup(sorted({k for k in keys if k}))
        for (entry, _), body, data, k in zip(batch, texts, hashed, keys, strict=True):
            if body is not None:
                if k in hits:
                    entry.tokens = hits[k]
                    entry.cached = True
                    report.cache_hits += 1
                else:
                    entry.tokens = counter.count(body)
                    if not k.endswith(":" + counter.name):
                        k = key(data)  # the real encoding differed from the prediction
                    hits[k] = entry.tokens
                    cache.store(k, entry.tokens)
                    report.cache_misses += 1
            report.files.append(entry)
            results.append(Counted(entry, body if keep_text else None))
    cache.close()
    report.encoding = counter.label
    if cache.problem:
        report.notes.append(cache.problem)
    return report, results


def count_targets(
    targets: list[str],
    *,
    base: Path,
    encoding: str,
    cache_dir: Path | None,
    respect_gitignore: bool = True,
    root: Path | None = None,
) -> CountReport:
    """`decp tokens`: expand paths/dirs/globs, then count every file (none from outside `root`)."""
    files, ignored = expand_targets(targets, base, respect_gitignore=respect_gitignore, root=root)
    report, _ = count_files(files, base=base, encoding=encoding, cache_dir=cache_dir, root=root)
    report.ignored = ignored
    return report


# --- tree view ---------------------------------------------------------------------


@dataclass
class TreeNode:
    name: str
    tokens: int = 0
    files: int = 0
    children: dict[str, TreeNode] = field(default_factory=dict)
    is_file: bool = False


def build_tree(report: CountReport) -> TreeNode:
    """Per-directory token sums over the counted files (like repomix's token tree)."""
    root = TreeNode(".")
    for f in report.counted:
        node = root
        node.tokens += f.tokens or 0
        node.files += 1
        parts = f.path.split("/")
        for i, part in enumerate(parts):
            child = node.children.setdefault(part, TreeNode(part, is_file=i == len(parts) - 1))
            child.tokens += f.tokens or 0
            child.files += 1
            node = child
    return root


def render_tree(root: TreeNode, min_tokens: int = 0) -> list[str]:
    """ASCII tree, biggest first; nodes under `min_tokens` are folded into one line per dir."""
    lines = [f"{root.name} ({root.tokens:,} tokens, {root.files} files)"]

    def walk(node: TreeNode, prefix: str) -> None:
        kids = sorted(node.children.values(), key=lambda n: (-n.tokens, n.name))
        shown = [k for k in kids if k.tokens >= min_tokens]
        hidden = [k for k in kids if k.tokens < min_tokens]
        entries: list[TreeNode | None] = [*shown, *([None] if hidden else [])]
        for i, kid in enumerate(entries):
            last = i == len(entries) - 1
            branch = "└── " if last else "├── "
            if kid is None:
                sub = sum(h.tokens for h in hidden)
                lines.append(f"{prefix}{branch}… {len(hidden)} more under {min_tokens:,}: {sub:,}")
                continue
            label = kid.name if kid.is_file else kid.name + "/"
            lines.append(f"{prefix}{branch}{label} {kid.tokens:,}")
            if not kid.is_file:
                walk(kid, prefix + ("    " if last else "│   "))

    walk(root, "")
    return lines


def tree_to_dict(node: TreeNode, min_tokens: int = 0) -> dict[str, object]:
    data: dict[str, object] = {"name": node.name, "tokens": node.tokens, "files": node.files}
    if not node.is_file:
        data["children"] = [
            tree_to_dict(k, min_tokens)
            for k in sorted(node.children.values(), key=lambda n: (-n.tokens, n.name))
            if k.tokens >= min_tokens
        ]
    return data
