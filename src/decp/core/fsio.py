"""Safe file I/O: strict reads, atomic writes, and one lock per protocol file.

User data is sacred: a crash, a concurrent agent or a bad edit must never leave
a half-written LOOPS.md. Every write goes to a temp file, is fsynced, then
renamed over the target while a lock file is held. Every OS failure (a
directory where a file should be, no permission, a full disk) becomes one
DataError line that names the file and the cause, never a traceback.

Lock files and temp files never land where git would pick them up: inside
`.project/` they are dot-files the stamped `.project/.gitignore` ignores;
for files elsewhere in a stamped repo (agent files such as CLAUDE.md) they
live under the gitignored `.project/.cache/`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from decp.core.errors import DataError

LOCK_TIMEOUT_S = 30.0
# Protocol files are small (10,000 open loops take ~2 MB): past this, refuse in milliseconds
# rather than parse a runaway or hostile file into memory.
MAX_TEXT_BYTES = 16 * 2**20
PROJECT_DIR = ".project"  # mirrors config.PROJECT_DIR (core.config imports this module)


def os_reason(exc: OSError) -> str:
    """A short, human cause for an OSError: no Python class names, no errno numbers."""
    if isinstance(exc, IsADirectoryError):
        return "it is a directory, not a file"
    if isinstance(exc, NotADirectoryError | FileExistsError):  # mkdir met a file
        return "a parent of it is a file, not a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    return exc.strerror or str(exc) or type(exc).__name__


def _os_error(action: str, path: Path, exc: OSError) -> DataError:
    fix = {
        IsADirectoryError: f"move the directory away; decp needs {path.name} to be a file.",
        NotADirectoryError: "check the path: one of its parent entries is a file.",
        FileExistsError: "check the path: one of its parent entries is a file.",
        PermissionError: "check the file's and its directory's permissions (and ownership).",
        FileNotFoundError: "check the path or run `decp doctor`.",
    }.get(type(exc), "check the disk and the file, then retry.")
    return DataError(f"cannot {action}: {os_reason(exc)}.", path=path, fix=fix)


def read_text(path: Path, *, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Read a UTF-8 text file, or raise a DataError that names the file and the cause.

    Only regular files are read (a FIFO would block forever, a device never end), and
    only up to `max_bytes`.
    """
    import stat

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
            raise DataError(
                "not a regular file (a pipe, socket or device).",
                path=path,
                fix=f"replace it with a plain text file named {path.name}.",
            )
        if info.st_size > max_bytes:
            raise DataError(
                f"{info.st_size / 2**20:.0f} MB is too big for a decp file (the limit is "
                f"{max_bytes / 2**20:.0f} MB); nothing was read.",
                path=path,
                fix="move closed loops or old entries into an archive file outside .project/, "
                "or restore the file from git history if it grew by accident.",
            )
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(
            "file not found.", path=path, fix="check the path or run `decp doctor`."
        ) from exc
    except OSError as exc:
        raise _os_error("read it", path, exc) from None
    return decode_utf8(raw, path)


def decode_utf8(
    raw: bytes,
    path: Path,
    fix: str = "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).",
) -> str:
    """`raw` as text, or a DataError naming the file, the line and the bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}).",
            path=path,
            line=line,
            fix=fix,
        ) from exc


def check_out_path(
    out: Path,
    *,
    force: bool = False,
    protected: list[Path] | tuple[Path, ...] = (),
    project_dir: Path | None = None,
) -> None:
    """Refuse an `--out` that would destroy something, before anything is written.

    The user typed the path, so it may point anywhere, but never (even with
    --force) at an input of the command (`protected`, e.g. the manifest) or an
    existing file of `.project/`; any other existing file needs --force. Symlinks
    are resolved before comparing.
    """
    from decp.core.errors import UsageError

    target = out.resolve()
    if target.is_dir():
        raise UsageError(
            f"--out {out} is a folder.", path=out, fix="pass a file path, e.g. --out out.md."
        )
    for path in protected:
        if path.exists() and target == path.resolve():
            raise UsageError(
                f"--out {out} is an input of this command; writing there would destroy it.",
                path=out,
                fix="write somewhere else, e.g. --out out.md.",
            )
    if not target.exists():
        return
    in_project = any(p.name == PROJECT_DIR for p in target.parents)
    if project_dir is not None and target.is_relative_to(project_dir.resolve()):
        in_project = True
    if in_project:
        raise UsageError(
            f"--out {out} is a decp data file in {PROJECT_DIR}/; decp never overwrites it.",
            path=out,
            fix=f"write outside {PROJECT_DIR}/, e.g. --out out.md.",
        )
    if not force:
        raise UsageError(
            f"--out {out} already exists.",
            path=out,
            fix="pass --force to overwrite it, or choose another file.",
        )


def atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, so readers never see half a file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Byte version of `atomic_write` (temp file, fsync, rename); OS errors name the file."""
    try:
        _atomic_write_bytes(path, data)
    except OSError as exc:
        raise _os_error("write it", path, exc) from None


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    scratch = _scratch_dir(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=scratch)
    except OSError:
        if scratch == path.parent:
            raise
        scratch = path.parent
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=scratch)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; keep the target's mode, or follow the umask for new files.
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_current_umask()
        os.chmod(tmp_name, mode)
        try:
            os.replace(tmp_name, path)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # the cache dir sits on another file system
                raise
            Path(tmp_name).unlink(missing_ok=True)
            _atomic_write_beside(path, data, mode)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _atomic_write_beside(path: Path, data: bytes, mode: int) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stamped_root(path: Path) -> Path | None:
    """The nearest ancestor holding `.project/` when `path` lies outside that `.project/`."""
    absolute = Path(os.path.abspath(path))
    for parent in absolute.parents:
        if parent.name == PROJECT_DIR:
            return None  # inside .project: dot-files there are gitignored already
        if (parent / PROJECT_DIR).is_dir():
            return parent
    return None


def _runtime_dir(path: Path, kind: str) -> Path | None:
    """`.project/.cache/<kind>` of the repo around `path`, if `path` is outside `.project/`."""
    root = _stamped_root(path)
    if root is None:
        return None
    where = root / PROJECT_DIR / ".cache" / kind
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return where


def _scratch_dir(path: Path) -> Path:
    """Where the temp file of a write goes: gitignored, and on the target's file system."""
    return _runtime_dir(path, "tmp") or path.parent


def lock_path_for(path: Path) -> Path:
    """The lock file for `path`, under a name git ignores.

    Inside `.project/` it is `.NAME.lock` beside the target (the stamped
    `.project/.gitignore` ignores `.*.lock`); elsewhere in a stamped repo it
    lives in `.project/.cache/locks/`, keyed by the target's path.
    """
    runtime = _runtime_dir(path, "locks")
    if runtime is None:
        return path.parent / f".{path.name}.lock"
    key = hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return runtime / f"{path.name}.{key}.lock"


@contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the lock for `path` so read-modify-write cycles don't interleave.

    The lock is an OS lock (flock) on the lock file: it frees itself when its
    process exits, so a leftover lock file never blocks anyone, and deleting
    one that is held would let two writers in.
    """
    from filelock import FileLock, Timeout  # lazy: ~30 ms, and read-only commands never lock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = lock_path_for(path)
        lock = FileLock(str(lock_file), timeout=timeout)
        lock.acquire()
    except Timeout:
        raise DataError(
            f"could not lock within {timeout:.0f}s: another decp process is writing it.",
            path=path,
            fix="wait for that command to finish, then retry. The lock frees itself when its "
            "process exits; do not delete the lock file.",
        ) from None
    except OSError as exc:
        raise _os_error("lock it for writing", path, exc) from None
    try:
        yield
    finally:
        lock.release()
