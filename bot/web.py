"""The ASGI app `linli serve` runs: Telegram webhooks, the WeChat / WeCom callbacks, the staff
desk (/console) and Open311 GeoReport v2 (/open311/v2)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest

from bot.app import Linli
from bot.channels.wechat import WeChatChannels, build_channels
from bot.config import Settings
from bot.console_web import console_routes
from bot.delivery import Sender
from bot.open311_web import open311_routes

log = logging.getLogger("linli.web")
MAX_BODY = 1_000_000


def secret_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; no configured secret means nothing is accepted."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def create_web_app(
    linli: Linli,
    settings: Settings,
    telegram: Application | None = None,
    *,
    lifespan: Any = None,
    wechat: WeChatChannels | None = None,
) -> Starlette:
    """Routes: GET /healthz, POST <TELEGRAM_WEBHOOK_PATH> (403 unless the secret header matches),
    GET/POST <WECHAT_PATH> and <WECOM_PATH> when those platforms are configured, the staff desk
    under /console and Open311 under /open311/v2."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def telegram_webhook(request: Request) -> Response:
        if telegram is None:
            return Response(status_code=404)
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        if not secret_matches(given, settings.telegram_webhook_secret):
            return Response(status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        try:
            data = json.loads(body)
            update = Update.de_json(data, telegram.bot)
        except (ValueError, TypeError, KeyError):
            return Response(status_code=400)
        # Processed before answering: a 200 means done, and a crash means Telegram redelivers
        # (the inbox dedupe then keeps the second delivery from having a second effect).
        await telegram.process_update(update)
        return Response(status_code=200)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route(settings.telegram_webhook_path, telegram_webhook, methods=["POST"]),
    ]
    for path, hook in wechat.webhooks if wechat is not None else []:
        routes.append(Route(path, hook.verify, methods=["GET"]))
        routes.append(Route(path, hook.receive, methods=["POST"]))
    all_routes: list[BaseRoute] = [*routes, *open311_routes(linli), *console_routes(linli)]
    return Starlette(routes=all_routes, lifespan=lifespan)


def serving_app(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    wechat_transport: Any = None,
) -> Starlette:
    """The app with a lifespan that starts the database, Telegram, WeChat/WeCom, and the clock."""
    from bot.channels.telegram_channel import TelegramSender, build_application, register_commands
    from bot.runtime import Background, telegram_limits

    linli = Linli(settings)
    telegram = (
        build_application(linli, settings, request=request, with_updater=False)
        if settings.telegram_token
        else None
    )
    senders: list[Sender] = (
        [TelegramSender(telegram.bot, telegram_limits(settings), linli.media)]
        if telegram is not None
        else []
    )
    wechat = build_channels(linli, settings, transport=wechat_transport)
    senders += wechat.senders
    background = Background(linli, senders, settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if telegram is not None:
            await telegram.initialize()
            await telegram.start()
            await register_commands(telegram)
            if settings.telegram_webhook_url:
                await telegram.bot.set_webhook(
                    settings.telegram_webhook_url,
                    secret_token=settings.telegram_webhook_secret,
                    allowed_updates=Update.ALL_TYPES,
                )
                log.info("webhook registered at %s", settings.telegram_webhook_url)
        background.start()
        try:
            yield
        finally:
            await wechat.settle()
            await background.stop()
            await wechat.close()
            if telegram is not None:
                await telegram.stop()
                await telegram.shutdown()
            await linli.close()

    return create_web_app(linli, settings, telegram, lifespan=lifespan, wechat=wechat)
