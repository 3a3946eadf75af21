"""Every stamped file teaches: why it exists, how it is used, the data-engineering idea, a link.

Real Copier stamps (every agent, a dbt and a generic project) are read file by file against
the table below. A file that lacks something fails with what it lacks; the fix belongs in
template/, never in this test. The token caps on what every agent reads still hold.

The checks, per file:
- why:       a line with the word "why" (any case): the reason the artifact exists;
- mechanics: how agent and user use it: a `decp` command, or the word "agent" or
             "copier update" where the file is about wiring rather than a command;
- pattern:   the data-engineering idea behind it, as a regex of the words that name it
             (patterns/index.md names one per artifact); `None` where the file only points
             elsewhere (agent shims) or is plumbing (config, ignore, answers);
- link:      a page under the configured `docs_url`, so the depth is one click away.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from template_helpers import ALL_AGENTS, session_stamp, tree_digest

from decp.core.tokens import get_counter

DOCS_URL = "https://docs.decp.invalid/teach"
AGENTS_MD_CAP = 500
PROTOCOL_MD_CAP = 1500

WHY = r"(?i)\bwhy\b"
COMMAND_OR_AGENT = r"`decp [a-z]|(?i:\bagents?\b)"
# Words that name a data-engineering idea; for files whose pattern is the general one.
DATA_ENGINEERING = (
    r"(?i)pipeline|lineage|manifest|\bdbt\b|warehouse|\bgrain\b|run log|issue log|decision log"
    r"|audit|backfill|data[- ]quality|incident|upstream|downstream|root[- ]cause"
)


@dataclass(frozen=True)
class Rule:
    mechanics: str
    pattern: str | None
    why: str = WHY
    link: bool = True


# The rule for each stamped path (fnmatch patterns; the first match wins).
RULES: dict[str, Rule] = {
    "AGENTS.md": Rule(COMMAND_OR_AGENT, DATA_ENGINEERING),
    ".project/PROTOCOL.md": Rule(COMMAND_OR_AGENT, DATA_ENGINEERING),
    ".project/README.md": Rule(COMMAND_OR_AGENT, DATA_ENGINEERING),
    ".project/CHAT-BOOTLOADER.md": Rule(COMMAND_OR_AGENT, DATA_ENGINEERING),
    # patterns/index.md: decisions = a decision log (an ADR for a model change).
    ".project/STATE.md": Rule(COMMAND_OR_AGENT, r"(?i)decision log|\bADR\b"),
    # loop capture = an issue log: unresolved questions are tracked, not dropped.
    ".project/LOOPS.md": Rule(COMMAND_OR_AGENT, r"(?i)issue log|tracked, not dropped"),
    # context decisions = declared inputs, like sources in dbt.
    ".project/CONTEXT.md": Rule(COMMAND_OR_AGENT, r"(?i)declared inputs|\bsources\b"),
    # session handoff = a run log: each run leaves an audit record.
    ".project/sessions/README.md": Rule(COMMAND_OR_AGENT, r"(?i)run log|audit|run_results"),
    ".project/templates/*.md": Rule(COMMAND_OR_AGENT, DATA_ENGINEERING),
    ".project/decp.toml": Rule(COMMAND_OR_AGENT, None),
    ".project/.gitignore": Rule(r"(?i)\bdecp\b", None),
    ".project/.gitattributes": Rule(r"merge=union", None),
    ".copier-answers.yml": Rule(r"copier update", None),
    # Agent shims only point at AGENTS.md: one protocol, explained once.
    "CLAUDE.md": Rule(r"AGENTS\.md", None),
    "GEMINI.md": Rule(r"AGENTS\.md", None),
    ".github/copilot-instructions.md": Rule(r"AGENTS\.md", None),
    ".cursor/rules/decp.mdc": Rule(r"AGENTS\.md", None),
    ".windsurf/rules/decp.md": Rule(r"AGENTS\.md", None),
    ".agents/skills/*/SKILL.md": Rule(COMMAND_OR_AGENT, DATA_ENGINEERING),
    ".claude/skills/*/SKILL.md": Rule(COMMAND_OR_AGENT, DATA_ENGINEERING),
    ".codex/config.toml": Rule(r"decp hook", None),
    ".claude/settings.json": Rule(r"decp hook", None, why=r"decp statusline", link=False),
    ".mcp.json": Rule(r'"decp"', None, why=r'"mcp"', link=False),
}

PROJECT_TYPES = ("dbt", "generic")


def rule_for(rel: str) -> Rule | None:
    return next((rule for glob, rule in RULES.items() if fnmatch.fnmatch(rel, glob)), None)


def lacks(text: str, rule: Rule, docs_url: str) -> list[str]:
    """What a stamped file fails to teach, in words a maintainer can act on."""
    missing = []
    if not re.search(rule.why, text):
        missing.append("a why (no line says why it exists)")
    if not re.search(rule.mechanics, text):
        missing.append(f"the mechanics (nothing matches {rule.mechanics!r})")
    if rule.pattern and not re.search(rule.pattern, text):
        missing.append(f"the data-engineering pattern (nothing matches {rule.pattern!r})")
    if rule.link and f"{docs_url}/" not in text:  # a page under it, not the bare answer
        missing.append(f"a link to its docs page ({docs_url}/…)")
    return missing


@pytest.fixture(scope="module", params=PROJECT_TYPES)
def stamped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = {"project_type": request.param, "agents": ALL_AGENTS, "docs_url": DOCS_URL}
    return session_stamp(tmp_path_factory, data)


def stamped_files(root: Path) -> list[str]:
    return sorted(tree_digest(root))


# --- the rules themselves can fail --------------------------------------------------


def test_the_rules_catch_a_file_that_teaches_nothing() -> None:
    rule = RULES[".project/LOOPS.md"]
    assert len(lacks("# Loops\n<!-- next-id: LOOP-001 -->\n", rule, DOCS_URL)) == 4
    teaching = (
        "Why: an issue log, tracked, not dropped. The agent runs `decp loop propose`.\n"
        f"{DOCS_URL}/patterns/loop-capture/\n"
    )
    assert lacks(teaching, rule, DOCS_URL) == []


# --- the stamped files ----------------------------------------------------------------


@pytest.mark.slow
def test_every_stamped_file_has_a_rule(stamped: Path) -> None:
    unruled = [rel for rel in stamped_files(stamped) if rule_for(rel) is None]
    assert not unruled, f"stamped files with no teaching rule in this test: {unruled}"


@pytest.mark.slow
def test_every_stamped_file_teaches(stamped: Path) -> None:
    report = []
    for rel in stamped_files(stamped):
        rule = rule_for(rel)
        if rule is None:
            continue
        missing = lacks((stamped / rel).read_text(encoding="utf-8"), rule, DOCS_URL)
        if missing:
            report.append(f"{rel}: lacks " + "; ".join(missing))
    assert not report, "stamped files that do not teach (fix in template/):\n" + "\n".join(report)


@pytest.mark.slow
def test_the_rule_table_matches_real_stamped_paths(stamped: Path) -> None:
    """A rule for a path the template no longer stamps would check nothing."""
    files = stamped_files(stamped)
    for glob in RULES:
        assert any(fnmatch.fnmatch(rel, glob) for rel in files), f"no stamped file matches {glob}"


@pytest.mark.slow
def test_token_caps_hold_on_what_every_agent_reads(stamped: Path) -> None:
    counter = get_counter("cl100k_base")
    agents = counter.count((stamped / "AGENTS.md").read_text(encoding="utf-8"))
    protocol = counter.count((stamped / ".project" / "PROTOCOL.md").read_text(encoding="utf-8"))
    assert agents <= AGENTS_MD_CAP, f"AGENTS.md: {agents} tokens ({counter.label})"
    assert protocol <= PROTOCOL_MD_CAP, f"PROTOCOL.md: {protocol} tokens ({counter.label})"
