"""The composition root: one database, the list of features (everything shared derives from it), one way in."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import unicodedata
import uuid
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.background import BackgroundJobs, RegisterImports
from bot.config import Settings, id_cipher
from bot.delivery import render
from bot.i18n import LOCALES, translate
from bot.media_store import MediaKeeper, media_store
from handlers import (
    admin,
    benefits,
    bookings,
    event_checkin,
    event_create,
    events,
    home,
    linking,
    meetings,
    notices,
    onboarding,
    poll_admin,
    polls,
    reports,
    signups,
    soon,
    staff_desk,
    stations,
    surveys,
    tasks,
    teams,
    vote_files,
)
from handlers.core import Incoming, Media, Reply
from handlers.feature import Feature, FeatureSet
from handlers.nlu import Understanding
from handlers.nlu.model import default_model
from handlers.router import Dispatcher, Router
from models.benefits import load_catalogue
from models.db import Database, connection_lost, lost_insert_race, utcnow
from models.direct_messages import offer_choices_first, take_held
from models.inbox import first_delivery
from models.people import locale_of, record_and_load_chat

log = logging.getLogger("linli")

Clock = Callable[[], datetime]


# Adding a feature = one line here (its module declares `feature = Feature(...)`). The order is
# the order free-text hooks run in; menu items, commands and keyword ties have their own order.
FEATURES: tuple[Feature, ...] = (
    home.feature,
    onboarding.feature,
    admin.feature,
    notices.feature,
    reports.feature,
    tasks.feature,
    teams.feature,
    vote_files.feature,  # a poll / survey file sent in the chat (before the register's upload)
    benefits.feature,
    bookings.feature,  # before events: its "签到 1234" hook passes on what is not a service code
    events.feature,
    event_create.feature,  # the organiser's create flow (activities and meetings)
    event_checkin.feature,  # 扫码签到: the door poster and its deep link
    meetings.feature,  # 议事协商会: minutes, the meeting's page, /meetings
    signups.feature,  # the sign-up engine's su:* buttons (events and bookings)
    stations.feature,
    polls.feature,  # 投票 (issue 12)
    poll_admin.feature,  # the organisers' side of 投票
    surveys.feature,  # 问卷
    linking.feature,  # 绑定其他账号
    staff_desk.feature,  # /web: a one-time link to the staff desk (bot/console_web)
    *soon.PLACEHOLDERS,  # a feature still to come answers 马上就来 (none today)
)


def build_router() -> Router:
    """Every feature's router, included in one place."""
    return FeatureSet(FEATURES).router


MAX_TEXT = 4096


def sanitize(inc: Incoming) -> Incoming:
    """Drop control characters (NUL cannot even be stored in PostgreSQL) and cap the length."""
    text = inc.text
    if text and (len(text) > MAX_TEXT or any(unicodedata.category(ch) == "Cc" for ch in text)):
        text = "".join(
            ch for ch in text[:MAX_TEXT] if ch in "\n\t" or unicodedata.category(ch) != "Cc"
        )
    payload = inc.payload[:64] if inc.payload else inc.payload
    if text == inc.text and payload == inc.payload:
        return inc
    return dataclasses.replace(inc, text=text, payload=payload)


class Linli:
    """The channel-neutral bot: `handle(Incoming) -> list[Reply]`, each in one transaction."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        clock: Clock = utcnow,
        features: tuple[Feature, ...] = FEATURES,
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url, pool_size=settings.database_pool_size)
        self.clock = clock
        self.features = FeatureSet(features)
        self.router = self.features.router
        default_model()  # the intent model is trained now, not on the first message
        # Read once at start: ID-number keys (refused now if half set) and benefit programmes.
        self.id_cipher = id_cipher(settings)
        self.programmes = load_catalogue(settings.benefit_programmes_file or None)
        # channel → download a file by its reference (each channel adapter registers itself).
        self.media_fetchers: dict[str, Callable[[str], Awaitable[bytes]]] = {}
        # Photos and voice notes are downloaded into the media store when they arrive.
        self.media = MediaKeeper(
            self.db,
            media_store(settings),
            self.media_fetchers,
            clock,
            max_photo_bytes=settings.media_max_photo_bytes,
            max_voice_bytes=settings.media_max_voice_bytes,
        )
        # Called after every committed transaction of a chat (e.g. to wake the delivery worker).
        self.after_commit: list[Callable[[], None]] = []
        # Long work a message starts (a register import), beside the chat.
        self.jobs = BackgroundJobs()
        self.register_imports = RegisterImports(
            self.jobs, self.db, self.id_cipher, self.clock, self._committed
        )
        self.dispatcher = Dispatcher(
            self.features,
            translate,
            LOCALES,
            extras={
                "invite_link": self.invite_link,
                "console_link": self.console_link,
                "id_cipher": self.id_cipher,
                "programmes": self.programmes,
                "fetch_media": self.fetch_media,
                "start_register_import": self.register_imports.start,
            },
        )
        self._chat_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _committed(self) -> None:
        for listener in self.after_commit:
            listener()

    def invite_link(self, code: str) -> str:
        """The link a QR code on a notice board carries: a Telegram deep link when known."""
        if self.settings.telegram_bot_username:
            return f"https://t.me/{self.settings.telegram_bot_username}?start={code}"
        return code

    def console_link(self, token: str) -> str:
        """The staff desk's one-time sign-in link (CONSOLE_BASE_URL is where `linli serve` is seen)."""
        return f"{self.settings.console_base_url.rstrip('/')}/console/login/{token}"

    async def fetch_media(self, media: Media) -> bytes:
        """The bytes of a file a person sent (a register file), from the channel it came on."""
        fetch = self.media_fetchers.get(media.channel)
        if fetch is None:
            raise LookupError(f"no way to download files from {media.channel}")
        return await fetch(media.ref)

    def classify(self, text: str) -> str:
        """The intent a line of text routes to (what `linli intent` prints)."""
        return self.explain(text)[0]

    def explain(self, text: str) -> tuple[str, str, Understanding | None]:
        """The intent, what decided it, and the understanding (`linli intent --explain`)."""
        name, how, understood = self.dispatcher.explain(text)
        name = "help" if name == "start" else name
        return (name if name in self.features.detector.intents else "unknown"), how, understood

    def _lock(self, inc: Incoming) -> asyncio.Lock:
        key = (inc.channel, inc.chat_id)
        lock = self._chat_locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._chat_locks[key] = lock
        return lock

    async def handle(self, inc: Incoming) -> list[Reply]:
        """Answer one message; a redelivered one (same message id) gets nothing and changes nothing."""
        inc = await self.media.keep(sanitize(inc))
        async with self._lock(inc):
            now = inc.received_at or self.clock()
            try:
                try:
                    replies = await self._answer(inc, now)
                except Exception as err:
                    # A connection the server dropped (no pre-ping checks them: models/db.py)
                    # fails before anything committed; the message is answered on a fresh one.
                    if not (connection_lost(err) or lost_insert_race(err, "conversation")):
                        raise
                    log.warning(
                        "%s; %s chat %s again",
                        "database connection lost"
                        if connection_lost(err)
                        else "chat state created meanwhile by a push",
                        inc.channel,
                        inc.chat_id,
                    )
                    replies = await self._answer(inc, now)
                if replies is None:
                    log.info("duplicate %s update %s ignored", inc.channel, inc.message_id)
                    return []
                for listener in self.after_commit:
                    listener()
                return replies
            except Exception:
                error_id = uuid.uuid4().hex[:8]
                log.exception(
                    "error %s while handling %s chat %s", error_id, inc.channel, inc.chat_id
                )
                locale = await self._mark_failed(inc, now)
                return [Reply(translate(locale, "error.generic").format(id=error_id))]

    async def _answer(self, inc: Incoming, now: datetime) -> list[Reply] | None:
        """One transaction: record the update, answer it; None when it was seen before."""
        async with self.db.session() as session:
            chat = None
            if inc.message_id is not None:
                # The inbox key and the chat together: on PostgreSQL one statement.
                chat = await record_and_load_chat(
                    session,
                    str(inc.message_id),
                    inc.channel,
                    inc.user_id,
                    inc.chat_id,
                    now,
                    inc.display_name,
                )
                if chat is None:
                    return None
            replies = await self.dispatcher.dispatch(session, inc, now, chat)
            return await self._held_first(session, inc, now) + replies

    async def _held_first(self, session: AsyncSession, inc: Incoming, now: datetime) -> list[Reply]:
        """Messages that could not reach this person (WeChat's 48-hour window), given first."""
        rows = await take_held(session, inc.channel, inc.user_id, now)
        held = [dataclasses.replace(render(row), photo_ref=row.photo_ref) for row in rows]
        choices = [[c.label, c.payload] for reply in held for c in reply.choices]
        await offer_choices_first(session, inc.channel, inc.chat_id, choices, now)
        return held

    async def _first_time(self, session: AsyncSession, inc: Incoming, now: datetime) -> bool:
        return await first_delivery(session, inc.channel, str(inc.message_id), now)

    async def _mark_failed(self, inc: Incoming, now: datetime) -> str:
        """Record a failed update (so a redelivery does not repeat the error); the person's locale."""
        try:
            async with self.db.session() as session:
                if inc.message_id is not None:
                    await self._first_time(session, inc, now)
                return await locale_of(session, inc.channel, inc.user_id)
        except Exception:
            log.exception("could not record failed update %s", inc.message_id)
            return "zh"

    async def close(self) -> None:
        """Stop background jobs, release the database."""
        await self.jobs.close()
        await self.db.dispose()
