"""Telegram through python-telegram-bot 22: Update → Incoming, Reply → Bot API calls."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import OrderedDict
from datetime import timedelta
from functools import lru_cache
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import BaseRequest

from bot.app import Linli
from bot.config import Settings
from bot.delivery import ChannelLimits, SendError
from bot.i18n import LOCALES, translate
from bot.media_store import MediaKeeper, stored_key
from handlers.core import Incoming, Location, Media, Reply
from handlers.feature import Command

CHANNEL = "telegram"
# PTB 22 moves time periods (RetryAfter.retry_after …) from int to timedelta and warns on every
# use until one opts in; we opt in (before any such object exists) and read timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "1")
log = logging.getLogger("linli.telegram")


def to_incoming(update: Update) -> Incoming | None:
    """The channel-neutral form of an update, or None for kinds the bot ignores."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return None
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": str(chat.id),
        "user_id": str(user.id),
        "message_id": str(update.update_id),
        "display_name": user.full_name,
        "language_hint": user.language_code,
    }
    if update.callback_query is not None:
        return Incoming(payload=update.callback_query.data or "", **common)
    msg = update.message
    if msg is None:
        return None
    photos: tuple[Media, ...] = ()
    if msg.photo:
        best = msg.photo[-1]
        photos = (Media(CHANNEL, best.file_id, "photo", best.file_size),)
    elif msg.document is not None and (msg.document.mime_type or "").startswith("image/"):
        # A picture sent "as a file" (uncompressed): a photo all the same.
        photos = (Media(CHANNEL, msg.document.file_id, "photo", msg.document.file_size),)
    document = None
    if msg.document is not None and not photos:
        document = Media(
            CHANNEL,
            msg.document.file_id,
            "document",
            msg.document.file_size,
            msg.document.file_name,
        )
    voice = Media(CHANNEL, msg.voice.file_id, "voice") if msg.voice else None
    location = (
        Location(msg.location.latitude, msg.location.longitude)
        if msg.location is not None
        else None
    )
    return Incoming(
        text=msg.text or msg.caption or "",
        photos=photos,
        voice=voice,
        location=location,
        document=document,
        **common,
    )


def _markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if reply.choices:
        return _inline_keyboard(tuple((c.label, c.payload) for c in reply.choices))
    if reply.menu:
        return _menu_keyboard(tuple(c.label for c in reply.menu))
    return None


@lru_cache(maxsize=1024)
def _inline_keyboard(buttons: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup:
    # One big button a row: easy to hit for older fingers. (PTB objects are immutable, so
    # the same menu is built once and reused.)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data)] for label, data in buttons]
    )


@lru_cache(maxsize=256)
def _menu_keyboard(labels: tuple[str, ...]) -> ReplyKeyboardMarkup:
    keys = [KeyboardButton(label) for label in labels]
    rows = [keys[i : i + 2] for i in range(0, len(keys), 2)]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, is_persistent=True)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class MenuMemory:
    """Which main menu each chat's (persistent) reply keyboard shows, so it is sent only when it changes.

    Telegram keeps a reply keyboard until another replaces it; re-sending the same 14 buttons
    with every answer cost about a third of the bot's CPU per answer (bench/inbound.py).
    Kept in memory: after a restart each chat simply gets its menu once more.
    """

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._shown: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def showing(self, chat_id: str, labels: tuple[str, ...]) -> bool:
        """True when this chat already shows exactly this menu."""
        if self._shown.get(chat_id) == labels:
            self._shown.move_to_end(chat_id)
            return True
        return False

    def remember(self, chat_id: str, labels: tuple[str, ...]) -> None:
        """This chat now shows this menu."""
        self._shown[chat_id] = labels
        self._shown.move_to_end(chat_id)
        while len(self._shown) > self.size:
            self._shown.popitem(last=False)

    def forget(self, chat_id: str) -> None:
        """Show the menu again next time (the person asked for it)."""
        self._shown.pop(chat_id, None)


async def _photo_of(reply: Reply, media: MediaKeeper | None) -> tuple[bytes | str | None, str]:
    """The picture to send (bytes or a file id Telegram has) and, for an upload, its store key."""
    if reply.photo is not None:
        return reply.photo, ""
    return await _picture(reply.photo_ref, media)


async def _picture(ref: str | None, media: MediaKeeper | None) -> tuple[bytes | str | None, str]:
    """A stored picture reference as a file id Telegram has, or bytes to upload (and its key)."""
    if ref and ref.startswith(f"{CHANNEL}:"):
        return ref.split(":", 1)[1], ""  # a file id Telegram already has
    key = stored_key(ref)
    if key is None or media is None:
        return None, ""
    copy = await media.copy(key, CHANNEL)
    if copy is not None:
        return copy, ""
    try:
        data, _type = await media.read(key)
    except KeyError:
        log.warning("stored picture %s is missing from the media store", key)
        return None, ""
    return data, key  # e.g. a WeChat resident's photo, uploaded here once


async def _remember_upload(media: MediaKeeper | None, key: str, sent: Any) -> None:
    """Telegram keeps what was uploaded: its file id serves every later showing."""
    photos = getattr(sent, "photo", None)
    if media is not None and key and photos:
        await media.remember(key, CHANNEL, photos[-1].file_id)


async def send_replies(
    bot: Any,
    chat_id: int | str,
    replies: list[Reply],
    menus: MenuMemory | None = None,
    media: MediaKeeper | None = None,
) -> None:
    """Render replies: inline buttons for choices, a reply keyboard for the main menu."""
    for reply in replies:
        markup = _markup(reply)
        labels = tuple(c.label for c in reply.menu) if reply.menu and not reply.choices else None
        if menus is not None and labels is not None:
            if menus.showing(str(chat_id), labels):
                markup = None
            else:
                menus.remember(str(chat_id), labels)
        if reply.album:
            await _send_album(bot, chat_id, reply.album, media)
        photo, key = await _photo_of(reply, media)
        if reply.document is not None and len(reply.text) <= MessageLimit.CAPTION_LENGTH:
            await bot.send_document(
                chat_id,
                document=reply.document,
                filename=reply.document_name or "file",
                caption=reply.text,
                reply_markup=markup,
            )
            continue
        if photo is not None and len(reply.text) <= MessageLimit.CAPTION_LENGTH:
            sent = await bot.send_photo(
                chat_id, photo=photo, caption=reply.text, reply_markup=markup
            )
            await _remember_upload(media, key, sent)
            continue
        if photo is not None:
            await _remember_upload(media, key, await bot.send_photo(chat_id, photo=photo))
        parts = _chunks(reply.text, MessageLimit.MAX_TEXT_LENGTH)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1 and reply.venue is None
            await bot.send_message(chat_id, part, reply_markup=markup if last else None)
        if reply.venue is not None:
            v = reply.venue
            await bot.send_venue(
                chat_id,
                latitude=v.latitude,
                longitude=v.longitude,
                title=v.title[:64],
                address=v.address[:128] or v.title[:64],
                reply_markup=markup,
            )


async def _send_album(
    bot: Any, chat_id: int | str, album: list[tuple[str, str]], media: MediaKeeper | None
) -> None:
    """Pictures with captions as one album (sendMediaGroup takes 2–10; one goes alone)."""
    items: list[tuple[bytes | str, str, str]] = []
    for ref, caption in album:
        photo, key = await _picture(ref, media)
        if photo is not None:
            items.append((photo, key, caption[: MessageLimit.CAPTION_LENGTH]))
    for start in range(0, len(items), 10):
        group = items[start : start + 10]
        if len(group) == 1:
            photo, key, caption = group[0]
            await _remember_upload(
                media, key, await bot.send_photo(chat_id, photo=photo, caption=caption)
            )
            continue
        sent = await bot.send_media_group(
            chat_id, media=[InputMediaPhoto(media=p, caption=c) for p, _k, c in group]
        )
        for (_p, key, _c), message in zip(group, sent, strict=False):
            await _remember_upload(media, key, message)


def build_application(
    linli: Linli,
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    with_updater: bool = True,
) -> Application:
    """A PTB application whose single handler hands every update to Linli."""
    if not settings.telegram_token:
        raise SystemExit("TELEGRAM_TOKEN is not set")
    builder: ApplicationBuilder = (
        Application.builder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_api_file_url)
        .concurrent_updates(settings.telegram_concurrent_updates)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if not with_updater:
        builder = builder.updater(None)
    app = builder.build()
    # The command list the features declare, published by register_commands.
    app.bot_data["commands"] = linli.features.commands
    app.bot_data["linli"] = linli  # its background jobs (tests wait for a register import)
    menus = MenuMemory()

    async def fetch(ref: str) -> bytes:
        file = await app.bot.get_file(ref)
        return bytes(await file.download_as_bytearray())

    linli.media_fetchers[CHANNEL] = fetch

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        inc = to_incoming(update)
        if inc is None:
            return
        query = update.callback_query
        if query is not None:
            await query.answer()
        replies = await linli.handle(inc)
        if query is not None and replies and query.message is not None:
            # The buttons of a pressed message are spent: remove them so nobody presses twice.
            try:
                await query.edit_message_reply_markup(None)
            except TelegramError:
                log.debug("could not remove buttons", exc_info=True)
        if inc.text.startswith(("/start", "/menu", "/help")):
            menus.forget(inc.chat_id)  # the person asked for the menu: show the keyboard again
        await send_replies(context.bot, inc.chat_id, replies, menus, linli.media)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error(
            "telegram error for update %s",
            getattr(update, "update_id", "?"),
            exc_info=context.error,
        )

    app.add_handler(TypeHandler(Update, on_update))
    app.add_error_handler(on_error)
    return app


async def start_polling(app: Application, settings: Settings) -> None:
    """Long polling as `linli run` does it (message and button updates, a short poll interval)."""
    assert app.updater is not None
    await app.updater.start_polling(
        poll_interval=settings.telegram_poll_interval,
        timeout=10,
        allowed_updates=["message", "callback_query"],
    )


async def register_commands(app: Application) -> None:
    """Publish the command list (the features' declared commands, in order): Chinese by default,
    English for English-language clients."""
    commands: tuple[Command, ...] = app.bot_data["commands"]
    for locale in LOCALES:
        published = [BotCommand(c.name, translate(locale, c.description_key)) for c in commands]
        await app.bot.set_my_commands(published, language_code=None if locale == "zh" else locale)


class TelegramSender:
    """The delivery worker's way out to Telegram, with the Bot API's errors classified."""

    channel = CHANNEL

    def __init__(
        self, bot: Any, limits: ChannelLimits | None = None, media: MediaKeeper | None = None
    ) -> None:
        self.bot = bot
        self.limits = limits or ChannelLimits()
        self.media = media

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        try:
            if photo_ref and photo_ref.startswith(f"{CHANNEL}:"):
                await self.bot.send_photo(
                    chat_id,
                    photo=photo_ref.split(":", 1)[1],
                    caption=reply.text[: MessageLimit.CAPTION_LENGTH],
                    reply_markup=_markup(reply),
                )
            else:
                await send_replies(
                    self.bot,
                    chat_id,
                    [dataclasses.replace(reply, photo_ref=photo_ref)],
                    None,
                    self.media,
                )
        except RetryAfter as err:
            wait = err.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise SendError("throttled", str(err), retry_after=seconds) from err
        except Forbidden as err:
            raise SendError("blocked", str(err)) from err
        except BadRequest as err:
            raise SendError("dead", str(err)) from err
        except (TimedOut, NetworkError) as err:
            raise SendError("retry", str(err)) from err
