#!/usr/bin/env python3
"""Validate decp on a real 200+ node refactor: a grain change of the focal model, end to end.

Why: the claim "continuous and small" must hold where it matters, on a lineage too big to
paste. This script plays one grain-change refactor through the real CLI, in a temp git repo
stamped by real Copier, and counts what an agent reads at every step:

1. scope the lineage within the budget (`decp dbt scope --select SEL --budget 4000`);
2. ask the refactor's column question: which columns derive from the focal measure, and
   which feed it (`decp dbt columns MODEL.COLUMN --downstream`, then `--upstream`);
3. capture the loops the pack raises (`decp loop propose` x4, the user approves);
4. record decisions (`decp decision add ... --loop`);
5. commit the code change and read its blast radius (`decp dbt impact --changed-since main`);
6. end the session, then resume in a new one (`decp session end`, `decp resume`);
7. export the open loops (`decp gtd export --to todotxt`);
8. write the PR narrative (`decp pr`).

Every figure is counted with one counter (decp's default encoding, resolved offline) and set
against the raw manifest and, when dbt-mp is available, dbt-mp's output for the same selection.

    python scripts/validate_refactor.py                      # the 260-model example, +fct_orders+
    python scripts/validate_refactor.py --dbt-mp PATH --update-docs
    python scripts/validate_refactor.py --manifest ../shared/fixtures/manifests/tuva.manifest.json.gz \\
        --select +dialysis__encounter_grain+ --column total_paid_amount

Prints a Markdown table; `--out FILE` writes the JSON; `--update-docs` rewrites the figures in
docs/reference/worked-example.md (between its figures markers). Exit 1 when a step fails or a
limit is broken: a lineage under 200 nodes (the scenario's premise), a pack (scope, columns,
impact) over budget, accounting under 100%, an impact pack that misses the changed focal model,
a resume pack over 1,000 tokens, AGENTS.md + PROTOCOL.md + resume pack over 3,000, open loops
not exported, decisions (or the impact command) missing from the PR narrative.
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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

EXAMPLE_MANIFEST = ROOT / "examples" / "manifests" / "shop_260.manifest.json.gz"
EXAMPLE_SELECT = "+fct_orders+"
EXAMPLE_COLUMN = "net_revenue_usd"  # the additive measure a grain change can double count
# Words of a column name (split on `_`) that mark an additive measure: the default column
# question on other manifests (`encounter_id` is not one, `total_paid_amount` is).
MEASURE_WORDS = frozenset(
    [
        "amount",
        "revenue",
        "total",
        "cost",
        "price",
        "paid",
        "quantity",
        "qty",
        "count",
        "sum",
        "usd",
        "value",
    ]
)
EXAMPLE_MODELS = 260  # the example manifest is `gen_example.py OUT --models 260`, parsed by dbt
DOCS_PAGE = ROOT / "docs" / "reference" / "worked-example.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
FIGURES_RE = re.compile(r"<!-- figures-json: (\{.*?\}) -->")

BUDGET = 4000
RESUME_CAP = 1000
START_CAP = 3000  # AGENTS.md + PROTOCOL.md + resume pack: what a fresh agent reads first
LOOPS = 4  # questions the pack raises in the scenario
BASE_BRANCH = "main"  # the refactor branch is cut from it; impact compares with it
DECISIONS = 2  # of them, settled by the user; the rest go to GTD

GIT_ENV = {
    "GIT_AUTHOR_NAME": "decp validation",
    "GIT_AUTHOR_EMAIL": "validation@decp.invalid",
    "GIT_COMMITTER_NAME": "decp validation",
    "GIT_COMMITTER_EMAIL": "validation@decp.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


class StepFailed(Exception):
    """A command of the scenario failed; the message holds the command and its output."""


@dataclass
class Row:
    """One figure of the table: what an agent (or reviewer) reads at a step, in tokens."""

    key: str
    step: str
    what: str
    tokens: int
    stable: bool  # depends only on the manifest, the template and decp, not on clocks or SHAs


@dataclass
class Report:
    scenario: dict[str, Any]
    baseline: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(self.checks.values())


# --- the temp repo ---------------------------------------------------------------------


class Repo:
    """A stamped git repo and the environment every command of the scenario runs in."""

    def __init__(self, path: Path, cache: Path) -> None:
        self.path = path
        self.env = {k: v for k, v in os.environ.items() if k not in ("DECP_ROOT", "DECP_CACHE_DIR")}
        self.env.update(GIT_ENV)
        self.env.update({"NO_COLOR": "1", "COLUMNS": "200", "XDG_CACHE_HOME": str(cache)})
        self.log: list[str] = []
        self.seconds = 0.0  # wall time of the scenario's commands, reset per step

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        self.log.append(" ".join(argv))
        start = time.perf_counter()
        proc = subprocess.run(
            list(argv), cwd=self.path, env=self.env, capture_output=True, text=True, timeout=600
        )
        self.seconds += time.perf_counter() - start
        if proc.returncode != 0:
            raise StepFailed(
                f"`{' '.join(argv)}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def decp(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = self.run(sys.executable, "-m", "decp", *args)
        self.log[-1] = "decp " + " ".join(_quote(a) for a in args)
        return proc

    def git(self, *args: str) -> str:
        return self.run("git", "-c", "commit.gpgsign=false", *args).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text(encoding="utf-8")


def _quote(arg: str) -> str:
    return f"'{arg}'" if re.search(r"[\s+*?\"]", arg) else arg


def template_repo(dest: Path) -> Path:
    """A throw-away git repo of exactly what Copier needs from this working tree."""
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "copier.yml", dest / "copier.yml")
    shutil.copytree(ROOT / "template", dest / "template")
    (dest / "src" / "decp").mkdir(parents=True)
    shutil.copy2(ROOT / "src" / "decp" / "defaults.yml", dest / "src" / "decp" / "defaults.yml")
    env = {**os.environ, **GIT_ENV}
    for argv in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "template"],
    ):
        subprocess.run(["git", *argv], cwd=dest, env=env, check=True, capture_output=True)
    return dest


def prepare(
    work: Path,
    manifest_text: str,
    project_name: str,
    generate_example: bool,
    focal: FocalModel,
) -> Repo:
    """The dbt project (or just its manifest) as a git repo on main, stamped and committed.

    With a manifest alone, the focal model's file is written from its `raw_code`, so the
    refactor has a real file to change and `decp dbt impact` a real diff to read.
    """
    import copier

    path = work / project_name
    if generate_example:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "gen_example.py"),
                str(path),
                "--models",
                str(EXAMPLE_MODELS),
            ],
            check=True,
            capture_output=True,
        )
    else:
        path.mkdir(parents=True)
        (path / ".gitignore").write_text("target/\n", encoding="utf-8")
        if focal.path and focal.raw_code is not None:
            model_file = path / focal.path
            model_file.parent.mkdir(parents=True, exist_ok=True)
            model_file.write_text(focal.raw_code, encoding="utf-8")
    (path / "target").mkdir(exist_ok=True)
    (path / "target" / "manifest.json").write_text(manifest_text, encoding="utf-8")
    repo = Repo(path, work / "cache")
    repo.git("init", "-q", "-b", BASE_BRANCH)
    repo.commit("dbt project")
    copier.run_copy(
        str(template_repo(work / "template")),
        str(path),
        data={"project_name": project_name},
        defaults=True,
        unsafe=False,
        quiet=True,
        vcs_ref="HEAD",  # the working tree's template, untagged
    )
    repo.commit("Stamp the decp protocol")
    return repo


# --- counting -----------------------------------------------------------------------------


def read_manifest(path: Path) -> str:
    raw = path.read_bytes()
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")


def dbt_mp_tokens(dbt_mp: str, manifest_json: Path, select: str, counter: Any, work: Path) -> int:
    out = work / "dbt-mp.json"
    subprocess.run(
        [
            dbt_mp,
            "--offline",
            "--manifest-path",
            str(manifest_json),
            "--select",
            select,
            "--out-file",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=work,
    )
    return counter.count(out.read_text(encoding="utf-8"))


# --- the scenario -----------------------------------------------------------------------------


def focal_of(select: str) -> str:
    return select.strip().strip("+").split(",")[0].split()[0]


@dataclass(frozen=True)
class FocalModel:
    """What the scenario needs of the focal model, read once from the manifest."""

    name: str
    path: str | None  # original_file_path, relative to the dbt project
    raw_code: str | None
    columns: tuple[str, ...]  # documented in YAML, in order
    in_root_project: bool = True  # False for a package's model: impact reads root files only


def focal_model(manifest: dict[str, Any], name: str) -> FocalModel:
    node = next(
        (
            n
            for n in (manifest.get("nodes") or {}).values()
            if isinstance(n, dict) and n.get("name") == name and n.get("resource_type") == "model"
        ),
        {},
    )
    documented = node.get("columns")
    columns: dict[str, Any] = documented if isinstance(documented, dict) else {}
    raw, path = node.get("raw_code", node.get("raw_sql")), node.get("original_file_path")
    root = (manifest.get("metadata") or {}).get("project_name")
    return FocalModel(
        name=name,
        path=path if isinstance(path, str) else None,
        raw_code=raw if isinstance(raw, str) else None,
        columns=tuple(str(c) for c in columns),
        in_root_project=not root or node.get("package_name") in (None, root),
    )


def default_column(focal: FocalModel) -> str | None:
    """The focal column the grain change puts at risk: its first additive-looking measure."""
    measures = (c for c in focal.columns if MEASURE_WORDS & set(c.lower().split("_")))
    return next(measures, None) or next(iter(focal.columns), None)


def direct_children(pack: dict[str, Any], focal: str) -> list[str]:
    """Named consumers that read the focal model directly: where a grain change lands first.

    Sorted by name so the scenario (and its token counts) does not depend on pack order.
    """
    return sorted(
        n["name"] for n in pack["named"] if focal in n.get("parents", []) and not n.get("focal")
    )


@dataclass(frozen=True)
class Question:
    """A loop the pack raises, and the decision the user would take on it."""

    title: str
    body: str
    source: str
    decision: tuple[str, str]  # (what, why)


def derived_by_node(answer: dict[str, Any]) -> dict[str, list[str]]:
    """The downstream column answer, per consumer: node name -> its derived columns, in order."""
    out: dict[str, list[str]] = {}
    for entry in (answer.get("downstream") or {}).get("columns") or []:
        node, _, col = str(entry[1]).rpartition(".")
        out.setdefault(node, []).append(col)
    return out


def raised_questions(
    pack: dict[str, Any], focal: str, derived: dict[str, list[str]] | None = None, target: str = ""
) -> list[Question]:
    """LOOPS questions: direct consumers named in the pack (all but one), then the biggest groups.

    A consumer's question names the columns `decp dbt columns` found deriving from the focal
    column: the exact places where sums and counts may fan out.
    """
    derived = derived or {}

    def consumer_body(child: str) -> str:
        cols = derived.get(child, [])
        if not cols:
            return (
                f"{child} reads {focal} directly; its sums and counts may fan out at the new grain."
            )
        shown = ", ".join(f"{child}.{c}" for c in cols[:3]) + (
            f" (+{len(cols) - 3} more)" if len(cols) > 3 else ""
        )
        return f"{shown} derive from {target}; at the new grain they may fan out or double count."

    decisions = [
        (
            "reads a rollup of {focal} at the old grain",
            "its own consumers expect one row per old key",
        ),
        (
            "moves to the new grain with {focal}",
            "it sums additive measures only, so totals match before and after",
        ),
    ]
    questions = [
        Question(
            f"Does {child} aggregate {focal} at the old grain?",
            consumer_body(child),
            child,
            (f"{child} " + decisions[i % 2][0].format(focal=focal), decisions[i % 2][1]),
        )
        for i, child in enumerate(direct_children(pack, focal)[: LOOPS - 1])
    ]
    for group in sorted(pack["groups"], key=lambda g: (-g["count"], g["label"])):
        if len(questions) >= LOOPS:
            break
        questions.append(
            Question(
                f"Which of the {group['count']} models in {group['label']} join on the {focal} key?",
                f"Collapsed in the pack as {group['id']}; expand with: {group['expand']}",
                focal,
                (
                    f"The {group['count']} models in {group['label']} read {focal} through a rollup at the old grain",
                    "none of them is reviewed in this PR; the rollup keeps their grain until each is checked",
                ),
            )
        )
    return questions


def scenario(
    repo: Repo,
    report: Report,
    counter: Any,
    select: str,
    budget: int,
    column: str | None,
    model: FocalModel,
) -> None:
    focal = report.scenario["focal"]
    rows = report.rows

    def step(number: int, name: str, figures: dict[str, Any]) -> None:
        report.steps.append(
            {
                "step": number,
                "name": name,
                "ok": True,
                "commands": list(repo.log),
                "seconds": round(repo.seconds, 2),
                "figures": figures,
            }
        )
        repo.log.clear()
        repo.seconds = 0.0

    repo.git("switch", "-q", "-c", f"refactor/{focal}-grain")
    repo.decp("session", "start")
    repo.decp("state", "set", "goal", f"Change the grain of {focal} without breaking its consumers")

    # 1. Scope: the pack an agent reads (Markdown, recorded in the ledger) and its JSON twin.
    repo.decp(
        "dbt", "scope", "--select", select, "--budget", str(budget), "--out", "target/scope.md"
    )
    pack_md = repo.read("target/scope.md")
    pack_json = repo.decp(
        "dbt",
        "scope",
        "--select",
        select,
        "--budget",
        str(budget),
        "--format",
        "json",
        "--no-record",
    ).stdout
    pack = json.loads(pack_json)
    json_tokens = counter.count(pack_json)
    md_tokens = counter.count(pack_md)
    rows.append(
        Row(
            "pack_md",
            "1. Scope",
            f"lineage pack `{select}` (Markdown, level {_md_level(pack_md)})",
            md_tokens,
            True,
        )
    )
    rows.append(
        Row(
            "pack_json",
            "1. Scope",
            f"the same pack as JSON (level {pack['level']})",
            json_tokens,
            True,  # names the manifest relative to the repo, so no temp dir leaks in
        )
    )
    accounting = pack["accounting"]
    step(
        1,
        "scope",
        {
            "nodes": pack["selection"]["nodes"],
            "edges": pack["selection"]["edges"],
            "tests": pack["selection"]["tests"],
            "kinds": pack["selection"]["kinds"],
            "md_tokens": md_tokens,
            "md_level": _md_level(pack_md),
            "json_tokens_reported": pack["tokens"],
            "json_tokens": json_tokens,
            "json_level": pack["level"],
            "accounting": accounting,
            "levels_whole_selection": pack["levels"],
        },
    )
    report.checks["lineage_200_plus"] = pack["selection"]["nodes"] >= 200
    report.checks["pack_within_budget"] = md_tokens <= budget and json_tokens <= budget
    report.checks["accounting_100"] = (
        accounting["named"] + accounting["collapsed"] == accounting["total"]
        and accounting["percent"] == 100.0
    )

    # 2. The column question node lineage cannot answer: which consumer columns derive from
    # the focal measure (they fan out or double count at the new grain), and which source
    # columns feed it (where the new grain's values come from).
    if column is None:
        raise StepFailed(f"{focal} has no documented column to ask about; pass --column NAME")
    target = f"{focal}.{column}"
    columns: dict[str, dict[str, Any]] = {}
    derived: dict[str, list[str]] = {}
    for direction in ("downstream", "upstream"):
        flags = (target, f"--{direction}", "--budget", str(budget))
        text = repo.decp("dbt", "columns", *flags).stdout
        answer = json.loads(repo.decp("dbt", "columns", *flags, "--json").stdout)
        columns[direction] = _column_figures(answer, direction, counter.count(text))
        if direction == "downstream":
            derived = derived_by_node(answer)
        rows.append(
            Row(
                f"columns_{direction}",
                "2. Columns",
                _columns_what(target, direction, columns[direction]),
                columns[direction]["md_tokens"],
                True,
            )
        )
    report.checks["columns_within_budget"] = all(c["md_tokens"] <= budget for c in columns.values())
    report.checks["columns_accounting_100"] = all(c["accounted"] for c in columns.values())
    step(2, "columns", {"column": target, **columns})

    # 3. Loops the pack and the column answer raise: direct consumers, then the biggest groups.
    questions = raised_questions(pack, focal, derived, target)
    loop_ids = []
    for question in questions:
        loop_ids.append(
            repo.decp(
                "loop",
                "propose",
                question.title,
                "--body",
                question.body,
                "--context",
                f"reading the {select} pack",
                "--source",
                question.source,
                "--tag",
                "grain",
            ).stdout.split()[0]
        )
    repo.decp("loop", "approve", *loop_ids)
    rows.append(
        Row(
            "loops_md",
            "3. Loops",
            f"LOOPS.md with {len(loop_ids)} approved loops",
            counter.count(repo.read(".project/LOOPS.md")),
            False,
        )
    )
    step(3, "loops", {"proposed": len(loop_ids), "approved": loop_ids})

    # 4. The user settles the first two; the rest stay open for GTD.
    decided = loop_ids[:DECISIONS]
    for loop_id, question in zip(decided, questions, strict=False):
        what, why = question.decision
        repo.decp("decision", "add", what, "--why", why, "--loop", loop_id)
    rows.append(
        Row(
            "state_md",
            "4. Decisions",
            f"STATE.md with {len(decided)} decisions",
            counter.count(repo.read(".project/STATE.md")),
            False,
        )
    )
    step(4, "decisions", {"decisions": len(decided), "closed_loops": decided})

    # 5. The code change the PR is about (a new model at the new grain, a note on the focal
    # model), then its blast radius: what the branch changed, everything downstream, the
    # exposures at the end. Recorded in the ledger, as an agent would.
    _change_code(repo, model)
    repo.commit(f"Refactor {focal}: new grain model")
    repo.decp(
        "dbt",
        "impact",
        "--changed-since",
        BASE_BRANCH,
        "--budget",
        str(budget),
        "--out",
        "target/impact.md",
    )
    impact_text = repo.read("target/impact.md")
    impact_figures = _impact_figures(impact_text, focal)
    impact_tokens = counter.count(impact_text)
    rows.append(
        Row(
            "impact",
            "5. Impact",
            f"blast radius of the branch (`decp dbt impact --changed-since {BASE_BRANCH}`): "
            f"{impact_figures['changed']} changed, {impact_figures['downstream']} downstream, "
            f"{impact_figures['exposures']} exposures",
            impact_tokens,
            False,  # names the base commit's SHA
        )
    )
    report.checks["impact_within_budget"] = impact_tokens <= budget
    if model.in_root_project:
        report.checks["impact_finds_the_change"] = impact_figures["focal_changed"]
    else:  # decp compares the root project's files only; a package is not in the repo's diff
        impact_figures["note"] = (
            f"{focal} belongs to a package, not the root project: its change is not selected"
        )
    step(5, "impact", {"tokens": impact_tokens, **impact_figures})

    # 6. End the session, then resume in a new one.
    end = repo.decp(
        "session",
        "end",
        "--done",
        f"Scoped {select}: {pack['selection']['nodes']} nodes in one pack within {budget:,} tokens",
        "--done",
        f"Decided {len(decided)} consumers; {len(loop_ids) - len(decided)} loops stay open",
        "--next",
        f"Build {focal}__new_grain and run the proof-of-correctness queries",
        "--verified",
        f"decp dbt scope accounted for {accounting['percent']:g}% of {accounting['total']} nodes",
        "--verified",
        f"decp dbt impact --changed-since {BASE_BRANCH}: {impact_figures['changed']} changed, "
        f"{impact_figures['downstream']} downstream, {impact_figures['exposures']} exposures",
        "--json",
    )
    summary_path = json.loads(end.stdout)["path"]
    summary = repo.read(summary_path)
    repo.commit("Session 1 handoff")
    resume = repo.decp("resume").stdout
    repo.decp("session", "start")
    agents, protocol = repo.read("AGENTS.md"), repo.read(".project/PROTOCOL.md")
    resume_tokens = counter.count(resume)
    start_tokens = counter.count(agents) + counter.count(protocol) + resume_tokens
    rows.append(
        Row(
            "session_summary",
            "6. Handoff",
            "session summary (`.project/sessions/…-1.md`)",
            counter.count(summary),
            False,
        )
    )
    rows.append(Row("resume", "6. Resume", "resume pack (`decp resume`)", resume_tokens, False))
    rows.append(
        Row(
            "agents_protocol",
            "6. Resume",
            "AGENTS.md + PROTOCOL.md (read once per session)",
            counter.count(agents) + counter.count(protocol),
            True,
        )
    )
    rows.append(
        Row(
            "start_total",
            "6. Resume",
            "what a fresh agent reads first: AGENTS.md + PROTOCOL.md + resume pack",
            start_tokens,
            False,
        )
    )
    report.checks["resume_within_1000"] = resume_tokens <= RESUME_CAP
    report.checks["start_within_3000"] = start_tokens <= START_CAP
    step(
        6,
        "handoff and resume",
        {
            "summary": summary_path,
            "resume_tokens": resume_tokens,
            "start_tokens": start_tokens,
            "resume_self_report": _self_report(resume),
        },
    )

    # 7. Export the open loops.
    export = json.loads(repo.decp("gtd", "export", "--to", "todotxt", "--json").stdout)
    todo = repo.read(".project/gtd/todo.txt")
    exported = sum(1 for line in todo.splitlines() if "id:LOOP-" in line)
    rows.append(
        Row(
            "todo_txt", "7. GTD", f"todo.txt with {exported} open loops", counter.count(todo), False
        )
    )
    report.checks["open_loops_exported"] = exported == len(loop_ids) - len(decided)
    step(7, "gtd export", {"exported": exported, "report": export})
    repo.commit("Session 2: loops exported")

    # 8. The PR narrative.
    repo.decp("pr", "--out", "target/PR.md")
    pr = repo.read("target/PR.md")
    rows.append(Row("pr", "8. PR", "PR narrative (`decp pr`)", counter.count(pr), False))
    report.checks["pr_has_reasoning"] = all(
        f"DECISION-00{i}" in pr for i in range(1, len(decided) + 1)
    )
    # decp pr hands the reviewer the blast-radius command for the PR's base
    report.checks["pr_names_impact"] = "`decp dbt impact --changed-since " in pr
    step(
        8,
        "pr narrative",
        {
            "tokens": counter.count(pr),
            "decisions_in_pr": report.checks["pr_has_reasoning"],
            "impact_in_pr": report.checks["pr_names_impact"],
        },
    )


def _column_figures(answer: dict[str, Any], direction: str, md_tokens: int) -> dict[str, Any]:
    """What a column answer found, from its JSON twin: columns, nodes, fidelity, unknowns."""
    part = answer.get(direction) or {}
    listed = part.get("columns") or []
    fidelity: dict[str, int] = {}
    for entry in listed:
        fidelity[entry[2]] = fidelity.get(entry[2], 0) + 1
    return {
        "md_tokens": md_tokens,
        "columns": part.get("total_columns", 0),
        "nodes_listed": len({entry[1].rsplit(".", 1)[0] for entry in listed}),
        "unknowns": part.get("total_unknowns", 0),
        "exposures": part.get("total_exposures", 0),
        "fidelity_listed": dict(sorted(fidelity.items())),
        "listed": answer.get("listed"),
        "total": answer.get("total"),
        "accounted": answer.get("listed", 0) + part.get("not_listed", 0) == answer.get("total"),
    }


def _columns_what(target: str, direction: str, found: dict[str, Any]) -> str:
    if direction == "downstream":
        what = f"{found['columns']} columns derived from `{target}`, {found['exposures']} exposures"
    else:
        what = f"{found['columns']} columns feeding `{target}`"
    unknowns = f", {found['unknowns']} unknown" if found["unknowns"] else ""
    return f"`decp dbt columns --{direction}`: {what}{unknowns}"


_IMPACT_HEAD = re.compile(r"^# dbt impact: (\d+) changed, (\d+) downstream, (\d+) exposures", re.M)


def _impact_figures(text: str, focal: str) -> dict[str, Any]:
    """The impact pack's own header: counts, and whether it names the focal model as changed."""
    head = _IMPACT_HEAD.search(text)
    changed_line = next((ln for ln in text.splitlines() if ln.startswith("- Changed:")), "")
    counts = [int(n) for n in head.groups()] if head else [0, 0, 0]
    return {
        "changed": counts[0],
        "downstream": counts[1],
        "exposures": counts[2],
        "focal_changed": f"`{focal}`" in changed_line,
        "new_files": "Not in the manifest yet" in text,
    }


def _md_level(pack_md: str) -> int:
    match = re.search(r"pack: level (\d)", pack_md)
    return int(match.group(1)) if match else -1


def _self_report(resume: str) -> int | None:
    match = re.search(r"This pack: ([\d,]+) tokens", resume)
    return int(match.group(1).replace(",", "")) if match else None


def _change_code(repo: Repo, model: FocalModel) -> None:
    focal = model.name
    if model.path and (repo.path / model.path).is_file():
        with (repo.path / model.path).open("a", encoding="utf-8") as handle:
            handle.write("\n-- grain change in progress: see DECISION-001 and DECISION-002\n")
    new_model = repo.path / "models" / "refactor" / f"{focal}__new_grain.sql"
    new_model.parent.mkdir(parents=True, exist_ok=True)
    new_model.write_text(
        "-- One row per line of each " + focal + " row: the new grain (work in progress).\n"
        "select * from {{ ref('" + focal + "') }}\n",
        encoding="utf-8",
    )


# --- output -------------------------------------------------------------------------------


def _times(reference: int | None, tokens: int) -> str:
    if not reference or not tokens:
        return "—"
    ratio = reference / tokens
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:,.1f}×"


def markdown(report: Report) -> str:
    s, b = report.scenario, report.baseline
    mp = b.get("dbt_mp_tokens")
    lines = [
        f"Scenario: `{s['select']}` on `{s['manifest']}` ({s['nodes']} lineage nodes), "
        f"column `{s['focal']}.{s.get('column')}`, budget {s['budget']:,} tokens per pack; "
        f"counted with `{s['encoding']}`.",
        "",
        "| Step | What is read | Tokens | Raw manifest ÷ this | dbt-mp ÷ this |",
        "|---|---|--:|--:|--:|",
        f"| baseline | raw `manifest.json` | {b['raw_manifest_tokens']:,} | 1× | — |",
    ]
    if mp:
        lines.append(
            f"| baseline | dbt-mp `--select '{s['select']}'` output | {mp:,} | {_times(b['raw_manifest_tokens'], mp)} | 1× |"
        )
    for row in report.rows:
        lines.append(
            f"| {row.step} | {row.what} | {row.tokens:,} | {_times(b['raw_manifest_tokens'], row.tokens)} | {_times(mp, row.tokens)} |"
        )
    if not mp:
        lines += ["", f"dbt-mp: {b.get('dbt_mp_note', 'not run')}."]
    checks = ", ".join(f"{name} {'✓' if ok else '✗'}" for name, ok in report.checks.items())
    lines += ["", f"Checks: {checks}."]
    return "\n".join(lines)


def figures(report: Report) -> dict[str, int]:
    """The numbers the docs page publishes, keyed for the freshness test."""
    out = {
        "raw_manifest": report.baseline["raw_manifest_tokens"],
        "nodes": report.scenario["nodes"],
    }
    if report.baseline.get("dbt_mp_tokens"):
        out["dbt_mp"] = report.baseline["dbt_mp_tokens"]
    out.update({row.key: row.tokens for row in report.rows})
    return out


def update_docs(report: Report, page: Path = DOCS_PAGE) -> None:
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page}: markers {BEGIN} / {END} not found")
    block = (
        f"{BEGIN}\n<!-- generated by `python scripts/validate_refactor.py --dbt-mp PATH --update-docs`; do not edit -->\n"
        f"<!-- figures-json: {json.dumps(figures(report), sort_keys=True)} -->\n"
        f"\n{markdown(report)}\n\n{END}"
    )
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    page.write_text(head + block + tail, encoding="utf-8")


def committed_figures(page: Path = DOCS_PAGE) -> dict[str, int]:
    match = FIGURES_RE.search(page.read_text(encoding="utf-8"))
    return json.loads(match.group(1)) if match else {}


# --- main ---------------------------------------------------------------------------------


def validate(
    manifest: Path,
    select: str,
    budget: int,
    dbt_mp: str | None,
    work: Path,
    column: str | None = None,
) -> Report:
    from decp.core.tokens import get_counter

    counter = get_counter("o200k_base")  # decp's default encoding; offline it resolves to cl100k
    text = read_manifest(manifest)
    is_example = manifest.resolve() == EXAMPLE_MANIFEST.resolve()
    project = "shop" if is_example else manifest.name.split(".")[0]
    model = focal_model(json.loads(text), focal_of(select))
    column = column or (EXAMPLE_COLUMN if is_example else default_column(model))
    report = Report(
        scenario={
            "manifest": manifest.name,
            "select": select,
            "focal": model.name,
            "column": column,
            "budget": budget,
            "encoding": counter.label,
            "project": project,
            "nodes": 0,
        },
        baseline={
            "raw_manifest_bytes": len(text.encode("utf-8")),
            "raw_manifest_tokens": counter.count(text),
        },
    )
    if dbt_mp and Path(dbt_mp).is_file():
        plain = work / "manifest.json"
        plain.write_text(text, encoding="utf-8")
        report.baseline["dbt_mp_tokens"] = dbt_mp_tokens(dbt_mp, plain, select, counter, work)
        report.baseline["dbt_mp"] = dbt_mp
    else:
        report.baseline["dbt_mp_tokens"] = None
        report.baseline["dbt_mp_note"] = (
            f"not found at {dbt_mp}" if dbt_mp else "not available (pass --dbt-mp PATH)"
        )
    try:
        repo = prepare(work, text, project, generate_example=is_example, focal=model)
        scenario(repo, report, counter, select, budget, column, model)
        report.scenario["nodes"] = report.steps[0]["figures"]["nodes"]
    except (StepFailed, subprocess.CalledProcessError, KeyError, json.JSONDecodeError) as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        if report.steps:
            report.scenario["nodes"] = report.steps[0]["figures"]["nodes"]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=EXAMPLE_MANIFEST,
        help="manifest.json(.gz) (default: the 260-model example)",
    )
    parser.add_argument(
        "--select",
        default=None,
        help=f"dbt selector of the refactor (default: {EXAMPLE_SELECT} on the example)",
    )
    parser.add_argument(
        "--column",
        default=None,
        help=f"the focal column of the column question (default: {EXAMPLE_COLUMN} on the "
        "example, else the focal model's first documented measure)",
    )
    parser.add_argument("--budget", type=int, default=BUDGET, help="token budget of every pack")
    parser.add_argument(
        "--dbt-mp",
        default=os.environ.get("DECP_DBT_MP") or shutil.which("dbt-mp"),
        help="dbt-mp executable (default: $DECP_DBT_MP or PATH)",
    )
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"rewrite the figures in {DOCS_PAGE.relative_to(ROOT)}",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp repo and print its path")
    args = parser.parse_args(argv)
    if not args.manifest.is_file():
        parser.error(f"--manifest {args.manifest}: no such file")
    select = args.select or (
        EXAMPLE_SELECT if args.manifest.resolve() == EXAMPLE_MANIFEST.resolve() else None
    )
    if not select:
        parser.error("--select is required with a manifest other than the example")
    if args.update_docs and args.manifest.resolve() != EXAMPLE_MANIFEST.resolve():
        parser.error("--update-docs publishes the bundled example only")

    work = Path(tempfile.mkdtemp(prefix="decp-validate-"))
    try:
        report = validate(args.manifest, select, args.budget, args.dbt_mp, work, args.column)
    finally:
        if args.keep:
            print(f"temp repo kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown(report))
    data = {**asdict(report), "figures": figures(report), "ok": report.ok}
    if args.out:
        args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if report.error:
        print(f"validate_refactor: {report.error}", file=sys.stderr)
        return 1
    if not report.ok:
        failed = [name for name, ok in report.checks.items() if not ok]
        print(f"validate_refactor: limits broken: {', '.join(failed)}", file=sys.stderr)
        return 1
    if args.update_docs:
        update_docs(report)
        print(f"updated {DOCS_PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
