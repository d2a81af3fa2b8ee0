"""`linli wechat …`: the official account's menu, a community's QR code, an event's poster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import _ready, _setup_logging
from bot.config import SetupError, files_dir, load_settings

wechat_app = typer.Typer(
    no_args_is_help=True,
    help="The WeChat official account and the WeCom app.\n\nExample: linli wechat menu",
)


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
