"""Core: what every capability stands on.

Finding the stamped repo and reading `decp.toml` (`config`), safe file I/O with
atomic writes and locks (`fsio`), the errors the surfaces turn into one line
(`errors`), one clock (`clock`), failure-tolerant git queries (`gitinfo`), what
never enters a pack (`secrets`), cache folders (`cachedirs`) and token counting
that names its encoding (`tokens`). Nothing here imports a higher layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decp.core.lazy import exports

if TYPE_CHECKING:
    from decp.core.config import Config, defaults, find_root, load_config
    from decp.core.errors import DataError, DecpError, NotStampedError, UsageError
    from decp.core.tokens import TokenCounter, get_counter

__all__ = [
    "Config",
    "DataError",
    "DecpError",
    "NotStampedError",
    "TokenCounter",
    "UsageError",
    "defaults",
    "find_root",
    "get_counter",
    "load_config",
]

__getattr__ = exports(
    __name__,
    {
        "Config": "config",
        "DataError": "errors",
        "DecpError": "errors",
        "NotStampedError": "errors",
        "TokenCounter": "tokens",
        "UsageError": "errors",
        "defaults": "config",
        "find_root": "config",
        "get_counter": "tokens",
        "load_config": "config",
    },
)
