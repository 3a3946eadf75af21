"""The traceback guard: no decp command prints a Python traceback, whatever the input.

Every command is enumerated from the typer app (a new command is covered
without touching this file) and run against a corpus of broken inputs: the
files a teammate can commit (LOOPS.md, STATE.md, CONTEXT.md, decp.toml,
session summaries, the manifest) malformed, empty, binary, conflict-marked or
turned into directories, plus hostile environment values.

Each case is a real process. Starting ~900 interpreters would take minutes,
so one driver process (this file run as a script) imports decp once and
forks a child per case: each child gets a fresh copy of the broken repo, its
own stdin/stdout/stderr and exit code, exactly as `decp ARGS` from a shell.
DECP_DEBUG=1 is set, so the CLI's last-resort handler re-raises: a bug shows
up here as a traceback instead of hiding behind `decp: internal error`.

Cases that fail in modules other helpers own are marked xfail(strict=True)
with the module named, so a fix there turns them into failures to unmark.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
TRACEBACK = "Traceback (most recent call last)"
CASE_TIMEOUT_S = 30.0
PARALLEL = 2  # children at once (the machine may be shared: keep it small)

# --- the corpus -------------------------------------------------------------

BINARY = b"\xff\xfe\x00\x00\x89PNG\r\n\x1a\n\x00\xc3\x28\xa0\xa1" * 8
CONFLICT = (
    "<<<<<<< ours\n## LOOP-001 · x\n- status: open\n=======\n"
    "## LOOP-001 · y\n- status: closed\n>>>>>>> theirs\n"
)
GARBAGE_LOOPS = (
    "# Loops\n\n<!-- decp:next-id LOOP-zz -->\n## LOOP-001 · half\n- status: ???\n"
    "- one row per order\n\t- created: yesterday\n    indented body\n## LOOP-001 · dup\n"
    "## LOOP-99999999999999999999 · huge\n- status: open\n- gtd: ticktick:task=%%\n"
)
GARBAGE_STATE = "# State\n\n- goal\n- task: : :\n## Decisions\n- DECISION-0x1 (never): ?\n"
SUPERSCRIPT_CONTEXT = (
    "# Context ledger\n\n## Loaded\n\n| Target | Kind | Tokens | Why | When |\n"
    "|---|---|--:|---|---|\n| `a.sql` | path | ² | x | 2026-01-01T00:00:00Z |\n\n"
    "## Excluded\n\n| Target | Kind | Tokens | Why | When |\n|---|---|--:|---|---|\n"
)
GARBAGE_CONTEXT = "## Loaded\n| a | b |\n|---|\n| `x` | | | | | | |\n## Loaded\n"
INJECTED_SUMMARY = (
    "# Session 2026-01-01-1\n<!-- decp:session started=2026-01-01T00:00:00Z "
    "ended=2026-01-01T01:00:00Z start_head=--output=pwned-start head=--output=pwned-head "
    "tree=--output=pwned-tree branch=--exec=x -->\n\n## Done\n- x\n"
)


def _replace(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def _to_dir(root: Path, rel: str) -> None:
    path = root / rel
    if path.exists():
        path.unlink()
    path.mkdir(parents=True)
    (path / "inner.md").write_text("x\n", encoding="utf-8")


def _toml(root: Path, old: str, new: str) -> None:
    path = root / ".project" / "decp.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _deep_manifest(root: Path) -> None:
    depth = 200_000
    nested = '{"nodes": ' + "[" * depth + "]" * depth + "}"
    _replace(root, "target/manifest.json.gz", gzip.compress(nested.encode(), 1))


# name -> (mutation of a healthy repo, extra environment)
SCENARIOS: dict[str, tuple[Any, dict[str, str]]] = {
    "healthy": (lambda r: None, {}),
    "loops-garbage": (lambda r: _replace(r, ".project/LOOPS.md", GARBAGE_LOOPS), {}),
    "loops-empty": (lambda r: _replace(r, ".project/LOOPS.md", ""), {}),
    "loops-binary": (lambda r: _replace(r, ".project/LOOPS.md", BINARY), {}),
    "loops-conflict": (lambda r: _replace(r, ".project/LOOPS.md", "# Loops\n\n" + CONFLICT), {}),
    "loops-directory": (lambda r: _to_dir(r, ".project/LOOPS.md"), {}),
    "state-garbage": (lambda r: _replace(r, ".project/STATE.md", GARBAGE_STATE), {}),
    "state-binary": (lambda r: _replace(r, ".project/STATE.md", BINARY), {}),
    "state-conflict": (lambda r: _replace(r, ".project/STATE.md", "# State\n" + CONFLICT), {}),
    "state-directory": (lambda r: _to_dir(r, ".project/STATE.md"), {}),
    "state-empty": (lambda r: _replace(r, ".project/STATE.md", ""), {}),
    "context-superscript": (lambda r: _replace(r, ".project/CONTEXT.md", SUPERSCRIPT_CONTEXT), {}),
    "context-garbage": (lambda r: _replace(r, ".project/CONTEXT.md", GARBAGE_CONTEXT), {}),
    "context-binary": (lambda r: _replace(r, ".project/CONTEXT.md", BINARY), {}),
    "context-conflict": (lambda r: _replace(r, ".project/CONTEXT.md", CONFLICT), {}),
    "context-empty": (lambda r: _replace(r, ".project/CONTEXT.md", ""), {}),
    "context-directory": (lambda r: _to_dir(r, ".project/CONTEXT.md"), {}),
    "toml-window-zero": (lambda r: _toml(r, "context_window = 200000", "context_window = 0"), {}),
    "toml-outside-path": (
        lambda r: _toml(r, 'todotxt_file = ".project/gtd/todo.txt"', 'todotxt_file = "/tmp/x"'),
        {},
    ),
    "toml-conflict": (
        lambda r: _toml(
            r, "[budget]\n", "[budget]\n<<<<<<< before\nx = 1\n=======\n>>>>>>> after\n"
        ),
        {},
    ),
    "toml-binary": (lambda r: _replace(r, ".project/decp.toml", BINARY), {}),
    "toml-empty": (lambda r: _replace(r, ".project/decp.toml", ""), {}),
    "session-injection": (
        lambda r: _replace(r, ".project/sessions/2026-01-01-1.md", INJECTED_SUMMARY),
        {},
    ),
    "session-binary": (lambda r: _replace(r, ".project/sessions/2026-01-02-1.md", BINARY), {}),
    "manifest-deep": (_deep_manifest, {}),
    "manifest-binary": (lambda r: _replace(r, "target/manifest.json.gz", BINARY), {}),
    "ticktick-bad-url": (lambda r: None, {"DECP_TICKTICK_BASE_URL": "http://256.0.0.1"}),
}

# --- the commands -----------------------------------------------------------

# What to pass for each required argument/option, by its name: text that also
# tries rich markup, emoji codes and a Unicode line separator.
ARG_VALUES = {
    "title": "Is :warning: safe? [b]x[/b]",
    "ids": "LOOP-001",
    "loop_id": "LOOP-001",
    "what": "Use :fire: [red]",
    "key": "goal",
    "value": "ship it\u2028now",
    "target": ".project/LOOPS.md",
    "paths": ".",
    "kind": "feature",
    "service": "ticktick",
    "file": None,  # optional
}
OPTION_VALUES = {"--outcome": "done", "--why": "because", "--select": "+orders"}
# Extra invocations of a command beyond the plain one (backends, flags that change paths).
VARIANTS: dict[str, list[list[str]]] = {
    "gtd export": [["--to", "todotxt"], ["--to", "ticktick-csv"], ["--to", "ticktick"]],
    "gtd import": [["--from", "todotxt"], ["--from", "ticktick-csv"], ["--from", "ticktick"]],
    "gtd auth": [["--no-browser", "--timeout", "1", "--port", "0"], ["--token-stdin"]],
    "doctor": [[], ["--fix"], ["--json"]],
    "session end": [["--done", "x", "--next", "y"]],
    "tokens": [["--tree", "--json"]],
    "dbt impact": [[], ["--changed-since", "--output=pwned"]],
    "pr": [[], ["--json"]],
}


def command_paths() -> list[tuple[str, list[str]]]:
    """Every leaf command of the typer app with the arguments it requires."""
    import typer.main

    from decp.cli import app

    found: list[tuple[str, list[str]]] = []

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is not None:
            for name, sub in sorted(subcommands.items()):
                walk(sub, [*path, name])
            return
        args: list[str] = []
        for param in command.params:
            if param.param_type_name == "argument" and param.required:
                value = ARG_VALUES.get(param.name, "x")
                if value is not None:
                    args.append(value)
            elif param.param_type_name == "option" and param.required:
                args += [param.opts[0], OPTION_VALUES.get(param.opts[0], "x")]
        found.append((" ".join(path), [*path, *args]))

    walk(typer.main.get_command(app), [])
    return found


# Variants run where they can differ (the plain command runs in every scenario).
VARIANT_SCENARIOS = {
    "gtd": {"healthy", "loops-garbage", "loops-conflict", "toml-outside-path", "ticktick-bad-url"},
    "doctor": set(SCENARIOS),
}


def all_cases() -> list[tuple[str, str, list[str]]]:
    """(scenario, case id, argv) for every scenario × command (× variant where it matters)."""
    cases = []
    for scenario in SCENARIOS:
        for name, argv in command_paths():
            where = VARIANT_SCENARIOS.get(name.split()[0], {"healthy"})
            variants = VARIANTS.get(name, [[]]) if scenario in where else [[]]
            for extra in variants:
                case_id = " ".join([name, *extra]) if extra else name
                cases.append((scenario, case_id, [*argv, *extra]))
    return cases


# Cases that still print a traceback, in modules owned by other helpers
# (fixed at integration). "*" matches every command of the scenario.
KNOWN: dict[tuple[str, str], str] = {}


def _known(scenario: str, case_id: str) -> str | None:
    return KNOWN.get((scenario, case_id)) or KNOWN.get((scenario, "*"))


# --- the healthy repo every scenario starts from ---------------------------


def build_healthy_repo(root: Path) -> None:
    """A stamped-enough repo: config, a git commit, a session, loops, a decision, a manifest."""
    from conftest import MINIMAL_CONFIG  # tests/ is on sys.path under pytest

    root.mkdir(parents=True)
    config = MINIMAL_CONFIG.replace(
        'manifest = "target/manifest.json"', 'manifest = "target/manifest.json.gz"'
    )
    (root / ".project").mkdir()
    (root / ".project" / "decp.toml").write_text(config, encoding="utf-8")
    (root / "target").mkdir()
    shutil.copy(
        HERE.parent / "examples" / "manifests" / "shop.manifest.json.gz",
        root / "target" / "manifest.json.gz",
    )
    (root / "models").mkdir()
    (root / "models" / "orders.sql").write_text("select 1 as id\n", encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "NO_COLOR": "1"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env.pop("DECP_ROOT", None)

    def run(*args: str) -> None:
        subprocess.run(args, cwd=root, env=env, check=True, capture_output=True, timeout=120)

    run("git", "init", "-q", "-b", "main")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "init")
    decp = [sys.executable, "-m", "decp"]
    run(*decp, "session", "start")
    run(*decp, "loop", "propose", "Dedupe orders?", "--body", "why")
    run(*decp, "loop", "add", "Open one")
    run(*decp, "decision", "add", "Use order_id", "--why", "unique")
    run(*decp, "context", "load", "models/orders.sql")
    run(*decp, "state", "set", "goal", "Refunds")
    run(*decp, "session", "end", "--done", "x", "--next", "y")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "session")
    # Fewer files to copy per case: one pack, no sample hooks, reflogs, caches or locks.
    run("git", "gc", "-q")
    for extra in (".git/hooks", ".git/logs", ".git/description", ".project/.cache"):
        target = root / extra
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    for lock in root.rglob(".*.lock"):
        lock.unlink()


def copy_case(template: Path, case_dir: Path) -> None:
    """A fresh repo for one case: `.project/` copied (commands write there), the rest
    hard-linked (decp writes files by atomic rename, so a link is never written through)."""

    def place(src: str, dst: str) -> None:
        if f"{os.sep}.project{os.sep}" in src:
            shutil.copy2(src, dst)
        else:
            os.link(src, dst)

    shutil.copytree(template, case_dir, symlinks=True, copy_function=place)


# --- the driver (this file run as a script) --------------------------------


def _child(case_dir: Path, argv: list[str], env: dict[str, str]) -> None:
    """In the forked child: become `decp ARGV` run from a shell in case_dir."""
    out = os.open(case_dir.parent / f"{case_dir.name}.out", os.O_WRONLY | os.O_CREAT, 0o644)
    err = os.open(case_dir.parent / f"{case_dir.name}.err", os.O_WRONLY | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(env)
    os.chdir(case_dir)
    code = 0
    try:
        from decp.cli import main

        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def drive(spec_file: Path) -> None:
    """Run every case of the spec, one forked child each; write results next to the spec."""
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    work = Path(spec["work"])
    # Import what the commands import lazily, so each child starts warm.
    import decp.cli  # noqa: F401

    for module in spec["preload"]:
        with contextlib.suppress(Exception):
            __import__(module)
    with contextlib.suppress(Exception):  # the tokenizer table: loaded once, shared by fork
        from decp.core.tokens import get_counter

        get_counter("o200k_base")
    results: list[dict[str, Any]] = [{} for _ in spec["cases"]]
    running: dict[int, tuple[int, float]] = {}  # pid -> (case number, start)
    pending = list(enumerate(spec["cases"]))
    while pending or running:
        while pending and len(running) < PARALLEL:
            number, case = pending.pop(0)
            case_dir = work / f"case{number}"
            copy_case(Path(spec["templates"][case["scenario"]]), case_dir)
            pid = os.fork()
            if pid == 0:
                _child(case_dir, case["argv"], {**spec["env"], **case["env"]})
            running[pid] = (number, time.monotonic())
        time.sleep(0.002)
        for pid, (number, started) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            code: int | None = os.waitstatus_to_exitcode(status) if done else None
            if not done:
                if time.monotonic() - started < CASE_TIMEOUT_S:
                    continue
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            del running[pid]
            stdout, stderr = (
                (work / f"case{number}.{suffix}").read_text("utf-8", "replace")
                for suffix in ("out", "err")
            )
            stray = sorted(
                str(p.relative_to(work / f"case{number}"))
                for p in (work / f"case{number}").rglob("pwned*")
            )
            results[number] = {
                "stray": stray,
                "code": code,
                "stdout": stdout,
                "stderr": stderr,
                "seconds": round(time.monotonic() - started, 3),
            }
            shutil.rmtree(work / f"case{number}", ignore_errors=True)
    (work / "results.json").write_text(json.dumps(results), encoding="utf-8")


PRELOAD = [
    "decp.handoff.loops",
    "decp.handoff.state",
    "decp.handoff.session",
    "decp.handoff.resume",
    "decp.handoff.pr",
    "decp.handoff.tasks",
    "decp.context.ledger",
    "decp.context.scope",
    "decp.context.tokencount",
    "decp.dbt.manifest",
    "decp.dbt.pack",
    "decp.dbt.select",
    "decp.gtd.sync",
    "decp.gtd.auth",
    "decp.agents.doctor",
    "decp.core.tokens",
    "decp.core.secrets",
    "detect_secrets",
    "detect_secrets.core.scan",
    "httpx",
    "rich.console",
    "yaml",
    "filelock",
]


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], dict[str, Any]]:
    """Run the selected cases once (one driver process), keyed by (scenario, case id)."""
    wanted = {
        (item.callspec.params["scenario"], item.callspec.params["case_id"])
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_no_traceback"
    }
    base = tmp_path_factory.mktemp("guard")
    healthy = base / "healthy-template"
    build_healthy_repo(healthy)
    templates = {}
    for scenario, (mutate, _env) in SCENARIOS.items():
        if not any(s == scenario for s, _ in wanted):
            continue
        target = base / "templates" / scenario
        shutil.copytree(healthy, target, symlinks=True)
        mutate(target)
        templates[scenario] = str(target)
    cases = [case for case in all_cases() if (case[0], case[1]) in wanted]
    work = base / "work"
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DECP_", "TICKTICK_")) and k not in ("PYTEST_CURRENT_TEST",)
    }
    env.update(
        NO_COLOR="1",
        COLUMNS="200",
        DECP_DEBUG="1",
        DECP_CACHE_DIR=str(base / "cache"),
        XDG_CONFIG_HOME=str(base / "xdg"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        DECP_TICKTICK_RETRY_DELAY="0.001",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    spec = {
        "work": str(work),
        "templates": templates,
        "env": env,
        "preload": PRELOAD,
        "cases": [
            {"scenario": s, "id": i, "argv": argv, "env": SCENARIOS[s][1]} for s, i, argv in cases
        ],
    }
    spec_file = base / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    driver_env = {**env, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    subprocess.run(
        [sys.executable, __file__, str(spec_file)],
        env=driver_env,
        check=True,
        timeout=900,
    )
    results = json.loads((work / "results.json").read_text(encoding="utf-8"))
    if os.environ.get("DECP_GUARD_REPORT"):  # for whoever tunes the corpus: timings and output
        report = [{**c, **r} for c, r in zip(spec["cases"], results, strict=True)]
        Path(os.environ["DECP_GUARD_REPORT"]).write_text(json.dumps(report, indent=1), "utf-8")
    return {(c["scenario"], c["id"]): r for c, r in zip(spec["cases"], results, strict=True)}


def _params() -> list[Any]:
    params = []
    for scenario, case_id, _argv in all_cases():
        reason = _known(scenario, case_id)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(scenario, case_id, marks=marks, id=f"{scenario}:{case_id}"))
    return params


@pytest.mark.parametrize(("scenario", "case_id"), _params())
def test_no_traceback(
    outcomes: dict[tuple[str, str], dict[str, Any]], scenario: str, case_id: str
) -> None:
    result = outcomes[(scenario, case_id)]
    output = result["stdout"] + result["stderr"]
    assert result["code"] is not None, f"hung for {CASE_TIMEOUT_S}s"
    assert TRACEBACK not in output, output[-3000:]
    assert result["code"] != 70, output  # an internal error is a bug, even without a traceback
    # Hostile values (`tree=--output=pwned-tree`, `--changed-since --output=pwned`) never
    # reach git as options: no file of that name may appear.
    assert result["stray"] == [], result["stray"]


def test_every_command_is_covered() -> None:
    """The corpus runs each leaf command of the app, found by walking it (no hand list)."""
    names = {name for name, _ in command_paths()}
    assert {"loop propose", "gtd export", "dbt scope", "doctor", "tokens"} <= names
    run = {tuple(argv[: len(name.split())]) for _, _, argv in all_cases() for name in names}
    assert all(tuple(name.split()) in run for name in names)


# --- the last-resort handler, through the real entry point -----------------


def test_an_unexpected_error_is_one_line_exit_70(tmp_path: Path) -> None:
    """Without DECP_DEBUG, a bug prints one line (type, message, where to report), exit 70."""
    script = (
        "import sys, decp.cli as cli\n"
        "def boom(*a, **k):\n    raise KeyError('secret-free detail')\n"
        "cli.app = boom\n"
        "cli.main(['doctor'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DECP_DEBUG"}
    quiet = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert quiet.returncode == 70
    assert quiet.stderr == (
        "decp: internal error: KeyError: 'secret-free detail' "
        "(please report it; rerun with DECP_DEBUG=1 for the traceback)\n"
    )
    loud = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "DECP_DEBUG": "1"},
        cwd=tmp_path,
    )
    assert loud.returncode == 1 and TRACEBACK in loud.stderr


def test_user_text_is_printed_exactly(tmp_path: Path) -> None:
    from conftest import MINIMAL_CONFIG

    (tmp_path / ".project").mkdir()
    (tmp_path / ".project" / "decp.toml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DECP_ROOT"}

    def decp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "decp", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )

    title = "Is :warning: safe? [b]x[/b] :thumbs_up:"
    proposed = decp("loop", "propose", title)
    assert proposed.returncode == 0, proposed.stderr
    assert title in proposed.stderr + proposed.stdout
    assert "⚠" not in proposed.stderr + proposed.stdout
    shown = decp("loop", "show", ":fire:")
    assert shown.stderr.startswith("decp: error: ':fire:' is not a loop id.")
    assert "🔥" not in shown.stderr


if __name__ == "__main__":
    drive(Path(sys.argv[1]))
