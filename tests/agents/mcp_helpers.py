"""Drive the real `decp mcp` server over stdio with the MCP SDK's own client."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOP_MANIFEST = REPO_ROOT / "examples" / "manifests" / "shop.manifest.json.gz"

# `decp mcp` once cli/__init__.py registers cli/agent.py; until then, this does
# that registration on the real app and runs its main().
_SHIM = (
    "import sys\n"
    "import decp.cli as cli\n"
    "from decp.cli import agent\n"
    "agent.register(cli.app)\n"
    "cli.main(sys.argv[1:])\n"
)


def decp_command() -> list[str]:
    """argv prefix that runs `decp …` in a subprocess."""
    from decp.cli import app

    names = {c.name for c in app.registered_commands}
    if "mcp" in names:
        return [sys.executable, "-m", "decp"]
    return [sys.executable, "-c", _SHIM]


def with_manifest(root: Path, manifest: Path = SHOP_MANIFEST) -> Path:
    """Put a real manifest where the project's decp.toml points (gz kept as is)."""
    toml = root / ".project" / "decp.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace('manifest = "target/manifest.json"', 'manifest = "target/manifest.json.gz"'),
        encoding="utf-8",
    )
    (root / "target").mkdir(exist_ok=True)
    shutil.copyfile(manifest, root / "target" / "manifest.json.gz")
    return root


def run_session(
    root: Path, scenario: Callable[[ClientSession], Awaitable[Any]], *, cwd: Path | None = None
) -> Any:
    """Start `decp mcp --repo ROOT`, initialize, run `scenario(session)`, shut down."""

    async def main() -> Any:
        argv = [*decp_command(), "mcp", "--repo", str(root)]
        params = StdioServerParameters(
            command=argv[0], args=argv[1:], cwd=str(cwd or root), env={"NO_COLOR": "1"}
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await scenario(session)

    return asyncio.run(main())


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content)
