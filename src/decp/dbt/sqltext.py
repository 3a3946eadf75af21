"""Turn a model's raw dbt SQL into plain SQL that sqlglot can read, without dbt.

A manifest from `dbt parse` has only `raw_code`: Jinja with `ref()`, `source()`,
`config()`, `is_incremental()` and macro calls. Column lineage needs SQL, so we
render that Jinja ourselves in a sandbox:

- `ref()` / `source()` / `this` become the relation names the manifest records
  (an ephemeral model becomes `__dbt__cte__<name>`, as `dbt compile` writes it);
- `config()` renders to nothing and `is_incremental()` is false (a full refresh);
- `var('x', default)` gives the default; macros from the manifest (the project's,
  its packages' and dbt's own) are rendered from their `macro_sql`, lazily, with
  dbt's lookup order and `adapter.dispatch` (`<adapter>__x`, then `default__x`);
- `execute` is false (no warehouse), so `run_query` branches take their
  parse-time path;
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
        adapter_type: str = "",
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
        # dbt adds filters and tests (as_bool, as_number...); any we lack passes its value on.
        self.env.filters = _Lenient(self.env.filters)
        self.env.tests = _Lenient(self.env.tests)
        self.env.globals.update(
            {
                "ref": self._ref,
                "source": self._source,
                "config": _config,
                "is_incremental": lambda: False,
                "var": _var,
                "env_var": _env_var,
                "adapter": _Adapter(self),
                "target": _OPAQUE,
                "return": _return,
                "log": lambda *a, **k: "",
                "exceptions": _OPAQUE,
                "run_query": lambda *a, **k: _OPAQUE,
                "execute": False,  # no warehouse: macros take their parse-time branch
            }
        )
        self.adapter_type = adapter_type.lower()
        self._scopes: dict[str, dict[str, Any]] = {}
        self._load_macros(macros, root_package)

    def _load_macros(self, macros: Iterable[tuple[str, str, str]], root: str) -> None:
        """Every macro becomes a lazy callable: compiled by Jinja only when a model calls it.

        Bare names resolve as in dbt: the root project's macros first, then dbt's own.
        Other packages are reached as `package.macro` or through `adapter.dispatch`.
        """
        self.packages: dict[str, dict[str, _LazyMacro]] = {}
        for package, name, sql in macros:
            if name in _RESERVED or not sql or not name.isidentifier():
                continue
            self.packages.setdefault(package, {})[name] = _LazyMacro(self, package, name, sql)
        dbt_own = self.packages.setdefault("dbt", {})
        dbt_own.update(_TYPE_MACROS)
        for package, found in self.packages.items():
            if package.isidentifier() and package not in _RESERVED:
                self.env.globals[package] = _Namespace(found)
        for package in ("dbt", root):
            for name, macro in self.packages.get(package, {}).items():
                self.env.globals[name] = macro

    def scope_for(self, package: str) -> dict[str, Any]:
        """Globals for SQL of `package`: its own macros by bare name come before the root's."""
        found = self._scopes.get(package)
        if found is None:
            found = self._scopes[package] = {
                k: v for k, v in self.packages.get(package, {}).items() if k not in _RESERVED
            }
        return found

    def dispatch(self, name: str, namespace: str | None = None) -> Any:
        """dbt's adapter.dispatch: `<adapter>__name`, then `default__name`, first in the
        namespace's package, then in any package."""
        wanted = (
            [f"{self.adapter_type}__{name}", f"default__{name}"]
            if self.adapter_type
            else [f"default__{name}"]
        )
        order = [namespace or "dbt"] + [p for p in self.packages if p != (namespace or "dbt")]
        for macro_name in wanted:
            for package in order:
                found = self.packages.get(package, {}).get(macro_name)
                if found is not None:
                    return found
        return _OPAQUE

    def _ref(self, *args: object, **kwargs: object) -> str:
        name = str(args[-1]).lower() if args else ""
        return self._refs.get(name, UNKNOWN_MARKER)

    def _source(self, source: object = "", table: object = "") -> str:
        return self._sources.get((str(source).lower(), str(table).lower()), UNKNOWN_MARKER)

    def render(self, raw: str, this: str, package: str = "") -> str:
        """Plain SQL for one model of `package`; RenderError when its Jinja cannot be rendered."""
        try:
            template = self.env.from_string(raw, globals=self.scope_for(package))
            return template.render(this=this)
        except RecursionError as exc:
            raise RenderError("macro recursion") from exc
        except Exception as exc:
            raise RenderError(f"{type(exc).__name__}: {exc}".splitlines()[0][:160]) from exc


class _Return(Exception):
    """How `{{ return(value) }}` leaves a macro with a value that is not text (as dbt does it)."""

    def __init__(self, value: object) -> None:
        super().__init__("return")
        self.value = value


def _return(value: object = None) -> None:
    raise _Return(value)


def _passthrough(value: object = None, *args: object, **kwargs: object) -> object:
    return value


class _Lenient(dict[str, Any]):
    """A filter/test table where an unknown name is a pass-through instead of a compile error."""

    def __missing__(self, key: str) -> Callable[..., object]:
        return _passthrough

    def get(self, key: str, default: object = None) -> Any:
        return super().get(key, _passthrough)


class _LazyMacro:
    """A manifest macro compiled on first call (a project has hundreds; a model uses a few)."""

    def __init__(self, renderer: Renderer, package: str, name: str, sql: str) -> None:
        self._renderer, self._package, self._name, self._sql = renderer, package, name, sql
        self._macro: Any = None

    def __call__(self, *args: object, **kwargs: object) -> Any:
        if self._macro is None:
            env, scope = self._renderer.env, self._renderer.scope_for(self._package)
            try:
                self._macro = getattr(env.from_string(self._sql, globals=scope).module, self._name)
            except Exception:  # a macro we cannot compile renders as unknown
                self._macro = _OPAQUE
        try:
            return self._macro(*args, **kwargs)
        except _Return as done:  # dbt's `{{ return(x) }}`: the macro's value is x itself
            return done.value


class _Adapter(_Opaque):
    """`adapter`: `dispatch` finds the macro dbt would run; everything else is opaque."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def dispatch(self, name: object = "", macro_namespace: object = None) -> Any:
        return self._renderer.dispatch(str(name), str(macro_namespace) if macro_namespace else None)


def _fixed(text: str) -> Callable[..., str]:
    return lambda *args, **kwargs: text


# dbt's type macros ask the adapter (api.Column.translate_type); plain SQL types read the same.
_TYPE_MACROS: dict[str, Any] = {
    "type_string": _fixed("varchar"),
    "type_timestamp": _fixed("timestamp"),
    "type_int": _fixed("integer"),
    "type_bigint": _fixed("bigint"),
    "type_float": _fixed("float"),
    "type_numeric": _fixed("numeric"),
    "type_boolean": _fixed("boolean"),
}


class _Namespace:
    """`package.macro(...)`: known macros by name, anything else opaque."""

    def __init__(self, macros: Mapping[str, Callable[..., Any]]) -> None:
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
