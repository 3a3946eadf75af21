"""Register decp's MCP server, hooks and statusline in each agent's project config, merging.

Why: an agent uses decp's tools and hooks only if its own config names them,
and those files already hold the user's servers, hooks and settings. The rule
is the marked block's: decp owns its entries (the `decp` server, hook entries
whose command starts with `decp hook`, a statusline it wrote) and nothing
else. Every user key survives, a second install changes nothing, and a file
decp cannot merge safely (JSON with comments, TOML that would not parse after
the merge) is refused with the entry to add by hand, never rewritten.

Files (project scope, so the team shares them):
- Claude Code: `.mcp.json` (`mcpServers`), `.claude/settings.json` (`hooks`, `statusLine`);
- Codex: `.codex/config.toml` (`[mcp_servers.decp]`, inline `[[hooks.*]]`), in a
  `# decp:begin` / `# decp:end` block (no TOML writer needed, comments kept);
- Cursor: `.cursor/mcp.json` (`mcpServers`); VS Code and Copilot: `.vscode/mcp.json` (`servers`);
- Antigravity reads MCP servers only from the user's home, which decp never
  writes: install prints the entry to add there.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from decp.core.errors import DataError, UsageError

SERVER_NAME = "decp"
HOOK_PREFIX = "decp hook "
STATUSLINE_COMMAND = "decp statusline"
HOOK_TIMEOUT_S = 10
SESSION_START_MATCHER = "startup|resume|clear|compact"
TOML_BEGIN = "# decp:begin (managed by `decp agent install codex`; edit outside this block)"
TOML_END = "# decp:end"
_TOML_BLOCK_RE = re.compile(
    r"^# decp:begin[^\n]*\n.*?^# decp:end[^\n]*\n?", re.DOTALL | re.MULTILINE
)

AGENT_NAMES = ("claude", "codex", "cursor", "vscode", "copilot", "antigravity")


@dataclass(frozen=True)
class Change:
    """What install did to one file: created, updated, unchanged, or manual (print only)."""

    path: str
    action: str
    what: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


# --- the entries decp owns -------------------------------------------------------------------


def mcp_entry(agent: str) -> dict[str, Any]:
    """The server entry each agent's mcp.json expects (IDEs get the workspace folder as --repo)."""
    if agent in ("vscode", "copilot"):
        return {"type": "stdio", "command": "decp", "args": ["mcp", "--repo", "${workspaceFolder}"]}
    if agent == "cursor":
        return {"command": "decp", "args": ["mcp", "--repo", "${workspaceFolder}"]}
    return {"type": "stdio", "command": "decp", "args": ["mcp"]}


def _hook_group(command: str, matcher: str | None) -> dict[str, Any]:
    group: dict[str, Any] = {}
    if matcher:
        group["matcher"] = matcher
    group["hooks"] = [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_S}]
    return group


def claude_hooks(stop_hook: bool) -> dict[str, list[dict[str, Any]]]:
    hooks = {
        "SessionStart": [
            _hook_group("decp hook session-start --agent claude", SESSION_START_MATCHER)
        ],
        "PreCompact": [_hook_group("decp hook pre-compact --agent claude", None)],
    }
    if stop_hook:
        hooks["Stop"] = [_hook_group("decp hook stop --agent claude", None)]
    return hooks


# --- JSON files ----------------------------------------------------------------------------------


def _read_json(path: Path, example: dict[str, Any]) -> dict[str, Any]:
    from decp.core.fsio import read_text

    if not path.exists():
        return {}
    text = read_text(path)
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not plain JSON ({exc.msg} at line {exc.lineno}); decp will not rewrite it and lose "
            "comments or formatting.",
            path=path,
            line=exc.lineno,
            fix=f"add this entry by hand: {json.dumps(example)}",
        ) from exc
    if not isinstance(data, dict):
        raise DataError("the top level is not a JSON object.", path=path, fix="make it {…}.")
    return data


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.setdefault(key, {})
    if not isinstance(value, dict):
        raise DataError(
            f'"{key}" is not an object.', path=path, fix=f'make "{key}" an object {{…}}.'
        )
    return value


def _plan_json(
    root: Path, path: Path, before: dict[str, Any], after: dict[str, Any], what: str
) -> tuple[Change, Path, str | None]:
    """What to write (None: nothing) and how to report it; writing waits until every file merged."""
    rel = path.relative_to(root).as_posix()
    if path.exists() and before == after:
        return Change(rel, "unchanged", what), path, None
    action = "updated" if path.exists() else "created"
    return Change(rel, action, what), path, json.dumps(after, indent=2, ensure_ascii=False) + "\n"


def merge_mcp_json(
    data: dict[str, Any], key: str, entry: dict[str, Any], path: Path
) -> dict[str, Any]:
    """`data` with decp's server under `key`; every other server and key kept."""
    merged = copy.deepcopy(data)
    _table(merged, key, path)[SERVER_NAME] = entry
    return merged


def _is_decp_group(group: Any) -> bool:
    hooks = group.get("hooks") if isinstance(group, dict) else None
    return isinstance(hooks, list) and any(
        isinstance(h, dict) and str(h.get("command", "")).startswith(HOOK_PREFIX) for h in hooks
    )


def merge_claude_settings(data: dict[str, Any], stop_hook: bool, path: Path) -> dict[str, Any]:
    """settings.json with decp's hook groups (replacing its own earlier ones) and, if none, its statusline."""
    merged = copy.deepcopy(data)
    hooks = _table(merged, "hooks", path)
    wanted = claude_hooks(stop_hook)
    for event in ("SessionStart", "PreCompact", "Stop"):
        groups = hooks.get(event, [])
        if not isinstance(groups, list):
            raise DataError(
                f'"hooks.{event}" is not a list.',
                path=path,
                fix=f'make "hooks.{event}" a list [...].',
            )
        kept = [g for g in groups if not _is_decp_group(g)]
        if event in wanted:
            kept += wanted[event]
        if kept:
            hooks[event] = kept
        elif event in hooks:
            del hooks[event]
    if "statusLine" not in merged:
        merged["statusLine"] = {"type": "command", "command": STATUSLINE_COMMAND}
    return merged


# --- Codex TOML ------------------------------------------------------------------------------------


def codex_block(hooks: bool, stop_hook: bool) -> str:
    lines = [
        TOML_BEGIN,
        f"[mcp_servers.{SERVER_NAME}]",
        'command = "decp"',
        'args = ["mcp"]',
    ]
    if hooks:
        events = [
            ("SessionStart", "session-start", SESSION_START_MATCHER),
            ("PreCompact", "pre-compact", None),
        ]
        if stop_hook:
            events.append(("Stop", "stop", None))
        for event, name, matcher in events:
            lines += ["", f"[[hooks.{event}]]"]
            if matcher:
                lines.append(f'matcher = "{matcher}"')
            lines += [
                f"[[hooks.{event}.hooks]]",
                'type = "command"',
                f'command = "decp hook {name} --agent codex"',
                f"timeout = {HOOK_TIMEOUT_S}",
            ]
    lines.append(TOML_END)
    return "\n".join(lines) + "\n"


def merge_codex_toml(text: str, block: str, path: Path) -> str:
    """The user's TOML with decp's block replaced or appended; refused if the result would not parse."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(
            f"not valid TOML ({exc}).", path=path, fix="fix the file, then run install again."
        ) from exc
    if _TOML_BLOCK_RE.search(text):
        merged = _TOML_BLOCK_RE.sub(lambda _m: block, text, count=1)
    elif not text.strip():
        merged = text + block
    else:
        merged = text + ("" if text.endswith("\n") else "\n") + "\n" + block
    try:
        tomllib.loads(merged)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(
            f"decp's entries clash with ones already there ({exc}).",
            path=path,
            fix=f"remove your own [mcp_servers.{SERVER_NAME}] or inline hooks arrays, or add by hand:\n{block}",
        ) from exc
    return merged


# --- install -----------------------------------------------------------------------------------------


def install(root: Path, agent: str, *, hooks: bool = True, stop_hook: bool = False) -> list[Change]:
    """Write (merge) this agent's MCP registration and, where it has them, hooks and statusline.

    Every file is read and merged before any is written: a refusal writes nothing.
    """
    from decp.core.fsio import atomic_write, read_text

    agent = agent.strip().lower()
    if agent not in AGENT_NAMES:
        raise UsageError(f"unknown agent {agent!r}.", fix=f"use one of: {', '.join(AGENT_NAMES)}.")
    root = root.resolve()
    plans: list[tuple[Change, Path | None, str | None]] = []
    if agent == "claude":
        path = root / ".mcp.json"
        before = _read_json(path, {"mcpServers": {SERVER_NAME: mcp_entry(agent)}})
        after = merge_mcp_json(before, "mcpServers", mcp_entry(agent), path)
        plans.append(_plan_json(root, path, before, after, "MCP server `decp`"))
        if hooks:
            path = root / ".claude" / "settings.json"
            before = _read_json(path, {"hooks": claude_hooks(stop_hook)})
            after = merge_claude_settings(before, stop_hook, path)
            what = "hooks SessionStart, PreCompact; statusLine"
            plans.append(_plan_json(root, path, before, after, what))
    elif agent in ("cursor", "vscode", "copilot"):
        rel, key = (
            (".cursor/mcp.json", "mcpServers")
            if agent == "cursor"
            else (".vscode/mcp.json", "servers")
        )
        path = root / rel
        before = _read_json(path, {key: {SERVER_NAME: mcp_entry(agent)}})
        after = merge_mcp_json(before, key, mcp_entry(agent), path)
        plans.append(_plan_json(root, path, before, after, "MCP server `decp`"))
    elif agent == "codex":
        path = root / ".codex" / "config.toml"
        text = read_text(path) if path.exists() else ""
        merged = merge_codex_toml(text, codex_block(hooks, stop_hook), path)
        rel = path.relative_to(root).as_posix()
        what = "MCP server `decp`" + (", hooks SessionStart, PreCompact" if hooks else "")
        if path.exists() and merged == text:
            plans.append((Change(rel, "unchanged", what), path, None))
        else:
            action = "updated" if path.exists() else "created"
            plans.append((Change(rel, action, what), path, merged))
    else:  # antigravity: its MCP config lives in the user's home; decp writes only inside the repo
        entry = json.dumps(
            {"mcpServers": {SERVER_NAME: {"command": "decp", "args": ["mcp", "--repo", str(root)]}}}
        )
        plans.append(
            (Change("~/.gemini/antigravity/mcp_config.json", "manual", f"add: {entry}"), None, None)
        )
    for _change, target, content in plans:
        if target is not None and content is not None:
            atomic_write(target, content)
    return [change for change, _target, _content in plans]
