"""The `linli` command: console, run (polling), serve (webhooks), db upgrade, seed demo, intent."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from bot.config import Settings, id_cipher, load_settings

if TYPE_CHECKING:
    from handlers.nlu import Understanding

T = TypeVar("T")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Linli 邻里 community bot")
db_app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic).")
seed_app = typer.Typer(no_args_is_help=True, help="Load data.")
app.add_typer(db_app, name="db")
app.add_typer(seed_app, name="seed")
import_app = typer.Typer(no_args_is_help=True, help="Import data (the resident register).")
export_app = typer.Typer(no_args_is_help=True, help="Export data (the resident register).")
jobs_app = typer.Typer(no_args_is_help=True, help="Run a clock job now.")
keys_app = typer.Typer(no_args_is_help=True, help="Keys for resident ID numbers.")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")
wechat_app = typer.Typer(no_args_is_help=True, help="WeChat official account / WeCom.")
app.add_typer(wechat_app, name="wechat")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the service's event loop: uvloop where it is installed (about 10 % less CPU per
    message in bench/inbound.py), else asyncio's own."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.run(main)
    return uvloop.run(main)


def _setup_logging(settings: Settings, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the newest schema."""
    from models.migrations import upgrade

    settings = load_settings()
    _setup_logging(settings)
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@seed_app.command("demo")
def seed_demo() -> None:
    """Load the demo community (Hongnan); does nothing if it is already there."""
    from models.db import Database, utcnow
    from models.demo import seed_demo as load

    settings = load_settings()

    async def go() -> bool:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                return await load(s, utcnow(), id_cipher(settings))
        finally:
            await db.dispose()

    typer.echo("demo community loaded" if asyncio.run(go()) else "demo community already there")


@app.command()
def console(
    as_: Annotated[str | None, typer.Option("--as", help="start as this demo person")] = None,
) -> None:
    """Chat with the bot in the terminal (also reads piped input, one message a line)."""
    from bot.app import Linli
    from bot.channels.console_channel import run_console

    settings = load_settings()
    _setup_logging(settings, quiet=True)

    async def go() -> None:
        linli = Linli(settings)
        try:
            await run_console(linli, as_, settings=settings)
        finally:
            await linli.close()

    run_async(go())


@app.command()
def intent(
    text: Annotated[str | None, typer.Argument()] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also the top three with scores and the details.")
    ] = False,
) -> None:
    """Print the intent a text routes to; with no text, one per line of standard input."""
    from bot.app import Linli

    settings = load_settings()
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
    """Run on Telegram with long polling (TELEGRAM_TOKEN must be set)."""
    from bot.app import Linli
    from bot.channels.telegram_channel import (
        TelegramSender,
        build_application,
        register_commands,
        start_polling,
    )
    from bot.runtime import Background, telegram_limits

    settings = load_settings()
    _setup_logging(settings)

    async def go() -> None:
        linli = Linli(settings)
        telegram = build_application(linli, settings)
        background = Background(
            linli, [TelegramSender(telegram.bot, telegram_limits(settings))], settings
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
    """Run only the clock and the delivery worker (no chat intake): e.g. a separate process."""
    import contextlib

    from telegram import Bot
    from telegram.request import HTTPXRequest

    from bot.app import Linli
    from bot.channels.telegram_channel import TelegramSender
    from bot.channels.wechat_channel import build_channels
    from bot.delivery import Sender
    from bot.runtime import Background, telegram_limits

    settings = load_settings()
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
                await stack.enter_async_context(bot)
                senders.append(TelegramSender(bot, telegram_limits(settings)))
            wechat = build_channels(linli, settings)
            stack.push_async_callback(wechat.close)
            senders += wechat.senders
            if not senders:
                raise SystemExit(
                    "nothing to deliver to: set TELEGRAM_TOKEN, or WECHAT_APP_ID and "
                    "WECHAT_APP_SECRET, or the WECOM_* settings"
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


@wechat_app.command("menu")
def wechat_menu(
    wecom: Annotated[bool, typer.Option("--wecom", help="the WeCom app's menu instead")] = False,
) -> None:
    """Install the custom menu (the main menu's items) on the official account or WeCom app."""
    from bot.channels.wechat_channel import install_menu, oa_api, wecom_api
    from models.db import Database

    settings = load_settings()
    _setup_logging(settings)

    async def go() -> None:
        db = Database(settings.database_url)
        api = (wecom_api if wecom else oa_api)(settings, db)
        if api is None:
            raise SystemExit(
                "set WECOM_CORP_ID, WECOM_CORP_SECRET and WECOM_AGENT_ID"
                if wecom
                else "set WECHAT_APP_ID and WECHAT_APP_SECRET"
            )
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
    out: Annotated[Path, typer.Option("--out", help="where to write the PNG")] = Path(
        "invitation-wechat.png"
    ),
) -> None:
    """A WeChat QR code for an invitation: scanning it follows the account and joins."""
    from bot.channels.wechat_channel import invitation_qr_url, oa_api
    from bot.i18n import translate
    from handlers.admin import qr_png
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.onboarding import find_invitation

    settings = load_settings()
    _setup_logging(settings)

    async def go() -> tuple[str, int]:
        db = Database(settings.database_url)
        api = oa_api(settings, db)
        try:
            if api is None:
                raise SystemExit("set WECHAT_APP_ID and WECHAT_APP_SECRET")
            now = utcnow()
            try:
                async with db.session() as session:
                    invitation = await find_invitation(session, code.strip().upper(), now)
            except DomainError as err:
                raise SystemExit(translate("zh", err.key)) from err
            left = int((invitation.expires_at - now).total_seconds())
            return await invitation_qr_url(api, invitation.code, left)
        finally:
            if api is not None:
                await api.aclose()
            await db.dispose()

    url, seconds = asyncio.run(go())
    out.write_bytes(qr_png(url))
    lasts = f"{seconds // 86400} 天 / days" if seconds else "长期 / permanent"
    typer.echo(f"{out} ({url}, {lasts})")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve webhooks (ASGI under uvicorn); registers TELEGRAM_WEBHOOK_URL on start."""
    import uvicorn

    from bot.web import serving_app

    settings = load_settings()
    _setup_logging(settings)
    uvicorn.run(serving_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def _cipher_or_exit(settings: Settings) -> Any:
    try:
        cipher = id_cipher(settings)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    if cipher is None:
        raise SystemExit(
            "ID_ENCRYPTION_KEYS and ID_HASH_KEY are not set (`linli keys new` makes them)"
        )
    return cipher


async def _community_id(session: Any, name: str | None) -> int:
    from sqlalchemy import select
    from sqlmodel import col

    from models.tables import Community

    rows = (await session.execute(select(Community).order_by(col(Community.id)))).scalars().all()
    if name:
        rows = [c for c in rows if c.name == name]
    if len(rows) != 1:
        names = "、".join(c.name for c in rows) or "-"
        raise SystemExit(f"name the community with --community (found: {names})")
    return int(rows[0].id)


@import_app.command("residents")
def import_residents(
    file: Annotated[str, typer.Argument(help="the register, .xlsx or .csv")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Import the resident register (居民底册): adds or updates people, reports every row."""
    from pathlib import Path

    from bot.i18n import translate
    from handlers.benefits import render_import_report
    from models.benefits import community_today
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.register import import_register

    settings = load_settings()
    cipher = _cipher_or_exit(settings)
    path = Path(file)
    data = path.read_bytes()

    def t(key: str, **values: Any) -> str:
        text = translate("zh", key)
        return text.format(**values) if values else text

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                cid = await _community_id(s, community)
                now = utcnow()
                report = await import_register(
                    s, cipher, community_id=cid, data=data, filename=path.name, now=now,
                    today=await community_today(s, cid, now), source="cli",
                )  # fmt: skip
                return render_import_report(t, report, path.name)
        except DomainError as err:
            raise SystemExit(t(err.key, **err.values)) from None
        finally:
            await db.dispose()

    typer.echo(asyncio.run(go()))


@export_app.command("residents")
def export_residents(
    file: Annotated[str, typer.Argument(help="where to write: .xlsx or .csv")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Write the register in the import format (it holds raw ID numbers: keep the file safe)."""
    from pathlib import Path

    from models.db import Database
    from models.register import register_rows, write_register

    settings = load_settings()
    cipher = _cipher_or_exit(settings)

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


@jobs_app.command("run")
def jobs_run(job: Annotated[str, typer.Argument(help="eligibility")]) -> None:
    """Run a clock job now (the daily eligibility scan: `linli jobs run eligibility`)."""
    from models.benefits import load_catalogue
    from models.db import Database
    from scheduler import jobs

    if job != "eligibility":
        raise SystemExit("known jobs: eligibility")
    settings = load_settings()
    _setup_logging(settings, quiet=True)
    programmes = load_catalogue(settings.benefit_programmes_file or None)

    async def go() -> dict[str, int]:
        db = Database(settings.database_url)
        try:
            return await jobs.eligibility(db, programmes)
        finally:
            await db.dispose()

    counts = asyncio.run(go())
    typer.echo(
        "eligibility: {approached} approached ({messaged} by message), {home_visits} home visits, "
        "{recert} re-certification reminders, {told} residents told of applications made for them".format(
            **counts
        )
    )


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh pair of ID-number keys for .env (keep them safe and backed up)."""
    from models.idcard import new_keys

    encryption, hashing = new_keys()
    typer.echo(f"ID_ENCRYPTION_KEYS={encryption}\nID_HASH_KEY={hashing}")


def main() -> None:
    """Entry point of the `linli` script."""
    app()


if __name__ == "__main__":
    main()
