"""Seeded mutation sample: where are the tests blind?

For each target module, every mutation point is enumerated from the AST (a
comparison flipped, `and`/`or` swapped, `not` dropped, a number, string or
boolean constant changed, `+`/`-` swapped), a deterministic sample is drawn,
and each mutant is written to disk in a private copy of the tree. The tests
that exercise the module then run against that copy; `decp` subprocesses see
the mutant too, because PYTHONPATH puts the copy's `src/` first. A mutant is
killed when the tests fail (or time out).

    python scripts/mutate.py                      # default modules, 40 mutants each
    python scripts/mutate.py --sample 150 --seed 7 src/decp/handoff/loops.py

Slow by nature (one pytest run per mutant): `make mutate`, never CI.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Module -> the tests that exercise it (kept small: one pytest run per mutant).
TARGETS: dict[str, list[str]] = {
    "src/decp/core/mdoc.py": [
        "tests/core/test_mdoc.py",
        "tests/core/test_mdoc_props.py",
        "tests/handoff/test_loops.py",
        "tests/handoff/test_loops_golden.py",
        "tests/handoff/test_state.py",
        "tests/handoff/test_state_golden.py",
        "tests/context/test_context_ledger.py",
    ],
    "src/decp/handoff/loops.py": [
        "tests/handoff/test_loops.py",
        "tests/handoff/test_loops_golden.py",
        "tests/handoff/test_loops_props.py",
        "tests/handoff/test_loops_cli.py",
        "tests/handoff/test_loops_source.py",
    ],
    "src/decp/handoff/state.py": [
        "tests/handoff/test_state.py",
        "tests/handoff/test_state_golden.py",
        "tests/handoff/test_state_props.py",
    ],
    "src/decp/dbt/select.py": [
        "tests/dbt/test_dbt_select.py",
        "tests/dbt/test_select_near_miss.py",
        "tests/dbt/test_select_mutants.py",
    ],
}
COPIED = [
    "src",
    "tests",
    "template",
    "examples",
    "copier.yml",
    "pyproject.toml",
    "docs",
    "mkdocs.yml",
]

FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    index: int  # position in the module's list of mutation points
    line: int
    description: str


def _docstring_ids(tree: ast.AST) -> set[int]:
    """Constant nodes that are docstrings: changing them proves nothing."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


class _Points(ast.NodeTransformer):
    """Walks the tree; applies mutation number `target` (or only counts when target is None)."""

    def __init__(self, target: int | None, skip: set[int]) -> None:
        self.target = target
        self.skip = skip
        self.found: list[Mutant] = []

    def _hit(self, node: ast.AST, description: str) -> bool:
        index = len(self.found)
        self.found.append(Mutant(index, getattr(node, "lineno", 0), description))
        return index == self.target

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            flipped = FLIPS.get(type(op))
            if flipped and self._hit(node, f"{type(op).__name__} -> {flipped.__name__}"):
                node.ops[i] = flipped()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        if self._hit(node, f"{type(node.op).__name__} -> {type(other).__name__}"):
            node.op = other
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._hit(node, "drop `not`"):
            return node.operand
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = {ast.Add: ast.Sub, ast.Sub: ast.Add}.get(type(node.op))
        if swap and self._hit(node, f"{type(node.op).__name__} -> {swap.__name__}"):
            node.op = swap()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if id(node) in self.skip:
            return node
        value = node.value
        if isinstance(value, bool):
            if self._hit(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int):
            if self._hit(node, f"{value} -> {value + 1}"):
                return ast.copy_location(ast.Constant(value + 1), node)
        elif isinstance(value, str) and value and self._hit(node, f"{value[:20]!r} -> 'XX'"):
            return ast.copy_location(ast.Constant("XX" + value[2:]), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        # f-string parts stay as they are: mutating them needs format specs re-checked.
        return node


def mutation_points(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    walker = _Points(None, _docstring_ids(tree))
    walker.visit(tree)
    return walker.found


def mutate(source: str, index: int) -> str:
    tree = ast.parse(source)
    walker = _Points(index, _docstring_ids(tree))
    new = walker.visit(tree)
    ast.fix_missing_locations(new)
    return ast.unparse(new)


def _copy_tree(dst: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, dst / name)


def run_module(module: str, sample: int, seed: int, timeout: int) -> tuple[int, int, list[Mutant]]:
    source = (ROOT / module).read_text(encoding="utf-8")
    points = mutation_points(source)
    chosen = sorted(
        random.Random(f"{seed}:{module}").sample(points, min(sample, len(points))),
        key=lambda m: m.index,
    )
    survivors: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="decp-mutate-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        env = {**os.environ, "PYTHONPATH": str(work / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        target = work / module
        for n, mutant in enumerate(chosen, 1):
            target.write_text(mutate(source, mutant.index), encoding="utf-8")
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                *TARGETS[module],
            ]
            try:
                result = subprocess.run(
                    cmd, cwd=work, env=env, capture_output=True, timeout=timeout
                )
                killed = result.returncode != 0
            except subprocess.TimeoutExpired:
                killed = True
            if not killed:
                survivors.append(mutant)
            print(
                f"  {n}/{len(chosen)} line {mutant.line}: {mutant.description}: {'killed' if killed else 'SURVIVED'}",
                flush=True,
            )
        target.write_text(source, encoding="utf-8")
    return len(chosen), len(chosen) - len(survivors), survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(TARGETS))
    parser.add_argument("--sample", type=int, default=40, help="mutants per module")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=300, help="seconds per mutant run")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        print(
            f"mutate: no test mapping for {', '.join(unknown)}; known: {', '.join(TARGETS)}",
            file=sys.stderr,
        )
        return 2
    rows = []
    for module in args.modules:
        if not (ROOT / module).exists():
            print(f"mutate: {module} does not exist; skipped", file=sys.stderr)
            continue
        print(f"{module}:", flush=True)
        start = time.perf_counter()
        total, killed, survivors = run_module(module, args.sample, args.seed, args.timeout)
        rows.append((module, total, killed, time.perf_counter() - start))
        for mutant in survivors:
            print(f"  survived: line {mutant.line}: {mutant.description}")
    print("\nmodule | mutants | killed | score | time")
    for module, total, killed, seconds in rows:
        score = killed / total if total else 1.0
        print(f"{module} | {total} | {killed} | {score:.0%} | {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
