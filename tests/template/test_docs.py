"""The docs site builds strictly, and every link the template stamps resolves in it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from copier import run_copy

DOCS_URL = "https://docs.decp.invalid/site"
LINK_RE = re.compile(re.escape(DOCS_URL) + r"(/[^\s)\"'`<>]*)?")
ALL_AGENTS = ["claude", "copilot", "cursor", "gemini", "codex", "windsurf", "chat"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `mkdocs build --strict` of this repo's docs."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _stamp(dest: Path, project_type: str) -> Path:
    run_copy(
        str(REPO_ROOT),
        dest,
        defaults=True,
        quiet=True,
        vcs_ref="HEAD",
        data={"project_type": project_type, "agents": ALL_AGENTS, "docs_url": DOCS_URL},
    )
    return dest


def _resolve(site: Path, url_path: str) -> tuple[Path, str | None]:
    path, _, anchor = url_path.partition("#")
    path = path.strip("/")
    page = site / path / "index.html" if path else site / "index.html"
    return page, anchor or None


@pytest.mark.parametrize("project_type", ["dbt", "generic"])
def test_every_stamped_link_resolves_in_the_built_site(
    site: Path, tmp_path: Path, project_type: str
) -> None:
    repo = _stamp(tmp_path / "repo", project_type)
    checked = 0
    for stamped in repo.rglob("*"):
        if not stamped.is_file() or ".git" in stamped.parts:
            continue
        text = stamped.read_text(encoding="utf-8")
        for match in LINK_RE.finditer(text):
            url_path = (match.group(1) or "/").rstrip(".,;:")
            page, anchor = _resolve(site, url_path)
            where = f"{stamped.relative_to(repo)} links {match.group(0)}"
            assert page.is_file(), f"{where}, but the site has no {page.relative_to(site)}"
            if anchor:
                html = page.read_text(encoding="utf-8")
                assert f'id="{anchor}"' in html, f"{where}, but the page has no #{anchor}"
            checked += 1
    assert checked >= 10, f"expected the stamped files to carry docs links, found {checked}"


def test_site_url_matches_the_template_docs_url_default() -> None:
    from copier._template import load_template_config

    mkdocs = yaml.safe_load(
        re.sub(r"!!python/name:\S+", "null", (REPO_ROOT / "mkdocs.yml").read_text("utf-8"))
    )
    default = load_template_config(REPO_ROOT / "copier.yml")["docs_url"]["default"]
    assert mkdocs["site_url"].rstrip("/") == default


def test_generated_reference_pages_show_real_sources(site: Path) -> None:
    """Pages built from copier.yml, defaults.yml and the CLI carry their real content."""
    questions = (site / "reference" / "copier-questions" / "index.html").read_text("utf-8")
    for name in ("project_type", "agents", "context_window", "task_budget", "gtd_backend"):
        assert f"<code>{name}</code>" in questions
    cli = (site / "reference" / "cli" / "index.html").read_text("utf-8")
    assert "decp doctor" in cli and "--fix" in cli
    stamped = (site / "reference" / "stamped-files" / "index.html").read_text("utf-8")
    assert "decp:begin" in stamped and "decp session protocol" in stamped


ASSET_RE = re.compile(r"""<(?:script|img|link)\b[^>]*?\b(?:src|href)="([^"]+)\"""")
ASSET_EXT = re.compile(r"\.(?:js|css|png|svg|ico|jpe?g|gif|webp|woff2?)(?:[?#].*)?$")
VENDORED_MERMAID = "assets/vendor/mermaid.min.js"


def test_every_asset_the_built_html_references_exists(site: Path) -> None:
    """Scripts, styles and images each page loads are in site/ (offline docs keep their diagrams)."""
    missing: dict[str, set[str]] = {}
    for page in site.rglob("*.html"):
        if page.name == "404.html":
            continue  # served from any depth, so it links assets by the site_url's absolute path
        for ref in ASSET_RE.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^(?:[a-z]+:|//|#)", ref) or not ASSET_EXT.search(ref):
                continue  # external, data:, in-page, or a link to a page rather than an asset
            target = (page.parent / ref.split("#")[0].split("?")[0]).resolve()
            if not target.is_file():
                where = os.path.relpath(target, site.resolve())
                missing.setdefault(where, set()).add(str(page.relative_to(site)))
    if set(missing) == {VENDORED_MERMAID}:
        pytest.skip(f"{VENDORED_MERMAID} not vendored: `make docs` fetches it (needs npm)")
    assert not missing, (
        f"assets referenced by the built HTML but absent from site/: {sorted(missing)}"
    )
