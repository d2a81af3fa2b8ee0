"""Check-in by scanning an event's QR poster (扫码签到).

The poster at the door carries a QR code of a deep link, `https://t.me/<bot>?start=ci_<token>`
(Telegram), and the event's four-digit code in print ("签到 3821", for WeChat and the console).
Scanning opens the chat with `/start ci_<token>`: the person is checked in when signed up; when
not, and places are left, they are offered a one-tap sign-up that checks them in at once; outside
the door's hours (an hour before the start to an hour after the end) they are told when to come.

The token is random and stored with the event (`Event.checkin_token`, made when the organiser
first asks for the poster): it stands for "at the door", as the printed code does, and says
nothing about the event's id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events import Event, audience_refusal, get_event, may_organise, when_text, zone_of
from models.signups import (
    CHECK_IN_OPENS,
    HOLDING,
    Signup,
    SignupStatus,
    Slot,
    active_signup,
    check_in_open,
    check_in_self,
    free_places,
    sign_up,
)
from models.tables import Person

DEEP_LINK_PREFIX = "ci_"  # /start ci_<token>


@dataclass(frozen=True)
class Poster:
    """What the door poster shows: title, time, place, the code in print and the QR's token."""

    event_id: int
    door_closes: datetime  # the end of check-in: a WeChat QR code lives until then
    title: str
    when: str
    place: str
    code: str
    token: str

    @property
    def start_parameter(self) -> str:
        """The deep link's start parameter (Telegram allows [A-Za-z0-9_-], 64 characters)."""
        return f"{DEEP_LINK_PREFIX}{self.token}"


def new_token() -> str:
    """12 URL-safe characters (72 random bits)."""
    return secrets.token_urlsafe(9)


async def poster_of(session: AsyncSession, event_id: int, actor_id: int) -> Poster:
    """The poster of an event, for its organiser (the token is made on the first ask)."""
    event, _slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    return await poster_for_operator(session, event_id)


async def poster_for_operator(session: AsyncSession, event_id: int) -> Poster:
    """The poster without a person's check (the server's operator: `linli wechat poster`)."""
    event, slot = await get_event(session, event_id)
    if event.cancelled_at is not None:
        raise DomainError("signup.slot_cancelled")
    if event.checkin_token is None:
        event.checkin_token = new_token()
        await session.flush()
    zone = await zone_of(session, event.community_id)
    return Poster(
        event_id=event.id or 0,
        title=event.title,
        when=when_text(slot.starts_at, slot.ends_at, zone),
        place=event.place,
        code=slot.code,
        token=event.checkin_token,
        door_closes=slot.ends_at + CHECK_IN_OPENS,
    )


async def event_of_token(session: AsyncSession, token: str) -> tuple[Event, Slot]:
    """The event a scanned poster names; `events.poster_unknown` for a token nobody made."""
    token = token.strip()
    found = None
    if token:
        found = (
            await session.execute(select(Event).where(col(Event.checkin_token) == token))
        ).scalar_one_or_none()
    if found is None:
        raise DomainError("events.poster_unknown")
    return await get_event(session, found.id or 0)


@dataclass(frozen=True)
class Scanned:
    """What scanning the poster did: checked in (`signup`), or an offer to sign up (`may_join`)."""

    event: Event
    slot: Slot
    signup: Signup | None = None
    already: bool = False
    may_join: bool = False


async def scan_poster(session: AsyncSession, token: str, person: Person, now: datetime) -> Scanned:
    """Someone scanned the door poster: check them in if signed up; else say whether they may
    sign up here (places left, in the audience). Refusals: cancelled, not the door's hours,
    waiting for a place, full, not in the audience."""
    event, slot = await event_of_token(session, token)
    if event.cancelled_at is not None:
        raise DomainError("signup.slot_cancelled")
    if not check_in_open(slot, now):
        zone = await zone_of(session, event.community_id)
        raise DomainError(
            "events.scan_not_now",
            title=event.title,
            when=when_text(slot.starts_at, slot.ends_at, zone),
        )
    mine = await active_signup(session, slot.id or 0, person.id or 0)
    if mine is not None:
        if mine.status not in HOLDING:
            raise DomainError("events.scan_waiting", title=event.title)
        already = mine.status == SignupStatus.CHECKED_IN
        if mine.status == SignupStatus.OFFERED:
            raise DomainError("events.scan_offered", title=event.title)
        signup = await check_in_self(session, slot.id or 0, person.id or 0, now)
        return Scanned(event, slot, signup=signup, already=already)
    zone = await zone_of(session, event.community_id)
    refusal = await audience_refusal(session, event, person, now.astimezone(zone).date())
    if refusal is not None:
        raise DomainError(refusal)
    if now >= slot.starts_at or free_places(slot) < 1:
        raise DomainError("events.scan_no_place", title=event.title)
    return Scanned(event, slot, may_join=True)


async def join_at_the_door(
    session: AsyncSession, token: str, person: Person, now: datetime
) -> Scanned:
    """The one-tap sign-up the poster offers: a place (no waitlist at the door), checked in."""
    event, slot = await event_of_token(session, token)
    if not check_in_open(slot, now):
        zone = await zone_of(session, event.community_id)
        raise DomainError(
            "events.scan_not_now",
            title=event.title,
            when=when_text(slot.starts_at, slot.ends_at, zone),
        )
    if event.cancelled_at is not None:
        raise DomainError("signup.slot_cancelled")
    try:  # no waitlist at the door: a place now, or none (and nothing left behind)
        result = await sign_up(session, slot.id or 0, person.id or 0, now, waitlist=False)
    except DomainError as err:
        if err.key == "signup.full":
            raise DomainError("events.scan_no_place", title=event.title) from err
        raise
    if result.signup.status not in HOLDING:  # they were already waiting
        raise DomainError("events.scan_waiting", title=event.title)
    signup = await check_in_self(session, slot.id or 0, person.id or 0, now)
    return Scanned(event, slot, signup=signup, already=result.already)
