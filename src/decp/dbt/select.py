"""dbt's node selection syntax, evaluated offline against the slim graph.

Semantics follow dbt-core's selector_spec/selector_methods, not a lookalike:

* a bare value is a `path:` selector when it contains a slash, a `file:`
  selector when it ends in .sql/.py/.csv, else an `fqn:` selector;
* `fqn:` matches a node (not a source) whose name equals the value, or
  whose fully qualified name, with or without its package, STARTS WITH the
  dotted value (`core.final` = every node under models/core/final). A name is
  never matched against a middle segment of the fqn, so a folder that happens
  to share a model's name does not add roots;
* from the first part with a wildcard (`*`, `?`, `[...]`) on, the rest of the fqn,
  joined by dots, must fnmatch the rest of the value: `ord*` matches no fqn, and
  `*orders` every fqn ending in `orders`. Manifests from dbt 1.11.16+/1.12.6+ add
  dbt's newer rule: a dotless wildcard value also matches the model name (leaf),
  so there `ord*` selects `orders`; older manifests keep the older rule;
* every method is one function in `METHODS` (dbt-core's MethodManager registry);
  `path:` is a filesystem glob from the project root (see `glob_match`);
* graph operators `+m`, `m+`, `N+m`, `m+N`, `@m` walk every edge, tests
  included, exactly like dbt's graph; space is union, comma is intersection,
  and `--exclude` is set difference.

The roots each method matched (before graph operators) are the pack's focal
nodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Protocol

from decp.core.errors import UsageError
from decp.dbt.graph import TEST, Graph
from decp.dbt.manifest import Node

_SPEC = re.compile(
    r"\A(?P<childrens_parents>@)?"
    r"(?:(?P<parents_depth>\d*)(?P<parents>\+))?"
    r"(?:(?P<method>[\w.]+):)?(?P<value>.*?)"
    r"(?:(?P<children>\+)(?P<children_depth>\d*))?\Z"
)
_WILDCARDS = ("*", "?", "[", "]")
# dbt's NodeType values: a valid type decp does not read (macro, metric...) selects nothing.
RESOURCE_TYPES = (
    "model", "analysis", "test", "snapshot", "operation", "seed", "rpc", "sql_operation",
    "doc", "source", "macro", "exposure", "metric", "group", "saved_query", "semantic_model",
    "unit_test", "fixture", "function",
)  # fmt: skip
_SQL_SUFFIXES = (".sql", ".py", ".csv")
_PARSED_KINDS = frozenset({"model", "seed", "snapshot", "analysis", "test", "sql_operation"})
_PARSED_KINDS |= {"operation", "function"}


class StateComparison(Protocol):
    """What `state:` asks (built by decp.dbt.changes): the nodes one state check picks."""

    def matches(self, graph: Graph, value: str) -> set[str]:
        """Node ids for `state:<value>`; UsageError for a check it cannot decide."""
        ...


@dataclass(frozen=True)
class Context:
    """What a method may need besides the graph: the comparison state, for `state:`, and
    which dbt release's wildcard rule applies (see `bare_wildcard_matches_leaf`)."""

    state: StateComparison | None = None
    leaf_wildcards: bool = True


# dbt-core 1.11.16 and 1.12.6 added a rule: a bare wildcard value (no dot) also matches
# the fqn's leaf (the model name) at any depth. Before, `stg_*` selected nothing but
# models at the root of models/.
LEAF_WILDCARDS_SINCE = ((1, 11, 16), (1, 12, 6))
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def bare_wildcard_matches_leaf(dbt_version: str | None) -> bool:
    """Does the dbt release that wrote the manifest match `stg_*` against model names?

    Unknown versions get the newest behaviour.
    """
    found = _VERSION.match(dbt_version or "")
    if found is None:
        return True
    version = tuple(int(part) for part in found.groups())
    first, backport = LEAF_WILDCARDS_SINCE
    if version < first:
        return False
    return not ((1, 12, 0) <= version < backport)


MethodFn = Callable[[Graph, str, tuple[str, ...], Context], set[str]]
# name -> search function, like dbt-core's MethodManager.SELECTOR_METHODS. A method's
# arguments are the dotted parts after its name (`config.materialized` -> ("materialized",)).
METHODS: dict[str, MethodFn] = {}
# Valid dbt methods decp cannot answer from a manifest alone (run artifacts, resources
# decp does not read); they get a clear error instead of an empty selection.
DBT_ONLY_METHODS: tuple[str, ...] = ("result", "source_status", "version", "metric")
DBT_ONLY_METHODS += ("semantic_model", "saved_query", "unit_test")


def method(name: str) -> Callable[[MethodFn], MethodFn]:
    """Register a selector method under its dbt name."""

    def register(fn: MethodFn) -> MethodFn:
        METHODS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class Criterion:
    """One selector like `2+tag:nightly+1`."""

    raw: str
    method: str
    value: str
    parents: bool
    parents_depth: int | None
    children: bool
    children_depth: int | None
    childrens_parents: bool


@dataclass(frozen=True)
class Selection:
    """What a --select/--exclude pair picked: all nodes (tests too) and the roots."""

    uids: frozenset[str]
    roots: frozenset[str]

    def lineage(self, graph: Graph) -> list[str]:
        """The non-test nodes, which are what a pack maps."""
        return sorted(u for u in self.uids if graph.nodes[u].kind != TEST)


def parse_criterion(raw: str) -> Criterion:
    """Parse one selector (no spaces or commas), raising UsageError the way dbt would."""
    match = _SPEC.match(raw)
    if match is None or not match.group("value"):
        raise UsageError(
            f"invalid selector {raw!r}: no name or method value.",
            fix="write e.g. `orders`, `+orders+`, `2+orders`, `tag:nightly`, `path:models/staging`.",
        )
    value = match.group("value")
    method = match.group("method")
    if method is None:
        if "/" in value:
            method = "path"
        elif value.lower().endswith(_SQL_SUFFIXES):
            method = "file"
        else:
            method = "fqn"
    _check_method(method, raw)
    if match.group("childrens_parents") and match.group("children"):
        raise UsageError(
            f"invalid selector {raw!r}: dbt does not allow the '@' prefix with a '+' suffix.",
            fix="use `@name` (children and their parents) or `+name+`.",
        )
    if match.group("childrens_parents") and match.group("parents"):
        raise UsageError(
            f"invalid selector {raw!r}: '@' already includes parents.", fix="drop the '+'."
        )
    return Criterion(
        raw=raw,
        method=method,
        value=value,
        parents=bool(match.group("parents")),
        parents_depth=int(match.group("parents_depth")) if match.group("parents_depth") else None,
        children=bool(match.group("children")),
        children_depth=int(match.group("children_depth"))
        if match.group("children_depth")
        else None,
        childrens_parents=bool(match.group("childrens_parents")),
    )


def parse_spec(text: str) -> list[list[Criterion]]:
    """`a+ b,c` -> [[a+], [b, c]]: a union of intersections, as on dbt's command line."""
    words = text.split()
    if not words:
        raise UsageError("empty selection.", fix="pass --select NAME (e.g. --select '+orders+').")
    out = []
    for word in words:
        parts = [p for p in word.split(",")]
        if any(not p for p in parts):
            raise UsageError(
                f"invalid selector {word!r}: empty part around a comma.",
                fix="write intersections as `a,b` with no spaces.",
            )
        out.append([parse_criterion(p) for p in parts])
    return out


# --- methods ---------------------------------------------------------------------


def fqn_matches(
    fqn: tuple[str, ...], selector: str, versioned: bool = False, leaf_wildcards: bool = True
) -> bool:
    """dbt's `QualifiedNameSelectorMethod.node_is_match`: the rule tried on the fqn with
    and without its package (dbt-core 1.11 `is_selected_node`)."""
    return _is_selected_node(fqn, selector, versioned, leaf_wildcards) or _is_selected_node(
        fqn[1:], selector, versioned, leaf_wildcards
    )


def _is_selected_node(
    fqn: tuple[str, ...], selector: str, versioned: bool, leaf_wildcards: bool
) -> bool:
    """The value equals the leaf (versioned: the name, or name_version), or its dotted parts
    are a prefix of the flattened fqn; from the first wildcard part on, the rest of the
    fqn, joined by dots, must fnmatch the rest of the value (so `*` also spans dots).
    Since dbt 1.11.16/1.12.6, a dotless wildcard value may instead match the leaf."""
    if not fqn:
        return False
    if versioned and len(fqn) > 1:
        if fqn[-2] == selector:
            return True
        if "_".join(fqn[-2:]) == "_".join(selector.split(".")[-2:]):
            return True
    elif fqn[-1] == selector:
        return True
    flat = [part for segment in fqn for part in segment.split(".")]
    wanted = selector.split(".")
    if len(flat) < len(wanted):
        return False
    for i, part in enumerate(wanted):
        if any(w in part for w in _WILDCARDS):
            if fnmatchcase(".".join(flat[i:]), ".".join(wanted[i:])):
                return True
            if leaf_wildcards and "." not in selector:
                return fnmatchcase(fqn[-2] if versioned and len(fqn) > 1 else fqn[-1], selector)
            return False
        if flat[i] != part:
            return False
    return True


def glob_match(path: str, pattern: str, *, is_dir: bool = True) -> bool:
    """Would `Path.glob(pattern)` from the project root find `path` on disk?

    `*`, `?` and `[...]` stay inside one path segment; a `**` segment spans zero or
    more folders, and only folders (as in Python 3.11/3.12, which dbt 1.11 runs on:
    a file is found only by the pattern's last, non-`**` segment). Matching is
    anchored at both ends and case-sensitive.
    """
    parts = tuple(path.split("/"))
    wanted = tuple(p for p in pattern.split("/") if p not in (".", ""))
    return _glob_parts(parts, wanted, is_dir)


def _glob_parts(parts: tuple[str, ...], pattern: tuple[str, ...], is_dir: bool) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        # `**` consumes folders only: never the last part of a file
        stop = len(parts) + 1 if is_dir else len(parts)
        return any(_glob_parts(parts[i:], rest, is_dir) for i in range(stop))
    if not parts or not _segment_match(parts[0], head):
        return False
    if len(parts) == 1 and not is_dir and rest:
        return False  # a file is never a folder for the pattern's next segment
    return _glob_parts(parts[1:], rest, is_dir)


def _segment_match(name: str, pattern: str) -> bool:
    if not any(w in pattern for w in _WILDCARDS):
        return name == pattern
    regex = _SEGMENT_CACHE.get(pattern)
    if regex is None:
        regex = _SEGMENT_CACHE[pattern] = re.compile(_segment_regex(pattern) + r"\Z")
    return regex.match(name) is not None


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := _class_end(segment, i)) > 0:
            body = segment[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_end(segment: str, start: int) -> int:
    """Index of the `]` closing the character class at `start`, or -1 (then `[` is literal)."""
    j = start + 1
    if segment[j : j + 1] == "!":
        j += 1
    if segment[j : j + 1] == "]":
        j += 1
    return segment.find("]", j)


_SEGMENT_CACHE: dict[str, re.Pattern[str]] = {}


def _path_matches(node: Node, pattern: str) -> bool:
    """dbt globs `path:` from the project root, then keeps a node when the glob found its
    file, its YAML (patch_path) or one of its file's folders."""
    if not node.path:
        return False
    folders = [str(p) for p in PurePosixPath(node.path).parents if str(p) != "."]
    files = [node.path, node.patch_path] if node.patch_path else [node.path]
    return any(glob_match(f, pattern, is_dir=False) for f in files) or any(
        glob_match(d, pattern) for d in folders
    )


def _no_arguments(name: str, args: tuple[str, ...]) -> None:
    if args:
        raise UsageError(
            f"selector method `{name}.{'.'.join(args)}:` takes no arguments.",
            fix=f"write `{name}:VALUE`.",
        )


def _is_parsed(node: Node) -> bool:
    """dbt's `parsed_nodes`: manifest.nodes (not sources or exposures)."""
    return node.kind in _PARSED_KINDS


@method("fqn")
def _fqn(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("fqn", args)
    if "." not in value and not any(w in value for w in _WILDCARDS):
        return set(graph.bare_name_matches(value))
    leaf = ctx.leaf_wildcards
    return {
        n.uid
        for n in graph.nodes.values()
        if n.kind != "source" and fqn_matches(n.fqn, value, n.versioned, leaf)
    }


@method("tag")
def _tag(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("tag", args)
    return {n.uid for n in graph.nodes.values() if any(fnmatchcase(t, value) for t in n.tags)}


@method("group")
def _group(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("group", args)
    return {
        n.uid
        for n in graph.nodes.values()
        if n.group and _is_parsed(n) and fnmatchcase(n.group, value)
    }


@method("access")
def _access(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("access", args)
    return {n.uid for n in graph.nodes.values() if n.kind == "model" and n.access == value}


@method("source")
def _source(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("source", args)
    parts = value.split(".")
    if len(parts) > 3:
        raise UsageError(
            f"invalid source selector {value!r}.",
            fix="write source:SOURCE, source:SOURCE.TABLE or source:PACKAGE.SOURCE.TABLE.",
        )
    if len(parts) == 1:
        package, source, table = "*", parts[0], "*"
    elif len(parts) == 2:
        package, (source, table) = "*", parts
    else:
        package, source, table = parts
    return {
        n.uid
        for n in graph.nodes.values()
        if n.kind == "source"
        and fnmatchcase(n.package, package)
        and fnmatchcase(n.source_name, source)
        and fnmatchcase(n.name, table)
    }


@method("exposure")
def _exposure(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("exposure", args)
    parts = value.split(".")
    if len(parts) > 2:
        raise UsageError(
            f"invalid exposure selector {value!r}.", fix="write exposure:NAME or exposure:PKG.NAME."
        )
    package, name = ("*", parts[0]) if len(parts) == 1 else parts
    return {
        n.uid
        for n in graph.nodes.values()
        if n.kind == "exposure" and fnmatchcase(n.package, package) and fnmatchcase(n.name, name)
    }


@method("path")
def _path(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("path", args)
    pattern = value.strip().rstrip("/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    if not pattern or pattern == ".":
        return {n.uid for n in graph.nodes.values() if n.path}
    return {n.uid for n in graph.nodes.values() if _path_matches(n, pattern)}


@method("file")
def _file(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("file", args)
    out = set()
    for n in graph.nodes.values():
        name = PurePosixPath(n.path).name if n.path else ""
        if fnmatchcase(name, value) or fnmatchcase(PurePosixPath(name).stem, value):
            out.add(n.uid)
    return out


@method("package")
def _package(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("package", args)
    if value == "this" and graph.meta.get("project_name"):
        value = graph.meta["project_name"]  # dbt: `this` is the root project
    return {n.uid for n in graph.nodes.values() if fnmatchcase(n.package, value)}


@method("config")
def _config(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    if args != ("materialized",):
        key = ".".join(args) or "(none)"
        raise UsageError(
            f"selector `config.{key}:` is not supported offline by decp: the slim graph keeps "
            "only config.materialized.",
            fix="use config.materialized:VALUE, tag:, path: or fqn:.",
        )
    return {
        n.uid
        for n in graph.nodes.values()
        if n.kind not in ("exposure", "test") and n.materialized == value
    } | {n.uid for n in graph.nodes.values() if n.kind == "test" and value == "test"}


@method("resource_type")
def _resource_type(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("resource_type", args)
    if value not in RESOURCE_TYPES:
        raise UsageError(
            f"invalid resource_type {value!r}.", fix=f"use one of: {', '.join(RESOURCE_TYPES)}."
        )
    return {n.uid for n in graph.nodes.values() if n.kind == value}


@method("test_name")
def _test_name(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("test_name", args)
    return {
        n.uid
        for n in graph.nodes.values()
        if n.kind == TEST and n.test_name and fnmatchcase(n.test_name, value)
    }


@method("test_type")
def _test_type(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    """As dbt-core 1.11 tests it: `value in "data"` is a substring test there, kept as is."""
    _no_arguments("test_type", args)
    if value in ("generic", "schema"):
        wanted = {"generic"}
    elif value in "data":
        wanted = {"generic", "singular"}
    elif value in "singular":
        wanted = {"singular"}
    elif value in "unit":
        wanted = set()  # unit tests are not in the graph
    else:
        raise UsageError(
            f"invalid test_type {value!r}.",
            fix="use test_type:generic, test_type:singular, test_type:unit or test_type:data.",
        )
    return {
        n.uid
        for n in graph.nodes.values()
        if n.kind == TEST and ("generic" if n.test_name else "singular") in wanted
    }


@method("state")
def _state(graph: Graph, value: str, args: tuple[str, ...], ctx: Context) -> set[str]:
    _no_arguments("state", args)
    if ctx.state is None:
        raise UsageError(
            f"`state:{value}` needs something to compare with.",
            fix="run it through `decp dbt scope`/`decp dbt impact` (optionally with --state DIR).",
        )
    return ctx.state.matches(graph, value)


def _check_method(name: str, raw: str) -> None:
    base = name.split(".", 1)[0]
    if base in METHODS:
        return
    if base in DBT_ONLY_METHODS:
        raise UsageError(
            f"selector {raw!r}: dbt's `{name}:` method is not supported offline by decp "
            "(it needs run results or resources decp does not read).",
            fix=f"select by one of: {', '.join(METHODS)}.",
        )
    raise UsageError(
        f"unknown selector method {name!r} in {raw!r}.",
        fix=f"use one of: {', '.join(METHODS)} (or a bare model name).",
    )


def method_roots(graph: Graph, crit: Criterion, ctx: Context = Context()) -> set[str]:
    """The nodes one criterion's method picks (before graph operators)."""
    base, *args = crit.method.split(".")
    return METHODS[base](graph, crit.value, tuple(args), ctx)


# --- graph operators ------------------------------------------------------------------


def _walk(graph: Graph, start: Iterable[str], depth: int | None, up: bool) -> set[str]:
    """Nodes within `depth` edges of `start` (unbounded when None), start excluded."""
    step = graph.parents_of if up else graph.children_of
    seen: set[str] = set(start)
    frontier = list(seen)
    found: set[str] = set()
    hops = 0
    while frontier and (depth is None or hops < depth):
        nxt = []
        for uid in frontier:
            for other in step(uid):
                if other not in seen:
                    seen.add(other)
                    found.add(other)
                    nxt.append(other)
        frontier = nxt
        hops += 1
    return found


def _criterion(graph: Graph, crit: Criterion, ctx: Context) -> tuple[set[str], set[str]]:
    roots = method_roots(graph, crit, ctx)
    result = set(roots)
    if crit.childrens_parents:
        down = _walk(graph, roots, None, up=False) | roots
        result |= down | _walk(graph, down, None, up=True)
    if crit.parents:
        result |= _walk(graph, roots, crit.parents_depth, up=True)
    if crit.children:
        result |= _walk(graph, roots, crit.children_depth, up=False)
    return result, roots


def _evaluate(graph: Graph, spec: list[list[Criterion]], ctx: Context) -> tuple[set[str], set[str]]:
    uids: set[str] = set()
    roots: set[str] = set()
    for intersection in spec:
        results = [_criterion(graph, crit, ctx) for crit in intersection]
        chosen = set.intersection(*(r for r, _ in results))
        uids |= chosen
        roots |= set().union(*(rt for _, rt in results)) & chosen
    return uids, roots


def select(
    graph: Graph,
    select_text: str,
    exclude_text: str | None = None,
    *,
    state: StateComparison | None = None,
) -> Selection:
    """Evaluate --select minus --exclude; UsageError for syntax dbt would reject."""
    ctx = Context(state, bare_wildcard_matches_leaf(graph.meta.get("dbt_version")))
    uids, roots = _evaluate(graph, parse_spec(select_text), ctx)
    if exclude_text and exclude_text.strip():
        dropped, _ = _evaluate(graph, parse_spec(exclude_text), ctx)
        uids -= dropped
        roots -= dropped
    return Selection(frozenset(uids), frozenset(roots))


def close_names(graph: Graph, text: str, limit: int = 3) -> list[str]:
    """Model names like the ones in `text`, for the 'did you mean' of an empty selection."""
    import difflib

    names = sorted({n.name for n in graph.nodes.values() if n.kind != TEST})
    out: list[str] = []
    for word in _bare_values(text):
        out += difflib.get_close_matches(word, names, n=limit, cutoff=0.6)
    return list(dict.fromkeys(out))[:limit]


def _bare_values(text: str) -> Iterator[str]:
    for word in text.replace(",", " ").split():
        match = _SPEC.match(word)
        if match and match.group("value"):
            yield match.group("value")


def node_selector(graph: Graph, uid: str) -> str | None:
    """A dbt selector that picks exactly this node (and nothing else), as short as possible."""
    cache = graph.selector_cache
    if uid not in cache:
        cache[uid] = _node_selector(graph, uid)
    return cache[uid]


def _node_selector(graph: Graph, uid: str) -> str | None:
    node = graph.nodes[uid]
    if node.kind == "source":
        return f"source:{node.package}.{node.source_name}.{node.name}"
    if "." not in node.name and graph.bare_name_matches(node.name) == {uid}:
        return node.name
    value = ".".join(node.fqn)
    hits = [
        n.uid
        for n in graph.nodes.values()
        if n.kind != "source" and fqn_matches(n.fqn, value, n.versioned)
    ]
    return f"fqn:{value}" if hits == [uid] else None
