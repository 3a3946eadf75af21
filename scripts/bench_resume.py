#!/usr/bin/env python3
"""Benchmark `decp resume` against the number of open loops (issue 10, "Scale").

For each size (default 100, 1,000 and 10,000 open loops, plus a tenth as many
proposals) it stamps a throw-away project in a temp dir (`.project/decp.toml`,
a git repo, one ended session), writes the loops through decp's own API, then
times:

* `build_pack` in-process (median of --repeat runs): the fitting itself;
* `decp resume` as a real process (median of --repeat runs): what a user waits for.

It also times how fast a 100 MB LOOPS.md is refused (it must not hang).
Wall times on a shared machine: read the medians, not single runs. No asserts:
the target (10,000 loops < 2 s) is reported, not enforced.

Usage:
    python scripts/bench_resume.py [--sizes 100,1000,10000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import stamp_minimal  # scripts/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@decp.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@decp.invalid",
}
TITLES = (
    "Is the 3-day lookback on fct_orders enough for late refunds?",
    "Should stg_payments dedupe on payment_id or (order_id, created_at)?",
    "Does dim_customers need SCD2 for email or is type 1 fine?",
    "Why does int_order_items fan out for split shipments?",
)


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True
    )


def stamp(root: Path, open_loops: int) -> None:
    """A stamped repo with `open_loops` open loops and a tenth as many proposals."""
    from decp.core.config import load_config
    from decp.handoff.loops import edit_loops
    from decp.handoff.session import end_session, start_session

    stamp_minimal(root)
    (root / "models").mkdir()
    (root / "models" / "fct_orders.sql").write_text("select 1 as id\n", encoding="utf-8")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "stamp")
    config = load_config(root)
    start_session(config)
    with edit_loops(config) as book:
        for n in range(open_loops):
            book.new_loop(f"{TITLES[n % 4]} ({n})", status="open", body="details " * 10)
        for n in range(open_loops // 10):
            book.new_loop(f"proposal {n}: {TITLES[n % 4]}")
    end_session(config, next_steps=["run dbt build -s fct_orders+"])


def median_seconds(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def decp(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}
    return subprocess.run(
        [sys.executable, "-m", "decp", *args],
        cwd=root,
        env={**env, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=600,
    )


def bench_size(scratch: Path, size: int, repeat: int) -> dict[str, object]:
    from decp.core.config import load_config
    from decp.handoff.resume import build_pack

    root = scratch / f"loops-{size}"
    began = time.perf_counter()
    stamp(root, size)
    setup = time.perf_counter() - began
    config = load_config(root)
    build_pack(config)  # warm the tokenizer and imports once
    in_process = median_seconds(lambda: build_pack(config), repeat)
    cli = median_seconds(lambda: decp(root, "resume"), repeat)
    pack = build_pack(config)
    return {
        "open_loops": size,
        "proposals": size // 10,
        "loops_md_bytes": (root / ".project" / "LOOPS.md").stat().st_size,
        "build_pack_s": round(in_process, 3),
        "decp_resume_s": round(cli, 3),
        "pack_tokens": pack.tokens,
        "loops_shown": len(pack.open_loops) + size // 10 - pack.dropped_loops,
        "setup_s": round(setup, 1),
    }


def bench_huge(scratch: Path, megabytes: int = 100) -> dict[str, object]:
    """A LOOPS.md of `megabytes` MB must be refused fast, not parsed for minutes."""
    root = scratch / "huge"
    stamp(root, 1)
    path = root / ".project" / "LOOPS.md"
    block = path.read_text(encoding="utf-8")
    filler = "x" * 1023 + "\n"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(block)
        for _ in range(megabytes * 1024):
            handle.write(filler)
    began = time.perf_counter()
    result = decp(root, "resume")
    took = time.perf_counter() - began
    return {
        "loops_md_mb": round(path.stat().st_size / 2**20),
        "exit_code": result.returncode,
        "stderr": result.stderr.strip()[:300],
        "seconds": round(took, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="decp-bench-resume-") as tmp:
        scratch = Path(tmp)
        rows = [bench_size(scratch, size, args.repeat) for size in sizes]
        huge = bench_huge(scratch)
    if args.json:
        print(json.dumps({"sizes": rows, "huge_loops_md": huge}, indent=2))
        return
    print(
        f"{'open loops':>10} {'LOOPS.md':>10} {'build_pack':>11} {'decp resume':>12} {'shown':>6}"
    )
    for row in rows:
        print(
            f"{row['open_loops']:>10,} {row['loops_md_bytes'] / 2**20:>8.1f}MB "
            f"{row['build_pack_s']:>10.3f}s {row['decp_resume_s']:>11.3f}s {row['loops_shown']:>6}"
        )
    print(
        f"100 MB LOOPS.md: exit {huge['exit_code']} after {huge['seconds']:.3f}s: {huge['stderr']}"
    )


if __name__ == "__main__":
    main()
