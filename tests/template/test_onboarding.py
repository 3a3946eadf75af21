"""The 30-minute onboarding guide cannot rot: its commands run and its outputs hold.

The convention (docs/tutorial/onboarding.md), invisible in the rendered page:

- `<!-- runnable -->` on its own line, then a ```bash fence: the test runs it.
- `<!-- not-run: REASON -->` before a ```bash fence: shown only (e.g. needs the internet).
  Every ```bash fence carries one of the two, so a new command cannot slip by untested.
- `<!-- expect: REGEX -->` after a runnable fence: REGEX must match what that block printed
  (stdout and stderr together; Python `re.search`, inline flags like `(?m)` allowed).
- `<!-- output -->`, then a ```text fence: each line must appear, in order, in what the
  preceding runnable block printed; `…` in a line matches anything within that line.

All runnable blocks run in order, each as `bash -euo pipefail`, in one fresh temp dir,
sharing the working directory and exported variables like one terminal would. decp and
Copier come from this venv; the template is a throw-away git repo built from the working
tree and tagged v1.0.0, and it gains a v2.0.0 just before the block that runs
`copier update`, so that step really pulls a new version. Nothing touches the network.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from template_helpers import commit_all, copy_lead_template, git, git_init

GUIDE = REPO_ROOT / "docs" / "tutorial" / "onboarding.md"
DOCS = REPO_ROOT / "docs"
MAX_WORDS = 4500
STEPS = 10
PATTERN_PAGES = (
    "loop-capture",
    "session-handoff",
    "decisions",
    "pr-narrative",
    "token-budgets",
    "progressive-loading",
    "context-decisions",
    "lineage-200-models",
    "gtd-between-sessions",
    "pair-programming",
)
V2_LINE = "<!-- onboarding test: template v2 -->"
BLOCK_TIMEOUT_S = 180

MARKER_RE = re.compile(r"^<!--\s*(runnable|not-run:.*?|output|expect:\s?(.*?))\s*-->\s*$")
FENCE_RE = re.compile(r"^\s*(`{3,})\s*([\w-]*)")
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class GuideError(Exception):
    """The guide breaks the runnable-block convention (message names the line)."""


@dataclass
class Block:
    line: int
    code: str
    expects: list[str] = field(default_factory=list)
    outputs: list[list[str]] = field(default_factory=list)


# --- parsing -----------------------------------------------------------------------


def parse_guide(text: str) -> list[Block]:
    """The runnable blocks in document order, with the claims attached to each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: tuple[str, int] | None = None  # ("runnable" | "not-run" | "output", line)
    i = 0
    while i < len(lines):
        line, number = lines[i], i + 1
        marker = MARKER_RE.match(line)
        fence = FENCE_RE.match(line)
        if marker:
            kind = marker.group(1)
            if kind.startswith("expect:"):
                if pending or not blocks:
                    raise GuideError(
                        f"line {number}: expect comment with no runnable block before it"
                    )
                pattern = marker.group(2)
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise GuideError(f"line {number}: bad expect regex {pattern!r}: {exc}") from exc
                blocks[-1].expects.append(pattern)
            else:
                if pending:
                    raise GuideError(
                        f"line {number}: marker after an unused marker on line {pending[1]}"
                    )
                pending = (kind.split(":")[0], number)
        elif fence:
            ticks, lang = fence.group(1), fence.group(2)
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == ticks), None)
            if end is None:
                raise GuideError(f"line {number}: unclosed fence")
            body = lines[i + 1 : end]
            kind = pending[0] if pending else None
            if lang == "bash" and kind not in ("runnable", "not-run"):
                raise GuideError(
                    f"line {number}: ```bash fence without <!-- runnable --> or <!-- not-run: why -->"
                )
            if kind == "runnable":
                if lang != "bash" or ticks != "```" or line != line.lstrip():
                    raise GuideError(
                        f"line {number}: <!-- runnable --> needs an unindented ```bash fence"
                    )
                blocks.append(Block(number, "\n".join(body)))
            elif kind == "output":
                if lang != "text" or not blocks:
                    raise GuideError(
                        f"line {number}: <!-- output --> needs a ```text fence after a runnable block"
                    )
                blocks[-1].outputs.append([b.rstrip() for b in body if b.strip()])
            elif kind == "not-run" and lang != "bash":
                raise GuideError(f"line {number}: <!-- not-run --> belongs before a ```bash fence")
            pending = None
            i = end
        elif line.strip() and pending:
            raise GuideError(
                f"line {pending[1]}: marker not followed by a fence (line {number} came first)"
            )
        elif "<!--" in line and ("runnable" in line or "expect" in line or "output" in line):
            raise GuideError(f"line {number}: malformed marker {line.strip()!r}")
        i += 1
    if pending:
        raise GuideError(f"line {pending[1]}: marker at the end of the file")
    return blocks


def output_problems(block: Block, output: str) -> list[str]:
    """What the guide claims about this block's output but the output does not show."""
    problems = [
        f"block at line {block.line}: expected /{pattern}/"
        for pattern in block.expects
        if not re.search(pattern, output)
    ]
    for shown in block.outputs:
        position = 0
        for expected in shown:
            regex = re.compile(".*?".join(re.escape(part) for part in expected.split("…")))
            match = regex.search(output, position)
            if match is None:
                problems.append(
                    f"block at line {block.line}: output line {expected!r} not found (in order)"
                )
                break
            position = match.end()
    return problems


# --- running -----------------------------------------------------------------------


def run_blocks(
    blocks: list[Block],
    workdir: Path,
    env: dict[str, str],
    before: Callable[[Block], None] | None = None,
) -> list[str]:
    """Run each block as `bash -euo pipefail`, sharing cwd and exports; return the problems."""
    state = workdir / ".guide-state.sh"
    state.write_text(f"cd {shlex.quote(str(workdir))}\n", encoding="utf-8")
    save_state = f'{{ export -p; printf "cd %q\\n" "$PWD"; }} > {shlex.quote(str(state))}'
    problems: list[str] = []
    for block in blocks:
        if before is not None:
            before(block)
        script = (
            f"set -euo pipefail\nsource {shlex.quote(str(state))}\n{block.code}\n{save_state}\n"
        )
        proc = subprocess.run(
            ["bash", "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream, in the order a terminal shows it
            text=True,
            timeout=BLOCK_TIMEOUT_S,
        )
        output = ANSI_RE.sub("", proc.stdout)
        if proc.returncode != 0:
            problems.append(
                f"block at line {block.line} exited {proc.returncode}:\n{block.code}\n--- output:\n{output}"
            )
            return problems  # later blocks build on this one
        problems += [f"{p}\n--- output:\n{output}" for p in output_problems(block, output)]
    return problems


def guide_env(home: Path, template: Path) -> dict[str, str]:
    """Offline, hermetic: this venv first on PATH, an empty HOME, a git identity from env."""
    home.mkdir(parents=True, exist_ok=True)
    venv_bin = Path(sys.executable).parent
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    return {
        **keep,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "DECP_SRC": str(REPO_ROOT),
        "DECP_TEMPLATE": str(template),
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "200",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Onboarding Reader",
        "GIT_AUTHOR_EMAIL": "reader@decp.invalid",
        "GIT_COMMITTER_NAME": "Onboarding Reader",
        "GIT_COMMITTER_EMAIL": "reader@decp.invalid",
        "GIT_TERMINAL_PROMPT": "0",
    }


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def step_sections(text: str) -> dict[int, str]:
    """`## N. Title` sections, keyed by N (headings inside fences do not count)."""
    prose = re.sub(r"(?ms)^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text)
    parts = re.split(r"(?m)^## (?:(\d+)\. )?", prose)
    sections: dict[int, str] = {}
    for i in range(1, len(parts), 2):
        if parts[i] is not None:
            sections[int(parts[i])] = parts[i + 1]
    return sections


# --- the convention itself can fail -------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("```bash\nls\n```\n", "without <!-- runnable -->"),
        ("<!-- runnable -->\n\nSome prose.\n\n```bash\nls\n```\n", "not followed by a fence"),
        ("<!-- expect: x -->\n", "no runnable block"),
        ("<!-- runnable -->\n\n```bash\nls\n```\n\n<!-- expect: ( -->\n", "bad expect regex"),
        ("<!-- output -->\n\n```text\nx\n```\n", "after a runnable block"),
        ("<!-- runnable -->\n\n```sh\nls\n```\n", "unindented ```bash"),
        ("<!-- runnable -->\n", "end of the file"),
        ("<!-- runable -->\n\n```bash\nls\n```\n", "without <!-- runnable -->"),
    ],
)
def test_the_parser_refuses_what_breaks_the_convention(markdown: str, message: str) -> None:
    with pytest.raises(GuideError, match=re.escape(message)):
        parse_guide(markdown)


def test_the_checker_fails_on_a_claim_the_commands_do_not_keep(tmp_path: Path) -> None:
    guide = (
        "<!-- runnable -->\n\n```bash\nexport GREETING=hello\nmkdir sub && cd sub\n```\n\n"
        '<!-- runnable -->\n\n```bash\necho "$GREETING from $(basename "$PWD")"\n```\n\n'
        "<!-- expect: hello from sub -->\n<!-- expect: goodbye -->\n\n"
        "<!-- output -->\n\n```text\nhello … sub\nhello from elsewhere\n```\n\n"
        "<!-- runnable -->\n\n```bash\nfalse\necho never\n```\n\n"
        "<!-- runnable -->\n\n```bash\necho not reached\n```\n"
    )
    blocks = parse_guide(guide)
    assert [len(b.expects) for b in blocks] == [0, 2, 0, 0]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    problems = run_blocks(blocks, tmp_path, env)
    assert len(problems) == 3, problems
    assert "/goodbye/" in problems[0]  # shared cwd and exports made "hello from sub" pass
    assert "'hello from elsewhere' not found" in problems[1]
    assert "exited 1" in problems[2] and "never" not in problems[2].split("--- output:")[1]


# --- the guide ----------------------------------------------------------------------


def test_every_bash_fence_in_the_guide_is_marked_and_claims_parse() -> None:
    blocks = parse_guide(guide_text())
    assert len(blocks) >= STEPS, "each step should have at least one runnable block"
    assert sum(len(b.expects) + len(b.outputs) for b in blocks) >= STEPS


def test_the_guide_fits_in_30_minutes_of_reading() -> None:
    words = len(guide_text().split())
    assert words <= MAX_WORDS, f"onboarding.md has {words} words; the cap is {MAX_WORDS}"


def test_each_step_says_what_and_why_and_links_its_pattern() -> None:
    text = guide_text()
    steps = step_sections(text)
    assert sorted(steps) == list(range(1, STEPS + 1)), f"steps found: {sorted(steps)}"
    for number, body in steps.items():
        assert "**Why.**" in body, f"step {number} has no **Why.** paragraph"
        assert re.search(r"\]\(\.\./(patterns|how-to|reference|maintainers)/", body), (
            f"step {number} links no pattern, how-to or reference page"
        )
        assert "<!-- runnable -->" in body, f"step {number} has nothing to run"
    for page in PATTERN_PAGES:
        assert f"../patterns/{page}.md" in text, f"the guide never links patterns/{page}.md"


def test_every_page_the_guide_links_is_in_the_site() -> None:
    nav = (REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(\.\./([^)#]+\.md)", guide_text()):
        assert (DOCS / target).is_file() or target in nav, f"link to {target}: no such page"


def _command_tree() -> object:
    from typer.main import get_command

    from decp.cli import app

    return get_command(app)


def test_every_decp_command_the_guide_mentions_exists() -> None:
    """Prose mentions too (`decp task new …`): a renamed command or flag fails here."""
    root = _command_tree()
    text = guide_text()
    mentions = re.findall(r"`(decp [^`]+)`", text)
    for block in re.findall(r"(?ms)^```bash\n(.*?)^```", text):
        joined = block.replace("\\\n", " ")
        mentions += re.findall(r"(?m)(?:^|&& )(decp [^\n&|>]+)", joined)
    assert len(mentions) >= 20
    for mention in mentions:
        words = shlex.split(mention.replace("…", "x"))[1:]
        command, ctx_path = root, ["decp"]
        while words and words[0] in getattr(command, "commands", {}):
            command = command.commands[words.pop(0)]
            ctx_path.append(command.name or "")
        if hasattr(command, "commands"):  # a group: only its own options (`decp --version`)
            assert words and all(w.startswith("--") for w in words), f"`{mention}`: incomplete"
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        known |= {opt for param in command.params for opt in getattr(param, "secondary_opts", [])}
        known.add("--help")
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in known, (
                    f"`{mention}`: {' '.join(ctx_path)} has no {word}"
                )


@pytest.mark.slow
def test_the_guide_runs_end_to_end_offline(tmp_path: Path) -> None:
    blocks = parse_guide(guide_text())
    template = copy_lead_template(tmp_path / "decp-template")
    git_init(template)
    commit_all(template, "decp template v1")
    git(template, "tag", "v1.0.0")
    protocol = template / "template" / ".project" / "PROTOCOL.md.jinja"
    updated: list[bool] = []

    def publish_v2_before_update(block: Block) -> None:
        if "copier update" in block.code and not updated:
            protocol.write_text(
                protocol.read_text(encoding="utf-8") + f"\n{V2_LINE}\n", encoding="utf-8"
            )
            commit_all(template, "decp template v2")
            git(template, "tag", "v2.0.0")
            updated.append(True)

    workdir = tmp_path / "reader"
    workdir.mkdir()
    env = guide_env(tmp_path / "home", template)
    problems = run_blocks(blocks, workdir, env, before=publish_v2_before_update)
    assert not problems, "\n\n".join(problems)

    assert updated, "no runnable block runs `copier update`"
    stamped = workdir / "decp-tutorial" / "shop"
    assert V2_LINE in (stamped / ".project" / "PROTOCOL.md").read_text(encoding="utf-8")
    assert "_commit: v2.0.0" in (stamped / ".copier-answers.yml").read_text(encoding="utf-8")
