"""The `linli` command: console, run (polling), serve (webhooks), db upgrade, seed demo, intent."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer

from bot.config import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Linli 邻里 community bot")
db_app = typer.Typer(no_args_is_help=True, help="Database schema (Alembic).")
seed_app = typer.Typer(no_args_is_help=True, help="Load data.")
app.add_typer(db_app, name="db")
app.add_typer(seed_app, name="seed")
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
                return await load(s, utcnow())
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
def intent(text: Annotated[str | None, typer.Argument()] = None) -> None:
    """Print the intent a text routes to; with no text, one per line of standard input."""
    from bot.app import Linli

    settings = load_settings()
    linli = Linli(settings)
    lines = [text] if text is not None else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        typer.echo(linli.classify(line))


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


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve webhooks (ASGI under uvicorn); registers TELEGRAM_WEBHOOK_URL on start."""
    import uvicorn

    from bot.web import serving_app

    settings = load_settings()
    _setup_logging(settings)
    uvicorn.run(serving_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def main() -> None:
    """Entry point of the `linli` script."""
    app()


if __name__ == "__main__":
    main()
