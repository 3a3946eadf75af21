"""`decp doctor`: check that a stamped repo is complete, valid and wired to every agent.

Doctor is the first thing to run when something feels off, so every finding
says what is wrong and the exact fix. `--fix` only ever adds or refreshes the
marked decp block in agent files; it never rewrites user content.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from decp import __version__
from decp.agents.agentfiles import (
    AgentFile,
    files_for,
    find_block,
    reaches_protocol,
    render_block,
    upsert_block,
)
from decp.core.config import ANSWERS_FILE, PROJECT_DIR, Config, find_root, load_config
from decp.core.errors import DecpError
from decp.core.fsio import atomic_write, locked, read_text
from decp.core.mdoc import conflict_line

TEMPLATE_OWNED = ("PROTOCOL.md", "README.md", "decp.toml")
USER_DATA = ("STATE.md", "LOOPS.md", "CONTEXT.md", "sessions")
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)")


@dataclass
class Finding:
    level: str  # "ok" | "warn" | "fail"
    what: str
    fix: str = ""


@dataclass
class Report:
    root: Path | None
    findings: list[Finding] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)  # data files already reported broken

    def add(self, level: str, what: str, fix: str = "") -> None:
        self.findings.append(Finding(level, what, fix))

    @property
    def failed(self) -> bool:
        return any(f.level == "fail" for f in self.findings)


def _check_layout(root: Path, report: Report) -> None:
    project = root / PROJECT_DIR
    for name in TEMPLATE_OWNED:
        if (project / name).exists():
            report.add("ok", f"{PROJECT_DIR}/{name} present")
        else:
            report.add(
                "fail",
                f"{PROJECT_DIR}/{name} is missing",
                f"restore it from git: `git checkout <commit> -- {PROJECT_DIR}/{name}` "
                "(updates never recreate a file you deleted)",
            )
    for name in USER_DATA:
        if not (project / name).exists():
            report.add(
                "warn",
                f"{PROJECT_DIR}/{name} is missing",
                "decp recreates it on first write; restore it from git if it was deleted by mistake",
            )
        elif name != "sessions":
            _check_data_file(project / name, f"{PROJECT_DIR}/{name}", report)


def _check_data_file(path: Path, shown: str, report: Report) -> None:
    """A protocol file decp must read: a readable UTF-8 file without merge conflict markers."""
    try:
        text = read_text(path)
    except DecpError as exc:
        report.add("fail", exc.one_line())
        report.unreadable.add(path.name)
        return
    marker = conflict_line(text)
    if marker is not None:
        report.unreadable.add(path.name)
        report.add(
            "fail",
            f"{shown}:{marker} holds git merge conflict markers",
            "resolve the merge (keep the right lines, delete the <<<<<<< ======= >>>>>>> lines), "
            "then rerun",
        )


def _check_answers(root: Path, report: Report) -> None:
    path = root / ANSWERS_FILE
    if not path.is_file():
        report.add(
            "fail",
            f"{ANSWERS_FILE} is missing, so `copier update` cannot find the template",
            "restore it from git, or re-stamp with `copier copy`",
        )
        return
    try:
        answers = yaml.safe_load(read_text(path)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        report.add("fail", f"{ANSWERS_FILE}{line} is not valid YAML", "restore it from git")
        return
    except DecpError as exc:
        report.add("fail", exc.one_line())
        return
    if not isinstance(answers, dict) or "_src_path" not in answers:
        report.add("fail", f"{ANSWERS_FILE} has no _src_path", "restore it from git")
        return
    commit = str(answers.get("_commit", ""))
    report.add("ok", f"answers file: template {answers['_src_path']} at {commit or 'unknown'}")
    stamped, ours = _VERSION_RE.match(commit), _VERSION_RE.match(__version__)
    if stamped and ours and stamped.groups() != ours.groups():
        report.add(
            "warn",
            f"protocol stamped from decp {commit} but decp {__version__} is installed",
            "run `copier update` in the repo, or install the matching decp version",
        )


def _check_symlink(config: Config, agent_file: AgentFile, report: Report, fix: bool) -> None:
    """An agent file that is a symlink (CLAUDE.md -> AGENTS.md) is the user's choice.

    It is never replaced by a regular file. When its target already carries a
    decp block it is fine as it is; otherwise `--fix` adds the block to the
    target (inside the repo only), so the link keeps working.
    """
    path = config.root / agent_file.path
    shown = f"{agent_file.path} -> {os.readlink(path)}"
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        report.add(
            "fail",
            f"{shown} is a broken symlink",
            "point it at an existing file (e.g. AGENTS.md) or delete it and run `decp doctor --fix`",
        )
        return
    if not target.is_relative_to(config.root.resolve()) or not target.is_file():
        report.add(
            "fail",
            f"{shown} leads outside the repo or to a non-file",
            "point it at a file in the repo (e.g. AGENTS.md); decp will not write through it",
        )
        return
    text = read_text(target)
    if find_block(text) is not None:
        report.add("ok", f"{shown} reaches the protocol (symlink; its target has the decp block)")
        return
    if not fix:
        report.add(
            "warn" if reaches_protocol(text, agent_file.agent) else "fail",
            f"{shown}: the symlink's target has no decp block",
            "run `decp doctor --fix` (adds the block to the target; the symlink stays)",
        )
        return
    with locked(target):
        atomic_write(target, upsert_block(text, render_block(agent_file.agent, config)))
    report.fixed.append(
        f"added block to {target.relative_to(config.root.resolve())} (through the {agent_file.path} symlink)"
    )
    report.add("ok", f"{shown} reaches the protocol (block added to its target)")


def _check_agents(config: Config, report: Report, fix: bool) -> None:
    for agent_file in files_for(config.agents):
        try:
            if (config.root / agent_file.path).is_symlink():
                _check_symlink(config, agent_file, report, fix)
            else:
                _check_agent_file(config, agent_file, report, fix)
        except DecpError as exc:
            report.add("fail", exc.one_line())


def _check_agent_file(config: Config, agent_file: AgentFile, report: Report, fix: bool) -> None:
    """One regular agent file: current block, outdated block, pointer only, or nothing."""
    path = config.root / agent_file.path
    block = render_block(agent_file.agent, config)
    if path.exists() and not path.is_file():
        report.add(
            "fail",
            f"{agent_file.path} is not a file",
            f"move it away; decp needs {agent_file.path} to be a file",
        )
        return
    text = read_text(path) if path.is_file() else None
    current = find_block(text) if text is not None else None
    if text is not None and current == block:
        report.add("ok", f"{agent_file.path} reaches the protocol")
        return
    if fix:
        new_text = agent_file.preamble + block + "\n" if text is None else upsert_block(text, block)
        with locked(path):
            atomic_write(path, new_text)
        action = "created" if text is None else ("refreshed" if current else "added block to")
        report.fixed.append(f"{action} {agent_file.path}")
        report.add("ok", f"{agent_file.path} reaches the protocol ({action})")
    elif text is None:
        report.add("fail", f"{agent_file.path} is missing", "run `decp doctor --fix`")
    elif current is not None:
        report.add("warn", f"{agent_file.path}: decp block is outdated", "run `decp doctor --fix`")
    elif reaches_protocol(text, agent_file.agent):
        report.add(
            "warn",
            f"{agent_file.path} points at the protocol but has no decp block",
            "run `decp doctor --fix` to add a marked block decp can keep current",
        )
    else:
        report.add(
            "fail",
            f"{agent_file.path} does not reach the protocol",
            "run `decp doctor --fix` (adds a marked block; your text stays as is)",
        )


def _check_chat(config: Config, report: Report) -> None:
    if "chat" in config.agents and not (config.project_dir / "CHAT-BOOTLOADER.md").is_file():
        report.add("fail", f"{PROJECT_DIR}/CHAT-BOOTLOADER.md is missing", "run `copier update`")


def diagnose(root: Path | None = None, *, fix: bool = False) -> Report:
    """Run every check; raises nothing for problems it can describe."""
    try:
        root = root or find_root()
    except DecpError as exc:
        report = Report(None)
        report.add("fail", exc.message, exc.fix or "")
        return report
    report = Report(root)
    _check_layout(root, report)
    _check_answers(root, report)
    try:
        config = load_config(root)
    except DecpError as exc:
        report.add("fail", f"config: {exc.one_line()}")
        return report
    report.add(
        "ok", f"config valid ({config.project_type}, agents: {', '.join(config.agents) or 'none'})"
    )
    _check_agents(config, report, fix)
    _check_chat(config, report)
    _check_ids(config, report, fix)
    if config.project_type == "dbt":
        try:
            _check_dbt(config, report, fix)
        except DecpError as exc:  # an unreadable manifest or a path outside the repo
            report.add("fail", exc.one_line())
    return report


def _check_ids(config: Config, report: Report, fix: bool) -> None:
    """After a union merge two branches' loops (or decisions) may share an id."""
    from decp.handoff.ids import find_duplicates, renumber_duplicates

    if report.unreadable & {"LOOPS.md", "STATE.md"}:
        return  # already reported: ids can be checked once the file reads
    try:
        duplicates = find_duplicates(config)
        if duplicates and fix:
            moved = renumber_duplicates(config)
            for old, new in moved.items():
                report.fixed.append(f"renumbered {old} -> {new}")
            shown = ", ".join(f"{old} -> {new}" for old, new in moved.items())
            report.add("ok", f"duplicate ids renumbered (the later one of each): {shown}")
            return
    except DecpError as exc:
        report.add("fail", exc.one_line())
        return
    for dup in duplicates:
        report.add(
            "fail",
            f"{dup.id} is defined {len(dup.occurrences)} times "
            f"({', '.join(f'{o.path.name}:{o.line}' for o in dup.occurrences)}), "
            "as after two branches merged",
            "run `decp doctor --fix` to renumber the later one and move its references",
        )
    if not duplicates:
        report.add("ok", "loop and decision ids are unique")


def _check_dbt(config: Config, report: Report, fix: bool) -> None:
    """The dbt project is where decp.toml says, and its manifest matches the files."""
    from decp.dbt.changes import stale_manifest_warning
    from decp.dbt.project import find_dbt_project, find_dbt_projects, write_project_dir

    project_file = config.root / config.dbt_project_dir / "dbt_project.yml"
    if not project_file.is_file():
        found = find_dbt_project(config.root)
        if found is not None and fix:
            write_project_dir(config, found)
            report.fixed.append(f"[dbt] project_dir = {found!r}")
            report.add("ok", f"[dbt] project_dir set to {found!r} (dbt_project.yml found there)")
            return
        where = find_dbt_projects(config.root)
        seen = f"found in: {', '.join(where)}" if where else "none found in the repo"
        report.add(
            "fail" if where else "warn",
            f"no dbt_project.yml in [dbt] project_dir = {config.dbt_project_dir!r} ({seen})",
            "run `decp doctor --fix`"
            if found
            else 'set [dbt] project_dir = "FOLDER" in .project/decp.toml',
        )
        return
    if not config.manifest_path.is_file():
        report.add(
            "warn",
            f"no manifest at {config.manifest_path.relative_to(config.root)}",
            f"run `dbt parse` in {config.dbt_project_dir}",
        )
        return
    warning = stale_manifest_warning(config)
    if warning:
        report.add("warn", warning)
    else:
        report.add("ok", "the dbt manifest matches the project files")


def report_dict(report: Report) -> dict[str, object]:
    """`decp doctor --json`: stable keys for agents and hooks.

    `ok` is false when any check failed; `problems` holds the failures and
    warnings (level, what, fix); `fixed` what `--fix` changed; `checks` every
    finding in order, passes included.
    """
    return {
        "ok": not report.failed,
        "root": str(report.root) if report.root else None,
        "version": __version__,
        "problems": [asdict(f) for f in report.findings if f.level != "ok"],
        "fixed": list(report.fixed),
        "checks": [asdict(f) for f in report.findings],
    }


def run_doctor(*, fix: bool = False, root: Path | None = None, as_json: bool = False) -> int:
    """CLI body: print findings (text or JSON), return 0 when nothing failed, 1 otherwise."""
    import json
    import sys

    report = diagnose(root, fix=fix)
    if as_json:
        sys.stdout.write(json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n")
        return 1 if report.failed else 0
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    where = report.root if report.root else Path.cwd()
    sys.stdout.write(f"decp doctor {__version__} in {where}\n")
    for finding in report.findings:
        fix_text = f"  → {finding.fix}" if finding.fix else ""
        sys.stdout.write(f"[{marks[finding.level]}] {finding.what}{fix_text}\n")
    fails = sum(f.level == "fail" for f in report.findings)
    warns = sum(f.level == "warn" for f in report.findings)
    sys.stdout.write(f"{fails} problem(s), {warns} warning(s).\n")
    return 1 if report.failed else 0
