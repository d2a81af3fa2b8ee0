"""One conversation script, run on Telegram and on WeChat: the `chat` fixture.

A dialogue test is written once and runs on both channels (the fixture is parametrized), so
every conversation the bot has is checked as a Telegram user and as a WeChat follower sees it:

    async def test_wang_reports_junk(chat: Chat) -> None:
        wang = await chat.person("王建国")          # a demo person, linked on this channel
        await wang.send("3幢后面堆了好多杂物")
        assert "是什么问题" in wang.last_text
        await wang.press("杂物堆放")                # Telegram: the button; WeChat: types its number
        await wang.photo("junk-before")             # a photo (Telegram file id / WeChat MediaId)
        await chat.deliver()                        # the outbox, through this channel's sender
        li = await chat.person("李红")              # a second person, on the same channel
        assert li.told("新任务")

What a participant does: `send(text)`, `press(label)` (the newest choice whose label contains
it), `press_payload(payload)` (a forged or stale button: a callback on Telegram, a menu-click
event on WeChat), `photo(ref)`, `location(lat, lon)`, `voice(ref, recognition)`,
`join_by_link(code)`, `redeliver()`. Each returns the messages of the direct answer (on WeChat
the passive reply; the rest of a long answer and its pictures come through the API, after
`chat.deliver()`). What a participant has seen: `messages` (answers and pushes, in order),
`last` / `last_text`, `told(words)`, `photos` (the ids of pictures received), `pictures` (how
many, uploaded ones too), and `labels(messages)` for the choices shown.

Platform-only steps stay in the script behind `if chat.telegram:` (an inline keyboard removed,
a document sent in the chat, a photo's file size), with a comment saying why WeChat cannot show
it. Lower-level clients: `tests/telegram_chat.py` (the PTB stack against the fake Bot API) and
`tests/wechat_chat.py` (signed/encrypted XML to the real endpoint, the fake WeChat API server).
The fixture is registered for every test module by `tests/conftest.py`.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pytest
from PIL import Image

from bot.app import Linli
from bot.channels.telegram_channel import TelegramSender
from bot.config import Settings
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from bot.media_store import MediaKeeper, media_store
from models.db import Database
from models.media import STORE, StoredMedia
from tests.fakes.telegram import FakeBotApi, Sent
from tests.telegram_chat import TelegramUser
from tests.wechat_chat import Said, WeChatHarness, WeChatUser, link_account, wechat_settings

FAST = ChannelLimits(per_second=1000.0, per_chat_interval=0.0)
CHANNELS = ("telegram", "wechat")


class Message(Protocol):
    """What both channels' recorded messages offer (`Sent` on Telegram, `Said` on WeChat)."""

    text: str
    photo_id: str | None

    @property
    def photo(self) -> bool: ...
    @property
    def buttons(self) -> list[tuple[str, str]]: ...


def labels(messages: Sequence[Message]) -> list[str]:
    """The choice labels the messages showed (inline buttons; on WeChat the numbered lines)."""
    return [label for m in messages for label, _ in m.buttons]


class Participant(Protocol):
    """A person in a cross-channel script (see the module docstring)."""

    name: str
    chat_id: str

    async def send(self, text: str) -> Sequence[Message]: ...
    async def press(self, label: str) -> Sequence[Message]: ...
    async def press_payload(self, payload: str) -> Sequence[Message]: ...
    async def photo(self, ref: str) -> Sequence[Message]: ...
    async def location(self, lat: float, lon: float) -> Sequence[Message]: ...
    async def voice(self, ref: str, recognition: str | None = None) -> Sequence[Message]: ...
    async def join_by_link(self, code: str) -> Sequence[Message]: ...
    async def redeliver(self) -> Sequence[Message]: ...

    @property
    def messages(self) -> Sequence[Message]: ...
    @property
    def last(self) -> Message: ...
    @property
    def last_text(self) -> str: ...
    @property
    def photos(self) -> list[str]: ...
    @property
    def pictures(self) -> int: ...

    def told(self, words: str) -> bool: ...
    def latest(self) -> str: ...


class _Seen:
    """What a participant has seen, the same way on both channels (mixed into both clients)."""

    @property
    def messages(self) -> Sequence[Message]:
        raise NotImplementedError

    @property
    def last(self) -> Message:
        """The newest message this person has (answered or pushed)."""
        return self.messages[-1]

    @property
    def last_text(self) -> str:
        """The newest message with text (a WeChat picture comes as a message of its own)."""
        return next((m.text for m in reversed(self.messages) if m.text), "")

    @property
    def photos(self) -> list[str]:
        """The ids of the pictures this person received (Telegram file ids, WeChat MediaIds)."""
        return [m.photo_id for m in self.messages if m.photo_id]

    @property
    def pictures(self) -> int:
        """How many pictures this person received, by id or uploaded (a chart, a QR code)."""
        return sum(1 for m in self.messages if m.photo)

    def told(self, words: str) -> bool:
        """Whether any message to this person said `words` (pushes of one run may interleave)."""
        return any(words in m.text for m in self.messages)

    def latest(self) -> str:
        return self.last_text


class TelegramChatUser(_Seen, TelegramUser):
    """The Telegram participant: the real PTB stack against the fake Bot API."""

    @property
    def chat_id(self) -> str:  # type: ignore[override]
        return str(self.user_id)

    @property
    def messages(self) -> list[Sent]:
        return self.api.to_chat(self.user_id)

    async def join_by_link(self, code: str) -> list[Sent]:
        """Open the invitation deep link t.me/<bot>?start=CODE."""
        return await self.send(f"/start {code}")

    async def photo(self, ref: str) -> list[Sent]:
        """Send a photo (its file id is `ref`)."""
        return await self.deliver(self.api.photo_update(self.user_id, ref))

    async def location(self, lat: float, lon: float) -> list[Sent]:
        """Share a location."""
        return await self.deliver(self.api.location_update(self.user_id, lat, lon))

    async def voice(self, ref: str, recognition: str | None = None) -> list[Sent]:
        """A voice note (Telegram transcribes nothing: `recognition` is WeChat's)."""
        return await self.deliver(self.api.voice_update(self.user_id, ref))

    async def document(self, data: bytes, filename: str) -> list[Sent]:
        """A file sent in the chat (Telegram only: WeChat official accounts receive no files)."""
        return await self.deliver(self.api.document_update(self.user_id, data, filename))


class WeChatChatUser(_Seen, WeChatUser):
    """The WeChat participant: a follower of the official account posting to the endpoint."""

    name: str = ""

    @property
    def messages(self) -> list[Said]:
        return self.timeline()

    async def photo(self, media_id: str, pic_url: str = "http://mmbiz.qpic.cn/x") -> list[Said]:
        """Send a picture: the platform holds it as temporary media under `media_id` (a real JPEG,
        so the bot's media store can download and keep it, as it does with real WeChat)."""
        if media_id not in self.server.media:
            self.server.media[media_id] = _picture(media_id)
            self.server.media_created[media_id] = self.clock()
        return await super().photo(media_id, pic_url)

    async def voice(self, ref: str, recognition: str | None = None) -> list[Said]:  # type: ignore[override]
        """A voice message with WeChat's speech recognition (`recognition`) when it has one."""
        extra = {"Recognition": recognition} if recognition is not None else {}
        return await self.deliver(
            self.fields(MsgType="voice", MediaId=ref, Format="amr", MsgId=self._msg_id(), **extra)
        )

    def _msg_id(self) -> str:
        return str(next(_wechat_msg_ids))


_wechat_msg_ids = itertools.count(7_000_000_000)


def _picture(seed: str) -> bytes:
    """A small real JPEG, as a phone's camera would send; each `seed` gives other pixels (the
    media store keeps files by content, so two different photos must differ)."""
    noise = hashlib.shake_256(seed.encode()).digest(48 * 36 * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (48, 36), noise).save(out, "JPEG", quality=95)
    return out.getvalue()


@dataclass
class Chat:
    """The same conversation script on Telegram or WeChat: people, linking, delivery."""

    channel: str
    db: Database
    make: Callable[[int, str], Any]
    run_delivery: Callable[[], Awaitable[int]]
    block_chat: Callable[[str], None]
    linli: Linli | None = None
    harness: WeChatHarness | None = None
    api: FakeBotApi | None = None
    _uids: itertools.count[int] = field(default_factory=lambda: itertools.count(9001))

    @property
    def telegram(self) -> bool:
        """This run is the Telegram one (for the few steps only Telegram has)."""
        return self.channel == "telegram"

    @property
    def wechat(self) -> bool:
        return self.channel == "wechat"

    def user(self, uid: int, name: str = "居民") -> Any:
        """A person on this channel, linked or not (TelegramChatUser or WeChatChatUser)."""
        return self.make(uid, name)

    async def person(self, name: str, uid: int | None = None) -> Any:
        """The demo person `name`, linked on this channel (as an invitation would have)."""
        uid = next(self._uids) if uid is None else uid
        await self.link(uid, name)
        return self.user(uid, name)

    def external_id(self, uid: int) -> str:
        return str(uid) if self.channel == "telegram" else f"o{uid}-wx"

    async def arrived_as(self, refs: Sequence[str]) -> list[str]:
        """What stored pictures arrived as: a `store:<key>` reference (kept in the media store
        at receipt) is mapped back to the `channel:ref` it came in as; others are unchanged."""
        out = []
        async with self.db.session() as s:
            for ref in refs:
                kind, _, key = ref.partition(":")
                stored = await s.get(StoredMedia, key) if kind == STORE else None
                out.append(stored.source if stored is not None else ref)
        return out

    def ref(self, media: str) -> str:
        """How a picture sent on this channel is stored (`telegram:<file id>`, `wechat:<MediaId>`)."""
        return f"{self.channel}:{media}"

    async def link(self, uid: int, name: str) -> None:
        await link_account(self.db, self.channel, self.external_id(uid), name)

    def block(self, who: Participant) -> None:
        """The person blocked the bot (Telegram 403) / unfollowed the account (WeChat 43004)."""
        self.block_chat(who.chat_id)

    async def deliver(self) -> int:
        """Send what the outbox holds through this channel; returns how many rows were sent."""
        return await self.run_delivery()


@pytest.fixture(name="chat", params=CHANNELS)
async def chat_fixture(
    request: pytest.FixtureRequest,
    telegram: Any,
    api: FakeBotApi,
    demo: Database,
    settings: Settings,
    clock: Callable[[], datetime],
) -> AsyncIterator[Chat]:
    """Runs a conversation test once on Telegram and once on the WeChat official account."""
    if request.param == "telegram":
        app = await telegram()
        worker = DeliveryWorker(
            demo,
            # The media keeper the service gives its sender: stored pictures (a chart) upload.
            [TelegramSender(app.bot, FAST, MediaKeeper(demo, media_store(settings), {}, clock))],
            DeliverySettings(concurrency=4),
            clock=clock,
        )

        def make_telegram(uid: int, name: str) -> TelegramChatUser:
            return TelegramChatUser(app, api, uid, name)

        yield Chat(
            "telegram", demo, make_telegram, worker.drain, api.blocked.add,
            linli=app.bot_data["linli"], api=api,
        )  # fmt: skip
        return
    harness = WeChatHarness(wechat_settings(settings), demo, clock)

    def make_wechat(uid: int, name: str) -> WeChatChatUser:
        hook = harness.hook("wechat")
        user = WeChatChatUser(
            harness.client, hook.endpoint, harness.path("wechat"), f"o{uid}-wx", clock,
            harness.server,
        )  # fmt: skip
        user.name = name
        return user

    try:
        yield Chat(
            "wechat",
            demo,
            make_wechat,
            harness.deliver,
            harness.server.unsubscribed.add,
            linli=harness.linli,
            harness=harness,
        )
    finally:
        await harness.close()
