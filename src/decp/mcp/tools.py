"""The MCP tools and resources, independent of the SDK (so they are cheap to test and time).

Every tool maps to one call of the plain Python API, with the CLI's behaviour
and errors. What this layer adds is the surface's contract:
- arguments are checked against the advertised schema before any file is read;
- every result ends with its own token count, and never exceeds its `budget`
  argument (or `DEFAULT_CAP` tokens), cut at a line with a note saying so;
- every error is structured and names the repo the server serves;
- the parsed dbt graph and the tokenizer stay warm between calls.
No tool can approve, reject or close a loop: those are the user's decisions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decp.core.errors import DecpError, UsageError

if TYPE_CHECKING:
    from decp.core.config import Config
    from decp.core.tokens import TokenCounter
    from decp.dbt import ScopeResult
    from decp.dbt.graph import Graph

DEFAULT_CAP = 20_000  # tokens; Claude Code truncates tool output past 25k
FOOTER_RESERVE = 24  # tokens kept free for the size line
# Words no tool name may hold: loop decisions belong to the user (a test checks the list).
FORBIDDEN_WORDS = ("approve", "reject", "close", "reopen", "review")

_STR = {"type": "string"}
_STRS = {"type": "array", "items": _STR}
_BUDGET = {"type": "integer", "minimum": 100, "description": "Max tokens of the result."}


def _tool(name: str, description: str, props: dict[str, Any], required: tuple[str, ...] = ()):
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    schema["additionalProperties"] = False
    return {"name": name, "description": description, "inputSchema": schema}


TOOLS: list[dict[str, Any]] = [
    _tool(
        "resume",
        "Resume pack: rules, state, open loops, next steps, budget. Call first. "
        "start=true also records the session start.",
        {"start": {"type": "boolean"}},
    ),
    _tool(
        "loop_propose",
        "Capture an open question, hypothesis or deferred choice as a proposed loop. "
        "Tell the user its id; only the user approves it.",
        {
            "title": _STR,
            "body": _STR,
            "context": {"type": "string", "description": "What we were doing."},
            "source": {"type": "string", "description": "FILE:LINE or model."},
            "tags": _STRS,
        },
        ("title",),
    ),
    _tool(
        "loop_list",
        "List loops, one line each.",
        {
            "status": {
                "enum": ["active", "proposed", "open", "clarifying", "closed", "rejected", "all"]
            },
            "tag": _STR,
            "budget": _BUDGET,
        },
    ),
    _tool(
        "decision_add",
        "Record a decision the user made, with its why.",
        {"what": _STR, "why": _STR},
        ("what", "why"),
    ),
    _tool(
        "state_set",
        "Set one STATE.md field.",
        {
            "key": {"enum": ["goal", "task", "last_action", "next_action", "blockers"]},
            "value": _STR,
        },
        ("key", "value"),
    ),
    _tool("context_budget", "Loaded context in tokens against the task budget and window.", {}),
    _tool(
        "dbt_scope",
        "dbt lineage pack for a selector (e.g. +orders+), fitted to budget. "
        "level: 0 map, 1 columns/tests, 2 SQL, auto.",
        {
            "select": _STR,
            "exclude": _STR,
            "budget": _BUDGET,
            "level": {"enum": ["auto", "0", "1", "2"]},
        },
        ("select",),
    ),
    _tool(
        "session_end",
        "Write the handoff summary. Call before the window passes the handoff budget.",
        {"done": _STRS, "next": _STRS, "verified": _STRS},
        ("next",),
    ),
]
TOOL_NAMES = tuple(t["name"] for t in TOOLS)

RESOURCES: list[dict[str, str]] = [
    {"uri": "decp://resume", "name": "resume", "description": "The resume pack."},
    {"uri": "decp://loops", "name": "loops", "description": "Active loops, one line each."},
    {"uri": "decp://state", "name": "state", "description": ".project/STATE.md"},
    {"uri": "decp://protocol", "name": "protocol", "description": ".project/PROTOCOL.md"},
]


@dataclass
class Output:
    """One tool result: its text (size line included) and a small structured part."""

    text: str
    tokens: int
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)


class WarmGraph:
    """The parsed dbt graph of one manifest, kept until the file changes.

    A stat (size, mtime) that matches means no read at all; a stat that moved
    with the same bytes (a `touch`, a checkout) is caught by the content hash
    and keeps the graph; new bytes reload it.
    """

    def __init__(self) -> None:
        self.path: Path | None = None
        self.stat: tuple[int, int] | None = None
        self.digest: str | None = None
        self.graph: Graph | None = None
        self.loads = 0

    def get(self, manifest: Path, config: Config) -> Graph:
        from decp.dbt import load
        from decp.dbt.cache import fingerprint

        try:
            st = manifest.stat()
        except OSError:
            self.graph = None
            return load(manifest, config)[0]  # raises the standard "manifest not found" error
        stat = (st.st_size, st.st_mtime_ns)
        if self.graph is not None and manifest == self.path and stat == self.stat:
            return self.graph
        digest = fingerprint(manifest)
        if self.graph is None or manifest != self.path or digest != self.digest:
            self.graph = load(manifest, config)[0]
            self.loads += 1
        self.path, self.stat, self.digest = manifest, stat, digest
        return self.graph


def _check_args(name: str, args: dict[str, Any]) -> None:
    """Arguments against the advertised schema: a UsageError naming the argument and the fix."""
    spec = next((t for t in TOOLS if t["name"] == name), None)
    if spec is None:
        raise UsageError(f"no tool {name!r}.", fix=f"use one of: {', '.join(TOOL_NAMES)}.")
    schema = spec["inputSchema"]
    props: dict[str, Any] = schema["properties"]
    for key in args:
        if key not in props:
            known = ", ".join(props) or "none"
            raise UsageError(f"{name}: unknown argument {key!r}.", fix=f"arguments: {known}.")
    for key in schema.get("required", []):
        if key not in args:
            raise UsageError(f"{name}: missing argument {key!r}.", fix=f"pass {key}.")
    for key, value in args.items():
        prop = props[key]
        if "enum" in prop:
            if value not in prop["enum"]:
                raise UsageError(
                    f"{name}: {key}={value!r} is not allowed.",
                    fix=f"use one of: {', '.join(prop['enum'])}.",
                )
            continue
        kind = prop["type"]
        ok = {
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "array": isinstance(value, list) and all(isinstance(v, str) for v in value),
        }[kind]
        if not ok:
            what = "a list of strings" if kind == "array" else f"a {kind}"
            raise UsageError(f"{name}: {key} must be {what}.", fix=f"pass {key} as {what}.")
        if kind == "integer" and value < prop.get("minimum", value):
            raise UsageError(
                f"{name}: {key}={value} is below {prop['minimum']}.",
                fix=f"pass {key} ≥ {prop['minimum']}.",
            )


def _inside(root: Path, path: Path, what: str) -> Path:
    """`path` resolved, refused when it leaves the repo (symlinks followed)."""
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UsageError(
            f"{what} {path} is outside the repo.",
            fix="this server reads only files inside its repo; start one per repo (--repo).",
        )
    return resolved


class DecpTools:
    """The tools and resources of one repo, with its warm caches."""

    def __init__(self, repo: str | Path | None = None) -> None:
        from decp.core.config import find_root

        self.root = find_root(Path(repo) if repo is not None else None).resolve()
        self.graph = WarmGraph()

    # --- plumbing -------------------------------------------------------------

    def config(self) -> Config:
        from decp.core.config import load_config

        return load_config(self.root)

    def counter(self, config: Config) -> TokenCounter:
        from decp.core.tokens import get_counter

        return get_counter(config.budget.encoding)

    def error(self, exc: Exception) -> Output:
        """A structured error that names the repo (never a traceback)."""
        if isinstance(exc, DecpError):
            message = exc.one_line()
            data = {
                "kind": type(exc).__name__,
                "message": exc.message,
                "path": str(exc.path) if exc.path else None,
                "line": exc.line,
                "fix": exc.fix,
            }
        else:  # a bug: say so plainly, still without a traceback
            message = f"internal error {type(exc).__name__}: {exc}"
            data = {"kind": "InternalError", "message": str(exc), "path": None, "line": None}
            data["fix"] = "report it with the call that caused it."
        text = f"decp ({self.root}): error: {message}"
        return Output(text, 0, True, {"error": data, "repo": str(self.root)})

    def finish(
        self, config: Config, body: str, budget: int | None, known: int | None = None
    ) -> Output:
        """Cut `body` at a line to fit the cap, then append the size line (its count included).

        `known` is the body's token count when the tool already has it (a dbt pack
        counts itself); the body then ends with exactly one newline.
        """
        counter = self.counter(config)
        cap = min(budget, DEFAULT_CAP) if budget else DEFAULT_CAP
        if known is None:
            body = body.rstrip("\n") + "\n"
        text, total = body, self._sized(counter, body, known)
        if total > cap:
            lines = body.rstrip("\n").split("\n")
            # per-line costs add up (exactly for lines starting with a non-space): the
            # longest prefix that leaves room for the cut note and the size line ...
            room, keep = cap - 2 * FOOTER_RESERVE, 0
            for line in lines:
                room -= counter.count(line + "\n")
                if room < 0:
                    break
                keep += 1
            while True:  # ... then checked exactly, one line less at a time
                text = "".join(f"{line}\n" for line in lines[:keep]) + (
                    f"… cut: {len(lines) - keep} more lines past {cap:,} tokens.\n"
                )
                total = self._sized(counter, text, None)
                if total <= cap or keep == 0:
                    break
                keep -= 1
        footer = f"[{total:,} tokens, {counter.label}]"
        return Output(text + footer, total, False, {"tokens": total, "encoding": counter.label})

    @staticmethod
    def _sized(counter: TokenCounter, body: str, known: int | None) -> int:
        """Tokens of `body` (ending in a newline) plus the size line after it.

        The size line starts a new line with a non-space, a boundary of the
        tokenizer's pre-split, so the two counts add up exactly and the body is
        counted once (or not at all when its count is known).
        """
        base = counter.count(body) if known is None else known
        total = base
        for _ in range(4):  # the count includes the size line itself; settle its digits
            measured = base + counter.count(f"[{total:,} tokens, {counter.label}]")
            if measured == total:
                break
            total = measured
        return total

    # --- the one entry point --------------------------------------------------

    def call(self, name: str, args: dict[str, Any] | None) -> Output:
        args = dict(args or {})
        try:
            _check_args(name, args)
            config = self.config()
            method = getattr(self, f"_tool_{name}")
            body, budget, *known = method(config, **args)
            return self.finish(config, body, budget, *known)
        except Exception as exc:
            return self.error(exc)

    def read(self, uri: str) -> str:
        """A resource's text; DecpError (naming the repo) for unknown URIs."""
        from decp.core.fsio import read_text

        config = self.config()
        if uri == "decp://resume":
            from decp.handoff.resume import build_pack

            return build_pack(config).text
        if uri == "decp://loops":
            return self._loop_lines(config, "active", "")
        if uri in ("decp://state", "decp://protocol"):
            name = "STATE.md" if uri.endswith("state") else "PROTOCOL.md"
            return read_text(_inside(self.root, config.project_dir / name, uri))
        known = ", ".join(r["uri"] for r in RESOURCES)
        raise UsageError(f"no resource {uri!r} in {self.root}.", fix=f"read one of: {known}.")

    # --- tools ------------------------------------------------------------------

    def _tool_resume(self, config: Config, start: bool = False) -> tuple[str, int | None]:
        from decp.handoff.resume import build_pack
        from decp.handoff.session import read_snapshot, start_session

        note = ""
        if start:
            running = read_snapshot(config)  # the SessionStart hook may have started it already
            if running is None:
                note = f"\nSession started {start_session(config).started}."
            else:
                note = f"\nSession already running since {running.started}."
        return build_pack(config).text + note, None

    def _tool_loop_propose(
        self,
        config: Config,
        title: str,
        body: str = "",
        context: str = "",
        source: str = "",
        tags: list[str] | None = None,
    ) -> tuple[str, int | None]:
        from decp.handoff.loops import edit_loops

        with edit_loops(config) as book:
            loop = book.new_loop(
                title, status="proposed", body=body, context=context, source=source, tags=tags or []
            )
        return (
            f"{loop.id} proposed: {loop.title}\n"
            f"Ask the user: `decp loop approve {loop.id}` or `decp loop reject {loop.id} --why …`.",
            None,
        )

    def _loop_lines(self, config: Config, status: str, tag: str) -> str:
        from decp.handoff.loops import ACTIVE_STATUSES, read_loops

        wanted = {"all": None, "active": ACTIVE_STATUSES}.get(status, (status,))
        loops = read_loops(config).select(wanted, tag or None)
        lines = [
            f"{loop.id} ({loop.status}) {loop.title}"
            + (f"  #{' #'.join(loop.tags)}" if loop.tags else "")
            for loop in loops
        ]
        return "\n".join(lines) if lines else f"No {status} loops."

    def _tool_loop_list(
        self, config: Config, status: str = "active", tag: str = "", budget: int | None = None
    ) -> tuple[str, int | None]:
        return self._loop_lines(config, status, tag), budget

    def _tool_decision_add(self, config: Config, what: str, why: str) -> tuple[str, int | None]:
        from decp.handoff.state import add_decision

        decision = add_decision(config, what, why, None)
        return decision.line()[2:], None

    def _tool_state_set(self, config: Config, key: str, value: str) -> tuple[str, int | None]:
        from decp.handoff.state import set_field

        doc = set_field(config, key, value)
        tokens = self.counter(config).count(doc.render())
        return (
            f"{key}: {doc.fields[key]}\nSTATE.md: {tokens}/{config.budget.state_cap} tokens",
            None,
        )

    def _tool_context_budget(self, config: Config) -> tuple[str, int | None]:
        from decp.context.ledger import read_ledger, status_for

        ledger = read_ledger(config)
        status = status_for(ledger, config, self.counter(config).label)
        lines = [f"{e.tokens or 0:>8,}  {e.target}" for e in ledger.loaded]
        lines.append(status.line())
        lines += [f"! {w}" for w in status.warnings]
        return "\n".join(lines), None

    def _tool_dbt_scope(
        self,
        config: Config,
        select: str,
        exclude: str = "",
        budget: int | None = None,
        level: str = "auto",
    ) -> tuple[str, int | None] | tuple[str, int | None, int]:
        from decp.dbt import record_pack

        manifest = _inside(self.root, config.manifest_path, "the dbt manifest")
        budget = budget or config.budget.task_budget
        result = self._scope(
            config, manifest, select, exclude, max(100, budget - FOOTER_RESERVE), level
        )
        record_pack(config, result)
        pack = result.pack
        warnings = "".join(f"! {w}\n" for w in result.warnings)
        head = warnings + (
            f"<!-- L{pack.level}: {len(pack.named)} named + {pack.collapsed_count} in "
            f"{len(pack.groups)} groups = {len(pack.analysis.lineage)} nodes -->\n"
        )
        counter = self.counter(config)
        text = result.text
        if (
            pack.encoding == counter.label
            and text.endswith("\n")
            and not text.endswith("\n\n")
            and text[:1].strip()
        ):  # the pack counted itself; a line boundary before it keeps counts additive
            return head + text, budget, counter.count(head) + pack.tokens
        return head + text, budget

    def _scope(
        self, config: Config, manifest: Path, select: str, exclude: str, budget: int, level: str
    ) -> ScopeResult:
        """`decp.dbt.scope` on the warm graph (the CLI's call otherwise)."""
        from decp.dbt import scope

        return scope(
            select,
            manifest=manifest,
            budget=budget,
            exclude=exclude or None,
            level=level,
            config=config,
            graph=self.graph.get(manifest, config),
        )

    def _tool_session_end(
        self,
        config: Config,
        next: list[str],
        done: list[str] | None = None,
        verified: list[str] | None = None,
    ) -> tuple[str, int | None]:
        from decp.handoff.session import end_session

        summary = end_session(config, done=done or [], next_steps=next, verified=verified or [])
        return "\n".join([f"Wrote {summary.path}.", *summary.notes()]), None


def timed(tools: DecpTools, name: str, args: dict[str, Any]) -> tuple[Output, float]:
    """One call and its wall time in seconds (for the benchmark script)."""
    began = time.perf_counter()
    out = tools.call(name, args)
    return out, time.perf_counter() - began
