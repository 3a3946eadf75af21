"""Errors that the CLI turns into one clear line and an exit code.

Every failure a user can cause (bad file, bad flag, unknown id) is raised as a
`DecpError` so the CLI layer never prints a traceback. The message names the
file and line when there is one, and always says how to fix it.
"""

from __future__ import annotations

from pathlib import Path

EXIT_PROBLEM = 1  # bad data, failed check, something to fix in a file
EXIT_USAGE = 2  # wrong flag, unknown id, forbidden transition
EXIT_INTERNAL = 70  # a bug in decp (EX_SOFTWARE): printed as one line, never a traceback


class DecpError(Exception):
    """A user-facing failure: one line, with where and how to fix."""

    exit_code = EXIT_PROBLEM

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}{self.message}{fix}"


class DataError(DecpError):
    """A file decp reads is malformed, missing or not UTF-8 (exit 1)."""

    exit_code = EXIT_PROBLEM


class UsageError(DecpError):
    """The command asked for something impossible: unknown id, bad transition (exit 2)."""

    exit_code = EXIT_USAGE


class NotStampedError(DecpError):
    """decp ran outside a repo that has the protocol stamped in."""

    exit_code = EXIT_PROBLEM
