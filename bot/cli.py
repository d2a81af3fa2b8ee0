"""The `linli` command: console, run (polling), serve (webhooks), doctor; the groups (db, seed,
import, sessions, export, jobs, keys, wechat, open311) are in bot/cli_*.py, added here.

Every command checks first what it needs (bot/doctor.py); a wrong set-up ends with one line,
Chinese then English, naming the fix, and exit status 2 — never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_common import (
    _need_telegram_token,
    _ready,
    _setup_logging,
    _telegram_refused,
    run_async,
)
from bot.cli_db import db_app, jobs_app, keys_app, seed_app
from bot.cli_export import export_app
from bot.cli_import import import_app, sessions_app
from bot.cli_open311 import group as open311_app
from bot.cli_wechat import wechat_app
from bot.config import SetupError, load_settings

if TYPE_CHECKING:
    from handlers.nlu import Understanding

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


# The command groups, each in its own module (bot/cli_*.py), in the order `linli --help` lists them.
for _name, _group in (
    ("db", db_app),
    ("seed", seed_app),
    ("import", import_app),
    ("sessions", sessions_app),
    ("export", export_app),
    ("jobs", jobs_app),
    ("keys", keys_app),
    ("wechat", wechat_app),
):
    app.add_typer(_group, name=_name)


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


app.add_typer(open311_app, name="open311")  # after the commands, as `linli --help` lists it


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
