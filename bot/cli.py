"""The `linli` command: console, run (polling), serve (webhooks), db, seed, doctor and more.

Every command checks first what it needs (bot/doctor.py); a wrong set-up ends with one line,
Chinese then English, naming the fix, and exit status 2 — never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from bot.config import Settings, SetupError, files_dir, id_cipher, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from handlers.nlu import Understanding

T = TypeVar("T")

# No local variables in a traceback: they could hold a token or an ID key.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help=(
        "Linli 邻里: the community bot for Telegram, WeChat, WeCom and the terminal. "
        "After `make demo`, `linli doctor` shows what is ready and what to fix.\n\n"
        "Example: linli console --as 陈秀英"
    ),
)


def _group(name: str, help_text: str) -> typer.Typer:
    group = typer.Typer(no_args_is_help=True, help=help_text)
    app.add_typer(group, name=name)
    return group


db_app = _group("db", "The database's tables (Alembic migrations).\n\nExample: linli db upgrade")
seed_app = _group("seed", "Load example data.\n\nExample: linli seed demo")
import_app = _group(
    "import",
    "Read data in (the resident register, rest stations, events, a poll).\n\n"
    "Example: linli import residents 底册.xlsx",
)
sessions_app = _group(
    "sessions",
    "Sessions of the service points (预约服务).\n\n"
    'Example: linli sessions add haircut "每周六 9:00–11:30，每 30 分钟一场，每场 3 人"',
)
export_app = _group(
    "export",
    "Write data out (the resident register, a poll's tally, a survey's results).\n\nExample: linli export residents residents.xlsx",
)
jobs_app = _group("jobs", "Run one of the clock's jobs now.\n\nExample: linli jobs run eligibility")
keys_app = _group("keys", "Keys for resident ID numbers (身份证号).\n\nExample: linli keys new")
wechat_app = _group(
    "wechat", "The WeChat official account and the WeCom app.\n\nExample: linli wechat menu"
)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the service's event loop: uvloop where it is installed (about 10 % less CPU per
    message in bench/inbound.py), else asyncio's own."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.run(main)
    return uvloop.run(main)


def _ready(settings: Settings, *, keys: bool = False) -> None:
    """Stop with one sentence unless the database is at the newest revision and the keys fit."""
    from bot.doctor import require_database

    asyncio.run(require_database(settings, keys_required=keys))


def _telegram_refused(err: Exception) -> SetupError:
    from bot.doctor import telegram_token_problem

    return SetupError(telegram_token_problem(err) or f"Telegram: {type(err).__name__}")


def _need_telegram_token(settings: Settings) -> None:
    if not settings.telegram_token:
        raise SetupError(
            "TELEGRAM_TOKEN 没有设置：请把 @BotFather 给的 token 写进 .env"
            " / TELEGRAM_TOKEN is not set: put the token @BotFather gave you into .env"
        )


def _setup_logging(settings: Settings, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


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
    from models.scale import generate

    settings = load_settings()
    _ready(settings)

    async def go() -> dict[str, int]:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                made = await generate(
                    s, residents=residents, now=utcnow(), outbox_months=outbox_months
                )
            return made.rows
        finally:
            await db.dispose()

    started = time.perf_counter()
    rows = asyncio.run(go())
    took = time.perf_counter() - started
    typer.echo(", ".join(f"{name} {n}" for name, n in rows.items()) + f" ({took:.1f} s)")


@app.command()
def console(
    as_: Annotated[str | None, typer.Option("--as", help="start as this demo person")] = None,
    later: Annotated[
        int,
        typer.Option(
            "--later",
            min=0,
            max=7 * 24 * 60,
            help="try-out aid: act as if N minutes had passed (reminders, the end of an event)",
        ),
    ] = 0,
) -> None:
    """Chat with the bot in the terminal; also reads piped input, one message a line.

    With piped input, the clock's jobs run once at the end and what is due is delivered.
    `--later 20` runs the whole console (the bot, its clock and delivery) 20 minutes ahead, to
    see in a minute what a demo event does in an hour; the database's times stay real.

    Example: printf '/start\\n我能领尊老金吗\\n' | linli console --as 陈秀英
    """
    from datetime import timedelta

    from bot.app import Linli
    from bot.channels.console_channel import run_console
    from models.db import utcnow

    settings = load_settings()
    _ready(settings)
    _setup_logging(settings, quiet=True)
    ahead = timedelta(minutes=later)

    def clock() -> datetime:
        return utcnow() + ahead

    async def go() -> None:
        linli = Linli(settings, clock=clock)
        try:
            await run_console(linli, as_, settings=settings)
        finally:
            await linli.close()

    run_async(go())


@app.command()
def intent(
    text: Annotated[str | None, typer.Argument(help="what a resident might write")] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also the top three with scores and the details.")
    ] = False,
) -> None:
    """Show which intent a text is understood as; with no text, one per line of input.

    Example: linli intent 我要报修 --explain
    """
    from bot.app import Linli
    from bot.doctor import key_settings_problem

    settings = load_settings()
    problem = key_settings_problem(settings)
    if problem:
        raise SetupError(problem)
    linli = Linli(settings)
    lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        name, how, understood = linli.explain(line)
        typer.echo(name)
        if explain:
            typer.echo(explanation(how, understood))


def explanation(how: str, understood: Understanding | None) -> str:
    """The indented lines `linli intent --explain` prints under an intent."""
    if understood is None:
        return f"  by: {how}"
    top = ", ".join(f"{name} {p:.2f}" for name, p in understood.top)
    verdict = "sure" if understood.sure else "ask: " + " / ".join(understood.options)
    if understood.greeting:
        verdict = "greeting"
    elif understood.intent == "unknown":
        verdict = "nothing likely: the menu"
    found = understood.details.as_dict()
    details = ", ".join(f"{k}={v}" for k, v in found.items()) if found else "-"
    return f"  by: {how} · {verdict}\n  top: {top}\n  details: {details}"


@app.command()
def run() -> None:
    """Run the bot on Telegram with long polling (needs TELEGRAM_TOKEN); Ctrl-C stops it.

    Example: linli run
    """
    from telegram.error import TelegramError

    from bot.app import Linli
    from bot.channels.telegram_channel import (
        TelegramSender,
        build_application,
        register_commands,
        start_polling,
    )
    from bot.runtime import Background, telegram_limits

    settings = load_settings()
    _need_telegram_token(settings)
    _ready(settings)
    _setup_logging(settings)

    async def go() -> None:
        linli = Linli(settings)
        telegram = build_application(linli, settings)
        try:
            await telegram.initialize()  # getMe: a wrong token is refused here
        except TelegramError as err:
            await telegram.bot.shutdown()  # its HTTP connections, opened for getMe
            await linli.close()
            raise _telegram_refused(err) from None
        background = Background(
            linli, [TelegramSender(telegram.bot, telegram_limits(settings), linli.media)], settings
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with telegram:
            await register_commands(telegram)
            await telegram.bot.delete_webhook()
            await telegram.start()
            await start_polling(telegram, settings)
            background.start()
            logging.getLogger("linli").info("polling Telegram; Ctrl-C stops")
            await stop.wait()
            await background.stop()
            assert telegram.updater is not None
            await telegram.updater.stop()
            await telegram.stop()
        await linli.close()

    run_async(go())


@app.command()
def deliver() -> None:
    """Run only the clock and the sending of queued messages, taking no chats (own process).

    Example: linli deliver
    """
    import contextlib

    from telegram import Bot
    from telegram.error import TelegramError
    from telegram.request import HTTPXRequest

    from bot.app import Linli
    from bot.channels.telegram_channel import TelegramSender
    from bot.channels.wechat import build_channels
    from bot.delivery import Sender
    from bot.runtime import Background, telegram_limits

    settings = load_settings()
    _ready(settings)
    _setup_logging(settings)

    async def go() -> None:
        linli = Linli(settings)
        senders: list[Sender] = []
        async with contextlib.AsyncExitStack() as stack:
            if settings.telegram_token:
                request = HTTPXRequest(connection_pool_size=settings.delivery_concurrency + 8)
                bot = Bot(
                    settings.telegram_token,
                    base_url=settings.telegram_api_base_url,
                    base_file_url=settings.telegram_api_file_url,
                    request=request,
                )
                try:
                    await stack.enter_async_context(bot)  # getMe: a wrong token is refused here
                except TelegramError as err:
                    raise _telegram_refused(err) from None
                senders.append(TelegramSender(bot, telegram_limits(settings), linli.media))
            wechat = build_channels(linli, settings)
            stack.push_async_callback(wechat.close)
            senders += wechat.senders
            if not senders:
                raise SetupError(
                    "没有可发送的渠道：请设置 TELEGRAM_TOKEN，或 WECHAT_APP_ID 和 WECHAT_APP_SECRET，"
                    "或 WECOM_* / nothing to deliver to: set TELEGRAM_TOKEN, or WECHAT_APP_ID "
                    "and WECHAT_APP_SECRET, or the WECOM_* settings"
                )
            background = Background(linli, senders, settings)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            background.start()
            await stop.wait()
            await background.stop()
        await linli.close()

    run_async(go())


_WECHAT_NOT_SET = (
    "公众号没有配置：请在 .env 里设置 WECHAT_APP_ID 和 WECHAT_APP_SECRET"
    " / the official account is not configured: set WECHAT_APP_ID and WECHAT_APP_SECRET in .env"
)
_WECOM_NOT_SET = (
    "企业微信没有配置：请在 .env 里设置 WECOM_CORP_ID、WECOM_CORP_SECRET 和 WECOM_AGENT_ID"
    " / WeCom is not configured: set WECOM_CORP_ID, WECOM_CORP_SECRET and WECOM_AGENT_ID in .env"
)


@wechat_app.command("menu")
def wechat_menu(
    wecom: Annotated[bool, typer.Option("--wecom", help="the WeCom app's menu instead")] = False,
) -> None:
    """Install the chat menu (the main menu's buttons) on the official account or WeCom app.

    Example: linli wechat menu --wecom
    """
    from bot.channels.wechat import install_menu, oa_api, wecom_api
    from models.db import Database

    settings = load_settings()
    _ready(settings)
    _setup_logging(settings)

    async def go() -> None:
        db = Database(settings.database_url)
        api = (wecom_api if wecom else oa_api)(settings, db)
        if api is None:
            await db.dispose()
            raise SetupError(_WECOM_NOT_SET if wecom else _WECHAT_NOT_SET)
        try:
            await install_menu(api, "wecom" if wecom else "wechat", settings.wecom_agent_id)
        finally:
            await api.aclose()
            await db.dispose()

    asyncio.run(go())
    typer.echo("菜单已安装 / menu installed")


@wechat_app.command("qr")
def wechat_qr(
    code: Annotated[str, typer.Argument(help="an invitation code (see 🔑 邀请码 in the chat)")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="where to write the PNG (default: FILES_DIR/wechat-qr-CODE.png)"
        ),
    ] = None,
) -> None:
    """Make the WeChat QR code of an invitation: scanning it follows the account and joins.

    Example: linli wechat qr HQNC2345 --out poster.png
    """
    from bot.channels.wechat import invitation_qr_url, oa_api
    from bot.i18n import translate
    from handlers.admin import qr_png
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.onboarding import find_invitation

    settings = load_settings()
    _ready(settings)
    _setup_logging(settings)

    async def go() -> tuple[str, int]:
        db = Database(settings.database_url)
        api = oa_api(settings, db)
        try:
            if api is None:
                raise SetupError(_WECHAT_NOT_SET)
            now = utcnow()
            try:
                async with db.session() as session:
                    invitation = await find_invitation(session, code.strip().upper(), now)
            except DomainError as err:
                raise SetupError(
                    f"{translate('zh', err.key)} / {translate('en', err.key)}"
                ) from None
            left = int((invitation.expires_at - now).total_seconds())
            return await invitation_qr_url(api, invitation.code, left)
        finally:
            if api is not None:
                await api.aclose()
            await db.dispose()

    url, seconds = asyncio.run(go())
    if out is None:
        out = files_dir(settings) / f"wechat-qr-{code.strip().upper()}.png"
    out.write_bytes(qr_png(url))
    lasts = f"{seconds // 86400} 天 / days" if seconds else "长期 / permanent"
    typer.echo(f"{out} ({url}, {lasts})")


@wechat_app.command("poster")
def wechat_poster(
    event: Annotated[int, typer.Argument(help="the event's number (活动编号)")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="where to write the PNG (default: FILES_DIR/event-N-wechat.png)"
        ),
    ] = None,
) -> None:
    """The door poster of an event with the official account's QR code: scanning it follows the
    account (or, for a follower, opens it) and checks the person in, as the Telegram poster does.

    Example: linli wechat poster 1 --out door.png
    """
    from bot.channels.wechat import invitation_qr_url, oa_api
    from bot.i18n import translate
    from handlers.event_poster import poster_png, poster_words
    from models import load_all
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.event_checkin import Poster, poster_for_operator

    load_all()
    settings = load_settings()
    _ready(settings)
    _setup_logging(settings)

    async def go() -> tuple[Poster, str, int]:
        db = Database(settings.database_url)
        api = oa_api(settings, db)
        try:
            if api is None:
                raise SetupError(_WECHAT_NOT_SET)
            try:
                async with db.session() as session:
                    poster = await poster_for_operator(session, event)
            except DomainError as err:
                raise SetupError(
                    f"{translate('zh', err.key)} / {translate('en', err.key)}"
                ) from None
            left = int((poster.door_closes - utcnow()).total_seconds())
            if left <= 0:
                raise SetupError("签到已结束 / check-in is over for this event")
            url, seconds = await invitation_qr_url(api, poster.start_parameter, left)
            return poster, url, seconds
        finally:
            if api is not None:
                await api.aclose()
            await db.dispose()

    poster, url, seconds = asyncio.run(go())
    if out is None:
        out = files_dir(settings) / f"event-{event}-wechat.png"
    out.write_bytes(poster_png(poster_words(translate, poster), url))
    lasts = f"{seconds // 86400} 天 / days" if seconds else "长期 / permanent"
    typer.echo(f"{out} ({url}, {lasts})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="the address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the port to listen on")] = 8080,
) -> None:
    """Take webhooks from Telegram, WeChat and WeCom over HTTP (and answer /healthz).

    On start it registers TELEGRAM_WEBHOOK_URL with Telegram. Put it behind your TLS proxy.

    Example: linli serve --host 0.0.0.0 --port 8080
    """
    import uvicorn

    from bot.doctor import port_problem, telegram_bot_name
    from bot.web import serving_app

    settings = load_settings()
    _ready(settings)
    problem = port_problem(host, port)
    if problem:
        raise SetupError(problem)
    if settings.telegram_token:
        asyncio.run(telegram_bot_name(settings))  # getMe: a wrong token is refused here
    _setup_logging(settings)
    uvicorn.run(serving_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def _cipher_or_exit(settings: Settings) -> Any:
    from bot.doctor import key_settings_problem

    problem = key_settings_problem(settings, required=True)
    if problem:
        raise SetupError(problem)
    return id_cipher(settings)


async def _community_id(session: Any, name: str | None) -> int:
    from sqlalchemy import select
    from sqlmodel import col

    from models.tables import Community

    rows = (await session.execute(select(Community).order_by(col(Community.id)))).scalars().all()
    if name:
        rows = [c for c in rows if c.name == name]
    if len(rows) != 1:
        names = "、".join(c.name for c in rows) or "-"
        raise SetupError(
            f"请用 --community 指明社区（现有：{names}） / name the community with --community "
            f"(found: {names})"
        )
    return int(rows[0].id)


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
    from pathlib import Path

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
    path = Path(file)
    if not path.is_file():
        raise SetupError(f"找不到文件 {file} / there is no file {file}")
    data = path.read_bytes()

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
            english = translate("en", err.key)
            english = english.format(**err.values) if err.values else english
            raise SetupError(f"{t(err.key, **err.values)} / {english}") from None
        finally:
            await db.dispose()

    typer.echo(asyncio.run(go()))


def _refusal(err: Any) -> SetupError:
    from bot.i18n import translate

    zh, en = translate("zh", err.key), translate("en", err.key)
    if err.values:
        zh, en = zh.format(**err.values), en.format(**err.values)
    return SetupError(f"{zh} / {en}")


@import_app.command("stations")
def import_stations_file(
    file: Annotated[str, typer.Argument(help="the stations, .xlsx or .csv")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Import rest stations (补给站): one a row, added or updated by key; bad rows are listed.

    Columns: key, name, address, latitude, longitude, hours, facilities, phone, team, note, photo.

    Example: linli import stations stations.csv
    """
    from pathlib import Path

    from bot.i18n import translate
    from models.db import Database
    from models.station_files import import_stations, read_table

    settings = load_settings()
    _ready(settings)
    path = Path(file)
    if not path.is_file():
        raise SetupError(f"找不到文件 {file} / there is no file {file}")
    rows = read_table(path.read_bytes(), path.name)

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
    path = Path(file)
    if not path.is_file():
        raise SetupError(f"找不到文件 {file} / there is no file {file}")
    data = path.read_bytes()

    def both(key: str, **values: Any) -> str:
        zh, en = translate("zh", key), translate("en", key)
        return f"{zh.format(**values)} / {en.format(**values)}"

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
            raise SetupError(both(err.key, **err.values)) from None
        finally:
            await db.dispose()
        lines = []
        for row in report.rows:
            text = translate("zh", row.key).format(**row.values)
            lines.append(translate("zh", "events.import_row").format(row=row.row, text=text))
        lines.append(
            both(
                "events.import_summary",
                created=report.count("created"),
                exists=report.count("exists"),
                errors=report.count("error"),
            )
        )
        return "\n".join(lines)

    typer.echo(asyncio.run(go()))


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


@import_app.command("poll")
def import_poll(
    file: Annotated[str, typer.Argument(help="the poll, .xlsx or .csv (name, value per line)")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Open a poll described in a file: question, options, deadline, audience, rules
    (the format is in models/poll_files.py). The community's first manager is its organiser.

    Example: linli import poll 外墙投票.xlsx
    """
    from pathlib import Path

    from bot.i18n import translate
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.people import community_zone
    from models.poll_files import read_poll_file
    from models.poll_results import create_poll, first_manager

    settings = load_settings()
    _ready(settings)
    path = Path(file)
    if not path.is_file():
        raise SetupError(f"找不到文件 {file} / there is no file {file}")
    data = path.read_bytes()

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
        except DomainError as err:
            zh = translate("zh", err.key).format(**err.values)
            en = translate("en", err.key).format(**err.values)
            raise SetupError(f"{zh} / {en}") from None
        finally:
            await db.dispose()

    typer.echo(asyncio.run(go()))


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


@app.command()
def doctor() -> None:
    """Check the settings, database, ID keys, each configured chat app and the clock.

    Prints what is ready and what to fix; exit status 2 when something needs fixing.

    Example: linli doctor
    """
    from bot.doctor import doctor as check

    table, ready = check(load_settings())
    typer.echo(table)
    if not ready:
        raise typer.Exit(2)


# `linli open311 key` lives in its own module (this one is long enough).
from bot.cli_open311 import group as open311_app  # noqa: E402

app.add_typer(open311_app, name="open311")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `linli` script: a wrong set-up is one sentence and exit status 2."""
    from bot.doctor import explain

    try:
        app(args=argv, prog_name="linli")
    except Exception as err:
        message = explain(err)
        if message is None:
            raise
        typer.echo(message, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
