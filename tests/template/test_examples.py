"""The example dbt project, its generator and the committed manifests stay in step.

The manifests under examples/manifests/ are real `dbt parse` output that the demo, docs
and other tests rely on without dbt installed. These tests check they are genuine dbt
1.11 manifests, that they match the committed project and today's generator byte for
byte (model SQL), that the README's numbers are true, and that the 250+ model manifest
really gives `fct_orders` a 200+ node lineage. No dbt is needed to run them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
BASE_PROJECT = EXAMPLES / "shop"
MANIFESTS = EXAMPLES / "manifests"
GENERATOR = REPO_ROOT / "scripts" / "gen_example.py"
REGEN = REPO_ROOT / "scripts" / "regen_manifests.sh"
FOCAL = "model.shop.fct_orders"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SCALED_MODELS = 260

MANIFEST_FILES = ("shop.manifest.json.gz", f"shop_{SCALED_MODELS}.manifest.json.gz")
REF = re.compile(r"ref\(\s*['\"]([^'\"]+)['\"]\s*\)")
SOURCE = re.compile(r"source\(\s*['\"]([^'\"]+)['\"]\s*,\s*['\"]([^'\"]+)['\"]\s*\)")


# --------------------------------------------------------------------------- helpers


def load_manifest(name: str) -> dict:
    with gzip.open(MANIFESTS / name, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def closure(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def focal_lineage(manifest: dict) -> set[str]:
    """dbt's `+fct_orders+` without tests: ancestors, the model itself, descendants."""
    nodes = closure(FOCAL, manifest["parent_map"]) | closure(FOCAL, manifest["child_map"])
    return {uid for uid in nodes | {FOCAL} if not uid.startswith("test.")}


def readme_rows(header_start: str) -> dict[str, dict[str, str]]:
    """The README table whose header begins with `header_start`, keyed by file name."""
    lines = (MANIFESTS / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def run_generator(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def model_files(project: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((project / "models").rglob("*.sql"))}


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def small() -> dict:
    return load_manifest(MANIFEST_FILES[0])


@pytest.fixture(scope="module")
def scaled() -> dict:
    return load_manifest(MANIFEST_FILES[1])


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scaled project exactly as the committed shop_260 manifest was parsed from."""
    out = tmp_path_factory.mktemp("gen") / f"shop_{SCALED_MODELS}"
    result = run_generator(out, "--models", str(SCALED_MODELS))
    assert result.returncode == 0, result.stderr
    return out


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize("name", MANIFEST_FILES)
def test_committed_manifest_is_a_real_dbt_1_11_manifest(name: str) -> None:
    manifest = load_manifest(name)
    meta = manifest["metadata"]
    assert meta["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/manifest/v12.json"
    assert re.fullmatch(r"1\.11\.\d+", meta["dbt_version"]), meta["dbt_version"]
    assert meta["adapter_type"] == "duckdb"
    assert meta["project_name"] == "shop"
    # What dbt writes and a hand-made file would likely miss.
    assert meta["invocation_id"] and meta["generated_at"]
    for key in ("nodes", "sources", "macros", "docs", "exposures", "parent_map", "child_map"):
        assert key in manifest, key
    for uid, node in manifest["nodes"].items():
        assert node["unique_id"] == uid
        assert set(manifest["parent_map"][uid]) == set(node["depends_on"].get("nodes", []))
    # dbt's own macros are there: the manifest came from a real dbt install.
    assert any(uid.startswith("macro.dbt.") for uid in manifest["macros"])
    assert any(uid.startswith("macro.dbt_duckdb.") for uid in manifest["macros"])


@pytest.mark.parametrize("name", MANIFEST_FILES)
def test_readme_counts_match_the_manifest(name: str) -> None:
    manifest = load_manifest(name)
    row = readme_rows("| file | project |")[name]
    kinds = Counter(node["resource_type"] for node in manifest["nodes"].values())
    assert int(row["models"]) == kinds["model"]
    assert int(row["tests"]) == kinds["test"]
    assert int(row["seeds"]) == kinds["seed"]
    assert int(row["sources"]) == len(manifest["sources"])
    assert int(row["exposures"]) == len(manifest["exposures"])
    assert int(row["nodes"]) == len(manifest["nodes"])
    assert int(row["gzip bytes"]) == (MANIFESTS / name).stat().st_size
    with gzip.open(MANIFESTS / name, "rb") as fh:
        raw = fh.read()
    assert int(row["raw bytes"]) == len(raw)
    lineage_row = readme_rows("| file | models | seeds |")[name]
    assert int(lineage_row["non-test nodes"]) == len(focal_lineage(manifest))


def test_readme_names_the_dbt_versions_in_the_manifests(small: dict) -> None:
    readme = (MANIFESTS / "README.md").read_text(encoding="utf-8")
    assert f"dbt-core {small['metadata']['dbt_version']}" in readme
    assert re.search(r"dbt-duckdb 1\.11\.\d+", readme)


def test_small_manifest_is_the_committed_project(small: dict) -> None:
    """Every model file of examples/shop is in the manifest with the same SQL, and back."""
    files = model_files(BASE_PROJECT)
    models = {n["name"]: n for n in small["nodes"].values() if n["resource_type"] == "model"}
    assert set(models) == set(files)
    for name, path in files.items():
        assert models[name]["raw_code"] == path.read_text(encoding="utf-8").strip(), name
        assert models[name]["original_file_path"] == str(path.relative_to(BASE_PROJECT))


def test_scaled_manifest_is_todays_generator_output(scaled: dict, generated: Path) -> None:
    """A generator change without `regen_manifests.sh` would make the demo lie."""
    files = model_files(generated)
    models = {n["name"]: n for n in scaled["nodes"].values() if n["resource_type"] == "model"}
    assert set(models) == set(files)
    for name, path in files.items():
        assert models[name]["raw_code"] == path.read_text(encoding="utf-8").strip(), name


def test_scaled_manifest_has_250_models_and_a_200_node_focal_lineage(scaled: dict) -> None:
    kinds = Counter(node["resource_type"] for node in scaled["nodes"].values())
    assert kinds["model"] >= 250
    lineage = focal_lineage(scaled)
    assert len(lineage) >= 200
    # The refactor is felt downstream: most of the lineage reads fct_orders' output.
    descendants = {u for u in closure(FOCAL, scaled["child_map"]) if not u.startswith("test.")}
    assert len(descendants) >= 150
    assert len(scaled["child_map"][FOCAL]) >= 20


def test_small_manifest_has_the_documented_features(small: dict) -> None:
    """Sources, a seed, an exposure, tags, typed column docs and all test kinds."""
    nodes = small["nodes"].values()
    models = [n for n in nodes if n["resource_type"] == "model"]
    tests = [n for n in nodes if n["resource_type"] == "test"]
    assert 15 <= len(models) <= 25
    layers = Counter(n["fqn"][1] for n in models)
    assert set(layers) == {"staging", "intermediate", "marts"}
    materialized = Counter(n["config"]["materialized"] for n in models)
    assert {"view", "table", "incremental", "ephemeral"} <= set(materialized)
    tags = {tag for n in models for tag in n["tags"]}
    assert {"finance", "pii", "daily"} <= tags
    generic = {n["test_metadata"]["name"] for n in tests if n.get("test_metadata")}
    assert {"unique", "not_null", "relationships", "accepted_values"} <= generic
    assert any(not n.get("test_metadata") for n in tests), "one singular test"
    assert all(col["data_type"] for n in models for col in n["columns"].values())
    assert all(n["columns"] and n["description"] for n in models)
    assert small["sources"] and small["exposures"]


# --------------------------------------------------------------------------- generator


def test_generator_is_deterministic(tmp_path: Path, generated: Path) -> None:
    again = tmp_path / "again"
    assert run_generator(again, "--models", str(SCALED_MODELS)).returncode == 0
    assert tree(again) == tree(generated)
    other_seed = tmp_path / "other"
    assert run_generator(other_seed, "--models", str(SCALED_MODELS), "--seed", "7").returncode == 0
    assert tree(other_seed) != tree(generated)


@pytest.mark.parametrize("models", [24, 25, 61, 133])
def test_generator_writes_exactly_the_models_asked_for(tmp_path: Path, models: int) -> None:
    out = tmp_path / "p"
    result = run_generator(out, "--models", str(models))
    assert result.returncode == 0, result.stderr
    assert len(model_files(out)) == models
    assert_project_is_consistent(out)


def test_generated_project_is_consistent(generated: Path) -> None:
    assert len(model_files(generated)) == SCALED_MODELS
    assert_project_is_consistent(generated)


def assert_project_is_consistent(project: Path) -> None:
    """Every ref and source resolves, and every model has yml docs with typed columns."""
    files = model_files(project)
    seeds = {p.stem for p in (project / "seeds").glob("*.csv")}
    documented: dict[str, dict] = {}
    sources: set[tuple[str, str]] = set()
    for yml in (project / "models").rglob("*.yml"):
        data = yaml.load(yml.read_text(encoding="utf-8"), Loader=YAML_LOADER)
        for model in data.get("models", []):
            assert model["name"] not in documented, model["name"]
            documented[model["name"]] = model
        for source in data.get("sources", []):
            sources |= {(source["name"], table["name"]) for table in source["tables"]}
    assert set(documented) == set(files)
    for name, path in files.items():
        sql = path.read_text(encoding="utf-8")
        assert set(REF.findall(sql)) <= set(files) | seeds, name
        assert set(SOURCE.findall(sql)) <= sources, name
        columns = documented[name]["columns"]
        assert columns and all(col.get("data_type") for col in columns), name
        assert any(col.get("data_tests") for col in columns), name
    for test in (project / "tests").glob("*.sql"):
        assert set(REF.findall(test.read_text(encoding="utf-8"))) <= set(files), test.name


def test_generated_lineage_from_sql_alone(generated: Path) -> None:
    """The 200+ claim holds on the project itself, not only on the committed manifest."""
    parents = {
        name: sorted(set(REF.findall(path.read_text(encoding="utf-8"))))
        for name, path in model_files(generated).items()
    }
    children: dict[str, list[str]] = {}
    for child, refs in parents.items():
        for parent in refs:
            children.setdefault(parent, []).append(child)
    upstream = closure("fct_orders", parents)
    downstream = closure("fct_orders", children)
    assert len(upstream | downstream) + 1 >= 200


def test_generator_refuses_too_few_models(tmp_path: Path) -> None:
    result = run_generator(tmp_path / "p", "--models", "5")
    assert result.returncode == 2
    assert "at least 24" in result.stderr
    assert not (tmp_path / "p").exists()


def test_generator_will_not_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "p"
    out.mkdir()
    keep = out / "mine.txt"
    keep.write_text("user data", encoding="utf-8")
    result = run_generator(out, "--models", "30")
    assert result.returncode == 2
    assert "--force" in result.stderr
    assert keep.read_text(encoding="utf-8") == "user data"
    forced = run_generator(out, "--models", "30", "--force")
    assert forced.returncode == 0, forced.stderr
    assert not keep.exists() and len(model_files(out)) == 30


def test_generator_refuses_to_write_into_the_example_project() -> None:
    result = run_generator(BASE_PROJECT / "models" / "generated", "--models", "30")
    assert result.returncode == 2
    assert "refusing" in result.stderr
    assert not (BASE_PROJECT / "models" / "generated").exists()


# --------------------------------------------------------------------------- regen script


def test_regen_script_explains_a_missing_dbt(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(REGEN)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DBT": str(tmp_path / "no-dbt"), "TMPDIR": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 2
    assert "dbt not found" in result.stderr and "Fix:" in result.stderr


def test_regen_script_rejects_unknown_arguments(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(REGEN), "--bogus"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown argument '--bogus'" in result.stderr


def test_committed_manifests_are_reproducibly_compressed() -> None:
    """`gzip -n`: no file name or timestamp in the header, so regenerating is diff-friendly."""
    for name in MANIFEST_FILES:
        header = (MANIFESTS / name).read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b"
        assert header[3] & 0x08 == 0, f"{name} stores a file name"
        assert header[4:8] == b"\0\0\0\0", f"{name} stores a timestamp"


def test_readme_hashes_match(small: dict) -> None:
    readme = (MANIFESTS / "README.md").read_text(encoding="utf-8")
    for name in MANIFEST_FILES:
        with gzip.open(MANIFESTS / name, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        stem = name.removesuffix(".manifest.json.gz")
        assert f"- {stem}: `{digest}`" in readme
