"""The mutation sampler (`make mutate`): each operator changes exactly one place."""

from __future__ import annotations

import sys

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import mutate

SOURCE = '''\
def f(a, b):
    """Docstrings are never mutated."""
    if a == b and not a:
        return a + 1
    return "x" in b
'''


def test_points_cover_every_operator_but_skip_docstrings() -> None:
    found = [m.description for m in mutate.mutation_points(SOURCE)]
    assert found == [
        "Eq -> NotEq",
        "drop `not`",
        "And -> Or",
        "1 -> 2",
        "Add -> Sub",
        "'x' -> 'XX'",
        "In -> NotIn",
    ]


def test_each_mutant_changes_one_place() -> None:
    assert "if a != b and (not a):" in mutate.mutate(SOURCE, 0)
    assert "if a == b and a:" in mutate.mutate(SOURCE, 1)
    assert "if a == b or not a:" in mutate.mutate(SOURCE, 2)
    assert "return a + 2" in mutate.mutate(SOURCE, 3)
    assert "return a - 1" in mutate.mutate(SOURCE, 4)
    assert "return 'XX' in b" in mutate.mutate(SOURCE, 5)
    assert "return 'x' not in b" in mutate.mutate(SOURCE, 6)
    assert "Docstrings are never mutated." in mutate.mutate(SOURCE, 5)


def test_every_target_module_maps_to_existing_tests() -> None:
    for tests in mutate.TARGETS.values():
        for path in tests:
            assert (REPO_ROOT / path).exists(), path
