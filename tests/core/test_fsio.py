"""decp.core.fsio: OS failures become one line naming the file; locks and temp files stay gitignored."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from decp.core import fsio
from decp.core.errors import DataError
from decp.core.mdoc import conflict_line


def test_reading_a_directory_names_the_file_and_the_cause(tmp_path: Path) -> None:
    (tmp_path / "LOOPS.md").mkdir()
    with pytest.raises(DataError) as caught:
        fsio.read_text(tmp_path / "LOOPS.md")
    assert caught.value.one_line() == (
        f"{tmp_path / 'LOOPS.md'}: cannot read it: it is a directory, not a file. "
        "Fix: move the directory away; decp needs LOOPS.md to be a file."
    )


def test_writing_onto_a_directory_or_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "STATE.md").mkdir()
    with pytest.raises(
        DataError, match=r"STATE.md: cannot write it: it is a directory, not a file"
    ):
        fsio.atomic_write(tmp_path / "STATE.md", "x")
    (tmp_path / "afile").write_text("keep", encoding="utf-8")
    with pytest.raises(DataError, match=r"cannot write it: a parent of it is a file"):
        fsio.atomic_write(tmp_path / "afile" / "child.md", "x")
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "keep"


def test_permission_errors_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where chmod does not bite: inject the OS's answer instead.
    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    (tmp_path / "CONTEXT.md").write_text("x", encoding="utf-8")
    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DataError) as caught:
        fsio.read_text(tmp_path / "CONTEXT.md")
    assert caught.value.one_line() == (
        f"{tmp_path / 'CONTEXT.md'}: cannot read it: permission denied. "
        "Fix: check the file's and its directory's permissions (and ownership)."
    )
    monkeypatch.undo()

    def no_temp(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fsio.tempfile, "mkstemp", no_temp)
    target = tmp_path / "LOOPS.md"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(DataError, match=r"LOOPS.md: cannot write it: permission denied"):
        fsio.atomic_write(target, "new")
    assert target.read_text(encoding="utf-8") == "old"


def test_a_full_disk_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / ".project" / "LOOPS.md"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsio.os, "fsync", full)
    with pytest.raises(DataError, match="cannot write it: no space left on the device"):
        fsio.atomic_write(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["LOOPS.md"]


def test_lock_timeout_never_says_to_delete_the_lock(tmp_path: Path) -> None:
    target = tmp_path / ".project" / "STATE.md"
    with (
        fsio.locked(target),
        pytest.raises(DataError) as caught,
        fsio.locked(target, timeout=0.05),
    ):
        pass
    line = caught.value.one_line()
    assert "another decp process is writing it" in line
    assert "do not delete the lock file" in line
    assert "remove" not in line and "stale" not in line
    with fsio.locked(target, timeout=0.05):  # released: free again
        pass


def _git_status(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(line[3:] for line in out.splitlines())


def test_locks_and_temp_files_are_gitignored_in_a_stamped_repo(tmp_path: Path) -> None:
    """Inside .project/ the stamped .gitignore covers them; elsewhere they go under .project/.cache/."""
    from conftest import REPO_ROOT

    root = tmp_path / "repo"
    (root / ".project").mkdir(parents=True)
    ignore = (REPO_ROOT / "template/.project/.gitignore.jinja").read_text(encoding="utf-8")
    (root / ".project/.gitignore").write_text(ignore, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    baseline = _git_status(root)
    # What an interrupted write or a held lock leaves behind:
    (root / ".project/.LOOPS.md.x1y2.tmp").write_text("half", encoding="utf-8")
    with fsio.locked(root / ".project/LOOPS.md"), fsio.locked(root / "CLAUDE.md"):
        fsio.atomic_write(root / "CLAUDE.md", "hello")
        assert _git_status(root) == sorted([*baseline, "CLAUDE.md"])
    assert fsio.lock_path_for(root / "CLAUDE.md").parent == root / ".project/.cache/locks"
    assert fsio.lock_path_for(root / ".project/LOOPS.md") == root / ".project/.LOOPS.md.lock"
    # Near miss: outside any stamped repo the lock sits beside the file.
    assert fsio.lock_path_for(tmp_path / "out.md") == tmp_path / ".out.md.lock"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> other\n", 2),
        ("a\n=======\n", 2),
        ("x\r\n>>>>>>> theirs\r\n", 2),
        ("<<<<<<<\n", 1),
        ("a\n||||||| base\n", 2),
    ],
)
def test_conflict_markers_are_found_with_their_line_by_mdoc(text: str, line: int) -> None:
    assert conflict_line(text) == line


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<<<<<< six\n",
        "text ======= inline\n",
        "========\n",
        " <<<<<<< indented\n",
        "=======x\n",
    ],
)
def test_conflict_marker_near_misses(text: str) -> None:
    assert conflict_line(text) is None


def test_read_text_reads_only_regular_files_and_refuses_oversized_ones(tmp_path: Path) -> None:
    """A FIFO would block every command forever; a runaway file would fill memory."""
    import os

    fifo = tmp_path / "LOOPS.md"
    os.mkfifo(fifo)
    with pytest.raises(DataError) as caught:
        fsio.read_text(fifo)  # returns at once: a FIFO is never opened
    assert caught.value.one_line() == (
        f"{fifo}: not a regular file (a pipe, socket or device). "
        "Fix: replace it with a plain text file named LOOPS.md."
    )
    big = tmp_path / "STATE.md"
    big.write_bytes(b"x" * (2 * 2**20 + 1))
    with pytest.raises(
        DataError, match=r"STATE.md: 2 MB is too big for a decp file \(the limit is 2 MB\)"
    ):
        fsio.read_text(big, max_bytes=2 * 2**20)
    assert fsio.read_text(big, max_bytes=2 * 2**20 + 1) == "x" * (2 * 2**20 + 1)  # near miss
