"""The stdio transport: the official MCP SDK's low-level server around `DecpTools`.

The low-level server (not MCPServer's decorators) because the tool schemas are
written by hand: generated ones carry titles and defaults that would cost the
agent tokens on every `tools/list`.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from decp.mcp.tools import RESOURCES, TOOLS, DecpTools

INSTRUCTIONS = (
    "decp: call resume first and session_end last. Propose loops; the user approves, "
    "rejects and closes them."
)


def build(tools: DecpTools) -> Server[Any]:
    """A Server whose handlers call `tools`; nothing here decides anything."""
    from decp import __version__

    listed = [
        types.Tool(name=t["name"], description=t["description"], input_schema=t["inputSchema"])
        for t in TOOLS
    ]
    resources = [
        types.Resource(
            uri=r["uri"], name=r["name"], description=r["description"], mime_type="text/markdown"
        )
        for r in RESOURCES
    ]

    async def list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        out = tools.call(params.name, params.arguments)
        return types.CallToolResult(
            content=[types.TextContent(text=out.text)],
            structured_content=out.data,
            is_error=out.is_error,
        )

    async def list_resources(_ctx: Any, _params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=resources)

    async def read_resource(
        _ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            text = tools.read(uri)
        except Exception as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=tools.error(exc).text) from exc
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type="text/markdown")]
        )

    return Server(
        "decp",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def run(repo: str | None) -> None:
    """Serve the repo at `repo` (or the one around the cwd) until stdin closes."""
    tools = DecpTools(repo)  # NotStampedError before any byte of protocol: the CLI prints it
    server = build(tools)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
