"""`decp gtd auth ticktick` end to end against the fake OAuth server; the test plays the browser."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from ticktick_server import FakeTickTick

from decp.core.errors import UsageError
from decp.gtd.auth import find_token, store_token, token_file
from decp.gtd.ticktick import Secret


@pytest.fixture
def fake() -> Iterator[FakeTickTick]:
    with FakeTickTick() as server:
        yield server


def auth_env(fake: FakeTickTick, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DECP_ROOT", "TICKTICK_TOKEN")}
    env.update(
        NO_COLOR="1",
        COLUMNS="500",
        TICKTICK_CLIENT_ID=fake.client_id,
        TICKTICK_CLIENT_SECRET=fake.client_secret,
        DECP_TICKTICK_OAUTH_URL=fake.oauth_url,
        DECP_TICKTICK_BASE_URL=fake.api_url,
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    return env


def start_auth(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start the real CLI and read the authorization URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "decp", "gtd", "auth", "ticktick", "--no-browser", "--port", "0", "--timeout", "60"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "/oauth/authorize?" in line:
            return proc, line.strip()
    proc.wait(timeout=30)
    raise AssertionError("no authorization URL printed:\n" + "".join(seen))


def test_oauth_flow_end_to_end_stores_the_token_outside_the_repo(
    project: Path, fake: FakeTickTick, tmp_path: Path, run_decp
) -> None:
    env = auth_env(fake, tmp_path)
    proc, url = start_auth(project, env)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["client_id"] == fake.client_id and query["scope"] == "tasks:read tasks:write"
    assert query["response_type"] == "code" and len(query["state"]) >= 20
    assert query["redirect_uri"].startswith("http://127.0.0.1:") and query["redirect_uri"].endswith(
        "/callback"
    )
    page = httpx.get(
        url, follow_redirects=True, timeout=30
    )  # the browser: authorize → redirect → callback
    assert page.status_code == 200 and "authorized" in page.text
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    stored = Path(env["XDG_CONFIG_HOME"]) / "decp" / "ticktick-token"
    assert f"{stored} (mode 0600)" in stderr
    assert stored.read_text().strip() == fake.token
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert fake.token not in stdout + stderr and fake.client_secret not in stdout + stderr
    token_calls = [r for r in fake.requests if r.path == "/oauth/token"]
    assert [r.status for r in token_calls] == [200]
    assert token_calls[0].body["grant_type"] == "authorization_code"
    assert token_calls[0].body["redirect_uri"] == query["redirect_uri"]
    for path in project.rglob("*"):
        assert not path.is_file() or fake.token not in path.read_bytes().decode("utf-8", "replace")
    # The stored token is found without TICKTICK_TOKEN in the environment.
    with (project / ".project" / "LOOPS.md").open("w") as handle:
        handle.write("# Loops\n\n### LOOP-001 (open) Try the token\n")
    exported = run_decp(
        "gtd",
        "export",
        "--to",
        "ticktick",
        cwd=project,
        env={
            k: env[k]
            for k in ("XDG_CONFIG_HOME", "DECP_TICKTICK_BASE_URL", "PYTHON_KEYRING_BACKEND")
        },
    )
    assert exported.returncode == 0, exported.stderr
    assert fake.task_for("LOOP-001")["title"] == "[LOOP-001] Try the token"


def test_a_forged_redirect_is_refused(project: Path, fake: FakeTickTick, tmp_path: Path) -> None:
    env = auth_env(fake, tmp_path)
    proc, url = start_auth(project, env)
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    forged = httpx.get(redirect, params={"code": "stolen", "state": "not-the-state"}, timeout=30)
    assert forged.status_code == 400
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "state parameter did not match" in stderr
    assert not (Path(env["XDG_CONFIG_HOME"]) / "decp" / "ticktick-token").exists()
    assert not [r for r in fake.requests if r.path == "/oauth/token"]


def test_missing_client_credentials_is_a_usage_error(
    project: Path, fake: FakeTickTick, tmp_path: Path, run_decp
) -> None:
    env = auth_env(fake, tmp_path)
    del env["TICKTICK_CLIENT_SECRET"]
    result = run_decp(
        "gtd",
        "auth",
        "ticktick",
        "--no-browser",
        "--port",
        "0",
        cwd=project,
        env={**env, "TICKTICK_CLIENT_SECRET": ""},
    )
    assert (
        result.returncode == 2
        and "TICKTICK_CLIENT_SECRET" in result.stderr
        and "API token" in result.stderr
    )


def test_token_lookup_order_and_refusal_inside_the_repo(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(project / ".config"))
    with pytest.raises(UsageError) as info:
        store_token(Secret("tok-" + "a" * 30), project)
    assert "inside the repo" in info.value.one_line() and "tok-" not in info.value.one_line()
    assert not token_file().exists()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home-config"))
    monkeypatch.delenv("TICKTICK_TOKEN", raising=False)
    assert find_token() is None
    where = store_token(Secret("tok-" + "b" * 30), project)
    assert where == f"{token_file()} (mode 0600)"
    found = find_token()
    assert (
        found is not None
        and found.secret.reveal() == "tok-" + "b" * 30
        and found.source == str(token_file())
    )
    monkeypatch.setenv("TICKTICK_TOKEN", "tok-from-env")
    found = find_token()
    assert found is not None and (found.secret.reveal(), found.source) == (
        "tok-from-env",
        "$TICKTICK_TOKEN",
    )


def test_personal_token_from_stdin_is_stored_not_echoed(
    project: Path, fake: FakeTickTick, tmp_path: Path, run_decp
) -> None:
    env = auth_env(fake, tmp_path)
    personal = "tp_" + "9d" * 16
    result = run_decp(
        "gtd", "auth", "ticktick", "--token-stdin", cwd=project, input=personal + "\n", env=env
    )
    assert result.returncode == 0, result.stderr
    stored = Path(env["XDG_CONFIG_HOME"]) / "decp" / "ticktick-token"
    assert stored.read_text().strip() == personal and stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert personal not in result.stdout + result.stderr and str(stored) in result.stderr
    empty = run_decp("gtd", "auth", "ticktick", "--token-stdin", cwd=project, input="\n", env=env)
    assert empty.returncode == 2 and "no token on stdin" in empty.stderr


def test_the_oauth_server_from_a_repo_file_must_be_official(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decp.core.errors import DecpError
    from decp.gtd.auth import OAUTH_URL_ENV, oauth_base

    monkeypatch.delenv(OAUTH_URL_ENV, raising=False)
    config_path = tmp_path / "decp.toml"
    assert oauth_base(None, config_path) == "https://ticktick.com/oauth"
    assert oauth_base("https://dida365.com/oauth/", config_path) == "https://dida365.com/oauth"
    for bad in ("http://ticktick.com/oauth", "https://ticktick.com.evil.example/oauth"):
        with pytest.raises(DecpError) as caught:
            oauth_base(bad, config_path)
        assert caught.value.one_line().startswith(
            f"{config_path}: gtd.ticktick_oauth_url = '{bad}' is not an official TickTick host"
        )
    monkeypatch.setenv(OAUTH_URL_ENV, "http://127.0.0.1:9/oauth")
    assert oauth_base("https://evil.example/oauth", config_path) == "http://127.0.0.1:9/oauth"
