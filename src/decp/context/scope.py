"""Generic scoping: the smallest useful set of files for a task, grown in levels.

Why: guessing which files to paste wastes tokens both ways (too much drowns
the model, too little makes it invent). Scoping starts at the files the user
named and grows in cheap, explainable steps, so each extra token has a
reason and the user sees what the next step would cost before paying it:

    L0 focal      the files you named
    L1 +siblings  the rest of their folders
    L2 +references what they import / ref() / include / link, found statically
    L3 +tests     the tests that exercise them

Secrets, git-ignored paths, binaries and huge files never enter a pack; each
one left out is listed with its reason and written to the ledger.
"""

from __future__ import annotations

import ast
import contextlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from decp.context.tokencount import (
    SKIP_DIRS,
    count_files,
    display_path,
    expand_targets,
    has_glob,
    walk_files,
)
from decp.core.errors import DecpError, UsageError
from decp.core.gitinfo import git_ignored, git_toplevel, work_tree_files
from decp.core.secrets import (
    MAX_PACK_FILE_BYTES,
    Exclusion,
    exclusion_for,
    inside,
    placement_exclusion,
    read_capped,
    redact,
)

if TYPE_CHECKING:
    from decp.context.ledger import LedgerEntry

LEVELS = ("focal", "+siblings", "+references", "+tests")
LEVEL_HELP = (
    "the files you named",
    "the rest of their folders",
    "imports, ref()/source(), includes, links",
    "tests of the focal files",
)
MAX_LEVEL = len(LEVELS) - 1
# Build output and vendored packages: never searched when resolving references.
INDEX_SKIP_DIRS = SKIP_DIRS | {"target", "dbt_packages", "dbt_modules", "logs", "site", "dist"}
_LANGS = {
    ".py": "python",
    ".sql": "sql",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".md": "markdown",
    ".json": "json",
    ".toml": "toml",
    ".sh": "bash",
    ".jinja": "jinja",
    ".j2": "jinja",
    ".js": "javascript",
    ".ts": "typescript",
    ".csv": "csv",
    ".ini": "ini",
    ".cfg": "ini",
}


@dataclass
class Candidate:
    path: Path
    level: int
    why: str
    tokens: int = 0
    text: str = ""

    def shown(self, root: Path) -> str:
        return display_path(self.path, root)


@dataclass
class LevelCost:
    level: int
    added: list[Candidate]
    files: int
    tokens: int  # estimated pack tokens when this level is chosen
    command: str

    @property
    def name(self) -> str:
        return f"L{self.level} {LEVELS[self.level]}"


def next_expansion(
    levels: list[LevelCost], level: int, omitted: list[Candidate]
) -> LevelCost | None:
    """The step after this pack: completing the focal files if some were left out, else the
    first richer level that adds a file."""
    if omitted:
        full = levels[0]
        return LevelCost(0, list(omitted), full.files, full.tokens, full.command)
    return next((lc for lc in levels[level + 1 :] if lc.added), None)


@dataclass
class Scope:
    """Everything `decp context scope` knows: the chosen pack and what the rest would cost."""

    root: Path
    targets: list[str]
    budget: int
    encoding: str
    level: int
    pack: str
    pack_tokens: int
    files: list[Candidate]
    levels: list[LevelCost]
    excluded: dict[str, Exclusion]
    omitted: list[Candidate] = field(default_factory=list)  # focal files over budget
    warnings: list[str] = field(default_factory=list)
    redacted: dict[str, list[str]] = field(default_factory=dict)  # packed path -> secret kinds

    @property
    def next_level(self) -> LevelCost | None:
        return next_expansion(self.levels, self.level, self.omitted)

    def to_dict(self) -> dict[str, object]:
        nxt = self.next_level
        return {
            "targets": self.targets,
            "encoding": self.encoding,
            "budget": self.budget,
            "level": self.level,
            "level_name": f"L{self.level} {LEVELS[self.level]}",
            "tokens": self.pack_tokens,
            "files": [
                {"path": c.shown(self.root), "tokens": c.tokens, "level": c.level, "why": c.why}
                for c in self.files
            ],
            "levels": [
                {
                    "level": lc.level,
                    "name": lc.name,
                    "added": [c.shown(self.root) for c in lc.added],
                    "added_tokens": sum(c.tokens for c in lc.added),
                    "files": lc.files,
                    "tokens": lc.tokens,
                    "fits": lc.tokens <= self.budget,
                    "command": lc.command,
                }
                for lc in self.levels
            ],
            "next": None
            if nxt is None
            else {
                "level": nxt.level,
                "files": [c.shown(self.root) for c in nxt.added],
                "tokens": sum(c.tokens for c in nxt.added),
                "pack_tokens": nxt.tokens,
                "command": nxt.command,
            },
            "omitted": [{"path": c.shown(self.root), "tokens": c.tokens} for c in self.omitted],
            "excluded": [
                {"path": path, "kind": ex.kind, "reason": ex.reason}
                for path, ex in sorted(self.excluded.items())
            ],
            "redacted": [
                {"path": path, "kinds": kinds} for path, kinds in sorted(self.redacted.items())
            ],
            "warnings": self.warnings,
            "pack": self.pack,
        }


# --- the repo's file index ---------------------------------------------------------


class RepoIndex:
    """All files of the repo once, for filename searches (dbt refs, tests, includes)."""

    def __init__(self, root: Path, git_root: Path | None) -> None:
        self.root = root
        self.files = self._list(root, git_root)
        self.by_name: dict[str, list[Path]] = {}
        for path in self.files:
            self.by_name.setdefault(path.name, []).append(path)
        self._texts: dict[Path, str | None] = {}

    @staticmethod
    def _list(root: Path, git_root: Path | None) -> list[Path]:
        names = work_tree_files(root) if git_root is not None else None
        if names is not None:
            paths = [root / n for n in names]
            return sorted(
                p
                for p in paths
                if p.is_file() and not (set(p.relative_to(root).parts) & INDEX_SKIP_DIRS)
            )
        return [
            p
            for p in walk_files(root)
            if not (set(p.relative_to(root).parts[:-1]) & INDEX_SKIP_DIRS)
        ]

    def text(self, path: Path) -> str | None:
        """Small text files inside the repo only; others read as None (references are found in
        code, not data; a FIFO or a link out of the repo is never opened)."""
        if path not in self._texts:
            data = b"\0"
            if placement_exclusion(path, self.root) is None:
                with contextlib.suppress(OSError):
                    data = read_capped(path, MAX_PACK_FILE_BYTES)
            ok = b"\0" not in data[:8192] and len(data) <= MAX_PACK_FILE_BYTES
            self._texts[path] = data.decode("utf-8", errors="replace") if ok else None
        return self._texts[path]

    def named(self, name: str) -> list[Path]:
        return list(self.by_name.get(name, []))

    def ending_with(self, rel: str) -> list[Path]:
        rel = rel.lstrip("./")
        tail = "/" + rel
        return [p for p in self.by_name.get(Path(rel).name, []) if p.as_posix().endswith(tail)]


# --- references (L2) -------------------------------------------------------------------

_REF_RE = re.compile(
    r"""\bref\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?(?:,\s*v(?:ersion)?\s*=\s*[^)]*)?\)"""
)
_SOURCE_RE = re.compile(r"""\bsource\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)""")
_JINJA_RE = re.compile(r"""\{%-?\s*(?:include|import|from|extends)\s+['"]([^'"]+)['"]""")
_MD_LINK_RE = re.compile(r"""\]\(\s*<?([^)\s>]+)>?(?:\s+["'][^"']*["'])?\s*\)""")
_YAML_PATH_RE = re.compile(
    r"""(?:(?<=[\s:'"\[,])|^)((?:\.{1,2}/)?[\w.-]+(?:/[\w.-]+)+|[\w-]+(?:\.[\w-]+)*\.(?:sql|py|ya?ml|md|csv|json|jinja|j2|toml|sh|txt))(?=[\s'",\]]|$)""",
    re.MULTILINE,
)

Found = list[tuple[Path, str]]


def _python_roots(path: Path, root: Path) -> list[Path]:
    """Where absolute imports may start: the repo root, src/, and the top of path's package."""
    top = path.parent
    while (top / "__init__.py").is_file() and top != root and top.parent != top:
        top = top.parent
    roots = [root, root / "src", top]
    return list(dict.fromkeys(r for r in roots if r.is_dir()))


def _module_files(base: Path, parts: list[str]) -> list[Path]:
    target = base.joinpath(*parts) if parts else base
    return [p for p in (target.with_suffix(".py"), target / "__init__.py") if parts and p.is_file()]


def python_references(path: Path, text: str, root: Path) -> Found:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found: Found = []
    roots = _python_roots(path, root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                for base in roots:
                    found += [(p, f"import {alias.name}") for p in _module_files(base, parts)]
        elif isinstance(node, ast.ImportFrom):
            parts = node.module.split(".") if node.module else []
            label = "." * node.level + (node.module or "")
            bases = roots
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                bases = [base]
            for base in bases:
                found += [(p, f"from {label} import") for p in _module_files(base, parts)]
                for alias in node.names:
                    found += [
                        (p, f"from {label} import {alias.name}")
                        for p in _module_files(base, [*parts, alias.name])
                    ]
    return found


def dbt_references(text: str, index: RepoIndex) -> Found:
    found: Found = []
    for match in _REF_RE.finditer(text):
        name = match.group(2) or match.group(1)
        for suffix in (".sql", ".py"):
            found += [(p, f"ref('{name}')") for p in index.named(name + suffix)]
    sources = {(m.group(1), m.group(2)) for m in _SOURCE_RE.finditer(text)}
    for source, table in sorted(sources):
        declares = re.compile(rf"^\s*-\s*name:\s*['\"]?{re.escape(source)}['\"]?\s*$", re.M)
        for path in index.files:
            if path.suffix not in (".yml", ".yaml"):
                continue
            body = index.text(path)
            if body and "sources:" in body and declares.search(body):
                found.append((path, f"source('{source}', '{table}')"))
    return found


def _relative(path: Path, ref: str, root: Path) -> list[Path]:
    ref = ref.split("#", 1)[0].split("?", 1)[0]
    if not ref or "://" in ref or ref.startswith(("mailto:", "data:")):
        return []
    base = root if ref.startswith("/") else path.parent
    candidate = (base / ref.lstrip("/")).resolve()
    if candidate.is_dir():
        candidate = candidate / "index.md" if (candidate / "index.md").is_file() else candidate
    return [candidate] if candidate.is_file() else []


def jinja_references(path: Path, text: str, root: Path, index: RepoIndex) -> Found:
    found: Found = []
    for match in _JINJA_RE.finditer(text):
        name = match.group(1)
        hits = _relative(path, name, root) or _relative(root / "x", name, root)
        hits = hits or index.ending_with(name)
        found += [(p, f"{{% include '{name}' %}}") for p in hits]
    return found


def markdown_references(path: Path, text: str, root: Path) -> Found:
    return [
        (p, f"link {m.group(1)}")
        for m in _MD_LINK_RE.finditer(text)
        for p in _relative(path, m.group(1), root)
    ]


def yaml_references(path: Path, text: str, root: Path) -> Found:
    found: Found = []
    for match in _YAML_PATH_RE.finditer(text):
        ref = match.group(1)
        hits = _relative(path, ref, root) or _relative(root / "x", ref, root)
        found += [(p, f"path {ref}") for p in hits]
    return found


def references(path: Path, text: str, root: Path, index: RepoIndex) -> Found:
    """Files `path` points at, by the simple static means its file type allows."""
    suffix = path.suffix.lower()
    found: Found = []
    if suffix == ".py":
        found += python_references(path, text, root)
    if suffix in (".sql", ".py", ".yml", ".yaml", ".md", ".jinja", ".j2", ".html", ".txt"):
        found += dbt_references(text, index) if ("ref(" in text or "source(" in text) else []
        found += jinja_references(path, text, root, index) if "{%" in text else []
    if suffix == ".md":
        found += markdown_references(path, text, root)
    if suffix in (".yml", ".yaml"):
        found += yaml_references(path, text, root)
    return [(p, why) for p, why in found if inside(p, root) and p.resolve() != path.resolve()]


# --- tests (L3) ------------------------------------------------------------------------


def _is_dbt(root: Path, index: RepoIndex) -> bool:
    return (root / "dbt_project.yml").is_file() or bool(index.named("dbt_project.yml"))


def tests_for(path: Path, root: Path, index: RepoIndex) -> Found:
    """Tests by name (test_<stem>*, <stem>_test.*, .test./.spec.) and dbt tests of a model."""
    stem = path.stem
    if not stem or stem.startswith("__"):
        return []
    found: Found = []
    patterns = (
        re.compile(rf"^test_{re.escape(stem)}(?:_.*)?\.py$"),
        re.compile(rf"^{re.escape(stem)}_test\.\w+$"),
        re.compile(rf"^{re.escape(stem)}\.(?:test|spec)\.\w+$"),
    )
    for candidate in index.files:
        if any(p.match(candidate.name) for p in patterns):
            found.append((candidate, f"test of {path.name} (by name)"))
    if path.suffix in (".sql", ".py") and _is_dbt(root, index):
        declares = re.compile(rf"^\s*-\s*name:\s*['\"]?{re.escape(stem)}['\"]?\s*$", re.M)
        refs = re.compile(rf"""\bref\(\s*['"]{re.escape(stem)}['"]\s*\)""")
        for candidate in index.files:
            if candidate.suffix in (".yml", ".yaml"):
                body = index.text(candidate)
                if body and "models:" in body and declares.search(body):
                    found.append((candidate, f"dbt tests/docs of {stem}"))
            elif candidate.suffix == ".sql" and "tests" in candidate.relative_to(root).parts:
                body = index.text(candidate)
                if body and refs.search(body):
                    found.append((candidate, f"dbt data test on {stem}"))
    return [(p, why) for p, why in found if p.resolve() != path.resolve()]


# --- building the levels -------------------------------------------------------------------


def _focal_files(targets: list[str], base: Path, root: Path) -> list[Path]:
    files, _ = expand_targets(targets, base, respect_gitignore=False, root=root)
    return files


def _siblings(focal: list[Path]) -> Found:
    found: Found = []
    for path in focal:
        try:
            entries = sorted(path.parent.iterdir())
        except OSError:
            continue
        # FIFOs, devices and links out of the repo are offered too: exclusion_for refuses them
        # by a stat, so the ledger shows they were seen and left out.
        found += [(p, f"sibling of {path.name}") for p in entries if p.exists() and not p.is_dir()]
    return found


def _language(path: Path) -> str:
    return _LANGS.get(path.suffix.lower(), "")


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


def _code(text: str) -> str:
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@dataclass
class _PackParts:
    title: str
    budget: int
    encoding: str
    level: int
    files: list[Candidate]
    levels: list[LevelCost]
    excluded: dict[str, Exclusion]
    omitted: list[Candidate]
    root: Path
    redacted: dict[str, list[str]] = field(default_factory=dict)  # shown path -> secret kinds


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render_pack(parts: _PackParts, tokens: int, *, with_contents: bool = True) -> str:
    """The Markdown pack: a short header (cost, levels, next step), the file list, then contents.

    Lists, not tables: a Markdown table costs about twice the tokens of the same
    facts as a list, and this header is paid on every pack.
    """
    root = parts.root
    levels = " · ".join(
        (f"**{lc.name} {lc.tokens:,}**" if lc.level == parts.level else f"{lc.name} {lc.tokens:,}")
        + f" (+{len(lc.added)})"
        for lc in parts.levels
    )
    nxt = next_expansion(parts.levels, parts.level, parts.omitted)
    if nxt is None:
        next_line = "Next: nothing more to add, every level is in this pack."
    else:
        names = ", ".join(_code(c.shown(root)) for c in nxt.added[:8])
        more = f" and {len(nxt.added) - 8} more" if len(nxt.added) > 8 else ""
        next_line = (
            f"Next: {nxt.name} adds {_plural(len(nxt.added), 'file')} "
            f"({sum(c.tokens for c in nxt.added):,} tokens): {names}{more}. Run `{nxt.command}`."
        )
    lines = [
        f"# Context pack: {parts.title} · L{parts.level} {LEVELS[parts.level]}",
        "",
        f"- {tokens:,} of {parts.budget:,} tokens ({parts.encoding}), "
        f"{_plural(len(parts.files), 'file')}; secrets and git-ignored files never enter a pack.",
        f"- Levels, pack tokens (+new files): {levels}.",
        f"- {next_line}",
        "",
        "## Files",
        "",
    ]
    lines += [f"- {_code(c.shown(root))} {c.tokens:,} · {c.why}" for c in parts.files] or [
        "- none: not even the focal files fit the budget."
    ]
    shown = [c.shown(root) for c in parts.files]
    redacted = [(p, parts.redacted[p]) for p in shown if p in parts.redacted]
    if parts.omitted or parts.excluded or redacted:
        lines += ["", "## Left out", ""]
        lines += [
            f"- {_code(c.shown(root))} over budget ({c.tokens:,} tokens)" for c in parts.omitted
        ]
        lines += [f"- {_code(p)} {ex.why}" for p, ex in sorted(parts.excluded.items())]
        lines += [
            f"- {_code(p)} values redacted in the pack: {', '.join(kinds)}" for p, kinds in redacted
        ]
    for c in parts.files:
        fence = _fence(c.text)
        body = c.text if with_contents else ""
        if body and not body.endswith("\n"):
            body += "\n"
        lines += ["", f"## {_code(c.shown(root))}", "", f"{fence}{_language(c.path)}", body + fence]
    return "\n".join(lines) + "\n"


def _command(targets: list[str], budget: int, level: int) -> str:
    args = " ".join(shlex.quote(t) for t in targets)
    return f"decp context scope {args} --budget {budget} --level {level}"


def _exact(parts: _PackParts, count: Callable[[str], int], guess: int) -> tuple[str, int]:
    """Render until the stated token count equals the real one (the count is in the text)."""
    tokens = guess
    # A partial L0 keeps the full L0 estimate in the level list: that is what "L0" costs.
    track = not parts.omitted
    for _ in range(6):
        if track:
            parts.levels[parts.level].tokens = tokens
        text = render_pack(parts, tokens)
        real = count(text)
        if real == tokens:
            return text, real
        tokens = real
    if track:
        parts.levels[parts.level].tokens = tokens
    text = render_pack(parts, tokens)
    return text, count(text)


class EmptyPackError(DecpError):
    """No file fits the budget: a pack of headers alone would only pretend to help (exit 1)."""


def parse_level(level: int | str | None) -> int | None:
    """`--level`: None or "auto" picks the richest level that fits; else 0..MAX_LEVEL.

    The one place the level is checked, for the CLI and Python callers alike.
    """
    if level is None or level == "auto":
        return None
    text = str(level).strip()
    if text.isdigit() and 0 <= int(text) <= MAX_LEVEL:
        return int(text)
    raise UsageError(
        f"--level {shlex.quote(str(level))} is not 0..{MAX_LEVEL} or auto.", fix="e.g. --level 1."
    )


def check_budget(budget: int) -> int:
    """`--budget`: a positive token count (the one place it is checked)."""
    if budget <= 0:
        raise UsageError(
            f"--budget {budget} must be a positive number of tokens.", fix="e.g. --budget 4000."
        )
    return budget


@dataclass
class _Fitted:
    level: int
    parts: _PackParts
    text: str
    tokens: int
    costs: list[LevelCost]
    omitted: list[Candidate]


@dataclass
class _Planner:
    """Everything measured once; `fit(budget)` can then be asked for any budget cheaply."""

    targets: list[str]
    usable: list[Candidate]
    excluded: dict[str, Exclusion]
    redacted: dict[str, list[str]]
    root: Path
    encoding: str
    count: Callable[[str], int]

    def parts_for(
        self, budget: int, lvl: int, levels: list[LevelCost], omitted: list[Candidate]
    ) -> _PackParts:
        files = [c for c in self.usable if c.level <= lvl and c not in omitted]
        return _PackParts(
            " ".join(self.targets),
            budget,
            self.encoding,
            lvl,
            files,
            levels,
            self.excluded,
            omitted,
            self.root,
            self.redacted,
        )

    def costs(self, budget: int) -> list[LevelCost]:
        """Estimate each level: its framing rendered without contents + the files' counts.

        Two passes: the level list inside each pack quotes the other levels' costs.
        """
        by_level = [[c for c in self.usable if c.level == lvl] for lvl in range(MAX_LEVEL + 1)]
        costs = [
            LevelCost(lvl, by_level[lvl], 0, 0, _command(self.targets, budget, lvl))
            for lvl in range(MAX_LEVEL + 1)
        ]
        for _ in range(2):
            estimates = []
            for lvl in range(MAX_LEVEL + 1):
                parts = self.parts_for(budget, lvl, costs, [])
                frame = self.count(render_pack(parts, budget, with_contents=False))
                tokens = frame + sum(c.tokens for c in parts.files)
                command = _command(self.targets, max(budget, tokens), lvl)
                estimates.append(LevelCost(lvl, by_level[lvl], len(parts.files), tokens, command))
            costs = estimates
        return costs

    def fit(self, budget: int, level: int | None) -> _Fitted:
        """The richest pack within `budget` (or the level asked); focal files that overflow are
        left out whole, biggest first. The pack may end up holding no file: callers check."""
        costs = self.costs(budget)
        if level is not None and costs[level].tokens > budget:
            raise UsageError(
                f"L{level} {LEVELS[level]} needs about {costs[level].tokens:,} tokens, "
                f"over --budget {budget:,}.",
                fix=f"raise the budget (`{costs[level].command}`) or use --level auto.",
            )
        # A level that adds no file is the same pack under a grander name: don't claim it.
        fitting = [lc.level for lc in costs if lc.tokens <= budget and (lc.added or lc.level == 0)]
        chosen = level if level is not None else (max(fitting) if fitting else 0)
        focal = [c for c in self.usable if c.level == 0]
        omitted: list[Candidate] = []
        while True:
            parts = self.parts_for(budget, chosen, costs, omitted)
            text, tokens = _exact(parts, self.count, costs[chosen].tokens)
            if tokens <= budget or not parts.files:
                return _Fitted(chosen, parts, text, tokens, costs, omitted)
            if chosen > 0 and level is None:
                chosen -= 1
                continue
            if level is not None:
                raise UsageError(
                    f"L{level} {LEVELS[level]} needs {tokens:,} tokens, over --budget {budget:,}.",
                    fix=f"raise the budget to {tokens:,} or use --level auto.",
                )
            # Even the focal files overflow: drop the biggest until the pack fits.
            remaining = [c for c in focal if c not in omitted]
            omitted.append(max(remaining, key=lambda c: c.tokens))

    def smallest_budget(self, above: int) -> int:
        """The least budget whose pack holds at least one file (binary search on `fit`)."""
        smallest = min((c for c in self.usable if c.level == 0), key=lambda c: c.tokens)
        high = max(above + 1, smallest.tokens + 1)
        while True:
            fitted = self.fit(high, None)
            if fitted.parts.files and fitted.tokens <= high:
                break
            high *= 2
        low = above  # known not to fit
        while high - low > 1:
            middle = (low + high) // 2
            fitted = self.fit(middle, None)
            if fitted.parts.files and fitted.tokens <= middle:
                high = middle
            else:
                low = middle
        return high


def build_scope(
    targets: list[str],
    *,
    base: Path,
    root: Path,
    budget: int,
    encoding: str,
    cache_dir: Path | None,
    level: int | str | None = None,
) -> Scope:
    """Compute every level, pick the richest that fits (or the one asked), render the pack.

    Nothing is read from outside `root` (symlinks resolved) or from `.git`; FIFOs and
    devices are never opened; credential values in packed files are redacted.
    """
    check_budget(budget)
    wanted = parse_level(level)
    focal = _focal_files(targets, base, root)
    git_root = git_toplevel(root)
    index = RepoIndex(root, git_root)

    # Gather candidates level by level; the first level that names a file wins it.
    candidates: dict[Path, Candidate] = {}
    excluded: dict[str, Exclusion] = {}
    unreadable: list[str] = []
    order: list[Path] = []

    def offer(found: Found, lvl: int) -> None:
        for path, why in found:
            key = path.resolve() if path.exists() else path.absolute()
            if key not in candidates:
                candidates[key] = Candidate(path, lvl, why)
                order.append(key)

    offer([(p, "focal") for p in focal], 0)
    offer(_siblings(focal), 1)
    focal_texts: dict[Path, str] = {}
    for path in focal:
        text = index.text(path)
        if text is not None:
            focal_texts[path] = text
    for path, text in focal_texts.items():
        offer(references(path, text, root, index), 2)
    for path in focal:
        offer(tests_for(path, root, index), 3)

    ignored = git_ignored([candidates[k].path for k in order], root if git_root else None)
    keep: list[Candidate] = []
    for key in order:
        cand = candidates[key]
        shown = cand.shown(root)
        exclusion = exclusion_for(cand.path, ignored=cand.path in ignored, root=root)
        if exclusion is not None:
            excluded[shown] = exclusion
        else:
            keep.append(cand)

    report, counted = count_files(
        [c.path for c in keep],
        base=root,
        encoding=encoding,
        cache_dir=cache_dir,
        keep_text=True,
        root=root,
    )
    usable: list[Candidate] = []
    for cand, result in zip(keep, counted, strict=True):
        if result.file.tokens is None:
            unreadable.append(f"{result.file.path}: {result.file.skipped}")
            continue
        cand.tokens = result.file.tokens
        cand.text = result.text or ""
        usable.append(cand)
    warnings = [*report.warnings, *(f"{u} (left out)" for u in unreadable)]
    if not any(c.level == 0 for c in usable):
        names = ", ".join(sorted(excluded)) or ", ".join(targets)
        raise UsageError(
            f"nothing to scope: every focal file is excluded or unreadable ({names}).",
            fix="name a file inside the repo that is not a secret, binary or git-ignored.",
        )

    from decp.core.tokens import get_counter

    counter = get_counter(encoding)
    redacted: dict[str, list[str]] = {}
    scanned: set[int] = set()

    def scan(cands: list[Candidate]) -> bool:
        """Redact credentials in these candidates (once each); True if any was new."""
        fresh = [c for c in cands if id(c) not in scanned]
        for cand in fresh:
            scanned.add(id(cand))
            clean, kinds = redact(cand.text)
            if kinds:
                cand.text, cand.tokens = clean, counter.count(clean)
                redacted[cand.shown(root)] = kinds
        return bool(fresh)

    planner = _Planner(
        list(targets), usable, excluded, redacted, root, report.encoding, counter.count
    )
    # Scanning is the slow part (about 0.5 s per MB), so only files that enter the pack are
    # scanned: the focal ones first, then whatever each fit adds, until a fit adds nothing
    # unscanned. Every file in the final pack has been redacted and counted as redacted.
    scan([c for c in usable if c.level == 0])
    fitted = planner.fit(budget, wanted)
    while scan(fitted.parts.files):
        fitted = planner.fit(budget, wanted)
    if not fitted.parts.files or fitted.tokens > budget:
        need = planner.smallest_budget(budget)
        smallest = min((c for c in usable if c.level == 0), key=lambda c: c.tokens)
        raise EmptyPackError(
            f"no file fits --budget {budget:,}: the smallest pack ({smallest.shown(root)}, "
            f"{smallest.tokens:,} tokens plus the pack's header) needs {need:,}.",
            fix=f"use --budget {need:,} or more, or name smaller files.",
        )
    parts, omitted = fitted.parts, fitted.omitted
    if omitted:
        warnings.append(
            f"the focal files alone exceed --budget {budget:,}: left out "
            + ", ".join(c.shown(root) for c in omitted)
            + "; raise --budget to include them."
        )
    return Scope(
        root=root,
        targets=list(targets),
        budget=budget,
        encoding=report.encoding,
        level=fitted.level,
        pack=fitted.text,
        pack_tokens=fitted.tokens,
        files=parts.files,
        levels=fitted.costs,
        excluded=excluded,
        omitted=omitted,
        warnings=warnings,
        redacted={
            c.shown(root): redacted[c.shown(root)] for c in parts.files if c.shown(root) in redacted
        },
    )


def redaction_target(path: str, kind: str) -> str:
    """The ledger target of a redacted value: one row per file and kind, apart from the
    file's own row (a loaded file and its redacted key are two decisions)."""
    return f"{path}#{kind}"


def ledger_decisions(scope: Scope, when: str) -> list[tuple[LedgerEntry, bool]]:
    """The ledger rows a scope writes: the pack as loaded, each exclusion with its reason."""
    from decp.context.ledger import LedgerEntry

    nfiles = len(scope.files)
    rows: list[tuple[LedgerEntry, bool]] = [
        (
            LedgerEntry(
                target="scope:" + " ".join(scope.targets),
                kind="scope-pack",
                tokens=scope.pack_tokens,
                why=f"decp context scope L{scope.level} {LEVELS[scope.level]}, {nfiles} file"
                f"{'' if nfiles == 1 else 's'}",
                when=when,
            ),
            False,
        )
    ]
    for path, ex in sorted(scope.excluded.items()):
        rows.append((LedgerEntry(path, ex.kind, None, ex.reason, when), True))
    for path, kinds in sorted(scope.redacted.items()):
        rows += [
            (
                LedgerEntry(
                    redaction_target(path, kind),
                    kind,
                    None,
                    "value redacted in the pack; the rest of the file is in it",
                    when,
                ),
                True,
            )
            for kind in kinds
        ]
    for cand in scope.omitted:
        rows.append(
            (
                LedgerEntry(
                    cand.shown(scope.root),
                    "path",
                    cand.tokens,
                    f"over the --budget {scope.budget:,} of its scope",
                    when,
                ),
                True,
            )
        )
    return rows


__all__ = [
    "LEVELS",
    "MAX_LEVEL",
    "EmptyPackError",
    "Scope",
    "build_scope",
    "check_budget",
    "has_glob",
    "ledger_decisions",
    "parse_level",
    "redaction_target",
]
