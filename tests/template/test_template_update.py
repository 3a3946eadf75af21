"""`copier update` of a stamped repo: real Copier, real git, a real v1/v2/v3 template repo.

The promise under test is "user data is never lost": STATE/LOOPS/CONTEXT and
sessions/ stay byte-identical, template changes merge into template-owned files
next to the user's own edits, conflicts are shown (markers or .rej), never
silently dropped, and deletions the user made are respected.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from copier.errors import UserMessageError
from template_helpers import (
    NEW_FILE,
    NEW_FILE_TEXT,
    SESSIONS_DIR,
    USER_DATA_FILES,
    V1,
    V2,
    V3,
    TemplateRepo,
    append,
    commit_all,
    copy_lead_template,
    git,
    git_init,
    git_status,
    run_doctor,
    session_template_repo,
    stamp,
    stamp_repo,
    tree_digest,
    update,
)

from decp.core.config import load_config

pytestmark = pytest.mark.slow

SESSION_FILE = f"{SESSIONS_DIR}/2026-11-26-1.md"
USER_PROTOCOL_LINE = (
    "Team rule: we also run `dbt build --select state:modified+` before every PR.\n"
)
DELETED_USER_DATA = (".project/LOOPS.md", ".project/CONTEXT.md")
CONFLICT_LINE = "Why: OUR TEAM'S OWN WORDING of the opening line, keep it."


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    return session_template_repo(tmp_path_factory)


def _answers(root: Path) -> dict[str, object]:
    return yaml.safe_load((root / ".copier-answers.yml").read_text(encoding="utf-8"))


def _changed_paths(root: Path) -> set[str]:
    """Paths `git status` reports after an update (relative, porcelain v1)."""
    return {line[3:] for line in git_status(root).splitlines()}


def _write_user_data(root: Path) -> dict[str, str]:
    """The user's own writes to every user-data path; returns their sha256 digests."""
    project = root / ".project"
    append(project / "STATE.md", "goal: ship the orders mart\nnext_action: review stg_orders\n")
    append(project / "LOOPS.md", "## LOOP-001 Is fct_orders late-arriving?\nstatus: open\n")
    append(project / "CONTEXT.md", "\nNote: skipped the raw layer on purpose.\n")
    append(root / SESSION_FILE, "# Session 2026-11-26 #1\n\nDone: staged orders.\n")
    return _user_data_digest(root)


def _user_data_digest(root: Path) -> dict[str, str]:
    digest = tree_digest(root)
    paths = set(USER_DATA_FILES)
    return {k: v for k, v in digest.items() if k in paths or k.startswith(SESSIONS_DIR + "/")}


def _set_toml(root: Path, old: str, new: str) -> None:
    path = root / ".project" / "decp.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in decp.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _conflict_artifacts(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.rej") if ".git" not in p.parts]


# --- v1 -> v2 ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def updated(template_repo: TemplateRepo, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The issue's scenario: stamp v1, user edits, template v2, `copier update`."""
    root = stamp_repo(template_repo.path, tmp_path_factory.mktemp("v1v2") / "shop")
    user_data = _write_user_data(root)
    append(root / ".project" / "PROTOCOL.md", USER_PROTOCOL_LINE)
    _set_toml(root, "task_budget = 4000", "task_budget = 4500")
    commit_all(root, "user work: state, loops, context, a session, protocol and config edits")
    update(root, ref=V2)
    return {"root": root, "user_data": user_data}


def test_update_keeps_user_data_byte_identical(updated: dict) -> None:
    root: Path = updated["root"]
    assert _user_data_digest(root) == updated["user_data"]
    assert (root / SESSION_FILE).is_file()
    touched = {
        p for p in _changed_paths(root) if p in USER_DATA_FILES or p.startswith(SESSIONS_DIR)
    }
    assert not touched, f"copier update touched user data: {touched}"


def test_update_merges_template_rewording_with_user_line(
    updated: dict, template_repo: TemplateRepo
) -> None:
    protocol = (updated["root"] / ".project" / "PROTOCOL.md").read_text(encoding="utf-8")
    assert template_repo.new_line in protocol, "v2 rewording did not reach PROTOCOL.md"
    assert template_repo.old_line not in protocol, "old wording still there after update"
    assert protocol.endswith(USER_PROTOCOL_LINE), "the user's appended line was lost"
    assert "<<<<<<<" not in protocol and ">>>>>>>" not in protocol
    assert not _conflict_artifacts(updated["root"])


def test_update_keeps_user_edit_in_decp_toml(updated: dict) -> None:
    assert load_config(updated["root"]).budget.task_budget == 4500


def test_update_adds_new_template_file(updated: dict) -> None:
    assert (updated["root"] / NEW_FILE).read_text(encoding="utf-8") == NEW_FILE_TEXT


def test_update_records_new_version_and_nothing_else_changes(updated: dict) -> None:
    root: Path = updated["root"]
    assert _answers(root)["_commit"] == V2
    assert _changed_paths(root) == {".copier-answers.yml", ".project/PROTOCOL.md", NEW_FILE}
    doctor = run_doctor(root)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr


# --- conflicts ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["inline", "rej"])
def test_conflicting_edit_is_shown_never_dropped(
    mode: str, template_repo: TemplateRepo, tmp_path: Path
) -> None:
    """The user rewrote the very line v2 rewords: both versions must survive somewhere visible."""
    root = stamp_repo(template_repo.path, tmp_path / "shop")
    user_data = _write_user_data(root)
    protocol_path = root / ".project" / "PROTOCOL.md"
    text = protocol_path.read_text(encoding="utf-8")
    protocol_path.write_text(text.replace(template_repo.old_line, CONFLICT_LINE), encoding="utf-8")
    commit_all(root, "user rewords the opening line")

    update(root, ref=V2, conflict=mode)

    protocol = protocol_path.read_text(encoding="utf-8")
    rejects = _conflict_artifacts(root)
    visible = protocol + "".join(p.read_text(encoding="utf-8") for p in rejects)
    assert CONFLICT_LINE in visible, "the user's conflicting line was silently dropped"
    if mode == "inline":
        assert "<<<<<<<" in protocol and ">>>>>>>" in protocol, protocol[:600]
        assert template_repo.new_line in protocol
    else:
        assert rejects, "conflict=rej left no .rej file"
    assert _user_data_digest(root) == user_data


# --- re-answering ----------------------------------------------------------------------


def test_reanswer_refreshes_decp_toml_and_keeps_user_edit(
    template_repo: TemplateRepo, tmp_path: Path
) -> None:
    root = stamp_repo(template_repo.path, tmp_path / "shop")
    _set_toml(root, 'backend = "todotxt"', 'backend = "none"')
    commit_all(root, "user turns GTD export off")

    update(root, ref=V2, data={"task_budget": 3000})

    config = load_config(root)
    assert config.budget.task_budget == 3000, "re-answer did not reach decp.toml"
    assert config.gtd["backend"] == "none", "the user's own decp.toml edit was lost"
    assert _answers(root)["task_budget"] == 3000
    protocol = (root / ".project" / "PROTOCOL.md").read_text(encoding="utf-8")
    assert "--budget 3000" in protocol and "--budget 4000" not in protocol


def test_task_budget_override_survives_update(template_repo: TemplateRepo, tmp_path: Path) -> None:
    """A budget accepted at copy time with the override must not block the next update."""
    root = stamp_repo(
        template_repo.path,
        tmp_path / "shop",
        data={"task_budget": 7000, "task_budget_override": True},
    )
    update(root, ref=V2)  # replays the recorded answers; must not raise ValueError
    assert load_config(root).budget.task_budget == 7000
    assert _answers(root)["_commit"] == V2


# --- deletions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deleted(template_repo: TemplateRepo, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The user deleted a template-owned file (README.md) and two user-data files, then updated."""
    root = stamp_repo(template_repo.path, tmp_path_factory.mktemp("deleted") / "shop")
    _write_user_data(root)
    commit_all(root, "user data")
    for rel in (*DELETED_USER_DATA, ".project/README.md"):
        (root / rel).unlink()
    commit_all(root, "user deletes README.md, LOOPS.md and CONTEXT.md")
    kept = _user_data_digest(root)
    update(root, ref=V2)
    return {"root": root, "user_data": kept}


def test_deleted_template_owned_file_stays_deleted(
    deleted: dict, template_repo: TemplateRepo
) -> None:
    """Copier treats the deletion as the user's change: update does not recreate README.md.

    Everything else still updates.
    """
    root: Path = deleted["root"]
    assert not (root / ".project" / "README.md").exists()
    assert template_repo.new_line in (root / ".project" / "PROTOCOL.md").read_text(encoding="utf-8")
    assert (root / NEW_FILE).is_file()
    assert _answers(root)["_commit"] == V2
    assert not _conflict_artifacts(root)


def test_deleted_user_data_is_not_resurrected(deleted: dict) -> None:
    root: Path = deleted["root"]
    for rel in DELETED_USER_DATA:
        assert not (root / rel).exists(), f"update resurrected {rel}"
    assert _user_data_digest(root) == deleted["user_data"], "remaining user data changed"


def test_doctor_advice_for_deleted_template_file_works(deleted: dict) -> None:
    """doctor flags only the missing README.md, with a fix that actually restores it.

    Missing user data is a warning (decp recreates it). `copier update` does not
    restore a deleted file (see above), so advising it sends users in a circle.
    """
    result = run_doctor(deleted["root"])
    assert result.returncode == 1, result.stdout
    fails = [line for line in result.stdout.splitlines() if line.startswith("[FAIL]")]
    assert len(fails) == 1 and ".project/README.md" in fails[0], result.stdout
    assert "copier update" not in fails[0], (
        f"doctor advises `copier update`, which does not restore a deleted file: {fails[0]}"
    )
    assert "→" in fails[0], f"no fix offered: {fails[0]}"


@pytest.mark.parametrize("edited", [False, True], ids=["pristine", "edited"])
def test_template_dropping_user_data_path_keeps_users_file(
    edited: bool, template_repo: TemplateRepo, tmp_path: Path
) -> None:
    """v3 removes every user-data path from template/; `_exclude` on update keeps the user's files."""
    assert template_repo.user_data, "template/ ships no user-data path: nothing to check"
    root = stamp_repo(template_repo.path, tmp_path / "shop")
    if edited:
        _write_user_data(root)
        commit_all(root, "user data")
    kept = _user_data_digest(root)
    assert kept, "no user-data file stamped at v1"

    update(root, ref=V3)

    assert _user_data_digest(root) == kept
    assert _answers(root)["_commit"] == V3


def test_without_exclude_rule_copier_deletes_user_file(tmp_path: Path) -> None:
    """Why the maintainer rule exists: drop the `_exclude` lines and Copier deletes user data.

    Same v1 -> v3 change as above, on a copy of copier.yml whose update-time
    `_exclude` entries are removed: the user's edited CONTEXT.md is gone after
    the update (recoverable only from git history).
    """
    tpl = copy_lead_template(tmp_path / "tpl")
    config = tpl / "copier.yml"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    kept_lines = [ln for ln in lines if "_copier_operation == 'update'" not in ln]
    assert len(kept_lines) < len(lines), "copier.yml has no update-time _exclude entries"
    text = "".join(kept_lines)
    if "\n_exclude:\n" in text:
        text = text.replace("\n_exclude:\n", "\n")
    config.write_text(text, encoding="utf-8")
    git_init(tpl)
    commit_all(tpl, "v1 without the rule")
    git(tpl, "tag", V1)
    context_template = tpl / "template" / ".project" / "CONTEXT.md.jinja"
    assert context_template.is_file(), "template/ ships CONTEXT.md.jinja: this test drops it"
    context_template.unlink()
    commit_all(tpl, "v3 drops CONTEXT.md")
    git(tpl, "tag", V3)

    root = stamp_repo(tpl, tmp_path / "shop")
    append(root / ".project" / "CONTEXT.md", "\nNote: the user's own line.\n")
    commit_all(root, "user edits CONTEXT.md")
    update(root, ref=V3)

    assert not (root / ".project" / "CONTEXT.md").exists(), (
        "Copier no longer deletes a user-data file the template dropped; the maintainer "
        "rule in docs may be relaxed"
    )


# --- existing agent files through an update ---------------------------------------------


def test_existing_agent_files_survive_update(template_repo: TemplateRepo, tmp_path: Path) -> None:
    root = git_init(tmp_path / "shop")
    own = {
        "AGENTS.md": "# Team rules\n\nNo `select *` in marts.\n",
        "CLAUDE.md": "Claude: be terse.\n",
        ".github/copilot-instructions.md": "Copilot: prefer CTEs.\n",
    }
    for rel, text in own.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    commit_all(root, "existing agent files")
    stamp(template_repo.path, root)
    assert run_doctor(root, "--fix").returncode == 0
    commit_all(root, "stamp decp, add decp blocks")
    fixed = {rel: (root / rel).read_bytes() for rel in own}

    update(root, ref=V2)

    for rel, data in fixed.items():
        assert (root / rel).read_bytes() == data, f"copier update changed {rel}"
    assert run_doctor(root).returncode == 0


def test_dropping_agents_on_update_keeps_users_own_agent_files(
    template_repo: TemplateRepo, tmp_path: Path
) -> None:
    """Re-answering `agents` must never delete an agent file that holds the user's own text.

    The repo had its own CLAUDE.md and copilot instructions before decp; the
    user later narrows the agents to Gemini. Whatever Copier does with decp's
    own shims, the user's text must survive, and `decp doctor --fix` must wire
    the newly chosen agent.
    """
    root = git_init(tmp_path / "shop")
    own = {
        "CLAUDE.md": "Claude: be terse.\n",
        ".github/copilot-instructions.md": "Copilot: prefer CTEs.\n",
    }
    for rel, text in own.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    commit_all(root, "existing agent files")
    stamp(template_repo.path, root)
    assert run_doctor(root, "--fix").returncode == 0
    commit_all(root, "stamp decp, add decp blocks")

    update(root, ref=V2, data={"agents": ["gemini"]})

    for rel, text in own.items():
        assert (root / rel).is_file(), f"copier update deleted the user's own {rel}"
        assert (root / rel).read_text(encoding="utf-8").startswith(text)
    fixed = run_doctor(root, "--fix")
    assert fixed.returncode == 0, fixed.stdout
    assert "<!-- decp:begin -->" in (root / "GEMINI.md").read_text(encoding="utf-8")


def test_update_needs_a_clean_worktree_and_changes_nothing_when_refused(
    template_repo: TemplateRepo, tmp_path: Path
) -> None:
    """Copier refuses to update over uncommitted work instead of mixing it into a merge."""
    root = stamp_repo(template_repo.path, tmp_path / "shop")
    append(root / ".project" / "STATE.md", "uncommitted thought\n")
    before = tree_digest(root)
    with pytest.raises(UserMessageError, match="dirty"):
        update(root, ref=V2)
    assert tree_digest(root) == before
