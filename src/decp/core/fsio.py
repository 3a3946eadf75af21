"""Safe file I/O: strict reads, atomic writes, and one lock per protocol file.

User data is sacred: a crash, a concurrent agent or a bad edit must never leave
a half-written LOOPS.md. Every write goes to a temp file in the same directory,
is fsynced, then renamed over the target while a lock file is held.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from decp.core.errors import DataError

LOCK_TIMEOUT_S = 30.0


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, or raise a DataError that names the bad line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(
            "file not found.", path=path, fix="check the path or run `decp doctor`."
        ) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}).",
            path=path,
            line=line,
            fix="re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).",
        ) from exc


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, so readers never see half a file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Byte version of `atomic_write` (temp file in the same dir, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; keep the target's mode, or follow the umask for new files.
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_current_umask()
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def lock_path_for(path: Path) -> Path:
    """Lock files live beside their target under a dotted name git can ignore."""
    return path.parent / f".{path.name}.lock"


@contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock for `path` so read-modify-write cycles don't interleave."""
    from filelock import FileLock, Timeout  # lazy: ~30 ms, and read-only commands never lock

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path_for(path)), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout as exc:
        raise DataError(
            f"could not lock within {timeout:.0f}s; another decp is writing it.",
            path=path,
            fix=f"wait and retry, or remove a stale {lock_path_for(path).name}.",
        ) from exc
