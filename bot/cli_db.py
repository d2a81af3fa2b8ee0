"""`linli db`, `linli seed`, `linli jobs` and `linli keys`: the database, example data, the
clock's jobs run by hand, the ID-number keys."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.cli_common import _ready, _setup_logging
from bot.config import SetupError, id_cipher, load_settings

db_app = typer.Typer(
    no_args_is_help=True,
    help="The database's tables (Alembic migrations).\n\nExample: linli db upgrade",
)
seed_app = typer.Typer(no_args_is_help=True, help="Load example data.\n\nExample: linli seed demo")
jobs_app = typer.Typer(
    no_args_is_help=True,
    help="Run one of the clock's jobs now.\n\nExample: linli jobs run eligibility",
)
keys_app = typer.Typer(
    no_args_is_help=True, help="Keys for resident ID numbers (身份证号).\n\nExample: linli keys new"
)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="the revision to go to")] = "head",
) -> None:
    """Create the tables, or bring them to the newest version; running it again is harmless.

    Example: linli db upgrade
    """
    from alembic.util import CommandError

    from bot.doctor import check_reachable, code_revisions
    from models.migrations import upgrade

    settings = load_settings()
    _setup_logging(settings)
    asyncio.run(check_reachable(settings.database_url))
    try:
        upgrade(settings.database_url, revision)
    except CommandError as err:  # e.g. the database is at a revision this code does not know
        raise SetupError(f"数据库迁移失败 / the migration failed: {err}") from None
    shown = ", ".join(code_revisions(settings.database_url)[0]) if revision == "head" else revision
    typer.echo(f"database at revision {shown}")


@seed_app.command("demo")
def seed_demo() -> None:
    """Load the demo community 虹南社区 and its people; does nothing if it is already there.

    Example: linli seed demo
    """
    from models.db import Database, utcnow
    from models.demo import seed_demo as load

    settings = load_settings()
    _ready(settings)

    async def go() -> bool:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                return await load(s, utcnow(), id_cipher(settings))
        finally:
            await db.dispose()

    typer.echo("demo community loaded" if asyncio.run(go()) else "demo community already there")


@seed_app.command("scale")
def seed_scale(
    residents: Annotated[int, typer.Option(help="how many residents to generate")] = 100_000,
    outbox_months: Annotated[int, typer.Option(help="months of delivered outbox rows")] = 1,
) -> None:
    """Generate a district of N residents and a year of its activity by bulk inserts (for benchmarks).

    Example: linli seed scale --residents 100000
    """
    import time

    from models.db import Database, utcnow
    from models.scale import seed

    settings = load_settings()
    _ready(settings)

    async def go() -> dict[str, int]:
        db = Database(settings.database_url)
        try:
            # Not a scratch file: the journal and syncing stay as they are (models/scale.py).
            made = await seed(db, residents=residents, now=utcnow(), outbox_months=outbox_months)
            return made.rows
        finally:
            await db.dispose()

    started = time.perf_counter()
    rows = asyncio.run(go())
    took = time.perf_counter() - started
    typer.echo(", ".join(f"{name} {n}" for name, n in rows.items()) + f" ({took:.1f} s)")


@jobs_app.command("run")
def jobs_run(job: Annotated[str, typer.Argument(help="the job: eligibility or polls")]) -> None:
    """Run a clock job now: `eligibility` is the daily scan for people due a benefit, `polls`
    closes the polls past their deadline (sending the results) and reminds non-voters.

    Example: linli jobs run eligibility
    """
    from models.benefits import load_catalogue
    from models.db import Database
    from scheduler import jobs

    if job not in ("eligibility", "polls"):
        raise SetupError(
            f"没有这个任务：{job}（可用：eligibility、polls） / no job {job} (known: eligibility, polls)"
        )
    settings = load_settings()
    _ready(settings)
    _setup_logging(settings, quiet=True)
    programmes = load_catalogue(settings.benefit_programmes_file or None)

    async def go() -> dict[str, int]:
        db = Database(settings.database_url)
        try:
            if job == "polls":
                return await jobs.polls(db)
            return await jobs.eligibility(db, programmes)
        finally:
            await db.dispose()

    counts = asyncio.run(go())
    if job == "polls":
        typer.echo("polls: {closed} closed (results sent), {reminded} reminders".format(**counts))
        return
    typer.echo(
        "eligibility: {approached} approached ({messaged} by message), {home_visits} home visits, "
        "{recert} re-certification reminders, {told} residents told of applications made for them".format(
            **counts
        )
    )


@keys_app.command("new")
def keys_new() -> None:
    """Print a new pair of ID-number keys: put both lines into .env, and back them up.

    Without them the stored ID numbers can never be read again.

    Example: linli keys new >> .env
    """
    from models.idcard import new_keys

    encryption, hashing = new_keys()
    typer.echo(f"ID_ENCRYPTION_KEYS={encryption}\nID_HASH_KEY={hashing}")
