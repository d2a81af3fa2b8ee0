"""Kinds of slot: what a feature tells the engine (describe, who manages, rules, reminders)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.signups.tables import Signup, Slot

Describe = Callable[[AsyncSession, Slot], Awaitable[dict[str, Any]]]
MayManage = Callable[[AsyncSession, Slot, int], Awaitable[bool]]
Check = Callable[[AsyncSession, Slot, int, datetime], Awaitable[None]]
Reminders = Callable[[AsyncSession, Slot], Awaitable[list[tuple[str, datetime]]]]
AfterSlot = Callable[[AsyncSession, Slot, list[Signup], datetime], Awaitable[None]]


async def _nobody_manages(_s: AsyncSession, _slot: Slot, _person: int) -> bool:
    return False


async def _no_reminders(_s: AsyncSession, _slot: Slot) -> list[tuple[str, datetime]]:
    return []


@dataclass(frozen=True)
class SlotKind:
    """What a feature tells the engine about its slots.

    `describe` gives the values every sign-up message shows (`title`, `when`, `place`, and any
    extra the feature's texts use); `texts` maps an engine message (offer, reminder, reminder_late,
    offer_expired, cancelled_notice) to the feature's catalog key, defaulting to the
    engine's generic `signup.<name>` texts.
    """

    name: str
    describe: Describe
    may_manage: MayManage = _nobody_manages
    check: Check | None = None
    reminders: Reminders = _no_reminders
    after_slot: AfterSlot | None = None
    texts: dict[str, str] = field(default_factory=dict)

    def key(self, message: str) -> str:
        return self.texts.get(message, f"signup.{message}")


KINDS: dict[str, SlotKind] = {}


def register_kind(kind: SlotKind) -> SlotKind:
    """Make a kind of slot known to the engine (a feature's models module does this at import)."""
    KINDS[kind.name] = kind
    return kind


def kind_of(slot: Slot) -> SlotKind:
    kind = KINDS.get(slot.kind)
    if kind is None:
        raise LookupError(f"no SlotKind registered for {slot.kind!r}")
    return kind
