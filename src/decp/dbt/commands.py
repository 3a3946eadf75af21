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


def intersect_any(select: str, terms: list[str]) -> str:
    """(a b) ∩ (T1 ∪ T2): every word intersected with every term."""
    return " ".join(intersect(select, term) for term in terms)


@dataclass(frozen=True)
class Commands:
    select: str
    exclude: str | None
    manifest: str | None  # the --manifest value the user gave, repeated verbatim
    budget: int

    def scope(
        self,
        select: str,
        *,
        budget: int | None = None,
        level: int | None = None,
        exclude: str | None = None,
    ) -> str:
        exclude = exclude if exclude is not None else self.exclude
        parts = ["decp dbt scope --select", quote(select)]
        if exclude:
            parts += ["--exclude", quote(exclude)]
        if self.manifest:
            parts += ["--manifest", quote(self.manifest)]
        parts += ["--budget", str(budget or self.budget)]
        if level is not None:
            parts += ["--level", str(level)]
        return " ".join(parts)

    def group_selection(self, terms: list[str], excludes: list[str]) -> tuple[str, str | None]:
        """--select and --exclude that pick exactly one group's nodes out of this selection."""
        exclude = " ".join(e for e in (self.exclude, *excludes) if e) or None
        return intersect_any(self.select, terms), exclude

    def expand(self, terms: list[str], excludes: list[str]) -> str:
        """The command that re-scopes this selection restricted to one group."""
        select, exclude = self.group_selection(terms, excludes)
        return self.scope(select, exclude=exclude or "")

    def group_target(self, terms: list[str], excludes: list[str]) -> str:
        """The ledger target of a group: its selection, with its exclusions."""
        select, exclude = self.group_selection(terms, excludes)
        return select + (f" --exclude {exclude}" if exclude else "")
