#!/usr/bin/env python3
"""Benchmark `decp dbt scope` against dbt-mp 0.3.0 on the same manifests and selections.

For every (manifest, selection) it reports, in one run so the ratios are fair:

* tokens: the decp pack at a 4,000-token budget vs dbt-mp's output file, both
  counted with the same counter (decp's default encoding, resolved offline);
* accounting: named + collapsed nodes over the selection size (must be 100%);
* sources and exposures named: what an impact question starts and ends at;
* wall time: decp cold (empty cache), decp warm (cache built by an earlier,
  different selection on the same manifest) and dbt-mp (`--offline`);
* peak RSS of decp (cold) and dbt-mp.

Each measured command runs in a fresh intermediate Python process that waits
for it and reads `getrusage(RUSAGE_CHILDREN)`, so the peak RSS is that
command's alone (RUSAGE_CHILDREN is a max over all waited-for children, which
would mix runs if measured from this process). Wall times are the minimum over
--repeat runs: the machine is shared, and the minimum is the least noisy.
Both tools read the same uncompressed `.json` (dbt-mp cannot read `.gz`).

dbt-mp lives in its own venv:
    python3 -m venv /work/benchvenv && /work/benchvenv/bin/pip install dbt-mp==0.3.0

Usage:
    python scripts/bench_dbt_scope.py --dbt-mp /work/benchvenv/bin/dbt-mp \\
        [--large /work/bench_large/shop_5000.manifest.json] [--out bench.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET = 4000
# A fresh process per measurement: run ARGV, print wall seconds and the child's peak RSS (KiB).
_WRAPPER = """
import json, os, resource, subprocess, sys, time
spec = json.loads(sys.argv[1])
start = time.perf_counter()
proc = subprocess.run(spec["argv"], cwd=spec["cwd"], env=spec["env"], capture_output=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(json.dumps({"wall": wall, "rss_kib": usage.ru_maxrss, "rc": proc.returncode,
                             "cpu": usage.ru_utime + usage.ru_stime,
                             "stdout": proc.stdout.decode("utf-8", "replace"),
                             "stderr": proc.stderr.decode("utf-8", "replace")}))
"""
# A warm scope through the Python API: what decp's own code costs without the CLI framework.
_API = """
import sys
from pathlib import Path
from decp.dbt import scope
scope(sys.argv[2], manifest=Path(sys.argv[1]), budget=int(sys.argv[3]))
"""
_SUMMARY = re.compile(
    r"(?P<named>\d+) named \+ (?P<collapsed>\d+) in (?P<groups>\d+) groups = (?P<total>\d+) nodes"
)


@dataclass
class Case:
    label: str
    manifest: Path  # uncompressed copy both tools read
    select: str
    primer: str  # a different selection that warms the cache first
    kind: str  # "example", "jaffle", "tuva", "large"


@dataclass
class Row:
    label: str
    select: str
    kind: str
    manifest_mb: float
    nodes: int = 0
    named: int = 0
    collapsed: int = 0
    groups: int = 0
    level: str = ""
    decp_tokens: int = 0
    mp_tokens: int = 0
    ratio: float = 0.0
    accounting_pct: float = 0.0
    endpoints: int = 0  # sources + exposures in the selection
    endpoints_named: int = 0  # ... of them named in the pack's map
    within_budget: bool = False
    cold_s: float = 0.0
    warm_s: float = 0.0
    mp_s: float = 0.0
    cold_cpu_s: float = 0.0
    warm_cpu_s: float = 0.0
    mp_cpu_s: float = 0.0
    warm_api_s: float = 0.0  # the same warm scope through the Python API (no CLI framework)
    cold_rss_mb: float = 0.0
    warm_rss_mb: float = 0.0
    mp_rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> dict:
    spec = json.dumps({"argv": argv, "cwd": str(cwd), "env": env})
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, spec], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def plain_copy(src: Path, workdir: Path) -> Path:
    """An uncompressed copy (dbt-mp reads only plain JSON; decp gets the same file)."""
    name = src.name.removesuffix(".gz")
    if not name.endswith(".json"):
        name += ".json"
    dest = workdir / f"{src.parent.name}-{name}"
    if dest.exists():
        return dest
    raw = src.read_bytes()
    dest.write_bytes(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return dest


def cases(args: argparse.Namespace, workdir: Path) -> list[Case]:
    out: list[Case] = []
    examples = REPO / "examples" / "manifests"
    for name in ("shop.manifest.json.gz", "shop_260.manifest.json.gz"):
        if (examples / name).is_file():
            m = plain_copy(examples / name, workdir)
            out.append(Case(name.split(".")[0], m, "+fct_orders+", "1+fct_orders", "example"))
        else:
            print(f"skip: {examples / name} not found", file=sys.stderr)
    shared = Path(args.shared) / "manifests"
    jaffle = shared / "jaffle_shop.manifest.json.gz"
    if jaffle.is_file():
        m = plain_copy(jaffle, workdir)
        out.append(Case("jaffle_shop", m, "+stg_orders+", "1+stg_orders", "jaffle"))
    tuva = shared / "tuva.manifest.json.gz"
    if tuva.is_file():
        m = plain_copy(tuva, workdir)
        for focal in (
            "core__condition",
            "dialysis__encounter_grain",
            "data_quality__analytical_data_marts",
        ):
            out.append(Case("tuva", m, f"+{focal}+", f"1+{focal}", "tuva"))
    else:
        print(f"skip: shared fixtures not found under {shared}", file=sys.stderr)
    if args.large:
        large = Path(args.large)
        m = plain_copy(large, workdir)
        out.append(Case(f"large ({large.name})", m, args.large_select, args.large_primer, "large"))
    return out


def bench_env(workdir: Path) -> dict[str, str]:
    """Both tools run with compiled bytecode, as after a normal install (see prime())."""
    drop = ("DECP_ROOT", "DECP_CACHE_DIR", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update({"NO_COLOR": "1", "PYTHONPYCACHEPREFIX": str(workdir / "pycache")})
    return env


def no_ledger_flag(python: str) -> list[str]:
    """`--no-record` (or the older `--no-ledger`): the bench never writes a ledger."""
    out = subprocess.run(
        [python, "-m", "decp", "dbt", "scope", "--help"], capture_output=True, text=True
    ).stdout
    for flag in ("--no-record", "--no-ledger"):
        if flag in out:
            return [flag]
    return []


def prime(args: argparse.Namespace, first: Case, workdir: Path) -> None:
    """One unmeasured run of each tool, so neither pays for compiling its modules."""
    env = bench_env(workdir)
    cache = workdir / "cache-prime"
    decp = [args.python, "-m", "decp", "dbt", "scope", "--manifest", str(first.manifest)]
    decp += ["--budget", str(args.budget), *args.no_ledger, "--select", first.select]
    decp += ["--level", "2"]
    measure(decp, workdir, {**env, "DECP_CACHE_DIR": str(cache)})
    if args.dbt_mp:
        measure([args.dbt_mp, "--help"], workdir, env)
    shutil.rmtree(cache, ignore_errors=True)


def run_case(case: Case, args: argparse.Namespace, counter, workdir: Path) -> Row:
    row = Row(case.label, case.select, case.kind, round(case.manifest.stat().st_size / 2**20, 1))
    base_env = bench_env(workdir)
    decp = [args.python, "-m", "decp", "dbt", "scope", "--manifest", str(case.manifest)]
    decp += ["--budget", str(args.budget), *args.no_ledger]
    cwd = workdir  # not a stamped repo: no config, no ledger

    colds, cold_rss, warms, warm_rss, mps, mp_rss = [], [], [], [], [], []
    cpu: dict[str, list[float]] = {"cold": [], "warm": [], "mp": []}
    apis: list[float] = []
    pack_text = ""
    stderr = ""
    for i in range(args.repeat):
        cache = workdir / f"cache-{case.label}-{case.select}-{i}".replace("/", "_").replace(
            " ", "_"
        )
        shutil.rmtree(cache, ignore_errors=True)
        env = {**base_env, "DECP_CACHE_DIR": str(cache)}
        cold = measure([*decp, "--select", case.select], cwd, env)
        if cold["rc"]:
            raise SystemExit(f"decp failed on {case.label} {case.select}: {cold['stderr']}")
        colds.append(cold["wall"])
        cpu["cold"].append(cold["cpu"])
        cold_rss.append(cold["rss_kib"])
        pack_text, stderr = cold["stdout"], cold["stderr"]
        shutil.rmtree(cache, ignore_errors=True)
        primer = measure(
            [*decp, "--select", case.primer], cwd, env
        )  # cache built by the primer only
        if primer["rc"]:
            raise SystemExit(f"decp primer failed: {primer['stderr']}")
        warm = measure([*decp, "--select", case.select], cwd, env)
        warms.append(warm["wall"])
        cpu["warm"].append(warm["cpu"])
        if args.api:
            api = measure(
                [args.python, "-c", _API, str(case.manifest), case.select, str(args.budget)],
                cwd,
                env,
            )
            if api["rc"]:
                raise SystemExit(f"decp API run failed: {api['stderr']}")
            apis.append(api["wall"])
        warm_rss.append(warm["rss_kib"])
        shutil.rmtree(cache, ignore_errors=True)
        if args.dbt_mp:
            mp_out = workdir / "mp_out.json"
            mp_cmd = [args.dbt_mp, "--offline", "--manifest-path", str(case.manifest)]
            mp = measure(
                [*mp_cmd, "--select", case.select, "--out-file", str(mp_out)], cwd, base_env
            )
            if mp["rc"]:
                raise SystemExit(f"dbt-mp failed on {case.label}: {mp['stderr']}")
            mps.append(mp["wall"])
            cpu["mp"].append(mp["cpu"])
            mp_rss.append(mp["rss_kib"])
    row.cold_s, row.warm_s = round(min(colds), 3), round(min(warms), 3)
    row.cold_cpu_s, row.warm_cpu_s = round(min(cpu["cold"]), 3), round(min(cpu["warm"]), 3)
    if cpu["mp"]:
        row.mp_cpu_s = round(min(cpu["mp"]), 3)
    if apis:
        row.warm_api_s = round(min(apis), 3)
    row.cold_rss_mb = round(max(cold_rss) / 1024, 1)
    row.warm_rss_mb = round(max(warm_rss) / 1024, 1)
    row.decp_tokens = counter.count(pack_text)
    row.within_budget = row.decp_tokens <= args.budget
    match = _SUMMARY.search(stderr)
    if match:
        row.named, row.collapsed = int(match["named"]), int(match["collapsed"])
        row.groups, row.nodes = int(match["groups"]), int(match["total"])
        row.accounting_pct = round(100 * (row.named + row.collapsed) / row.nodes, 2)
    row.endpoints, row.endpoints_named = endpoints(pack_text)
    level = re.search(r"dbt pack L(\d)", stderr)
    row.level = f"L{level.group(1)}" if level else "?"
    if args.dbt_mp:
        row.mp_s, row.mp_rss_mb = round(min(mps), 3), round(max(mp_rss) / 1024, 1)
        mp_text = (workdir / "mp_out.json").read_text(encoding="utf-8")
        row.mp_tokens = counter.count(mp_text)
        row.ratio = round(row.mp_tokens / row.decp_tokens, 1) if row.decp_tokens else 0.0
    return row


def endpoints(pack: str) -> tuple[int, int]:
    """Sources + exposures in the selection, and how many the Markdown map names."""
    selection = next((ln for ln in pack.splitlines() if ln.startswith("- selection:")), "")
    total = sum(int(n) for n in re.findall(r"(\d+) (?:source|exposure)\b", selection))
    in_map = pack.split("## Lineage map", 1)[-1].split("\n## ", 1)[0].split("```mermaid")[0]
    named, in_sources = 0, False
    for line in in_map.splitlines():
        if line.endswith(":") and not line.startswith("- "):
            in_sources = line.startswith("sources of ")
        elif line.startswith("- ") and (in_sources or re.search(r" \(exposure\b", line)):
            named += 1
    return total, named


def targets(rows: list[Row], budget: int, have_mp: bool) -> list[tuple[str, bool]]:
    checks = [
        ("every pack within budget", all(r.within_budget for r in rows)),
        ("100% accounting everywhere", all(r.accounting_pct == 100.0 for r in rows)),
    ]
    if not have_mp:
        return checks
    tuva = [r for r in rows if r.kind == "tuva"]
    large = [r for r in rows if r.kind == "large"]
    checks += [
        ("≥25× fewer tokens than dbt-mp on every tuva selection", all(r.ratio >= 25 for r in tuva)),
        ("cold time ≤ dbt-mp on every manifest", all(r.cold_s <= r.mp_s for r in rows)),
        ("warm ≥2× faster than dbt-mp on tuva", all(r.mp_s >= 2 * r.warm_s for r in tuva)),
    ]
    if large:
        checks += [
            (
                "warm ≥5× faster than dbt-mp on the large manifest",
                all(r.mp_s >= 5 * r.warm_s for r in large),
            ),
            (
                "peak RSS ≤ dbt-mp on the large manifest",
                all(r.cold_rss_mb <= r.mp_rss_mb for r in large),
            ),
        ]
    return checks


def table(rows: list[Row], label: str, budget: int) -> str:
    head = (
        f"| manifest (MB) | selection | nodes | decp tokens (≤{budget:,}, level) | dbt-mp tokens | ratio "
        "| accounting | sources+exposures named | decp cold s (cpu) | decp warm s (cpu) "
        "| dbt-mp s (cpu) | warm/dbt-mp | decp RSS MB | dbt-mp RSS MB |"
    )
    lines = [
        f"Token counts: {label}; times are the best of the runs, CPU = user+sys.",
        "",
        head,
        "|" + "---|" * 14,
    ]
    for r in rows:
        lines.append(
            f"| {r.label} ({r.manifest_mb}) | `{r.select}` | {r.nodes} | {r.decp_tokens:,} ({r.level}) "
            f"| {r.mp_tokens:,} | {r.ratio}× | {r.accounting_pct:g}% ({r.named}+{r.collapsed}) "
            f"| {r.endpoints_named} of {r.endpoints} "
            f"| {r.cold_s:.2f} ({r.cold_cpu_s:.2f}) | {r.warm_s:.2f} ({r.warm_cpu_s:.2f}) "
            f"| {r.mp_s:.2f} ({r.mp_cpu_s:.2f}) "
            f"| {(f'{r.warm_s / r.mp_s:.2f}×' if r.mp_s else '-')} "
            f"| {r.cold_rss_mb:.0f} | {r.mp_rss_mb:.0f} |"
        )
    if any(r.warm_api_s for r in rows):
        lines += [
            "",
            "| manifest | selection | decp warm s, CLI | decp warm s, Python API | dbt-mp s |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r.label} | `{r.select}` | {r.warm_s:.2f} | {r.warm_api_s:.2f} | {r.mp_s:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dbt-mp", default=os.environ.get("DBT_MP"), help="dbt-mp executable")
    parser.add_argument("--large", help="a 50 MB+ manifest (.json or .json.gz)")
    parser.add_argument("--large-select", default="+fct_orders+")
    parser.add_argument("--large-primer", default="1+fct_orders")
    parser.add_argument(
        "--shared",
        default=os.environ.get("DECP_SHARED_FIXTURES", str(REPO.parent / "shared" / "fixtures")),
    )
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="python that has decp installed")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument(
        "--api", action="store_true", help="also time warm scopes through the Python API"
    )
    args = parser.parse_args(argv)
    if args.dbt_mp and not shutil.which(args.dbt_mp):
        parser.error(f"--dbt-mp {args.dbt_mp!r} is not an executable")
    if not args.dbt_mp:
        print("no --dbt-mp (or $DBT_MP): measuring decp only", file=sys.stderr)

    sys.path.insert(0, str(REPO / "src"))
    from decp.core.config import defaults
    from decp.core.tokens import get_counter

    counter = get_counter(defaults()["encoding"])
    args.no_ledger = no_ledger_flag(args.python)
    workdir = Path(tempfile.mkdtemp(prefix="decp-bench-"))
    try:
        rows = []
        todo = cases(args, workdir)
        if todo:
            prime(args, todo[0], workdir)
        for case in todo:
            print(f"… {case.label} {case.select}", file=sys.stderr, flush=True)
            rows.append(run_case(case, args, counter, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(rows, counter.label, args.budget))
    checks = targets(rows, args.budget, bool(args.dbt_mp))
    print()
    for name, ok in checks:
        print(f"- {'PASS' if ok else 'FAIL'}: {name}")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "encoding": counter.label,
                    "budget": args.budget,
                    "repeat": args.repeat,
                    "rows": [asdict(r) for r in rows],
                    "targets": {name: ok for name, ok in checks},
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
