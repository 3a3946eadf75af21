"""Skills and the always-loaded budget, on real Copier stamps.

What must hold: five `decp-*` Agent Skills (name + description front matter,
description ≤ 60 tokens) under `.agents/skills/`, mirrored byte for byte under
`.claude/skills/` when Claude is chosen; AGENTS.md + PROTOCOL.md + the resume
pack ≤ 1,500 tokens with 20 open loops, a goal and a next action; and the
hook/MCP files `agent_hooks` stamps are exactly what `decp agent install`
writes, so a later install changes nothing.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from template_helpers import session_stamp

from decp.agents.wiring import install
from decp.core.config import load_config
from decp.core.tokens import get_counter
from decp.handoff.loops import edit_loops
from decp.handoff.resume import build_pack
from decp.handoff.state import set_field

pytestmark = pytest.mark.slow

SKILLS = [
    "decp-session-handoff",
    "decp-loop-capture",
    "decp-dbt-lineage",
    "decp-grain-refactor",
    "decp-debug-failing-test",
]
DESCRIPTION_CAP = 60
ALWAYS_LOADED_CAP = 1500
DOCS_URL = "https://decp-dev.github.io/decp"
FRONT_MATTER = re.compile(
    r"\A---\nname: (?P<name>[a-z0-9-]+)\ndescription: (?P<description>[^\n]+)\n---\n"
)


def counter():
    return get_counter("cl100k_base")


def front_matter(text: str) -> dict[str, str]:
    match = FRONT_MATTER.match(text)
    if not match:
        raise AssertionError(
            f"no `---/name/description/---` front matter at the top of:\n{text[:200]}"
        )
    return match.groupdict()


def skill_problems(name: str, text: str) -> list[str]:
    """What a stamped SKILL.md lacks: front matter, a short description, a why, a command, a link."""
    try:
        meta = front_matter(text)
    except AssertionError as exc:
        return [str(exc)]
    problems = []
    if meta["name"] != name:
        problems.append(f"name {meta['name']!r} is not the folder name {name!r}")
    tokens = counter().count(meta["description"])
    if tokens > DESCRIPTION_CAP:
        problems.append(f"description is {tokens} tokens (cap {DESCRIPTION_CAP})")
    if not re.search(r"(?m)^Why: ", text):
        problems.append("no `Why:` line")
    if "`decp " not in text:
        problems.append("no decp command")
    if f"{DOCS_URL}/" not in text:
        problems.append("no docs link")
    return problems


def test_the_skill_checks_can_fail() -> None:
    long = " ".join(["word"] * 70)
    assert skill_problems("decp-x", f"---\nname: decp-y\ndescription: {long}\n---\n# x\n") == [
        "name 'decp-y' is not the folder name 'decp-x'",
        f"description is {counter().count(long)} tokens (cap 60)",
        "no `Why:` line",
        "no decp command",
        "no docs link",
    ]
    assert "front matter" in skill_problems("decp-x", "# no front matter\n")[0]


@pytest.fixture(scope="module", params=["dbt", "generic"])
def stamped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = {
        "project_type": request.param,
        "agents": ["claude", "codex", "copilot"],
        "docs_url": DOCS_URL,
    }
    return session_stamp(tmp_path_factory, data)


def test_five_skills_mirrored_for_claude(stamped: Path) -> None:
    found = sorted(p.parent.name for p in (stamped / ".agents" / "skills").glob("*/SKILL.md"))
    assert found == sorted(SKILLS)
    for name in SKILLS:
        text = (stamped / ".agents" / "skills" / name / "SKILL.md").read_text(encoding="utf-8")
        assert skill_problems(name, text) == [], name
        mirror = stamped / ".claude" / "skills" / name / "SKILL.md"
        assert mirror.read_text(encoding="utf-8") == text
        assert "{%" not in text and "{{" not in text


def test_lineage_skill_follows_the_project_type(stamped: Path) -> None:
    text = (stamped / ".agents" / "skills" / "decp-dbt-lineage" / "SKILL.md").read_text(
        encoding="utf-8"
    )
    is_dbt = load_config(stamped).project_type == "dbt"
    assert ("decp dbt scope --select +MODEL+" in text) == is_dbt
    assert "decp context scope PATH --budget" in text


def test_always_loaded_tokens_with_twenty_open_loops(stamped: Path, tmp_path: Path) -> None:
    root = shutil.copytree(stamped, tmp_path / "repo")
    config = load_config(root)
    set_field(config, "goal", "Make fct_orders refund-aware without changing its grain")
    set_field(
        config,
        "next_action",
        "Add the refunds CTE to int_orders__payments; dbt build -s fct_orders+",
    )
    with edit_loops(config) as book:
        for n in range(1, 21):
            book.new_loop(f"Question {n}: does stg_orders keep cancelled rows?", status="open")
    pack = build_pack(config)
    assert pack.open_loops and len(pack.open_loops) == 20 and pack.dropped_loops == 0
    k = counter()
    agents = k.count((root / "AGENTS.md").read_text(encoding="utf-8"))
    protocol = k.count((root / ".project" / "PROTOCOL.md").read_text(encoding="utf-8"))
    resume = k.count(pack.text)
    total = agents + protocol + resume
    print(
        f"always loaded: AGENTS.md {agents} + PROTOCOL.md {protocol} + resume {resume} = {total} ({k.label})"
    )
    assert total <= ALWAYS_LOADED_CAP


def test_stamped_hook_files_are_what_install_writes(stamped: Path, tmp_path: Path) -> None:
    root = shutil.copytree(stamped, tmp_path / "repo")
    for rel in (".claude/settings.json", ".mcp.json", ".codex/config.toml"):
        assert (root / rel).is_file(), rel
    assert [c.action for c in install(root, "claude")] == ["unchanged", "unchanged"]
    assert [c.action for c in install(root, "codex")] == ["unchanged"]
    assert f"{DOCS_URL}/how-to/agent-integration/" in (root / ".codex" / "config.toml").read_text()


def test_no_hook_files_without_agent_hooks(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = session_stamp(
        tmp_path_factory,
        {"agents": ["claude", "codex"], "agent_hooks": False, "docs_url": DOCS_URL},
    )
    for rel in (".claude/settings.json", ".mcp.json", ".codex"):
        assert not (root / rel).exists(), rel
    assert (root / ".claude" / "skills" / "decp-loop-capture" / "SKILL.md").is_file()


def test_no_claude_folder_without_claude(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = session_stamp(tmp_path_factory, {"agents": ["copilot"], "docs_url": DOCS_URL})
    assert not (root / ".claude").exists() and not (root / ".mcp.json").exists()
    assert len(list((root / ".agents" / "skills").glob("*/SKILL.md"))) == 5
