"""`linli open311 key`: issue an api_key for another app to file reports through Open311.

One of the `linli` command groups (bot/cli_*.py); bot/cli.py adds it to the `linli` command.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.config import SetupError, load_settings

group = typer.Typer(
    no_args_is_help=True,
    help="Open311 GeoReport v2 clients (other apps filing reports).\n\n"
    'Example: linli open311 key "城管通" --community 虹南社区',
)


@group.command("key")
def issue(
    client: Annotated[str, typer.Argument(help="the app the key is for (shown in the audit)")],
    community: Annotated[
        str, typer.Option(help="the community its reports belong to")
    ] = "虹南社区",
) -> None:
    """Print a new api_key (shown once; only its hash is stored).

    Example: linli open311 key "城管通" --community 虹南社区
    """
    from bot.doctor import require_database
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.open311 import issue_key

    settings = load_settings()
    asyncio.run(require_database(settings))

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                return await issue_key(s, community, client, utcnow())
        finally:
            await db.dispose()

    try:
        key = asyncio.run(go())
    except DomainError as err:
        raise SetupError(
            f"没有叫“{community}”的社区或应用名为空 / no community named {community!r}, or no client name"
        ) from err
    typer.echo(key)
