"""The tokenizer's BPE table cache: same counts as tiktoken, and corruption is harmless."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiktoken

from decp.core import tokens

SAMPLE = "select order_id, sum(amount) from {{ ref('stg_orders') }} group by 1 -- é ✓\n"


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DECP_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_cached_table_counts_exactly_like_tiktoken(cache_root: Path) -> None:
    name = tokens.OFFLINE_ENCODING
    reference = tiktoken.get_encoding(name).encode(SAMPLE)
    first = tokens._load_encoding(name)  # loads through tiktoken, writes the table
    path = tokens._table_cache_path(name)
    assert path.is_file() and path.is_relative_to(cache_root / "tiktoken")
    second = tokens._load_encoding(name)  # built from the marshal table
    assert first.encode(SAMPLE) == second.encode(SAMPLE) == reference


def test_a_corrupt_table_is_ignored_and_rewritten(cache_root: Path) -> None:
    name = tokens.OFFLINE_ENCODING
    path = tokens._table_cache_path(name)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00not marshal")
    encoding = tokens._load_encoding(name)
    assert encoding.encode(SAMPLE) == tiktoken.get_encoding(name).encode(SAMPLE)
    assert path.read_bytes() != b"\x00not marshal"


def test_resolve_name_predicts_the_counter_without_loading_it() -> None:
    assert tokens.resolve_name("o200k_base") == tokens.get_counter("o200k_base").name
