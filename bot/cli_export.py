"""`linli export …`: the resident register, a poll's tally, a survey's results, as files."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_common import _cipher_or_exit, _community_id, _ready
from bot.config import SetupError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

export_app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Write data out (the resident register, a poll's tally, a survey's results).\n\nExample: linli export residents residents.xlsx"
    ),
)


@export_app.command("residents")
def export_residents(
    file: Annotated[str, typer.Argument(help="where to write: .xlsx or .csv")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Write the register in the import format; it holds raw ID numbers, so keep it safe.

    Example: linli export residents residents.xlsx
    """
    from pathlib import Path

    from models.db import Database
    from models.register import register_rows, write_register

    settings = load_settings()
    cipher = _cipher_or_exit(settings)
    _ready(settings, keys=True)

    async def go() -> list[list[str]]:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                return await register_rows(s, cipher, await _community_id(s, community))
        finally:
            await db.dispose()

    rows = asyncio.run(go())
    Path(file).write_bytes(write_register(rows, file))
    typer.echo(f"{len(rows) - 1} residents written to {file}")


def _export_xlsx(
    file: str,
    make: Callable[[AsyncSession], Awaitable[bytes]],
    missing: str,
    done: str,
) -> None:
    """Run one export in its own transaction and write its bytes to `file` (a DomainError, i.e.
    no such poll or survey, is the one-sentence `missing`)."""
    from models.db import Database
    from models.errors import DomainError

    settings = load_settings()
    _ready(settings)

    async def go() -> bytes:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                return await make(s)
        except DomainError:
            raise SetupError(missing) from None
        finally:
            await db.dispose()

    Path(file).write_bytes(asyncio.run(go()))
    typer.echo(done)


@export_app.command("poll")
def export_poll(
    poll: Annotated[int, typer.Argument(help="the poll's number")],
    file: Annotated[str, typer.Argument(help="where to write the .xlsx")],
) -> None:
    """Write a poll's tally (results, turnout by grid, a named poll's voters) as .xlsx.

    Example: linli export poll 1 结果.xlsx
    """
    from models.poll_results import tally_xlsx
    from models.polls import get_poll

    async def make(s: AsyncSession) -> bytes:
        return await tally_xlsx(s, await get_poll(s, poll))

    _export_xlsx(
        file, make, f"没有投票 {poll} / there is no poll {poll}", f"poll {poll} written to {file}"
    )


@export_app.command("survey")
def export_survey(
    survey: Annotated[int, typer.Argument(help="the survey's number")],
    file: Annotated[str, typer.Argument(help="where to write the .xlsx")],
) -> None:
    """Write a survey's results (per question, per team, every answer without names) as .xlsx.

    Example: linli export survey 1 问卷.xlsx
    """
    from models.surveys import results_xlsx

    async def make(s: AsyncSession) -> bytes:
        return await results_xlsx(s, survey)

    _export_xlsx(
        file,
        make,
        f"没有问卷 {survey} / there is no survey {survey}",
        f"survey {survey} written to {file}",
    )
