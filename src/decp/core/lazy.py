"""Package exports that load on first use.

A capability package lists its public API in `__init__`, but importing the
package must stay cheap: the statusline and the agent hooks run on every turn
and need only a sliver of it. `exports()` gives a package a module-level
`__getattr__` that imports the defining module when a name is first read.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """`__getattr__` for `package`: each public name resolves from its module, once."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        setattr(import_module(package), name, value)  # later reads skip this hook
        return value

    return __getattr__
