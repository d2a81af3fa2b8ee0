"""Conversation scripts over the real python-telegram-bot stack and the fake Bot API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from telegram import Update
from telegram.ext import Application

from models.db import Database
from models.tables import ChannelAccount, Person
from tests.fakes.telegram import FakeBotApi, Sent


class TelegramUser:
    """One person chatting with the bot: send text, press buttons, read what came back."""

    def __init__(self, app: Application, api: FakeBotApi, user_id: int, name: str = "居民") -> None:  # type: ignore[type-arg]
        self.app = app
        self.api = api
        self.user_id = user_id
        self.name = name
        self.last_update: dict[str, Any] | None = None

    async def deliver(self, update: dict[str, Any]) -> list[Sent]:
        """Hand one raw update to the application, as the platform would; return the answers."""
        before = len(self.api.sent)
        self.last_update = update
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return [s for s in self.api.sent[before:] if s.chat_id == str(self.user_id)]

    async def send(self, text: str) -> list[Sent]:
        """Type a message (or tap a main-menu button, which sends its label)."""
        return await self.deliver(self.api.text_update(self.user_id, text, name=self.name))

    async def press(self, label: str) -> list[Sent]:
        """Press the newest inline button whose label contains `label`."""
        for sent in reversed(self.api.to_chat(self.user_id)):
            for text, data in sent.buttons:
                if label in text:
                    return await self.deliver(self.api.press_update(self.user_id, data, sent))
        raise AssertionError(
            f"no button {label!r} in {[s.buttons for s in self.api.to_chat(self.user_id)]}"
        )

    async def press_payload(self, data: str) -> list[Sent]:
        """Send a callback with arbitrary data (what a forged or stale button would send)."""
        last = self.api.to_chat(self.user_id)[-1] if self.api.to_chat(self.user_id) else None
        return await self.deliver(self.api.press_update(self.user_id, data, last))

    async def redeliver(self) -> list[Sent]:
        """Deliver the last update again, same update_id (a platform retry)."""
        assert self.last_update is not None
        return await self.deliver(self.last_update)


def texts(sent: list[Sent]) -> str:
    """Everything said, joined: for `in` assertions."""
    return "\n".join(s.text for s in sent)


def menu_of(sent: list[Sent]) -> list[str]:
    """The reply-keyboard labels the answer showed."""
    for s in reversed(sent):
        if s.keyboard:
            return s.keyboard
    return []


async def person_named(db: Database, name: str) -> Person:
    async with db.session() as s:
        return (await s.execute(select(Person).where(Person.name == name))).scalar_one()


async def link(db: Database, user_id: int, name: str) -> None:
    """Give a demo person a linked Telegram account (as an invitation would have)."""
    person = await person_named(db, name)
    async with db.session() as s:
        s.add(
            ChannelAccount(
                channel="telegram",
                external_id=str(user_id),
                chat_id=str(user_id),
                person_id=person.id,
            )
        )
