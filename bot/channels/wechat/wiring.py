"""Building the configured WeChat / WeCom parts from settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.app import Linli
from bot.channels.wechat.api import AppCredentials, WeChatApi
from bot.channels.wechat.crypto import Endpoint
from bot.channels.wechat.senders import ApiSender, WeChatSender, WeComSender
from bot.channels.wechat.webhook import WeChatWebhook
from bot.config import Settings
from bot.delivery import ChannelLimits
from models.db import Database, utcnow

# ---------------------------------------------------------------- wiring from settings


def oa_endpoint(settings: Settings) -> Endpoint | None:
    """The official account's endpoint, when WECHAT_TOKEN is set."""
    if not settings.wechat_token:
        return None
    return Endpoint(
        "wechat",
        settings.wechat_token,
        settings.wechat_encoding_aes_key or None,
        settings.wechat_app_id or "",
        max_skew=settings.wechat_max_clock_skew_seconds,
    )


def wecom_endpoint(settings: Settings) -> Endpoint | None:
    """The WeCom app's endpoint, when WECOM_TOKEN is set (WeCom always encrypts)."""
    if not settings.wecom_token:
        return None
    if not (settings.wecom_encoding_aes_key and settings.wecom_corp_id):
        raise SystemExit("WECOM_TOKEN needs WECOM_ENCODING_AES_KEY and WECOM_CORP_ID")
    return Endpoint(
        "wecom",
        settings.wecom_token,
        settings.wecom_encoding_aes_key,
        settings.wecom_corp_id,
        agent_id=settings.wecom_agent_id,
        max_skew=settings.wechat_max_clock_skew_seconds,
    )


def oa_api(
    settings: Settings, db: Database, *, transport: Any = None, clock: Callable[[], Any] = utcnow
) -> WeChatApi | None:
    """The official account's API client, when the AppID and secret are set."""
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        return None
    app = AppCredentials.official_account(
        settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret
    )
    return WeChatApi(db, app, transport=transport, clock=clock)


def wecom_api(
    settings: Settings, db: Database, *, transport: Any = None, clock: Callable[[], Any] = utcnow
) -> WeChatApi | None:
    """The WeCom app's API client, when the CorpID and app secret are set."""
    if not (settings.wecom_corp_id and settings.wecom_corp_secret):
        return None
    app = AppCredentials.wecom(
        settings.wecom_api_base_url, settings.wecom_corp_id, settings.wecom_corp_secret
    )
    return WeChatApi(db, app, transport=transport, clock=clock)


@dataclass
class WeChatChannels:
    """Everything `linli serve` runs for WeChat and WeCom: endpoints, API clients, senders."""

    webhooks: list[tuple[str, WeChatWebhook]] = field(default_factory=list)  # (path, webhook)
    senders: list[ApiSender] = field(default_factory=list)
    apis: list[WeChatApi] = field(default_factory=list)

    async def settle(self, within: float = 10.0) -> None:
        """Let late answers still being worked on reach the outbox (bounded)."""
        for _path, hook in self.webhooks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hook.settled(), within)

    async def close(self) -> None:
        """Close the HTTP clients (after the delivery worker stopped)."""
        for api in self.apis:
            await api.aclose()


def build_channels(linli: Linli, settings: Settings, *, transport: Any = None) -> WeChatChannels:
    """The configured WeChat / WeCom parts (none when nothing is configured)."""
    out = WeChatChannels()
    clock = linli.clock
    oa = oa_endpoint(settings)
    api = oa_api(settings, linli.db, transport=transport, clock=clock)
    if api is not None:
        out.apis.append(api)
        linli.media_fetchers["wechat"] = api.download  # what people send, kept at receipt
        out.senders.append(
            WeChatSender(
                api,
                linli.db,
                ChannelLimits(settings.wechat_per_second, settings.wechat_per_chat_seconds),
                template_id=settings.wechat_template_id or None,
                template_field=settings.wechat_template_field,
                template_max_chars=settings.wechat_template_max_chars,
                template_url=settings.wechat_template_url,
                miniprogram_appid=settings.wechat_miniprogram_appid,
                miniprogram_path=settings.wechat_miniprogram_path,
                clock=clock,
                media=linli.media,
            )
        )
    if oa is not None:
        hook = WeChatWebhook(linli, oa, api=api, budget=settings.wechat_reply_budget_seconds)
        out.webhooks.append((settings.wechat_path, hook))
    wc = wecom_endpoint(settings)
    wapi = wecom_api(settings, linli.db, transport=transport, clock=clock)
    if wapi is not None and settings.wecom_agent_id is not None:
        out.apis.append(wapi)
        linli.media_fetchers["wecom"] = wapi.download
        out.senders.append(
            WeComSender(
                wapi,
                linli.db,
                ChannelLimits(
                    settings.wecom_per_second, 60.0 / settings.wecom_per_person_per_minute
                ),
                agent_id=settings.wecom_agent_id,
                clock=clock,
                media=linli.media,
            )
        )
    if wc is not None:
        hook = WeChatWebhook(linli, wc, api=wapi, budget=settings.wechat_reply_budget_seconds)
        out.webhooks.append((settings.wecom_path, hook))
    return out
