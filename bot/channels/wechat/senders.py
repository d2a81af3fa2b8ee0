"""Proactive messages (the outbox's way out): customer-service messages, templates, WeCom."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.channels.wechat.api import WeChatApi, WeChatApiError
from bot.channels.wechat.messages import split_text
from bot.delivery import ChannelLimits, SendError
from bot.media_store import MediaKeeper, stored_key
from handlers.core import Reply
from models.db import Database, utcnow
from models.direct_messages import offer_pushed_choices

log = logging.getLogger("linli.wechat")

# Temporary media live three days on the platform; an upload is re-used a little less long.
UPLOAD_LIFETIME = timedelta(days=3) - timedelta(hours=1)


# errcodes: what they mean for a message that could not be sent.
OUTSIDE_WINDOW = frozenset(
    {45015, 45047}
)  # 48-hour window closed / too many since the last contact
GONE = frozenset({43004, 43019, 40003, 60111, 81013})  # unfollowed, blocked us, no such user
THROTTLED = {45009: 3600.0, 45011: 60.0, 45033: 5.0, 45030: 60.0}  # quota exceeded → wait (s)
BUSY = frozenset({-1})


def classify(err: WeChatApiError) -> SendError:
    """A platform error as the delivery worker's kind of failure."""
    if err.errcode in GONE:
        return SendError("blocked", str(err))
    if err.errcode in THROTTLED:
        return SendError("throttled", str(err), retry_after=THROTTLED[err.errcode])
    if err.errcode in BUSY:
        return SendError("retry", str(err))
    return SendError("dead", str(err))


class ApiSender(ABC):
    """Shared by both platforms: numbered pushed choices, pieces, pictures, error classes."""

    channel: str
    limits: ChannelLimits

    def __init__(
        self,
        api: WeChatApi,
        db: Database,
        limits: ChannelLimits,
        clock: Callable[[], Any] = utcnow,
        media: MediaKeeper | None = None,
    ) -> None:
        self.api = api
        self.db = db
        self.limits = limits
        self.clock = clock
        self.media = media

    def is_group(self, chat_id: str) -> bool:
        return False

    async def _text(self, chat_id: str, reply: Reply) -> str:
        if not reply.choices:
            return reply.text
        pushed = [[c.label, c.payload] for c in reply.choices]
        async with self.db.session() as s:
            first = await offer_pushed_choices(s, self.channel, chat_id, pushed, self.clock())
        lines = [reply.text, *(f"  {first + i}. {c.label}" for i, c in enumerate(reply.choices))]
        return "\n".join(lines)

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        """Send one outbox row (picture first, then the text in pieces) or raise SendError."""
        try:
            media_id = await self._media_id(photo_ref)
            if media_id is not None:
                await self._send_image(chat_id, media_id)
            text = await self._text(chat_id, reply)
            for piece in split_text(text) if text else []:
                await self._send_text(chat_id, piece)
        except WeChatApiError as err:
            raise classify(err) from err
        except (httpx.HTTPError, ValueError) as err:  # network, HTTP status, not JSON
            raise SendError("retry", repr(err)[:200]) from err

    async def _media_id(self, photo_ref: str | None) -> str | None:
        """The platform's media id of a picture: its own, or a stored one uploaded (once)."""
        if photo_ref and photo_ref.startswith(f"{self.channel}:"):
            return photo_ref.split(":", 1)[1]
        key = stored_key(photo_ref)
        if key is None or self.media is None:
            return None
        try:
            return await self.media.ref_on(self.channel, key, self._upload)
        except KeyError:
            log.warning("stored picture %s is missing from the media store", key)
            return None

    async def _upload(self, data: bytes, content_type: str, name: str) -> tuple[str, datetime]:
        media_id = await self.api.upload_image(data, content_type, name)
        return media_id, self.clock() + UPLOAD_LIFETIME

    @abstractmethod
    async def _send_text(self, chat_id: str, text: str) -> None:
        """One text message through the platform's API."""

    @abstractmethod
    async def _send_image(self, chat_id: str, media_id: str) -> None:
        """One picture the platform already has (by its media id)."""


class WeChatSender(ApiSender):
    """Official account: customer-service messages inside the 48-hour window, else a template."""

    channel = "wechat"

    def __init__(
        self,
        api: WeChatApi,
        db: Database,
        limits: ChannelLimits,
        *,
        template_id: str | None = None,
        template_field: str = "thing1",
        template_max_chars: int = 20,
        template_url: str = "",
        miniprogram_appid: str = "",
        miniprogram_path: str = "",
        clock: Callable[[], Any] = utcnow,
        media: MediaKeeper | None = None,
    ) -> None:
        super().__init__(api, db, limits, clock, media)
        self.template_id = template_id
        self.template_field = template_field
        self.template_max_chars = template_max_chars
        self.template_url = template_url
        self.miniprogram = (miniprogram_appid, miniprogram_path)

    async def _send_text(self, chat_id: str, text: str) -> None:
        await self.api.call(
            "/cgi-bin/message/custom/send",
            json={"touser": chat_id, "msgtype": "text", "text": {"content": text}},
        )

    async def _send_image(self, chat_id: str, media_id: str) -> None:
        await self.api.call(
            "/cgi-bin/message/custom/send",
            json={"touser": chat_id, "msgtype": "image", "image": {"media_id": media_id}},
        )

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        try:
            await super().send(chat_id, reply, photo_ref)
        except SendError as err:
            cause = err.__cause__
            if not (isinstance(cause, WeChatApiError) and cause.errcode in OUTSIDE_WINDOW):
                raise
            await self._template(chat_id, reply, cause)
            if reply.choices:
                # Something to answer (a task offer, "please rate"): given in full, first, the
                # next time the person writes.
                raise SendError("held", f"outside the 48-hour window ({cause.errcode})") from cause

    async def _template(self, chat_id: str, reply: Reply, cause: WeChatApiError) -> None:
        """Outside the window: the template naming what it is about, with its link back."""
        if not self.template_id:
            if reply.choices:
                return  # held for the next time the person writes (the caller says so)
            raise SendError(
                "dead",
                f"outside the 48-hour window ({cause.errcode}) and no WECHAT_TEMPLATE_ID",
            ) from cause
        body: dict[str, Any] = {
            "touser": chat_id,
            "template_id": self.template_id,
            "data": {self.template_field: {"value": self.topic(reply.text)}},
        }
        if self.template_url:
            body["url"] = self.template_url
        appid, path = self.miniprogram
        if appid:
            body["miniprogram"] = {"appid": appid, "pagepath": path}
        try:
            await self.api.call("/cgi-bin/message/template/send", json=body)
        except WeChatApiError as err:
            raise classify(err) from err
        except (httpx.HTTPError, ValueError) as err:
            raise SendError("retry", repr(err)[:200]) from err

    def topic(self, text: str) -> str:
        """What the message is about, as a template field takes it: its first line, shortened."""
        first = next((line for line in text.splitlines() if line.strip()), "")
        first = " ".join(first.split())
        if len(first) > self.template_max_chars:
            first = first[: self.template_max_chars - 1] + "…"
        return first


class WeComSender(ApiSender):
    """WeCom app messages (no 48-hour window; per-person limits are in `limits`)."""

    channel = "wecom"

    def __init__(
        self,
        api: WeChatApi,
        db: Database,
        limits: ChannelLimits,
        *,
        agent_id: int,
        clock: Callable[[], Any] = utcnow,
        media: MediaKeeper | None = None,
    ) -> None:
        super().__init__(api, db, limits, clock, media)
        self.agent_id = agent_id

    async def _message(self, chat_id: str, body: dict[str, Any]) -> None:
        data = await self.api.call(
            "/cgi-bin/message/send", json={"touser": chat_id, "agentid": self.agent_id, **body}
        )
        # WeCom answers 0 but lists the members it could not reach.
        if data.get("invaliduser") or data.get("unlicenseduser"):
            raise WeChatApiError(81013, f"invalid user {chat_id}")

    async def _send_text(self, chat_id: str, text: str) -> None:
        await self._message(chat_id, {"msgtype": "text", "text": {"content": text}})

    async def _send_image(self, chat_id: str, media_id: str) -> None:
        await self._message(chat_id, {"msgtype": "image", "image": {"media_id": media_id}})
