"""`linli import …` (the register, rest stations, events, a poll) and `linli sessions add`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from bot.cli_common import (
    _both_languages,
    _cipher_or_exit,
    _community_id,
    _file_refusal,
    _input_file,
    _ready,
    _refusal,
)
from bot.config import SetupError, load_settings

import_app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Read data in (the resident register, rest stations, events, a poll).\n\n"
        "Example: linli import residents 底册.xlsx"
    ),
)
sessions_app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Sessions of the service points (预约服务).\n\n"
        'Example: linli sessions add haircut "每周六 9:00–11:30，每 30 分钟一场，每场 3 人"'
    ),
)


@import_app.command("residents")
def import_residents(
    file: Annotated[str, typer.Argument(help="the register, .xlsx or .csv")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Import the resident register (居民底册): adds or updates people, reports every row.

    Importing the same file again changes nothing. A long list of rejected rows is also
    written as an .xlsx next to the file (its path is printed).

    Example: linli import residents residents.xlsx
    """

    from bot.cli_register import cli_report
    from bot.i18n import translate
    from handlers.benefits import render_import_report
    from models.benefits import community_today
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.register import import_register

    settings = load_settings()
    cipher = _cipher_or_exit(settings)
    _ready(settings, keys=True)
    path, data = _input_file(file)

    def t(key: str, **values: Any) -> str:
        text = translate("zh", key)
        return text.format(**values) if values else text

    async def go() -> str:
        db = Database(settings.database_url)
        audit: list[int] = []

        async def kept(_s: Any, _report: Any, import_id: int) -> None:
            audit.append(import_id)

        try:
            async with db.session() as s:
                cid = await _community_id(s, community)
                now = utcnow()
                today = await community_today(s, cid, now)
            report = await import_register(
                db, cipher, community_id=cid, data=data, filename=path.name, now=now,
                today=today, source="cli", on_finish=kept,
            )  # fmt: skip
            # A long list of rejected rows: also as a file (the chat's), its path printed.
            return cli_report(t, report, path, audit[0] if audit else None, render_import_report)
        except DomainError as err:
            raise _refusal(err) from None
        finally:
            await db.dispose()

    typer.echo(asyncio.run(go()))


@import_app.command("stations")
def import_stations_file(
    file: Annotated[str, typer.Argument(help="the stations, .xlsx or .csv")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Import rest stations (补给站): one a row, added or updated by key; bad rows are listed.

    Columns: key, name, address, latitude, longitude, hours, facilities, phone, team, note, photo.

    Example: linli import stations stations.csv
    """

    from bot.i18n import translate
    from models.db import Database
    from models.station_files import import_stations, read_table

    settings = load_settings()
    _ready(settings)
    path, data = _input_file(file)
    rows = read_table(data, path.name)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                cid = await _community_id(s, community)
                result = await import_stations(s, rows, cid)
        finally:
            await db.dispose()
        lines = [f"补给站：新增 {result.added}，更新 {result.updated}，未导入 {len(result.refused)} "
                 f"/ stations: {result.added} added, {result.updated} updated, "
                 f"{len(result.refused)} refused"]  # fmt: skip
        for n, key in result.refused:
            lines.append(f"  第 {n} 行 / row {n}: {translate('zh', key)} / {translate('en', key)}")
        return "\n".join(lines)

    typer.echo(asyncio.run(go()))


@sessions_app.command("add")
def sessions_add(
    point: Annotated[str, typer.Argument(help="the service point: its key or name (haircut)")],
    series: Annotated[str, typer.Argument(help="每周六 9:00–11:30，每 30 分钟一场，每场 3 人")],
    until: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD")] = None,
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Add a repeating series of sessions to a service point (made as far ahead as booking opens).

    Example: linli sessions add haircut "每周六 9:00–11:30，每 30 分钟一场，每场 3 人"
    """
    from datetime import date

    from models.booking_desk import point_by_key
    from models.bookings import add_series, parse_series
    from models.db import Database, utcnow
    from models.errors import DomainError

    settings = load_settings()
    _ready(settings)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                cid = await _community_id(s, community)
                found = await point_by_key(s, cid, point)
                last = date.fromisoformat(until) if until else None
                _series, made = await add_series(
                    s, found.id or 0, parse_series(series), utcnow(), until=last
                )
                return f"{found.name}：新增 {made} 场 / {made} sessions added"
        except DomainError as err:
            raise _refusal(err) from None
        except ValueError as err:
            raise SetupError(f"日期不对 / not a date: {until}") from err
        finally:
            await db.dispose()

    typer.echo(asyncio.run(go()))


@import_app.command("events")
def import_events_file(
    file: Annotated[str, typer.Argument(help="the events, .xlsx or .csv, one a row")],
    as_: Annotated[str, typer.Option("--as", help="the organiser (a manager or grid leader)")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Create events from a file (标题 开始 结束 地点 名额 …), with a report per row.

    A bad row changes nothing; a row already imported (same title and start) is not made twice.

    Example: linli import events events.csv --as 刘芳
    """
    from sqlalchemy import select
    from sqlmodel import col

    from bot.i18n import translate
    from models import load_all
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.event_import import import_events
    from models.tables import Person

    load_all()  # every table the events touch (tasks, reports …) is known to the mapper
    settings = load_settings()
    _ready(settings)
    path, data = _input_file(file)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                cid = await _community_id(s, community)
                organiser = (
                    await s.execute(
                        select(Person.id).where(
                            col(Person.community_id) == cid, col(Person.name) == as_.strip()
                        )
                    )
                ).scalar_one_or_none()
            if organiser is None:
                raise SetupError(f"没有找到 {as_} / nobody called {as_} here")
            report = await import_events(
                db, organiser_id=organiser, data=data, filename=path.name, now=utcnow()
            )
        except DomainError as err:
            raise _refusal(err) from None
        finally:
            await db.dispose()
        lines = []
        for row in report.rows:
            text = translate("zh", row.key).format(**row.values)
            lines.append(translate("zh", "events.import_row").format(row=row.row, text=text))
        lines.append(
            _both_languages(
                "events.import_summary",
                created=report.count("created"),
                exists=report.count("exists"),
                errors=report.count("error"),
            )
        )
        return "\n".join(lines)

    typer.echo(asyncio.run(go()))


@import_app.command("poll")
def import_poll(
    file: Annotated[str, typer.Argument(help="the poll, .xlsx or .csv (name, value per line)")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Open a poll described in a file: question, options, deadline, audience, rules
    (the format is in models/poll_files.py). The community's first manager is its organiser.

    Example: linli import poll 外墙投票.xlsx
    """

    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.people import community_zone
    from models.poll_files import read_poll_file
    from models.poll_results import create_poll, first_manager

    settings = load_settings()
    _ready(settings)
    _, data = _input_file(file)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                cid = await _community_id(s, community)
                now = utcnow()
                draft = await read_poll_file(s, data, cid, now, await community_zone(s, cid))
                organiser = await first_manager(s, cid)
                if organiser is None:
                    raise SetupError("这个社区还没有管理员 / the community has no manager yet")
                poll = await create_poll(s, draft, organiser, frozenset({("manager", None)}), now)
                zone = await community_zone(s, cid)
                return (
                    f"投票 {poll.id} 已发起：{poll.question}（{len(draft.options)} 个选项，"
                    f"{poll.closes_at.astimezone(zone):%Y-%m-%d %H:%M} 截止） / poll {poll.id} is open"
                )
        except DomainError as err:  # a poll file: every bad line, as the chat lists them
            raise _file_refusal(file, err) from None
        finally:
            await db.dispose()

    typer.echo(asyncio.run(go()))
