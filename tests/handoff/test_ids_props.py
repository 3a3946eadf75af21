"""Property test: whatever two branches append, the union and a renumber keep every loop."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decp.core.config import load_config
from decp.handoff.ids import find_duplicates, renumber_duplicates
from decp.handoff.loops import LoopBook, read_loops

WORDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=12,
).filter(lambda t: t.split() and "#" not in t and "LOOP-" not in t)
BRANCH = st.lists(st.tuples(WORDS, WORDS), min_size=1, max_size=4, unique_by=lambda x: x[0])


def _branch(base: str, loops: list[tuple[str, str]], tag: str) -> str:
    book = LoopBook(Path("LOOPS.md"), base)
    for title, body in loops:
        book.new_loop(f"{tag} {title}", body=body)
    return book.render()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(BRANCH, BRANCH)
def test_union_then_renumber_keeps_every_loop_with_unique_ids(
    project: Path, ours: list[tuple[str, str]], theirs: list[tuple[str, str]]
) -> None:
    base_block = "### LOOP-001 (open) base\n- created: t\n"
    base = f"# Loops\n\n<!-- next-id: LOOP-002 -->\n\n{base_block}"
    a, b = _branch(base, ours, "A"), _branch(base, theirs, "B")
    # what `merge=union` does when both branches change the mark and append after the
    # same line: both mark lines (ours first), then ours' blocks, then theirs'
    mark_a, mark_b = (x.split("\n")[2] for x in (a, b))
    marks = mark_a if mark_a == mark_b else f"{mark_a}\n{mark_b}"
    appended_a, appended_b = (x.split(base_block, 1)[1] for x in (a, b))
    merged = f"# Loops\n\n{marks}\n\n{base_block}{appended_a}{appended_b}"
    config = load_config(project)
    (config.project_dir / "LOOPS.md").write_text(merged, encoding="utf-8")
    renumber_duplicates(config)
    assert find_duplicates(config) == []
    book = read_loops(config)
    titles = sorted(loop.title for loop in book.loops)
    expected = (
        ["base"] + [f"A {t}".strip() for t, _ in ours] + [f"B {t}".strip() for t, _ in theirs]
    )
    assert titles == sorted(" ".join(t.split()) for t in expected)
    bodies = {loop.title: loop.body for loop in book.loops}
    for tag, branch in (("A", ours), ("B", theirs)):
        for title, body in branch:
            assert bodies[" ".join(f"{tag} {title}".split())] == body.strip()
    assert len({loop.id for loop in book.loops}) == len(book.loops)
    assert book.next_number == len(book.loops) + 1
