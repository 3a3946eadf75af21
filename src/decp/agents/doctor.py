"""`decp doctor`: check that a stamped repo is complete, valid and wired to every agent.

Doctor is the first thing to run when something feels off, so every finding
says what is wrong and the exact fix. `--fix` only ever adds or refreshes the
marked decp block in agent files; it never rewrites user content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from decp import __version__
from decp.agents.agentfiles import (
    files_for,
    find_block,
    reaches_protocol,
    render_block,
    upsert_block,
)
from decp.core.config import ANSWERS_FILE, PROJECT_DIR, Config, find_root, load_config
from decp.core.errors import DecpError
from decp.core.fsio import atomic_write, locked, read_text

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


def _check_agents(config: Config, report: Report, fix: bool) -> None:
    for agent_file in files_for(config.agents):
        path = config.root / agent_file.path
        block = render_block(agent_file.agent, config)
        text = read_text(path) if path.is_file() else None
        current = find_block(text) if text is not None else None
        if text is not None and current == block:
            report.add("ok", f"{agent_file.path} reaches the protocol")
            continue
        if fix:
            new_text = (
                agent_file.preamble + block + "\n" if text is None else upsert_block(text, block)
            )
            with locked(path):
                atomic_write(path, new_text)
            action = "created" if text is None else ("refreshed" if current else "added block to")
            report.fixed.append(f"{action} {agent_file.path}")
            report.add("ok", f"{agent_file.path} reaches the protocol ({action})")
        elif text is None:
            report.add("fail", f"{agent_file.path} is missing", "run `decp doctor --fix`")
        elif current is not None:
            report.add(
                "warn", f"{agent_file.path}: decp block is outdated", "run `decp doctor --fix`"
            )
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
    return report


def run_doctor(*, fix: bool = False, root: Path | None = None) -> int:
    """CLI body: print findings, return 0 when nothing failed, 1 otherwise."""
    import sys

    report = diagnose(root, fix=fix)
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
