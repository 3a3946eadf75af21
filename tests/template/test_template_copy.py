"""`copier copy` of the decp template: real Copier runs, real `decp doctor` processes.

Proves what issue 6 promises for a fresh stamp: the right files for the
answers given, no `--trust` needed, validators that refuse bad answers with a
message saying how to fix them, token caps on what every agent reads, and that
pre-existing agent files survive byte-identical.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pytest_copier.plugin import CopierFixture
from template_helpers import (
    ALL_AGENTS,
    PROJECT_TYPES,
    REPO_ROOT,
    SHIM_DIRS,
    SHIMS,
    V1,
    TemplateRepo,
    all_dirs,
    commit_all,
    git_init,
    git_status,
    private_copy,
    run_doctor,
    session_stamp,
    session_template_repo,
    stamp,
    stamped_user_data,
    tree_digest,
)

from decp.core.config import defaults, load_config
from decp.core.tokens import get_counter

pytestmark = pytest.mark.slow

AGENTS_MD_CAP = 500
PROTOCOL_MD_CAP = 1500
DEFAULT_AGENTS = ["claude", "copilot", "cursor", "chat"]

# Always stamped, whatever the answers (the chat bootloader comes with the default agents).
CORE_FILES = {
    "AGENTS.md",
    ".copier-answers.yml",
    ".project/PROTOCOL.md",
    ".project/README.md",
    ".project/decp.toml",
    ".project/.gitignore",
}

COPIER = Path(sys.executable).with_name("copier")


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    return session_template_repo(tmp_path_factory)


@pytest.fixture
def stamped(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`stamped(**data)`: a shared read-only stamp at v1 with those answers."""

    def make(**data: object) -> Path:
        return session_stamp(tmp_path_factory, data)

    return make


def _files(root: Path) -> set[str]:
    return set(tree_digest(root))


def _expected_files(agents: list[str], user_data: tuple[str, ...]) -> set[str]:
    chosen = {SHIMS[a] for a in agents if a in SHIMS}
    return CORE_FILES | chosen | set(user_data)


def _assert_exact_shims(root: Path, agents: list[str], user_data: tuple[str, ...]) -> None:
    """The chosen shims and the template's user-data files are there; nothing unchosen is."""
    files = _files(root)
    missing = _expected_files(agents, user_data) - files
    assert not missing, f"stamped repo lacks {sorted(missing)}; has {sorted(files)}"
    for agent, shim in SHIMS.items():
        if agent not in agents:
            assert shim not in files, f"{shim} stamped although {agent!r} was not chosen"
    for agent, folder in SHIM_DIRS.items():
        if agent not in agents:
            assert not (root / folder).exists(), f"{folder}/ exists although {agent!r} not chosen"
    empty = sorted(d for d in all_dirs(root) if not any((root / d).iterdir()))
    assert not empty, f"empty directories stamped: {empty}"
    leftovers = sorted(f for f in files if f.endswith(".jinja") or "{" in f)
    assert not leftovers, f"unrendered template names stamped: {leftovers}"


def _assert_doctor_clean_and_fix_noop(root: Path, scratch: Path) -> None:
    """`decp doctor --fix` on a copy exits 0 and changes no byte.

    One process proves two things: `--fix` rewrites every agent file whose
    block is missing or differs from decp.agents.agentfiles.render_block, so "no byte
    changed" means the template's blocks equal the package's, and with every
    block current, exit 0 means plain `decp doctor` passes too.
    """
    work = private_copy(root, scratch)
    before = tree_digest(work)
    fixed = run_doctor(work, "--fix")
    assert fixed.returncode == 0, f"decp doctor failed in {root}:\n{fixed.stdout}{fixed.stderr}"
    assert "FAIL" not in fixed.stdout, fixed.stdout
    changed = sorted(k for k, v in tree_digest(work).items() if before.get(k) != v)
    assert not changed, (
        f"`decp doctor --fix` rewrote freshly stamped files {changed}: the template's "
        f"decp blocks differ from decp.agents.agentfiles.render_block\n{fixed.stdout}"
    )


# --- defaults ------------------------------------------------------------------


def test_cli_copy_with_defaults_needs_no_trust(template_repo: TemplateRepo, tmp_path: Path) -> None:
    """The README's command, verbatim: `copier copy --defaults SRC DST`, no --trust."""
    dst = tmp_path / "shop"
    proc = subprocess.run(
        [str(COPIER), "copy", "--defaults", "--vcs-ref", V1, str(template_repo.path), str(dst)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    _assert_exact_shims(dst, DEFAULT_AGENTS, template_repo.user_data)
    answers = yaml.safe_load((dst / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == V1
    assert answers["agents"] == DEFAULT_AGENTS
    assert answers["project_name"] == "shop"
    plain = run_doctor(dst)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "FAIL" not in plain.stdout, plain.stdout
    _assert_doctor_clean_and_fix_noop(dst, tmp_path / "fix")


def test_copy_from_this_repo_itself(tmp_path: Path) -> None:
    """The real repo (not our tmp rebuild) is a valid template: nothing copier.yml needs is missing."""
    dst = tmp_path / "from-repo"
    proc = subprocess.run(
        [str(COPIER), "copy", "--defaults", "--vcs-ref", "HEAD", str(REPO_ROOT), str(dst)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    _assert_exact_shims(dst, DEFAULT_AGENTS, tuple(stamped_user_data()))
    assert run_doctor(dst).returncode == 0


def test_copier_yml_is_safe_to_run_untrusted() -> None:
    """Static half of "no --trust": no tasks, no extensions, and a Copier new enough for updates.

    (The dynamic half: every stamp in these tests runs with unsafe=False.)
    """

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_constructor("!include", lambda loader, node: {})
    docs = list(yaml.load_all((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"), _Loader))
    settings = {k: v for doc in docs if isinstance(doc, dict) for k, v in doc.items()}
    assert "_tasks" not in settings and "_jinja_extensions" not in settings
    assert "_migrations" not in settings
    major, minor = (int(x) for x in str(settings["_min_copier_version"]).split(".")[:2])
    assert (major, minor) >= (9, 16), "copier < 9.16 deletes gitignored files on update"


def test_gitignore_never_hides_user_data(
    stamped: Callable[..., Path], template_repo: TemplateRepo, tmp_path: Path
) -> None:
    """`.project/.gitignore` drops runtime noise only; nothing the user writes is ignored."""
    root = git_init(private_copy(stamped(), tmp_path / "repo"))
    keep = [
        *template_repo.user_data,
        ".project/sessions/2026-11-26-1.md",
        ".project/decp.toml",
        ".project/PROTOCOL.md",
        ".project/gtd/todo.txt",
    ]
    ignored = [rel for rel in keep if _is_ignored(root, rel)]
    assert not ignored, f".project/.gitignore hides user files: {ignored}"


def _is_ignored(root: Path, rel: str) -> bool:
    proc = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", rel], cwd=root, capture_output=True
    )
    return proc.returncode == 0


def test_stamped_user_data_files_exist(
    stamped: Callable[..., Path], template_repo: TemplateRepo
) -> None:
    """Whatever user-data files template/.project ships are stamped on copy."""
    root = stamped()
    for rel in template_repo.user_data:
        assert (root / rel).is_file(), f"user-data file {rel} not stamped"


def test_default_numbers_come_from_defaults_yml(stamped: Callable[..., Path]) -> None:
    """No number written twice: the stamped budgets equal the package's defaults.yml."""
    d = defaults()
    budget = load_config(stamped()).budget
    assert budget.context_window == d["context_window"]
    assert (budget.session_start, budget.working, budget.handoff) == (
        d["budget_session_start"],
        d["budget_working"],
        d["budget_handoff"],
    )
    assert budget.task_budget == d["task_budget"]
    assert budget.state_cap == d["state_cap"]
    assert budget.encoding == d["encoding"]


def test_answers_are_rendered_into_decp_toml(stamped: Callable[..., Path]) -> None:
    data = {
        "project_name": "warehouse",
        "context_window": 128000,
        "budget_session_start": 0.1,
        "budget_working": 0.3,
        "budget_handoff": 0.6,
        "task_budget": 2500,
        "state_cap": 800,
        "encoding": "cl100k_base",
        "gtd_backend": "ticktick",
        "ticktick_list": "Work",
        "dbt_project_dir": "transform",
        "dbt_manifest": "target/manifest.json.gz",
        "docs_url": "https://docs.example.org/decp",
    }
    config = load_config(stamped(**data))
    assert config.name == "warehouse"
    assert (config.budget.context_window, config.budget.task_budget) == (128000, 2500)
    assert (config.budget.session_start, config.budget.working, config.budget.handoff) == (
        0.1,
        0.3,
        0.6,
    )
    assert (config.budget.state_cap, config.budget.encoding) == (800, "cl100k_base")
    assert config.gtd["backend"] == "ticktick" and config.gtd["ticktick_list"] == "Work"
    assert (config.dbt_project_dir, config.dbt_manifest) == ("transform", "target/manifest.json.gz")
    assert config.docs_url == "https://docs.example.org/decp"


# --- project types ---------------------------------------------------------------


@pytest.mark.parametrize("project_type", PROJECT_TYPES)
def test_each_project_type(
    project_type: str, stamped: Callable[..., Path], template_repo: TemplateRepo, tmp_path: Path
) -> None:
    root = stamped(project_type=project_type)
    config = load_config(root)
    assert config.project_type == project_type
    raw = tomllib.loads((root / ".project" / "decp.toml").read_text(encoding="utf-8"))
    assert ("dbt" in raw) == (project_type == "dbt"), f"[dbt] table wrong for {project_type}"
    protocol = (root / ".project" / "PROTOCOL.md").read_text(encoding="utf-8")
    agents_md = (root / "AGENTS.md").read_text(encoding="utf-8")
    for name, text in (("PROTOCOL.md", protocol), ("AGENTS.md", agents_md)):
        assert ("decp dbt scope" in text) == (project_type == "dbt"), (
            f"{name} for a {project_type} project {'lacks' if project_type == 'dbt' else 'shows'} "
            "`decp dbt scope`"
        )
    _assert_exact_shims(root, DEFAULT_AGENTS, template_repo.user_data)
    _assert_doctor_clean_and_fix_noop(root, tmp_path / "fix")


# --- agent selections ------------------------------------------------------------


@pytest.mark.parametrize(
    "agents",
    [[], ["gemini", "windsurf"], ALL_AGENTS],
    ids=["none", "gemini+windsurf", "all"],
)
def test_agent_selection_stamps_exactly_the_chosen_shims(
    agents: list[str], stamped: Callable[..., Path], template_repo: TemplateRepo, tmp_path: Path
) -> None:
    root = stamped(agents=agents)
    _assert_exact_shims(root, agents, template_repo.user_data)
    assert list(load_config(root).agents) == agents
    readme = (root / ".project" / "README.md").read_text(encoding="utf-8")
    assert ("CHAT-BOOTLOADER.md" in readme) == ("chat" in agents)
    _assert_doctor_clean_and_fix_noop(root, tmp_path / "fix")


# --- validators ------------------------------------------------------------------

BAD_ANSWERS = [
    ({"budget_session_start": 0.0}, "budget_session_start", "between 0 and 1"),
    ({"budget_session_start": 1.0}, "budget_session_start", "between 0 and 1"),
    ({"budget_working": 1.5}, "budget_working", "between 0 and 1"),
    ({"budget_handoff": -0.1}, "budget_handoff", "between 0 and 1"),
    ({"budget_working": 0.2}, "budget_working", "must be above the session-start"),
    ({"budget_session_start": 0.5}, "budget_working", "must be above the session-start"),
    ({"budget_handoff": 0.4}, "budget_handoff", "must be above the working"),
    ({"budget_working": 0.6}, "budget_handoff", "must be above the working"),
    ({"task_budget": 7000}, "task_budget", "task_budget_override"),
    ({"task_budget": 999}, "task_budget", "outside 1000-5000"),
    ({"task_budget": 100, "task_budget_override": True}, "task_budget", "under 200"),
    ({"context_window": 100}, "context_window", "between 8000 and 10000000"),
    ({"state_cap": 50}, "state_cap", "between 200"),
    ({"project_name": ""}, "project_name", "non-empty"),
    ({"project_name": "   "}, "project_name", "non-empty"),
    ({"project_name": 'my "shop"'}, "project_name", "quotes"),
    ({"docs_url": "decp.example.org/docs"}, "docs_url", "full http(s) URL"),
    ({"docs_url": "https://decp.example.org/docs/"}, "docs_url", "trailing slash"),
    ({"dbt_manifest": "target/manifest.yml"}, "dbt_manifest", ".json"),
    ({"dbt_project_dir": "/abs/dbt"}, "dbt_project_dir", "relative"),
    ({"dbt_project_dir": "../elsewhere"}, "dbt_project_dir", "relative"),
    ({"gtd_backend": "ticktick", "ticktick_list": " "}, "ticktick_list", "list name"),
    ({"project_type": "sql"}, "project_type", "dbt"),
    ({"agents": ["emacs"]}, "agents", "claude"),
]


@pytest.mark.parametrize(
    ("data", "question", "hint"), BAD_ANSWERS, ids=[str(d) for d, _, _ in BAD_ANSWERS]
)
def test_validators_reject_bad_answers(
    data: dict[str, object], question: str, hint: str, copier: CopierFixture, tmp_path: Path
) -> None:
    """Copier raises ValueError naming the question and the validator's how-to-fix text."""
    dst = tmp_path / "dst"
    with pytest.raises(ValueError) as excinfo:
        copier.copy(dst, **data)
    message = str(excinfo.value)
    assert f"'{question}'" in message, message
    assert hint in message, message
    assert not dst.exists() or not any(dst.iterdir()), "a rejected answer still wrote files"


def test_task_budget_override_allows_out_of_range(stamped: Callable[..., Path]) -> None:
    root = stamped(task_budget=7000, task_budget_override=True)
    assert load_config(root).budget.task_budget == 7000


@pytest.mark.parametrize("value", [1000, 5000])
def test_task_budget_range_is_inclusive(value: int, stamped: Callable[..., Path]) -> None:
    assert load_config(stamped(task_budget=value)).budget.task_budget == value


@pytest.mark.parametrize(
    "data",
    [
        {"dbt_project_dir": "transform\\dbt"},
        {"dbt_manifest": "target\\manifest.json"},
        {"gtd_backend": "ticktick", "ticktick_list": 'Work "decp"'},
        {"docs_url": 'https://decp.example.org/"docs'},
    ],
    ids=["backslash-dir", "backslash-manifest", "quoted-list", "quoted-url"],
)
def test_every_accepted_answer_renders_valid_toml(
    data: dict[str, object], template_repo: TemplateRepo, tmp_path: Path
) -> None:
    """An answer is either refused with a message, or it yields a decp.toml that parses."""
    dst = tmp_path / "dst"
    try:
        stamp(template_repo.path, dst, data=data)
    except ValueError as exc:  # refused up front: fine, as long as it names the question
        assert "Validation error" in str(exc), str(exc)
        return
    load_config(dst)  # raises DataError (invalid TOML) if the answer broke the file


# --- token caps ------------------------------------------------------------------

CAP_CASES = [{"project_type": t} for t in PROJECT_TYPES] + [{"agents": ALL_AGENTS}]


@pytest.mark.parametrize("data", CAP_CASES, ids=[str(d) for d in CAP_CASES])
def test_token_caps(data: dict[str, object], stamped: Callable[..., Path]) -> None:
    root = stamped(**data)
    counter = get_counter("cl100k_base")
    agents_tokens = counter.count((root / "AGENTS.md").read_text(encoding="utf-8"))
    protocol_tokens = counter.count((root / ".project" / "PROTOCOL.md").read_text(encoding="utf-8"))
    summary = (
        f"{data}: AGENTS.md {agents_tokens}/{AGENTS_MD_CAP}, "
        f"PROTOCOL.md {protocol_tokens}/{PROTOCOL_MD_CAP} tokens ({counter.label})"
    )
    print(summary)
    assert agents_tokens <= AGENTS_MD_CAP, summary
    assert protocol_tokens <= PROTOCOL_MD_CAP, summary


# --- existing agent files ----------------------------------------------------------

EXISTING = {
    "AGENTS.md": "# Team rules\n\nUse SQLFluff (dialect duckdb). Never `select *` in marts.\n",
    # No trailing newline on purpose: --fix must still keep it as an exact prefix.
    "CLAUDE.md": "Claude, be terse and cite model names in backticks.",
    ".github/copilot-instructions.md": "Copilot: prefer CTEs over subqueries; lowercase SQL.\n",
}
DBT_FILES = {
    "dbt_project.yml": "name: shop\nversion: '1.0.0'\nprofile: shop\n",
    "models/x.sql": "select 1 as id\n",
}


@pytest.fixture(scope="module")
def existing_repo(template_repo: TemplateRepo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbt repo with its own agent files, committed, then stamped with the defaults."""
    root = git_init(tmp_path_factory.mktemp("existing") / "shop")
    for rel, text in {**EXISTING, **DBT_FILES}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(text.encode("utf-8"))
    commit_all(root, "existing dbt repo with agent files")
    stamp(template_repo.path, root)
    return root


def _working_copy(existing_repo: Path, tmp_path: Path) -> Path:
    return private_copy(existing_repo, tmp_path / "shop")


def test_existing_agent_files_survive_copy_byte_identical(existing_repo: Path) -> None:
    for rel, text in {**EXISTING, **DBT_FILES}.items():
        assert (existing_repo / rel).read_bytes() == text.encode("utf-8"), f"{rel} was changed"
    changed = [line for line in git_status(existing_repo).splitlines() if line[:2] != "??"]
    assert not changed, f"copy modified tracked files: {changed}"
    assert (existing_repo / ".project" / "PROTOCOL.md").is_file()


def test_doctor_flags_existing_files_that_miss_the_protocol(existing_repo: Path) -> None:
    result = run_doctor(existing_repo)
    assert result.returncode == 1, result.stdout
    fails = [line for line in result.stdout.splitlines() if line.startswith("[FAIL]")]
    for rel in EXISTING:
        assert any(rel in line and "--fix" in line for line in fails), (rel, result.stdout)
    assert len(fails) == len(EXISTING), result.stdout


def test_doctor_fix_appends_block_keeping_user_text(existing_repo: Path, tmp_path: Path) -> None:
    root = _working_copy(existing_repo, tmp_path)
    fixed = run_doctor(root, "--fix")
    assert fixed.returncode == 0, fixed.stdout
    for rel, original in EXISTING.items():
        data = (root / rel).read_bytes()
        assert data.startswith(original.encode("utf-8")), f"{rel}: user text not kept as prefix"
        tail = data[len(original.encode("utf-8")) :].decode("utf-8")
        assert tail.count("<!-- decp:begin -->") == 1 and tail.count("<!-- decp:end -->") == 1
        assert tail.index("<!-- decp:begin -->") < tail.index("<!-- decp:end -->")
    assert run_doctor(root).returncode == 0

    before = tree_digest(root)
    again = run_doctor(root, "--fix")
    assert again.returncode == 0
    assert tree_digest(root) == before, "a second `decp doctor --fix` changed bytes"


def test_doctor_fix_refreshes_a_hand_edited_block(existing_repo: Path, tmp_path: Path) -> None:
    root = _working_copy(existing_repo, tmp_path)
    assert run_doctor(root, "--fix").returncode == 0
    target = root / ".github" / "copilot-instructions.md"
    good = target.read_bytes()
    target.write_bytes(good.replace(b"Follow the decp", b"Maybe glance at the decp", 1))
    assert target.read_bytes() != good
    stale = run_doctor(root)
    assert "copilot-instructions.md: decp block is outdated" in stale.stdout, stale.stdout
    assert run_doctor(root, "--fix").returncode == 0
    assert target.read_bytes() == good, "--fix did not restore the decp block"
    assert target.read_bytes().startswith(EXISTING[".github/copilot-instructions.md"].encode())


# --- the newcomer path: closing message and question order -------------------------


def test_closing_message_names_the_real_source_and_kept_files(
    copier: CopierFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Stamping into `.`: no doubled dot, an install line for this template, kept files explained."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "CLAUDE.md").write_text("my own notes\n", encoding="utf-8")
    monkeypatch.chdir(repo)
    copier.copy(Path("."))
    out = capfd.readouterr()
    text = out.out + out.err
    assert "decp protocol stamped into this folder.\n" in text
    assert "stamped into .." not in text
    assert f'Next: pip install "{copier.template}"' in text
    assert "pip install decp" not in text
    assert "were kept on purpose; `decp doctor --fix` adds decp's block to them." in text
    assert (repo / "CLAUDE.md").read_text(encoding="utf-8") == "my own notes\n"


def test_closing_message_turns_a_github_shorthand_into_a_pip_url() -> None:
    """`gh:owner/repo` (what most people type) becomes an installable git+https URL."""
    from jinja2 import Environment

    raw = yaml.safe_load_all((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    message = next(iter(raw))["_message_after_copy"]
    env = Environment(keep_trailing_newline=True)
    for src, expected in [
        ("gh:decp-dev/decp", "git+https://github.com/decp-dev/decp"),
        ("https://git.example.org/team/decp.git", "git+https://git.example.org/team/decp.git"),
        ("../decp", "../decp"),
    ]:
        text = env.from_string(message).render(
            _copier_answers={"_src_path": src}, _copier_conf={"dst_path": "shop"}
        )
        assert f'Next: pip install "{expected}"' in text, text
        assert "decp protocol stamped into shop." in text


def test_dbt_questions_come_right_after_the_project_type(copier: CopierFixture) -> None:
    order = list(copier.worker().template.questions_data)
    at = order.index("project_type")
    assert order[at + 1 : at + 3] == ["dbt_project_dir", "dbt_manifest"], order
    assert order.index("dbt_project_dir") < order.index("budget_session_start")
