"""A fake Telegram Bot API: the server side of the methods Linli uses, with the real limits.

`FakeBotApi` holds the state (updates to hand out, messages the bot sent) and answers
Bot API calls; `RecordingRequest` plugs it into python-telegram-bot as its request class,
so tests drive the real PTB stack with no network.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from telegram.request import BaseRequest, RequestData

TOKEN = "123456:TEST-TOKEN"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Linli", "username": "linli_test_bot"}


class ApiError(Exception):
    """An error answer: 400 (bad request), 403 (blocked), 429 (too many requests)."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


class BadRequest(ApiError):
    """What the real API answers with error_code 400."""

    def __init__(self, description: str) -> None:
        super().__init__(400, f"Bad Request: {description}")


SENDS = ("sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup")


@dataclass
class Limits:
    """Telegram's limits as the fake enforces them: per second overall, per chat, per group a minute."""

    per_second: float = 30.0
    per_chat_interval: float = 1.0
    group_per_minute: int = 20


# The Bot API methods that send a message to a chat (gated, logged and waited for alike).
SENDS = ("sendMessage", "sendPhoto", "sendDocument", "sendVenue")


@dataclass
class Sent:
    """A message the bot sent, as the fake recorded it."""

    method: str
    chat_id: str
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    photo: bool = False
    photo_id: str | None = None  # the file id, when a stored photo was sent again
    upload: bytes | None = None  # the picture's bytes, when one was uploaded
    venue: dict[str, Any] | None = None  # sendVenue: latitude, longitude, title, address

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """Inline buttons as (label, callback_data)."""
        if not self.reply_markup or "inline_keyboard" not in self.reply_markup:
            return []
        return [
            (b["text"], b["callback_data"])
            for row in self.reply_markup["inline_keyboard"]
            for b in row
        ]

    @property
    def keyboard(self) -> list[str]:
        """Reply-keyboard labels (the main menu)."""
        if not self.reply_markup or "keyboard" not in self.reply_markup:
            return []
        return [
            b["text"] if isinstance(b, dict) else b
            for row in self.reply_markup["keyboard"]
            for b in row
        ]


@dataclass
class FakeBotApi:
    """Server-side state and behaviour of the Bot API methods Linli calls."""

    token: str = TOKEN
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    commands: dict[str | None, list[dict[str, Any]]] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    answered_callbacks: list[str] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _waiters: list[tuple[asyncio.Future[None], str, int]] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)  # chats whose user blocked the bot (403)
    missing: set[str] = field(default_factory=set)  # chats that do not exist (400)
    throttle_next: int = 0  # answer the next N sends with 429
    retry_after: int = 1
    limits: Limits | None = None  # enforce rate limits (429 when broken)
    send_log: list[tuple[float, str, int]] = field(default_factory=list)  # (time, chat, status)
    http_429: int = 0
    _recent: list[float] = field(default_factory=list)
    _last_by_chat: dict[str, float] = field(default_factory=dict)
    _conditions: list[tuple[Callable[[], bool], asyncio.Future[None]]] = field(default_factory=list)
    _arrived: asyncio.Event | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # file_id → content (documents)
    uploads: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, name, bytes)

    # ---- the user side: updates as Telegram would deliver them ----

    def _user(self, user_id: int, name: str, language: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": language}

    def text_update(
        self, user_id: int, text: str, *, name: str = "居民", language: str = "zh-hans"
    ) -> dict[str, Any]:
        """A private text message from a user."""
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": name},
                "from": self._user(user_id, name, language),
                "text": text,
            },
        }

    def photo_update(
        self, user_id: int, file_id: str, caption: str = "", size: int = 120_000
    ) -> dict[str, Any]:
        """A private photo message (Telegram sends several sizes; the last is largest)."""
        upd = self.text_update(user_id, "")
        msg = upd["message"]
        del msg["text"]
        msg["photo"] = [
            {"file_id": f"{file_id}-s", "file_unique_id": "s", "width": 90, "height": 90},
            {
                "file_id": file_id,
                "file_unique_id": "l",
                "width": 800,
                "height": 800,
                "file_size": size,
            },
        ]
        if caption:
            msg["caption"] = caption
        return upd

    def image_file_update(self, user_id: int, file_id: str, size: int) -> dict[str, Any]:
        """A picture sent as a file (uncompressed), as phones do for 'send as file'."""
        upd = self.text_update(user_id, "")
        msg = upd["message"]
        del msg["text"]
        msg["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": "IMG_0001.jpg",
            "mime_type": "image/jpeg",
            "file_size": size,
        }
        return upd

    def location_update(self, user_id: int, latitude: float, longitude: float) -> dict[str, Any]:
        """A shared location."""
        upd = self.text_update(user_id, "")
        msg = upd["message"]
        del msg["text"]
        msg["location"] = {"latitude": latitude, "longitude": longitude}
        return upd

    def voice_update(self, user_id: int, file_id: str, seconds: int = 5) -> dict[str, Any]:
        """A voice note."""
        upd = self.text_update(user_id, "")
        msg = upd["message"]
        del msg["text"]
        msg["voice"] = {"file_id": file_id, "file_unique_id": f"v{file_id}", "duration": seconds}
        return upd

    def document_update(
        self, user_id: int, data: bytes, file_name: str, mime_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """A file sent as a document (a register .xlsx); its bytes can be downloaded with getFile."""
        upd = self.text_update(user_id, "")
        msg = upd["message"]
        del msg["text"]
        file_id = f"doc{len(self.files) + 1}"
        self.files[file_id] = data
        msg["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return upd

    def press_update(self, user_id: int, data: str, message: Sent | None = None) -> dict[str, Any]:
        """A callback query: the user pressed an inline button carrying `data`."""
        cq: dict[str, Any] = {
            "id": str(next(self._update_ids)),
            "from": self._user(user_id, "居民", "zh-hans"),
            "chat_instance": "ci",
            "data": data,
        }
        # A pressed inline button always belongs to a message the bot sent into the chat.
        cq["message"] = {
            "message_id": message.message_id if message else 1,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": BOT_USER,
            "text": (message.text if message else "") or "x",
        }
        return {"update_id": next(self._update_ids), "callback_query": cq}

    def queue(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates (long polling)."""
        self._pending.append(update)
        if self._arrived is not None:
            self._arrived.set()

    # ---- the bot side: the API methods ----

    async def wait_for_messages(
        self, chat_id: int | str, count: int, within: float = 10.0
    ) -> list[Sent]:
        """Wait (bounded) until the bot has sent `count` messages to the chat; return them."""
        if len(self.to_chat(chat_id)) < count:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((fut, str(chat_id), count))
            await asyncio.wait_for(fut, within)
        return self.to_chat(chat_id)

    def delivered(self) -> int:
        """Successful sends so far."""
        return sum(1 for _, _, status in self.send_log if status == 200)

    async def wait_until(self, condition: Callable[[], bool], within: float = 60.0) -> None:
        """Wait (bounded) until `condition()` holds; it is re-checked after every send."""
        if condition():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._conditions.append((condition, fut))
        await asyncio.wait_for(fut, within)

    def to_chat(self, chat_id: int | str) -> list[Sent]:
        """Everything the bot sent to one chat, in order."""
        return [s for s in self.sent if s.chat_id == str(chat_id)]

    async def call(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one Bot API call as the real server would (status, JSON body)."""
        self.calls.append((method, params))
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            if method in SENDS:
                self._gate(str(params.get("chat_id")))
            result = await handler(params)
        except ApiError as err:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": err.code,
                "description": err.description,
            }
            if err.retry_after is not None:
                body["parameters"] = {"retry_after": err.retry_after}
            if method in SENDS:
                self.send_log.append((time.monotonic(), str(params.get("chat_id")), err.code))
            return err.code, body
        if method in SENDS:
            self.send_log.append((time.monotonic(), str(params.get("chat_id")), 200))
            for condition, fut in self._conditions:
                if not fut.done() and condition():
                    fut.set_result(None)
        return 200, {"ok": True, "result": result}

    def _gate(self, chat_id: str) -> None:
        """Refuse a send the way Telegram would: throttled, blocked, missing chat, or over a limit."""
        if self.throttle_next > 0:
            self.throttle_next -= 1
            self.http_429 += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after
            )
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.missing:
            raise BadRequest("chat not found")
        if self.limits is None:
            return
        now = time.monotonic()
        self._recent = [t for t in self._recent if t > now - 1.0]
        gap = (
            60.0 / self.limits.group_per_minute
            if chat_id.startswith("-")
            else self.limits.per_chat_interval
        )
        last = self._last_by_chat.get(chat_id)
        # A little tolerance for timer jitter; Telegram itself is "about" these numbers.
        if len(self._recent) >= self.limits.per_second * 1.02 or (
            last is not None and now - last < gap * 0.9
        ):
            self.http_429 += 1
            raise ApiError(
                429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after
            )
        self._recent.append(now)
        self._last_by_chat[chat_id] = now

    async def api_getMe(self, _p: dict[str, Any]) -> Any:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def api_setMyCommands(self, p: dict[str, Any]) -> Any:
        cmds = p["commands"]
        cmds = json.loads(cmds) if isinstance(cmds, str) else cmds
        for c in cmds:
            if not (1 <= len(c["command"]) <= 32 and 1 <= len(c["description"]) <= 256):
                raise BadRequest("invalid command")
        self.commands[p.get("language_code")] = cmds
        return True

    async def api_deleteWebhook(self, _p: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    async def api_setWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = dict(p)
        return True

    async def api_getUpdates(self, p: dict[str, Any]) -> Any:
        offset = int(p.get("offset") or 0)
        self._pending = [u for u in self._pending if u["update_id"] >= offset]
        if not self._pending and float(p.get("timeout") or 0) > 0:
            self._arrived = self._arrived or asyncio.Event()
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), float(p["timeout"]))
            except TimeoutError:
                pass
        limit = int(p.get("limit") or 100)
        return self._pending[:limit]

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        markup = json.loads(markup) if isinstance(markup, str) else markup
        for row in markup.get("inline_keyboard", []):
            for b in row:
                if not b.get("text"):
                    raise BadRequest("BUTTON_TEXT_EMPTY")
                if len(b.get("callback_data", "").encode()) > 64:
                    raise BadRequest("BUTTON_DATA_INVALID")
        return dict(markup)

    def _record(self, method: str, p: dict[str, Any], text: str, photo: bool = False) -> Any:
        chat_id = str(p["chat_id"])
        sent = Sent(
            method,
            chat_id,
            next(self._message_ids),
            text,
            self._check_markup(p.get("reply_markup")),
            photo,
            p["photo"] if photo and isinstance(p.get("photo"), str) else None,
            _uploaded(p.get("photo")) if photo else None,
        )
        self.sent.append(sent)
        for fut, chat, count in self._waiters:
            if chat == chat_id and len(self.to_chat(chat)) >= count and not fut.done():
                fut.set_result(None)
        answer: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private"},
            "from": BOT_USER,
            "text": text,
        }
        if photo:
            # Telegram answers a sent picture with its sizes; the file id serves later sends.
            file_id = sent.photo_id or f"tg-upload-{sent.message_id}"
            answer["photo"] = [
                {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 800}
            ]
        return answer

    async def api_sendMessage(self, p: dict[str, Any]) -> Any:
        text = p.get("text") or ""
        if not text.strip():
            raise BadRequest("message text is empty")
        if len(text) > 4096:
            raise BadRequest("message is too long")
        return self._record("sendMessage", p, text)

    async def api_sendPhoto(self, p: dict[str, Any]) -> Any:
        caption = p.get("caption") or ""
        if len(caption) > 1024:
            raise BadRequest("message caption is too long")
        if not p.get("photo"):
            raise BadRequest("there is no photo in the request")
        return self._record("sendPhoto", p, caption, photo=True)

    async def api_sendMediaGroup(self, p: dict[str, Any]) -> Any:
        """An album: 2–10 InputMediaPhoto items, each a file id or `attach://<part>` of the
        upload; no reply_markup (Telegram takes none here). Answers the list of messages."""
        media = p.get("media")
        items = json.loads(media) if isinstance(media, str) else media
        if not isinstance(items, list) or not 2 <= len(items) <= 10:
            raise BadRequest("wrong number of media in the album (2-10)")
        if p.get("reply_markup") is not None:
            raise BadRequest("reply markup is not allowed in a media group")
        answers = []
        for item in items:
            if item.get("type") != "photo" or not item.get("media"):
                raise BadRequest("unsupported media in the album")
            caption = item.get("caption") or ""
            if len(caption) > 1024:
                raise BadRequest("message caption is too long")
            ref = str(item["media"])
            photo: Any = (
                p.get(ref.removeprefix("attach://")) if ref.startswith("attach://") else ref
            )
            if photo is None:
                raise BadRequest("attached file not found in the request")
            answers.append(
                self._record("sendMediaGroup", {"chat_id": p["chat_id"], "photo": photo}, caption,
                             photo=True)
            )  # fmt: skip
        return answers

    async def api_sendDocument(self, p: dict[str, Any]) -> Any:
        caption = p.get("caption") or ""
        if len(caption) > 1024:
            raise BadRequest("message caption is too long")
        if not p.get("document"):
            raise BadRequest("there is no document in the request")
        return self._record("sendDocument", p, caption)

    async def api_sendVenue(self, p: dict[str, Any]) -> Any:
        """A location with a name and an address; latitude, longitude, title and address are
        required (https://core.telegram.org/bots/api#sendvenue)."""
        try:
            latitude, longitude = float(p["latitude"]), float(p["longitude"])
        except (KeyError, TypeError, ValueError) as err:
            raise BadRequest("wrong latitude or longitude") from err
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise BadRequest("wrong latitude or longitude")
        title, address = p.get("title") or "", p.get("address") or ""
        if not title or not address:
            raise BadRequest("venue title and address must be non-empty")
        answer = self._record("sendVenue", p, f"{title}\n{address}")
        self.sent[-1].venue = {"latitude": latitude, "longitude": longitude,
                               "title": title, "address": address}  # fmt: skip
        answer["venue"] = {
            "location": {"latitude": latitude, "longitude": longitude},
            "title": title,
            "address": address,
        }
        answer.pop("text", None)
        return answer

    async def api_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        self.answered_callbacks.append(str(p["callback_query_id"]))
        return True

    async def api_editMessageReplyMarkup(self, p: dict[str, Any]) -> Any:
        for s in self.sent:
            if s.chat_id == str(p.get("chat_id")) and s.message_id == int(p.get("message_id", 0)):
                s.reply_markup = self._check_markup(p.get("reply_markup"))
                return {
                    "message_id": s.message_id,
                    "date": int(time.time()),
                    "chat": {"id": int(s.chat_id), "type": "private"},
                    "text": s.text or "x",
                }
        raise BadRequest("message to edit not found")

    async def api_getFile(self, p: dict[str, Any]) -> Any:
        file_id = str(p.get("file_id"))
        if file_id not in self.files:
            raise BadRequest("invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": f"documents/{file_id}",
        }

    async def api_close(self, _p: dict[str, Any]) -> Any:
        return True


def _uploaded(part: Any) -> bytes | None:
    """The bytes of an uploaded file (a multipart part), None for a file id."""
    if isinstance(part, tuple) and len(part) >= 2 and isinstance(part[1], bytes):
        return part[1]
    if isinstance(part, bytes):
        return part
    return None


class RecordingRequest(BaseRequest):
    """python-telegram-bot's request class, answered by a FakeBotApi instead of the network."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:  # a file download (getFile's file_path under the file URL)
            url = unquote(url)
            file_id = url.rpartition("/documents/")[2]
            if self.api.token in url and file_id in self.api.files:
                return 200, self.api.files[file_id]
            return 404, b"Not Found"
        prefix, _, api_method = url.rpartition("/")
        if self.api.token not in prefix:
            return 401, json.dumps(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}
            ).encode()
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.contains_files:
            for name, part in request_data.multipart_data.items():
                params[name] = part  # (file name, bytes, type): what was uploaded
                if isinstance(part, tuple) and len(part) >= 2 and isinstance(part[1], bytes):
                    self.api.uploads.append((api_method, str(part[0]), part[1]))
        status, body = await self.api.call(api_method, params)
        return status, json.dumps(body).encode()
