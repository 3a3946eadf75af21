"""Turn a model's raw dbt SQL into plain SQL that sqlglot can read, without dbt.

A manifest from `dbt parse` has only `raw_code`: Jinja with `ref()`, `source()`,
`config()`, `is_incremental()` and macro calls. Column lineage needs SQL, so we
render that Jinja ourselves in a sandbox:

- `ref()` / `source()` / `this` become the relation names the manifest records
  (an ephemeral model becomes `__dbt__cte__<name>`, as `dbt compile` writes it);
- `config()` renders to nothing and `is_incremental()` is false (a full refresh);
- `var('x', default)` gives the default; the project's and packages' own macros
  are rendered from their `macro_sql`;
- anything else (adapter calls, `run_query`, dbt's built-in macros) renders to
  the marker `__decp_unknown__`, so the SQL still parses and the caller can report
  what depended on it as unknown instead of guessing.

Manifests are untrusted: the sandbox blocks attribute tricks, and every failure
surfaces as `RenderError`, never as a crash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

UNKNOWN_MARKER = "__decp_unknown__"
EPHEMERAL_PREFIX = "__dbt__cte__"
# dbt's own macro packages: their macros call the adapter, so they are never rendered.
_BUILTIN_PACKAGES = frozenset(
    {"dbt", "dbt_postgres", "dbt_duckdb", "dbt_snowflake", "dbt_bigquery"}
)
_RESERVED = frozenset(
    {"ref", "source", "config", "this", "is_incremental", "var", "env_var", "target", "adapter"}
)
_JINJA = re.compile(r"\{#.*?#\}|\{%-?.*?-?%\}|\{\{.*?\}\}", re.S)


class RenderError(Exception):
    """The raw SQL's Jinja could not be rendered (syntax error, runaway macro...)."""


def strip_jinja(raw: str) -> str:
    """Raw SQL with every Jinja tag blanked out: the text a name match can still use."""
    return _JINJA.sub(" ", raw)


class _Opaque:
    """What an unknown Jinja name renders to: callable, indexable, iterable, falsy."""

    def __call__(self, *args: object, **kwargs: object) -> _Opaque:
        return self

    def __getattr__(self, name: str) -> _Opaque:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: object) -> _Opaque:
        return self

    def __iter__(self) -> Any:
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return UNKNOWN_MARKER

    __html__ = __str__


_OPAQUE = _Opaque()


class Renderer:
    """Renders raw model SQL for one manifest: relation names and macros are set up once."""

    def __init__(
        self,
        *,
        refs: Mapping[str, str],
        sources: Mapping[tuple[str, str], str],
        macros: Iterable[tuple[str, str, str]],
        root_package: str,
    ) -> None:
        """`refs`: model/seed/snapshot name -> relation SQL; `sources`: (source, table) -> relation;
        `macros`: (package, name, macro_sql) for every macro in the manifest."""
        from jinja2 import ChainableUndefined
        from jinja2.sandbox import SandboxedEnvironment

        class _Undefined(ChainableUndefined):
            def __call__(self, *args: object, **kwargs: object) -> _Opaque:  # type: ignore[override]
                return _OPAQUE

            def __str__(self) -> str:
                return UNKNOWN_MARKER

        self._refs = {k.lower(): v for k, v in refs.items()}
        self._sources = {(a.lower(), b.lower()): v for (a, b), v in sources.items()}
        self.env = SandboxedEnvironment(
            undefined=_Undefined, extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"]
        )
        self.env.globals.update(
            {
                "ref": self._ref,
                "source": self._source,
                "config": _config,
                "is_incremental": lambda: False,
                "var": _var,
                "env_var": _env_var,
                "adapter": _OPAQUE,
                "target": _OPAQUE,
                "return": lambda value: value,
                "log": lambda *a, **k: "",
                "exceptions": _OPAQUE,
                "run_query": lambda *a, **k: None,
                "execute": False,
            }
        )
        self._load_macros(macros, root_package)

    def _load_macros(self, macros: Iterable[tuple[str, str, str]], root: str) -> None:
        packages: dict[str, dict[str, Any]] = {}
        for package, name, sql in macros:
            if package in _BUILTIN_PACKAGES or name in _RESERVED or not sql:
                continue
            try:
                module = self.env.from_string(sql).module
                macro = getattr(module, name)
            except Exception:  # a macro we cannot compile stays unknown
                continue
            packages.setdefault(package, {})[name] = macro
        for package, found in packages.items():
            self.env.globals[package] = _Namespace(found)
        for name, macro in packages.get(root, {}).items():
            self.env.globals[name] = macro

    def _ref(self, *args: object, **kwargs: object) -> str:
        name = str(args[-1]).lower() if args else ""
        return self._refs.get(name, UNKNOWN_MARKER)

    def _source(self, source: object = "", table: object = "") -> str:
        return self._sources.get((str(source).lower(), str(table).lower()), UNKNOWN_MARKER)

    def render(self, raw: str, this: str) -> str:
        """Plain SQL for one model; RenderError when its Jinja cannot be rendered."""
        try:
            template = self.env.from_string(raw)
            return template.render(this=this)
        except RecursionError as exc:
            raise RenderError("macro recursion") from exc
        except Exception as exc:
            raise RenderError(f"{type(exc).__name__}: {exc}".splitlines()[0][:160]) from exc


class _Namespace:
    """`package.macro(...)`: known macros by name, anything else opaque."""

    def __init__(self, macros: dict[str, Callable[..., Any]]) -> None:
        self._macros = macros

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._macros.get(name, _OPAQUE)


def _config(*args: object, **kwargs: object) -> str:
    return ""


def _var(name: object = "", default: object = None) -> object:
    return _OPAQUE if default is None else default


def _env_var(name: object = "", default: object = None) -> object:
    return _OPAQUE if default is None else default
