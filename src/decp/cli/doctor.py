"""`decp doctor`: is this repo's protocol complete and wired to every agent?"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        fix: bool = typer.Option(
            False, "--fix", help="Insert or refresh the decp block in existing agent files."
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print {ok, problems[], fixed[], checks[]} as JSON."
        ),
    ) -> None:
        """Check layout, config, answers file and agent wiring (exit 1 when something needs fixing)."""
        from decp.agents.doctor import run_doctor

        raise typer.Exit(run_doctor(fix=fix, as_json=as_json))
