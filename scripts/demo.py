"""`make demo`: stamp decp into a copy of the bundled example dbt project and walk a session.

Everything happens under .scratch/demo (gitignored), so the demo can be rerun
at will. It shows what a new user sees: the stamped files, `decp doctor`, a
budget-fitting lineage pack, a loop captured and approved, a decision, the
session handoff and the resume pack a fresh agent reads first.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / ".scratch" / "demo"
REPO = SCRATCH / "shop"
EXAMPLE = ROOT / "examples" / "shop"
MANIFEST = ROOT / "examples" / "manifests" / "shop.manifest.json.gz"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "decp demo",
    "GIT_AUTHOR_EMAIL": "demo@decp.invalid",
    "GIT_COMMITTER_NAME": "decp demo",
    "GIT_COMMITTER_EMAIL": "demo@decp.invalid",
}


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}")


def run(*args: str, show: bool = True, check: bool = True) -> str:
    """Run a command in the demo repo, echoing it like a user would type it."""
    if show:
        print(f"$ {' '.join(args)}")
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env)
    output = (proc.stdout + proc.stderr).rstrip()
    if show and output:
        print(output)
    if check and proc.returncode != 0:
        sys.exit(f"demo: `{' '.join(args)}` failed with exit {proc.returncode}")
    return proc.stdout


def decp(*args: str, check: bool = True) -> str:
    return run("decp", *args, check=check)


def prepare_repo() -> None:
    """A fresh git repo holding the example dbt project and its parsed manifest."""
    shutil.rmtree(SCRATCH, ignore_errors=True)
    shutil.copytree(EXAMPLE, REPO, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (REPO / "target").mkdir()
    with gzip.open(MANIFEST, "rb") as src:
        (REPO / "target" / "manifest.json").write_bytes(src.read())
    (REPO / ".gitignore").write_text("target/\nlogs/\n", encoding="utf-8")
    run("git", "init", "-q", "-b", "main", show=False)
    run("git", "add", "-A", show=False)
    run("git", "commit", "-q", "-m", "Example dbt project", show=False)


def stamp() -> None:
    from copier import run_copy

    print(f"$ copier copy --defaults {ROOT} {REPO}")
    run_copy(
        str(ROOT), REPO, defaults=True, quiet=True, vcs_ref="HEAD", data={"project_name": "shop"}
    )
    created = sorted(
        str(p.relative_to(REPO))
        for p in REPO.rglob("*")
        if p.is_file()
        and ".git" not in p.parts
        and p.relative_to(REPO).parts[0]
        not in {"models", "target", "tests", "seeds", "macros", "analyses", "snapshots"}
        and p.name not in {"dbt_project.yml", ".gitignore"}
    )
    print("Stamped:\n  " + "\n  ".join(created))
    run("git", "add", "-A", show=False)
    run("git", "commit", "-q", "-m", "Stamp decp protocol", show=False)


def main() -> None:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    if not MANIFEST.is_file():
        sys.exit(f"demo: {MANIFEST} is missing; see docs/how-to/regenerate-examples.md")
    banner("1. A copy of the example dbt project, as a git repo")
    prepare_repo()
    print(f"{REPO}")
    banner("2. Stamp the protocol (no --trust needed)")
    stamp()
    banner("3. Check the wiring")
    decp("doctor")
    banner("4. Start a session and scope the lineage of one model within budget")
    decp("session", "start")
    decp("state", "set", "goal", "Move fct_orders to order-line grain")
    decp(
        "dbt",
        "scope",
        "--select",
        "+fct_orders+",
        "--budget",
        "1500",
        "--out",
        "fct_orders.pack.md",
    )
    pack = (REPO / "fct_orders.pack.md").read_text(encoding="utf-8").splitlines()
    print("\n".join(pack[:12]) + f"\n… ({len(pack)} lines in fct_orders.pack.md)")
    banner("5. The agent proposes a loop; the user approves it")
    loop_id = (
        decp(
            "loop",
            "propose",
            "Do finance marts sum order totals or line totals?",
            "--context",
            "scoping the grain change",
            "--source",
            "fct_orders",
            "--tag",
            "grain",
        )
        .strip()
        .split()[-1]
    )
    decp("loop", "approve", loop_id)
    banner("6. The user decides; the decision closes the loop")
    decp(
        "decision",
        "add",
        "Keep order-level totals in finance marts",
        "--why",
        "revenue reports reconcile to orders",
        "--loop",
        loop_id,
    )
    banner("7. End the session and read the resume pack a fresh agent starts from")
    decp("session", "end", "--done", "Scoped fct_orders lineage", "--next", "Write int_order_lines")
    decp("resume")
    banner("Next steps")
    print(
        f"Explore {REPO}/.project, then stamp your own repo:\n"
        f"  copier copy {ROOT} path/to/your-dbt-repo\n"
        "and start your next copilot session with `decp resume`."
    )


if __name__ == "__main__":
    main()
