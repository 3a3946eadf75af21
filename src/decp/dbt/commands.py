"""Spell the exact `decp dbt scope` commands a pack prints for progressive loading."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


def quote(text: str) -> str:
    """Single-quote for POSIX shells: selectors hold +, @, * and commas."""
    if "'" not in text:
        return f"'{text}'"
    return shlex.quote(text)


def intersect(select: str, term: str) -> str:
    """(a b) ∩ T written in dbt syntax: `a,T b,T` (comma binds tighter than space)."""
    return " ".join(f"{word},{term}" for word in select.split())


@dataclass(frozen=True)
class Commands:
    select: str
    exclude: str | None
    manifest: str | None  # the --manifest value the user gave, repeated verbatim
    budget: int

    def scope(self, select: str, *, budget: int | None = None, level: int | None = None) -> str:
        parts = ["decp dbt scope --select", quote(select)]
        if self.exclude:
            parts += ["--exclude", quote(self.exclude)]
        if self.manifest:
            parts += ["--manifest", quote(self.manifest)]
        parts += ["--budget", str(budget or self.budget)]
        if level is not None:
            parts += ["--level", str(level)]
        return " ".join(parts)

    def expand(self, term: str) -> str:
        """The command that re-scopes this selection restricted to one group."""
        return self.scope(intersect(self.select, term))

    def group_target(self, term: str) -> str:
        return intersect(self.select, term)
