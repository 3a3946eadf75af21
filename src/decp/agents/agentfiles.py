"""The marked decp block inside agent instruction files.

Every agent reads a different file (CLAUDE.md, .github/copilot-instructions.md,
.cursor/rules/…), but all must reach one protocol. decp owns only the text
between `<!-- decp:begin -->` and `<!-- decp:end -->`; everything else in those
files belongs to the user and is never touched. The template stamps exactly
the blocks rendered here (a test keeps them identical), so `decp doctor --fix`
can insert a block into a pre-existing file or refresh an outdated one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from decp.core.config import Config

BEGIN = "<!-- decp:begin -->"
END = "<!-- decp:end -->"
_BLOCK_RE = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)


@dataclass(frozen=True)
class AgentFile:
    """Where one agent looks for instructions, and what a new file starts with."""

    agent: str
    path: str
    preamble: str = ""


AGENT_FILES: dict[str, AgentFile] = {
    "agents": AgentFile("agents", "AGENTS.md", "# Agent instructions\n\n"),
    "claude": AgentFile("claude", "CLAUDE.md"),
    "copilot": AgentFile("copilot", ".github/copilot-instructions.md"),
    "cursor": AgentFile(
        "cursor",
        ".cursor/rules/decp.mdc",
        "---\ndescription: decp session protocol (loops, decisions, budgets, handoff)\n"
        "alwaysApply: true\n---\n",
    ),
    # Gemini CLI gave way to Antigravity in 2026; Antigravity reads GEMINI.md and AGENTS.md
    # (and skills from .agents/skills/), so both names get the same one-file shim.
    "gemini": AgentFile("gemini", "GEMINI.md"),
    "antigravity": AgentFile("antigravity", "GEMINI.md"),
    "windsurf": AgentFile("windsurf", ".windsurf/rules/decp.md", "---\ntrigger: always_on\n---\n"),
    # Codex reads AGENTS.md (and .agents/skills/) natively; chat has its own bootloader,
    # checked by doctor. MCP and hook registration per agent: decp.agents.wiring.
}


def files_for(agents: tuple[str, ...]) -> list[AgentFile]:
    """AGENTS.md always, plus the shim of each configured agent that has one."""
    chosen = [AGENT_FILES["agents"]]
    for agent in agents:
        shim = AGENT_FILES.get(agent)
        if shim is not None and all(shim.path != c.path for c in chosen):
            chosen.append(shim)
    return chosen


def _agents_md_body(config: Config) -> str:
    docs = config.docs_url.rstrip("/")
    scope = (
        "`decp dbt scope --select +MODEL+`"
        if config.project_type == "dbt"
        else "`decp context scope PATH --budget N`"
    )
    return (
        "## decp session protocol\n"
        "Why: sessions lose context and open questions get buried. Files in `.project/` are the memory; "
        f"you propose, the user decides. Depth: {docs}/reference/stamped-files/\n"
        "\n"
        "1. **Start:** run `decp resume` (MCP tool `resume`, or ask the user to paste it), read "
        "`.project/PROTOCOL.md` once, then `decp session start`.\n"
        '2. **Loops:** capture each open question with `decp loop propose "TITLE" --body "…" '
        "--source FILE:LINE`. Never approve, reject or close a loop unless the user said so.\n"
        '3. **Decisions:** record the user\'s choices with `decp decision add "WHAT" --why "WHY"`.\n'
        f"4. **Budget:** load context through {scope} and keep within `decp context budget`. "
        "Never paste a whole `manifest.json`.\n"
        '5. **End:** `decp session end --done "…" --next "…"` before the window passes the handoff '
        "budget.\n"
        "\n"
        "Details load on demand: skills `decp-*` in `.agents/skills/`. No shell? See the copy/paste "
        "path in `.project/PROTOCOL.md`.\n"
    )


def _shim_body(config: Config) -> str:
    docs = config.docs_url.rstrip("/")
    return (
        "Follow the decp session protocol in `AGENTS.md` at the repo root (read it first) and "
        "`.project/PROTOCOL.md`.\n"
        f"Why this file is tiny: one protocol for every agent. {docs}/reference/stamped-files/\n"
    )


def render_block(agent: str, config: Config) -> str:
    """The exact block (markers included) decp maintains in this agent's file."""
    docs = config.docs_url.rstrip("/")
    if agent == "agents":
        body = _agents_md_body(config)
    elif agent == "claude":
        body = (
            "@AGENTS.md\n"
            "<!-- Why: Claude Code imports AGENTS.md above, so one decp protocol serves every agent. "
            f"{docs}/reference/stamped-files/ -->\n"
        )
    elif agent in ("gemini", "antigravity"):
        body = (
            "Follow the decp session protocol in `AGENTS.md` (read it first) and `.project/PROTOCOL.md`.\n"
            f"Why this file is tiny: one protocol for every agent. {docs}/reference/stamped-files/\n"
        )
    else:
        body = _shim_body(config)
    return f"{BEGIN}\n{body}{END}"


def find_block(text: str) -> str | None:
    match = _BLOCK_RE.search(text)
    return match.group(0) if match else None


def reaches_protocol(text: str, agent: str) -> bool:
    """Does this file send an agent to the protocol (a decp block, or an explicit pointer)?"""
    if find_block(text) is not None:
        return True
    target = ".project/PROTOCOL.md" if agent == "agents" else "AGENTS.md"
    return target in text or ".project/PROTOCOL.md" in text


def upsert_block(text: str, block: str) -> str:
    """Replace the existing decp block, or append one after the user's content."""
    if find_block(text) is not None:
        return _BLOCK_RE.sub(lambda _m: block, text, count=1)
    if not text:
        return block + "\n"
    ending = "" if text.endswith("\n") else "\n"
    return f"{text}{ending}\n{block}\n"
