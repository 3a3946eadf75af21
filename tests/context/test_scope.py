"""`decp context scope`: levels, static references, budgets, and what never enters a pack."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from decp.context.ledger import read_ledger
from decp.context.scope import EmptyPackError, build_scope
from decp.core.config import load_config
from decp.core.tokens import get_counter

ENCODING = "o200k_base"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def scope(root: Path, *targets: str, budget: int = 4000, level: int | str | None = None):
    return build_scope(
        list(targets),
        base=root,
        root=root,
        budget=budget,
        encoding=ENCODING,
        cache_dir=None,
        level=level,
    )


def files_at(result, level: int) -> set[str]:
    return {
        f"{c.path.relative_to(result.root).as_posix()}" for c in result.files if c.level == level
    }


@pytest.fixture
def pyrepo(project: Path) -> Path:
    write(project, "src/shop/__init__.py", "")
    write(
        project,
        "src/shop/orders.py",
        "import json\nimport shop.money\nfrom lib.fmt import pretty\nfrom .util import helper\n\n"
        "def total(rows):\n    return pretty(sum(r['amount'] for r in rows))\n",
    )
    write(project, "src/shop/money.py", "def cents(x):\n    return round(x * 100)\n")
    write(project, "src/shop/util.py", "def helper():\n    return 1\n")
    write(project, "src/lib/__init__.py", "")
    write(project, "src/lib/fmt.py", "def pretty(n):\n    return f'{n:,}'\n")
    write(
        project,
        "tests/test_orders.py",
        "from shop.orders import total\n\ndef test_total():\n    assert total([])\n",
    )
    write(project, "tests/test_orders_edge.py", "def test_edge():\n    pass\n")
    write(project, "tests/test_money.py", "def test_cents():\n    pass\n")
    return project


def test_python_levels(pyrepo: Path) -> None:
    result = scope(pyrepo, "src/shop/orders.py")
    assert result.level == 3
    assert files_at(result, 0) == {"src/shop/orders.py"}
    assert files_at(result, 1) == {"src/shop/__init__.py", "src/shop/money.py", "src/shop/util.py"}
    assert files_at(result, 2) == {"src/lib/fmt.py"}
    assert files_at(result, 3) == {"tests/test_orders.py", "tests/test_orders_edge.py"}
    assert result.next_level is None


@pytest.fixture
def dbtrepo(project: Path) -> Path:
    write(project, "dbt_project.yml", "name: shop\nversion: '1.0'\n")
    write(
        project, "models/staging/stg_orders.sql", "select id, customer_id, total from raw.orders\n"
    )
    write(
        project,
        "models/staging/_sources.yml",
        "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: payments\n",
    )
    write(
        project,
        "models/marts/fct_orders.sql",
        "select o.*, p.amount\nfrom {{ ref('stg_orders') }} o\n"
        "join {{ source('shop', 'payments') }} p using (id)\n",
    )
    write(project, "models/marts/dim_customers.sql", "select 1 as customer_id\n")
    write(
        project,
        "models/schema/marts.yml",
        "version: 2\nmodels:\n  - name: fct_orders\n    columns:\n      - name: id\n        tests: [unique]\n",
    )
    write(
        project,
        "tests/assert_positive_total.sql",
        "select * from {{ ref('fct_orders') }} where total < 0\n",
    )
    write(project, "target/compiled/fct_orders.sql", "select 'compiled, never a reference'\n")
    return project


def test_dbt_ref_source_and_tests(dbtrepo: Path) -> None:
    result = scope(dbtrepo, "models/marts/fct_orders.sql")
    assert files_at(result, 1) == {"models/marts/dim_customers.sql"}
    assert files_at(result, 2) == {"models/staging/stg_orders.sql", "models/staging/_sources.yml"}
    assert files_at(result, 3) == {"models/schema/marts.yml", "tests/assert_positive_total.sql"}
    whys = {c.path.name: c.why for c in result.files}
    assert whys["stg_orders.sql"] == "ref('stg_orders')"
    assert whys["_sources.yml"] == "source('shop', 'payments')"


def test_jinja_markdown_and_yaml_references(project: Path) -> None:
    write(project, "templates/page.jinja", "{% include 'partials/head.jinja' %}\n<body/>\n")
    write(project, "templates/partials/head.jinja", "<head/>\n")
    write(
        project,
        "docs/index.md",
        "See [setup](guide/setup.md#top), [web](https://x.org) and [me](#here).\n",
    )
    write(project, "docs/guide/setup.md", "# Setup\n")
    write(
        project,
        "pipelines/load.yml",
        "steps:\n  - sql: ../sql/load_orders.sql\n  - schema: schemas/orders.json\n",
    )
    write(project, "sql/load_orders.sql", "copy into orders\n")
    write(project, "schemas/orders.json", "{}\n")
    refs = {
        "templates/page.jinja": {"templates/partials/head.jinja"},
        "docs/index.md": {"docs/guide/setup.md"},
        "pipelines/load.yml": {"sql/load_orders.sql", "schemas/orders.json"},
    }
    for focal, expected in refs.items():
        assert files_at(scope(project, focal), 2) == expected, focal


def test_pack_never_exceeds_the_budget_and_is_the_richest_that_fits(dbtrepo: Path) -> None:
    write(
        dbtrepo,
        "models/marts/wide.sql",
        "select\n" + ",\n".join(f"  col_{i}" for i in range(300)) + "\nfrom t\n",
    )
    counter = get_counter(ENCODING)
    seen_levels = set()
    costs = [lc.tokens for lc in scope(dbtrepo, "models/marts/fct_orders.sql", budget=10**6).levels]
    for budget in [*range(450, 4200, 250), *(cost + 3 for cost in costs)]:
        result = scope(dbtrepo, "models/marts/fct_orders.sql", budget=budget)
        assert counter.count(result.pack) == result.pack_tokens <= budget, budget
        assert f"{result.pack_tokens:,} of {budget:,} tokens" in result.pack
        for richer in result.levels[result.level + 1 :]:
            assert richer.tokens > budget, (budget, richer.name)
        seen_levels.add(result.level)
    assert seen_levels == {0, 1, 2, 3}


def test_each_level_reports_cost_and_next_expansion(dbtrepo: Path, run_decp) -> None:
    result = run_decp(
        "context", "scope", "models/marts/fct_orders.sql", "--level", "1", "--json", cwd=dbtrepo
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["level"] == 1
    assert [lvl["level"] for lvl in data["levels"]] == [0, 1, 2, 3]
    costs = [lvl["tokens"] for lvl in data["levels"]]
    assert costs == sorted(costs)
    nxt = data["next"]
    assert nxt["level"] == 2
    assert set(nxt["files"]) == {"models/staging/stg_orders.sql", "models/staging/_sources.yml"}
    assert nxt["command"] in data["pack"]
    # The advertised command really produces the next level.
    again = run_decp(*shlex.split(nxt["command"])[1:], "--json", cwd=dbtrepo)
    assert json.loads(again.stdout)["level"] == 2
    plain = run_decp("context", "scope", "models/marts/fct_orders.sql", cwd=dbtrepo)
    assert plain.stdout.startswith("# Context pack: models/marts/fct_orders.sql")
    assert "```sql\nselect o.*, p.amount" in plain.stdout


@pytest.fixture
def secrets_repo(project: Path) -> Path:
    write(project, "app/main.py", "print('hello')\n")
    write(project, "app/notes.txt", "plain notes\n")
    write(project, "app/.env", "PASSWORD=env-secret-1\n")
    write(project, "app/.env.prod", "PASSWORD=env-secret-2\n")
    write(
        project,
        "app/profiles.yml",
        "shop:\n  outputs:\n    dev:\n      password: profile-secret-3\n",
    )
    write(project, "app/id_rsa", "ssh-secret-4\n")
    write(project, "app/server.pem", "pem-secret-5\n")
    write(project, "app/gcp-credentials.json", '{"token": "cred-secret-6"}\n')
    write(project, "app/.netrc", "machine x password netrc-secret-7\n")
    write(project, "app/store.p12", "p12-secret-8\n")
    write(project, "app/deploy.json", '{"type": "service_account", "private_key": "sa-secret-9"}\n')
    write(project, "app/cfg.txt", "-----BEGIN RSA PRIVATE KEY-----\nkey-secret-10\n")
    (project / "app" / "blob.bin").write_bytes(b"\x00binary-secret-11" * 10)
    return project


SECRET_FILES = {
    ".env": "secret",
    ".env.prod": "secret",
    "profiles.yml": "secret",
    "id_rsa": "secret",
    "server.pem": "secret",
    "gcp-credentials.json": "secret",
    ".netrc": "secret",
    "store.p12": "secret",
    "deploy.json": "secret",
    "cfg.txt": "secret",
    "blob.bin": "binary",
}


def test_secrets_never_enter_a_pack_and_are_recorded_with_reasons(
    secrets_repo: Path, run_decp
) -> None:
    result = run_decp("context", "scope", "app/main.py", "--json", cwd=secrets_repo)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {Path(f["path"]).name for f in data["files"]} == {"main.py", "notes.txt"}
    for i in range(1, 12):
        assert f"secret-{i}" not in result.stdout
    excluded = {Path(e["path"]).name: e["kind"] for e in data["excluded"]}
    assert excluded == SECRET_FILES
    ledger = read_ledger(load_config(secrets_repo))
    recorded = {Path(e.target).name: (e.kind, e.why) for e in ledger.excluded}
    assert {name: kind for name, (kind, _) in recorded.items()} == SECRET_FILES
    assert all(why for _, why in recorded.values())
    assert "credentials" in recorded["profiles.yml"][1]
    assert ledger.loaded[0].target == "scope:app/main.py"
    assert ledger.loaded[0].tokens == data["tokens"]
    ledger_text = (secrets_repo / ".project" / "CONTEXT.md").read_text(encoding="utf-8")
    assert "secret-" not in ledger_text


def test_a_secret_named_as_focal_is_refused(secrets_repo: Path, run_decp) -> None:
    result = run_decp("context", "scope", "app/.env", cwd=secrets_repo)
    assert result.returncode == 2
    assert "env-secret" not in result.stdout + result.stderr


def test_gitignored_paths_are_excluded(project: Path, run_decp) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    write(project, ".gitignore", "models/scratch_*.sql\n")
    write(project, "models/orders.sql", "select 1\n")
    write(project, "models/scratch_me.sql", "select 'private scratch work'\n")
    result = run_decp("context", "scope", "models/orders.sql", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    kinds_json = {e["path"]: e["kind"] for e in data["excluded"]}
    assert kinds_json["models/scratch_me.sql"] == "gitignored"
    assert "private scratch work" not in data["pack"]
    kinds = {e.target: e.kind for e in read_ledger(load_config(project)).excluded}
    assert kinds["models/scratch_me.sql"] == "gitignored"


def test_focal_files_over_budget_are_left_out_not_truncated(project: Path) -> None:
    write(project, "big.py", "x = 1\n" * 900)
    write(project, "small.py", "y = 2\n")
    result = scope(project, "big.py", "small.py", budget=700)
    assert result.pack_tokens <= 700
    assert [c.path.name for c in result.omitted] == ["big.py"]
    assert [c.path.name for c in result.files] == ["small.py"]
    assert "over budget" in result.pack and "x = 1" not in result.pack
    assert any("raise --budget" in w for w in result.warnings)
    nxt = result.next_level
    assert nxt is not None and nxt.level == 0
    assert [c.path.name for c in nxt.added] == ["big.py"]
    assert nxt.tokens > 700 and nxt.command in result.pack
    assert get_counter(ENCODING).count(result.pack) == result.pack_tokens


def test_explicit_level_over_budget_and_bad_flags_exit_2(dbtrepo: Path, run_decp) -> None:
    focal = "models/marts/fct_orders.sql"
    for args in (
        (focal, "--level", "3", "--budget", "300"),
        (focal, "--level", "many"),
        (focal, "--budget", "0"),
        ("'models/*.py'",),
    ):
        result = run_decp("context", "scope", *(a.strip("'") for a in args), cwd=dbtrepo)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (dbtrepo / ".project" / "CONTEXT.md").exists()


def test_bad_scope_arguments_in_the_api(dbtrepo: Path) -> None:
    from decp.core.errors import UsageError

    focal = "models/marts/fct_orders.sql"
    with pytest.raises(UsageError, match=r"not 0\.\.3"):
        scope(dbtrepo, focal, level=5)
    with pytest.raises(UsageError, match="no such file"):
        scope(dbtrepo, "models/nope.sql")
    with pytest.raises(UsageError, match="positive"):
        scope(dbtrepo, focal, budget=-1)
    with pytest.raises(EmptyPackError, match="no file fits --budget 20"):
        scope(dbtrepo, focal, budget=20)
    assert scope(dbtrepo, focal, level="auto").level == scope(dbtrepo, focal).level
    assert scope(dbtrepo, focal, level="1").level == 1
    with pytest.raises(UsageError, match=r"--level many is not 0\.\.3 or auto"):
        scope(dbtrepo, focal, level="many")


def test_a_pack_that_fits_no_file_fails_and_names_the_smallest_budget(
    project: Path, run_decp
) -> None:
    write(project, "big.py", "total = 1\n" * 120)
    write(project, "bigger.py", "value = 2\n" * 300)
    result = run_decp("context", "scope", "big.py", "bigger.py", "--budget", "300", cwd=project)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    match = re.fullmatch(
        r"decp: error: no file fits --budget 300: the smallest pack \(big\.py, ([\d,]+) tokens "
        r"plus the pack's header\) needs ([\d,]+)\. Fix: use --budget \2 or more, or name "
        r"smaller files\.\n",
        result.stderr,
    )
    assert match, result.stderr
    need = int(match.group(2).replace(",", ""))
    assert int(match.group(1).replace(",", "")) < need
    assert not (project / ".project" / "CONTEXT.md").exists()
    fits = scope(project, "big.py", "bigger.py", budget=need)
    assert [c.path.name for c in fits.files] == ["big.py"]
    assert fits.pack_tokens <= need
    with pytest.raises(EmptyPackError):
        scope(project, "big.py", "bigger.py", budget=need - 1)


def test_no_record_and_outside_a_stamped_repo(dbtrepo: Path, tmp_path: Path, run_decp) -> None:
    result = run_decp("context", "scope", "models/marts/fct_orders.sql", "--no-record", cwd=dbtrepo)
    assert result.returncode == 0
    assert not (dbtrepo / ".project" / "CONTEXT.md").exists()
    loose = tmp_path / "loose"
    write(loose, "job.py", "print(1)\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    outside = run_decp(
        "context", "scope", "job.py", "--budget", "2000", "--json", cwd=loose, env=env
    )
    assert outside.returncode == 0, outside.stderr
    assert json.loads(outside.stdout)["recorded"] is False
    assert "not recorded" in outside.stderr
