"""Nothing outside the repo, nothing from .git, no FIFO or device, and no credential in a pack.

Every attack here is a file a teammate could commit (a symlink, a FIFO, a key in a
README) or a target a user could type (`/`, `..`). Each runs `decp` as a real
process with a hard timeout, so a hang fails the test instead of the suite.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

from decp.context.ledger import read_ledger
from decp.context.scope import build_scope
from decp.core.config import load_config
from decp.core.secrets import NotRegularFile, placement_exclusion, read_capped

TIMEOUT = 60
_R = random.Random(4242)
UP, LOW, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits


def rnd(chars: str, n: int) -> str:
    return "".join(_R.choice(chars) for _ in range(n))


AWS_KEY_ID = "AK" + "IA" + rnd(UP + DIG, 16)
GITHUB_TOKEN = "gh" + "p_" + rnd(UP + LOW + DIG, 36)


def decp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`decp ARGS` with a hard timeout: a FIFO that blocks fails here, not the whole run."""
    env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}
    env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "decp", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def excluded_kinds(root: Path) -> dict[str, str]:
    return {e.target: e.kind for e in read_ledger(load_config(root)).excluded}


@pytest.fixture
def outside_secret(tmp_path: Path) -> Path:
    return write(tmp_path / "elsewhere", "secret.sql", "select 'outside-secret-42' as leak\n")


@pytest.fixture
def repo(project: Path) -> Path:
    write(project, "models/orders.sql", "select id, amount from {{ ref('payments') }}\n")
    write(project, "models/payments.sql", "select id, amount from raw.payments\n")
    return project


# --- symlinks out of the repo --------------------------------------------------------------


def test_symlinks_out_of_the_repo_never_enter_a_pack_at_any_level(
    repo: Path, outside_secret: Path
) -> None:
    elsewhere = outside_secret.parent
    for name in ("ref.sql", "doc.md", "test.sql"):
        (elsewhere / name).write_text(outside_secret.read_text(encoding="utf-8"), encoding="utf-8")
    write(repo, "marts/orders.sql", "select * from {{ ref('payments') }}\n")
    (repo / "marts" / "passwd.sql").symlink_to("/etc/passwd")  # L1 sibling
    (repo / "marts" / "leak.sql").symlink_to(outside_secret)  # L1 sibling
    (repo / "models" / "payments.sql").unlink()
    (repo / "models" / "payments.sql").symlink_to(elsewhere / "ref.sql")  # L2 ref('payments')
    write(repo, "docs/guide.md", "See [the query](../marts/orders.sql).\n")
    (repo / "docs" / "outside.md").symlink_to(elsewhere / "doc.md")  # L1 sibling of the doc
    tests = repo / "tests"
    tests.mkdir()
    (tests / "orders_test.sql").symlink_to(elsewhere / "test.sql")  # L3 test by name
    result = decp("context", "scope", "marts/orders.sql", "docs/guide.md", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "outside-secret-42" not in result.stdout + result.stderr
    assert "root:x:0:0" not in result.stdout
    packed = {f["path"] for f in data["files"]}
    assert packed == {"marts/orders.sql", "docs/guide.md"}
    refused = {e["path"]: (e["kind"], e["reason"]) for e in data["excluded"]}
    # A reference that resolves out of the repo is dropped unread, like any path outside it.
    assert "models/payments.sql" not in refused
    for path in (
        "marts/passwd.sql",
        "marts/leak.sql",
        "docs/outside.md",
        "tests/orders_test.sql",
    ):
        assert refused[path][0] == "outside", path
        assert refused[path][1] == "outside the repo (its real path is not under the root)"
    assert excluded_kinds(repo)["marts/passwd.sql"] == "outside"


def test_a_focal_symlink_out_of_the_repo_is_refused(repo: Path, outside_secret: Path) -> None:
    (repo / "models" / "leak.sql").symlink_to(outside_secret)
    result = decp("context", "scope", "models/leak.sql", cwd=repo)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "outside the repo" in result.stderr
    assert "outside-secret-42" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("context", "load", "/"),
        ("context", "load", ".."),
        ("context", "load", "/etc/passwd"),
        ("context", "scope", "/etc/passwd"),
        ("context", "scope", "../elsewhere/secret.sql"),
        ("tokens", "/"),
        ("tokens", ".."),
        ("tokens", "/etc/*"),
        ("tokens", "../*/*.sql"),
        ("context", "load", "../elsewhere/*.sql"),
    ],
)
def test_targets_outside_the_repo_are_refused_in_one_line(
    repo: Path, outside_secret: Path, args: tuple[str, ...]
) -> None:
    result = decp(*args, cwd=repo)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("decp: error: ")
    assert result.stderr.count("\n") == 1
    assert "is outside the repo" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (repo / ".project" / "CONTEXT.md").exists()


def test_a_linked_directory_out_of_the_repo_is_refused(repo: Path, outside_secret: Path) -> None:
    (repo / "vendor").symlink_to(outside_secret.parent, target_is_directory=True)
    for args in (("tokens", "vendor"), ("context", "load", "vendor")):
        result = decp(*args, cwd=repo)
        assert result.returncode == 2
        assert "vendor is outside the repo" in result.stderr


def test_walks_skip_symlinks_out_and_say_so(repo: Path, outside_secret: Path) -> None:
    (repo / "models" / "passwd.sql").symlink_to("/etc/passwd")
    (repo / "models" / "leak.sql").symlink_to(outside_secret)
    tokens = decp("tokens", "models", "--json", cwd=repo)
    assert tokens.returncode == 0, tokens.stderr
    files = {f["path"]: f for f in json.loads(tokens.stdout)["files"]}
    assert files["models/passwd.sql"]["tokens"] is None
    assert files["models/passwd.sql"]["skipped"].startswith("outside: outside the repo")
    assert files["models/leak.sql"]["skipped"].startswith("outside")
    assert "models/leak.sql: skipped (outside: outside the repo" in tokens.stderr
    plain = decp("tokens", "models", cwd=repo)
    assert "skipped 2 outside" in plain.stdout
    load = decp("context", "load", "models", "--why", "task", cwd=repo)
    assert load.returncode == 0, load.stderr
    assert "decp: left out models/passwd.sql: outside: outside the repo" in load.stderr
    kinds = excluded_kinds(repo)
    assert kinds["models/passwd.sql"] == "outside" and kinds["models/leak.sql"] == "outside"
    loaded = read_ledger(load_config(repo)).loaded
    assert [(e.target, e.tokens) for e in loaded] == [
        ("models", json.loads(tokens.stdout)["total"])
    ]


# --- .git ---------------------------------------------------------------------------------


@pytest.fixture
def git_repo(repo: Path) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    url = f"https://x-access-token:{GITHUB_TOKEN}@github.com/acme/shop.git"
    subprocess.run(["git", "remote", "add", "origin", url], cwd=repo, check=True)
    return repo


def test_git_internals_never_enter_a_pack(git_repo: Path) -> None:
    (git_repo / "models" / "gitconfig.sql").symlink_to(git_repo / ".git" / "config")
    write(git_repo, "notes.md", "See [config](.git/config).\n")
    scope = decp("context", "scope", "models/orders.sql", "notes.md", "--json", cwd=git_repo)
    assert scope.returncode == 0, scope.stderr
    assert GITHUB_TOKEN not in scope.stdout + scope.stderr
    data = json.loads(scope.stdout)
    refused = {e["path"]: e["kind"] for e in data["excluded"]}
    assert refused["models/gitconfig.sql"] == "git"
    assert ".git/config" not in {f["path"] for f in data["files"]}
    tokens = decp("tokens", ".", "--json", cwd=git_repo)
    assert tokens.returncode == 0, tokens.stderr
    paths = {f["path"] for f in json.loads(tokens.stdout)["files"]}
    assert not any(p.startswith(".git/") for p in paths)
    assert GITHUB_TOKEN not in tokens.stdout
    named = decp("tokens", ".git/config", "--json", cwd=git_repo)
    assert GITHUB_TOKEN not in named.stdout + named.stderr
    assert json.loads(named.stdout)["files"][0]["skipped"].startswith("git: inside .git")
    load = decp("context", "load", ".git/config", "--why", "x", cwd=git_repo)
    assert load.returncode == 2
    assert "never loaded: git: inside .git" in load.stderr


# --- FIFOs, devices ---------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_never_hangs_a_command(repo: Path) -> None:
    os.mkfifo(repo / "models" / "pipe.sql")
    tokens = decp("tokens", "models", "--json", cwd=repo)
    assert tokens.returncode == 0, tokens.stderr
    files = {f["path"]: f for f in json.loads(tokens.stdout)["files"]}
    assert files["models/pipe.sql"]["skipped"] == "special: not a regular file (FIFO)"
    scope = decp("context", "scope", "models/orders.sql", "--json", cwd=repo)
    assert scope.returncode == 0, scope.stderr
    assert "models/pipe.sql" not in {f["path"] for f in json.loads(scope.stdout)["files"]}
    load = decp("context", "load", "models", "--why", "t", cwd=repo)
    assert load.returncode == 0, load.stderr
    assert "left out models/pipe.sql: special: not a regular file (FIFO)" in load.stderr
    named = decp("tokens", "models/pipe.sql", cwd=repo)
    assert named.returncode == 2
    assert "not a regular file or directory" in named.stderr
    assert decp("context", "scope", "models/pipe.sql", cwd=repo).returncode == 2


def test_a_dev_zero_symlink_neither_hangs_nor_fills_memory(repo: Path) -> None:
    (repo / "models" / "zero.sql").symlink_to("/dev/zero")
    tokens = decp("tokens", "models", "--json", cwd=repo)
    assert tokens.returncode == 0, tokens.stderr
    files = {f["path"]: f for f in json.loads(tokens.stdout)["files"]}
    assert files["models/zero.sql"]["skipped"].startswith("outside")
    scope = decp("context", "scope", "models/orders.sql", "--json", cwd=repo)
    assert scope.returncode == 0
    assert {e["path"]: e["kind"] for e in json.loads(scope.stdout)["excluded"]} == {
        "models/zero.sql": "outside"
    }


def test_devices_are_refused_before_opening_even_inside_the_root() -> None:
    assert placement_exclusion(Path("/dev/zero"), Path("/")) is not None
    assert placement_exclusion(Path("/dev/zero"), Path("/")).why == (
        "special: not a regular file (device)"
    )
    with pytest.raises(NotRegularFile):
        read_capped(Path("/dev/zero"), 10)


def test_read_capped_never_reads_past_its_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 5000)
    assert read_capped(big, 100) == b"x" * 101
    assert read_capped(big, 10_000) == b"x" * 5000


# --- secrets by name and by content --------------------------------------------------------


SECRET_BY_NAME = {
    "models/.git-credentials": "https://u:tok@github.com\n",
    "models/prod.tfvars": 'db_password = "x"\n',
    "models/.docker/config.json": '{"auths": {}}\n',
    "models/.aws/credentials": "[default]\n",
    "models/.aws/config": "[default]\nregion = eu-west-1\n",
    "models/.ssh/config": "Host prod\n  User deploy\n",
    "models/terraform.tfstate": "{}\n",
}


def test_credential_files_are_excluded_by_name(repo: Path) -> None:
    for rel, text in SECRET_BY_NAME.items():
        write(repo, rel, text)
    write(repo, "models/config.json", '{"harmless": true}\n')
    for rel in SECRET_BY_NAME:
        result = decp("context", "load", rel, "--why", "x", cwd=repo)
        assert result.returncode == 2, rel
        assert "is never loaded: secret:" in result.stderr
    load = decp("context", "load", "models", "--why", "x", cwd=repo)
    assert load.returncode == 0, load.stderr
    kinds = excluded_kinds(repo)
    assert {p: kinds.get(p) for p in SECRET_BY_NAME} == dict.fromkeys(SECRET_BY_NAME, "secret")
    assert "models/config.json" not in kinds


def test_credentials_inside_packed_files_are_redacted_and_recorded(repo: Path) -> None:
    write(
        repo,
        "models/stg_events.sql",
        f"-- loaded with key {AWS_KEY_ID}\nselect md5(cast(id as varchar)) as event_key\n"
        f"from {{{{ source('app', 'events') }}}} -- token {GITHUB_TOKEN}\n",
    )
    result = decp("context", "scope", "models/orders.sql", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert AWS_KEY_ID not in result.stdout and GITHUB_TOKEN not in result.stdout
    data = json.loads(result.stdout)
    assert data["redacted"] == [
        {"path": "models/stg_events.sql", "kinds": ["aws-access-key", "github-token"]}
    ]
    assert (
        "-- loaded with key [redacted: aws-access-key]\n"
        "select md5(cast(id as varchar)) as event_key\n"
        "from {{ source('app', 'events') }} -- token [redacted: github-token]\n"
    ) in data["pack"]
    assert (
        "- `models/stg_events.sql` values redacted in the pack: aws-access-key, github-token"
    ) in data["pack"]
    ledger = {e.target: (e.kind, e.why) for e in read_ledger(load_config(repo)).excluded}
    assert ledger["models/stg_events.sql#aws-access-key"] == (
        "aws-access-key",
        "value redacted in the pack; the rest of the file is in it",
    )
    assert ledger["models/stg_events.sql#github-token"][0] == "github-token"
    ledger_text = (repo / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    assert AWS_KEY_ID not in ledger_text and GITHUB_TOKEN not in ledger_text


def test_the_pack_count_is_the_count_of_the_redacted_text(repo: Path) -> None:
    write(repo, "models/keys.sql", f"select '{AWS_KEY_ID}' as k\n")
    result = build_scope(
        ["models/keys.sql"],
        base=repo,
        root=repo,
        budget=4000,
        encoding="o200k_base",
        cache_dir=None,
        level=0,
    )
    from decp.core.tokens import get_counter

    assert result.files[0].text == "select '[redacted: aws-access-key]' as k\n"
    assert result.files[0].tokens == get_counter("o200k_base").count(result.files[0].text)
    assert get_counter("o200k_base").count(result.pack) == result.pack_tokens


def test_loading_a_file_with_a_credential_flags_it(repo: Path) -> None:
    write(repo, "models/keys.sql", f"select '{AWS_KEY_ID}' as k\n")
    result = decp("context", "load", "models/keys.sql", "--why", "debug", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert (
        "decp: left out models/keys.sql#aws-access-key: aws-access-key: credential in a "
        "loaded file: rotate it, or keep the file out of context"
    ) in result.stderr
    assert AWS_KEY_ID not in result.stdout + result.stderr
    assert excluded_kinds(repo)["models/keys.sql#aws-access-key"] == "aws-access-key"


def test_dot_dot_inside_the_repo_is_fine(repo: Path) -> None:
    """The boundary is the repo root, not the current folder: `..` from models/ is allowed."""
    result = decp("tokens", "..", "--json", cwd=repo / "models")
    assert result.returncode == 0, result.stderr
    paths = {f["path"] for f in json.loads(result.stdout)["files"]}
    assert {"orders.sql", "payments.sql", f"{repo.as_posix()}/.project/decp.toml"} <= paths
    scoped = decp("context", "scope", "../models/orders.sql", "--json", cwd=repo / "models")
    assert scoped.returncode == 0, scoped.stderr
    assert json.loads(scoped.stdout)["files"][0]["path"] == "models/orders.sql"
