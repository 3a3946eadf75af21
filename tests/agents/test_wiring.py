"""`decp agent install NAME`: MCP registration and hooks merged into each agent's project config.

What must hold: the documented shapes, every user key and hook kept, a second
install changes no byte, and a file decp cannot merge safely is refused with
the entry to add by hand and left byte-identical.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_helpers import decp_command

from decp.agents.wiring import install, merge_claude_settings, merge_mcp_json
from decp.core.config import load_config
from decp.core.errors import DataError, UsageError

USER_SETTINGS = {
    "permissions": {"allow": ["Bash(dbt build:*)"], "deny": ["Read(./.env)"]},
    "env": {"DBT_PROFILES_DIR": "."},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./lint.sh"}]}],
        "SessionStart": [
            {"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}
        ],
    },
    "statusLine": {"type": "command", "command": "~/.claude/my-line.sh"},
}
DECP_SESSION_START = {
    "matcher": "startup|resume|clear|compact",
    "hooks": [
        {"type": "command", "command": "decp hook session-start --agent claude", "timeout": 10}
    ],
}
DECP_PRE_COMPACT = {
    "hooks": [{"type": "command", "command": "decp hook pre-compact --agent claude", "timeout": 10}]
}
DECP_STOP = {
    "hooks": [{"type": "command", "command": "decp hook stop --agent claude", "timeout": 10}]
}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_claude_on_a_fresh_repo(project: Path) -> None:
    changes = install(project, "claude")
    assert [(c.path, c.action) for c in changes] == [
        (".mcp.json", "created"),
        (".claude/settings.json", "created"),
    ]
    assert (project / ".mcp.json").read_text() == (
        '{\n  "mcpServers": {\n    "decp": {\n      "type": "stdio",\n      "command": "decp",\n'
        '      "args": [\n        "mcp"\n      ]\n    }\n  }\n}\n'
    )
    assert read_json(project / ".claude" / "settings.json") == {
        "hooks": {"SessionStart": [DECP_SESSION_START], "PreCompact": [DECP_PRE_COMPACT]},
        "statusLine": {"type": "command", "command": "decp statusline"},
    }


def test_claude_settings_keep_the_users_hooks_and_keys(project: Path) -> None:
    settings = project / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps(USER_SETTINGS, indent=4))
    mcp = project / ".mcp.json"
    mcp.write_text(json.dumps({"mcpServers": {"dbt": {"command": "uvx", "args": ["dbt-mcp"]}}}))
    install(project, "claude")
    after = read_json(settings)
    assert after["permissions"] == USER_SETTINGS["permissions"]
    assert after["env"] == USER_SETTINGS["env"]
    assert after["statusLine"] == USER_SETTINGS["statusLine"]  # theirs wins
    assert after["hooks"]["PreToolUse"] == USER_SETTINGS["hooks"]["PreToolUse"]
    assert after["hooks"]["SessionStart"] == [
        USER_SETTINGS["hooks"]["SessionStart"][0],
        DECP_SESSION_START,
    ]
    assert after["hooks"]["PreCompact"] == [DECP_PRE_COMPACT]
    assert list(after) == ["permissions", "env", "hooks", "statusLine"]  # order kept
    assert read_json(mcp)["mcpServers"] == {
        "dbt": {"command": "uvx", "args": ["dbt-mcp"]},
        "decp": {"type": "stdio", "command": "decp", "args": ["mcp"]},
    }
    # idempotent: the second run changes no byte
    frozen = settings.read_bytes(), mcp.read_bytes()
    assert [c.action for c in install(project, "claude")] == ["unchanged", "unchanged"]
    assert (settings.read_bytes(), mcp.read_bytes()) == frozen


def test_the_stop_hook_comes_and_goes_without_touching_the_users(project: Path) -> None:
    settings = project / ".claude" / "settings.json"
    settings.parent.mkdir()
    user_stop = {"hooks": [{"type": "command", "command": "say done"}]}
    settings.write_text(json.dumps({"hooks": {"Stop": [user_stop]}}))
    install(project, "claude", stop_hook=True)
    assert read_json(settings)["hooks"]["Stop"] == [user_stop, DECP_STOP]
    install(project, "claude", stop_hook=False)
    assert read_json(settings)["hooks"]["Stop"] == [user_stop]


@pytest.mark.parametrize(
    ("agent", "rel", "key", "entry"),
    [
        (
            "cursor",
            ".cursor/mcp.json",
            "mcpServers",
            {"command": "decp", "args": ["mcp", "--repo", "${workspaceFolder}"]},
        ),
        (
            "vscode",
            ".vscode/mcp.json",
            "servers",
            {"type": "stdio", "command": "decp", "args": ["mcp", "--repo", "${workspaceFolder}"]},
        ),
        (
            "copilot",
            ".vscode/mcp.json",
            "servers",
            {"type": "stdio", "command": "decp", "args": ["mcp", "--repo", "${workspaceFolder}"]},
        ),
    ],
)
def test_ide_mcp_json(project: Path, agent: str, rel: str, key: str, entry: dict) -> None:
    path = project / rel
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {"inputs": [{"id": "tok", "type": "promptString"}], key: {"other": {"command": "x"}}}
        )
    )
    assert [(c.path, c.action) for c in install(project, agent)] == [(rel, "updated")]
    assert read_json(path) == {
        "inputs": [{"id": "tok", "type": "promptString"}],
        key: {"other": {"command": "x"}, "decp": entry},
    }
    assert install(project, agent)[0].action == "unchanged"


def test_json_with_comments_is_refused_and_left_alone(project: Path) -> None:
    path = project / ".vscode" / "mcp.json"
    path.parent.mkdir()
    text = '{\n  // my servers\n  "servers": {}\n}\n'
    path.write_text(text)
    with pytest.raises(DataError) as info:
        install(project, "vscode")
    message = info.value.one_line()
    assert message.startswith(f"{path}:2: not plain JSON")
    assert 'add this entry by hand: {"servers": {"decp": {"type": "stdio"' in message
    assert path.read_text() == text


def test_a_hooks_value_of_the_wrong_type_is_refused(project: Path) -> None:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"hooks": {"SessionStart": "echo"}}')
    with pytest.raises(DataError, match=r'"hooks.SessionStart" is not a list'):
        install(project, "claude")
    assert path.read_text() == '{"hooks": {"SessionStart": "echo"}}'


CODEX_BLOCK = """\
# decp:begin (managed by `decp agent install codex`; edit outside this block)
[mcp_servers.decp]
command = "decp"
args = ["mcp"]

[[hooks.SessionStart]]
matcher = "startup|resume|clear|compact"
[[hooks.SessionStart.hooks]]
type = "command"
command = "decp hook session-start --agent codex"
timeout = 10

[[hooks.PreCompact]]
[[hooks.PreCompact.hooks]]
type = "command"
command = "decp hook pre-compact --agent codex"
timeout = 10
# decp:end
"""


def test_codex_toml_fresh_and_parsed(project: Path) -> None:
    assert install(project, "codex")[0].action == "created"
    text = (project / ".codex" / "config.toml").read_text()
    assert text == CODEX_BLOCK
    data = tomllib.loads(text)
    assert data["mcp_servers"]["decp"] == {"command": "decp", "args": ["mcp"]}
    assert (
        data["hooks"]["SessionStart"][0]["hooks"][0]["command"]
        == "decp hook session-start --agent codex"
    )


def test_codex_toml_keeps_the_users_text(project: Path) -> None:
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    user = (
        '# my codex settings\nmodel = "gpt-5.2-codex"\n\n[mcp_servers.dbt]\ncommand = "uvx"  # dbt-mcp\n'
        'args = ["dbt-mcp"]\n\n[[hooks.SessionStart]]\nmatcher = "startup"\n[[hooks.SessionStart.hooks]]\n'
        'type = "command"\ncommand = "echo hi"'
    )
    path.write_text(user)
    install(project, "codex")
    text = path.read_text()
    assert text == user + "\n\n" + CODEX_BLOCK
    data = tomllib.loads(text)
    assert [g["hooks"][0]["command"] for g in data["hooks"]["SessionStart"]] == [
        "echo hi",
        "decp hook session-start --agent codex",
    ]
    assert install(project, "codex")[0].action == "unchanged"
    install(project, "codex", hooks=False)
    assert path.read_text().startswith(user + "\n\n# decp:begin")
    assert "hooks.PreCompact" not in path.read_text()


@pytest.mark.parametrize(
    "user",
    ['[mcp_servers.decp]\ncommand = "old"\n', "hooks = { SessionStart = [] }\n", "model = \n"],
    ids=["own-decp-table", "inline-hooks", "invalid"],
)
def test_codex_toml_that_cannot_merge_is_refused(project: Path, user: str) -> None:
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text(user)
    with pytest.raises(DataError) as info:
        install(project, "codex")
    assert str(path) in info.value.one_line()
    assert path.read_text() == user


def test_antigravity_is_printed_not_written(project: Path) -> None:
    (change,) = install(project, "antigravity")
    assert change.action == "manual" and change.path == "~/.gemini/antigravity/mcp_config.json"
    assert json.loads(change.what.removeprefix("add: "))["mcpServers"]["decp"]["args"] == [
        "mcp",
        "--repo",
        str(project.resolve()),
    ]


def test_unknown_agent(project: Path) -> None:
    with pytest.raises(
        UsageError, match="use one of: claude, codex, cursor, vscode, copilot, antigravity"
    ):
        install(project, "gemini-cli")


def test_cli_install_is_idempotent(project: Path) -> None:
    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [*decp_command(), "agent", "install", "claude"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert first.stdout == (
        "created   .mcp.json  (MCP server `decp`)\n"
        "created   .claude/settings.json  (hooks SessionStart, PreCompact; statusLine)\n"
    )
    assert "Restart claude" in first.stderr
    second = run()
    assert [line.split()[0] for line in second.stdout.splitlines()] == ["unchanged", "unchanged"]
    assert second.stderr == ""


# --- properties -----------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
USER_HOOK = st.fixed_dictionaries(
    {
        "hooks": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.just("command"),
                    "command": st.text(max_size=8).filter(lambda c: not c.startswith("decp hook ")),
                }
            ),
            min_size=1,
            max_size=2,
        )
    }
)


@given(
    st.dictionaries(
        st.text(max_size=6).filter(lambda k: k not in ("hooks", "statusLine")),
        JSON_VALUES,
        max_size=4,
    ),
    st.dictionaries(
        st.sampled_from(["SessionStart", "PreCompact", "Stop", "PreToolUse"]),
        st.lists(USER_HOOK, max_size=2),
        max_size=3,
    ),
    st.booleans(),
)
def test_settings_merge_keeps_every_user_key_and_is_idempotent(
    user: dict, user_hooks: dict, stop: bool
) -> None:
    data = {**user, "hooks": user_hooks}
    merged = merge_claude_settings(data, stop, Path("settings.json"))
    for key, value in user.items():
        assert merged[key] == value
    for event, groups in user_hooks.items():
        assert merged["hooks"].get(event, [])[: len(groups)] == groups
    assert merge_claude_settings(merged, stop, Path("settings.json")) == merged
    assert data == {**user, "hooks": user_hooks}  # the input is not mutated


@given(
    st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4),
    st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3),
)
def test_mcp_merge_keeps_other_servers(user: dict, servers: dict) -> None:
    data = {**user, "mcpServers": servers}
    entry = {"command": "decp", "args": ["mcp"]}
    merged = merge_mcp_json(data, "mcpServers", entry, Path("x.json"))
    assert {k: v for k, v in merged["mcpServers"].items() if k != "decp"} == {
        k: v for k, v in servers.items() if k != "decp"
    }
    assert merged["mcpServers"]["decp"] == entry
    assert merge_mcp_json(merged, "mcpServers", entry, Path("x.json")) == merged


def test_antigravity_shares_the_gemini_shim(project: Path) -> None:
    from decp.agents.agentfiles import files_for, render_block

    config = load_config(project)
    paths = [f.path for f in files_for(("gemini", "antigravity", "claude"))]
    assert paths == ["AGENTS.md", "GEMINI.md", "CLAUDE.md"]  # one GEMINI.md, not two
    assert render_block("antigravity", config) == render_block("gemini", config)
    assert [f.path for f in files_for(("antigravity",))] == ["AGENTS.md", "GEMINI.md"]


def test_a_refusal_writes_nothing(project: Path) -> None:
    (project / ".claude" / "settings.json").mkdir(parents=True)  # a directory where the file goes
    with pytest.raises(DataError, match=r"settings\.json"):
        install(project, "claude")
    assert not (project / ".mcp.json").exists()


TOML_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda k: k not in ("hooks", "mcp_servers")
)
TOML_VALUES = st.one_of(
    st.integers(-1000, 1000),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters='"\\'),
        max_size=10,
    ).map(lambda t: f'"{t}"'),
)


@given(
    st.dictionaries(TOML_KEYS, TOML_VALUES, max_size=4),
    st.dictionaries(TOML_KEYS, st.dictionaries(TOML_KEYS, TOML_VALUES, max_size=3), max_size=2),
    st.booleans(),
    st.booleans(),
)
def test_codex_merge_keeps_the_users_text_and_is_idempotent(
    top: dict, tables: dict, hooks: bool, trailing: bool
) -> None:
    from decp.agents.wiring import codex_block, merge_codex_toml

    lines = [f"{k} = {v}" for k, v in top.items()]
    tables = {
        name: values for name, values in tables.items() if name not in top
    }  # no duplicate keys
    for name, values in tables.items():
        lines += ["", f"[{name}]  # mine", *[f"{k} = {v}" for k, v in values.items()]]
    user = "\n".join(lines) + ("\n" if trailing else "")
    merged = merge_codex_toml(user, codex_block(hooks, False), Path("config.toml"))
    assert merged.startswith(user)
    data = tomllib.loads(merged)
    for k in top:
        assert k in data
    assert data["mcp_servers"]["decp"]["args"] == ["mcp"]
    assert merge_codex_toml(merged, codex_block(hooks, False), Path("config.toml")) == merged
    # switching hooks off and on again returns the same text
    off = merge_codex_toml(merged, codex_block(not hooks, False), Path("config.toml"))
    assert merge_codex_toml(off, codex_block(hooks, False), Path("config.toml")) == merged
