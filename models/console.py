"""The staff desk's sign-in: one-time links sent in the chat, and the browser sessions they open.

A staff member (grid leader, manager, team leader) types "/web" in the chat and gets a link
valid for ten minutes, once. Opening it and pressing 登录 turns it into a session (a random
cookie value, kept here only as its SHA-256), which expires and can be ended. Only hashes are
stored: a copy of the database opens no link and no session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import timestamp, utcnow
from models.errors import DomainError
from models.people import Scope, active_roles
from models.tables import Person, Role, TeamMember

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=8)


class ConsoleLink(SQLModel, table=True):
    """A one-time sign-in link: valid LINK_TTL, used at most once."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = timestamp(default_factory=utcnow)
    expires_at: datetime = timestamp()
    used_at: datetime | None = timestamp(default=None)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: the cookie's hash, its CSRF token, until when."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)
    expires_at: datetime = timestamp()
    ended_at: datetime | None = timestamp(default=None)


def token_hash(token: str) -> str:
    """What is stored of a random token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Viewer:
    """A signed-in staff member and what they may see: grids (scope) and the teams they lead."""

    person: Person
    roles: frozenset[tuple[str, int | None]]
    scope: Scope | None
    teams: tuple[int, ...]

    @property
    def is_manager(self) -> bool:
        return any(r == Role.MANAGER for r, _ in self.roles)

    @property
    def is_grid_leader(self) -> bool:
        return any(r == Role.GRID_LEADER for r, _ in self.roles)

    @property
    def id(self) -> int:
        assert self.person.id is not None
        return self.person.id

    @property
    def community_id(self) -> int:
        return self.person.community_id


async def led_teams(session: AsyncSession, person_id: int) -> tuple[int, ...]:
    """The teams this person leads (队长), approved and active."""
    rows = await session.execute(
        select(col(TeamMember.team_id)).where(
            col(TeamMember.person_id) == person_id,
            col(TeamMember.is_leader).is_(True),
            col(TeamMember.approved).is_(True),
            col(TeamMember.active).is_(True),
        )
    )
    return tuple(sorted(rows.scalars()))


async def viewer_of(session: AsyncSession, person: Person) -> Viewer | None:
    """The person as the desk sees them, or None when they are not staff (residents, volunteers)."""
    assert person.id is not None
    roles = await active_roles(session, person)
    try:
        scope: Scope | None = Scope.of(person.community_id, roles)
    except DomainError:
        scope = None
    teams = await led_teams(session, person.id)
    if scope is None and not teams:
        return None
    return Viewer(person, roles, scope, teams)


async def issue_link(session: AsyncSession, person: Person, now: datetime) -> str:
    """A new one-time sign-in token for a staff member; DomainError for anyone else."""
    if await viewer_of(session, person) is None:
        raise DomainError("web.staff_only")
    token = secrets.token_urlsafe(24)
    assert person.id is not None
    session.add(
        ConsoleLink(
            token_hash=token_hash(token),
            person_id=person.id,
            created_at=now,
            expires_at=now + LINK_TTL,
        )
    )
    await session.flush()
    return token


async def link_is_valid(session: AsyncSession, token: str, now: datetime) -> bool:
    """Whether the link can still be used (for the page that asks to press 登录)."""
    link = (
        await session.execute(
            select(ConsoleLink).where(col(ConsoleLink.token_hash) == token_hash(token))
        )
    ).scalar_one_or_none()
    return link is not None and link.used_at is None and link.expires_at > now


async def redeem_link(session: AsyncSession, token: str, now: datetime) -> tuple[str, Viewer]:
    """Use a link (once: a conditional UPDATE decides a race) and open a session: its cookie value."""
    used = await session.execute(
        update(ConsoleLink)
        .where(
            col(ConsoleLink.token_hash) == token_hash(token),
            col(ConsoleLink.used_at).is_(None),
            col(ConsoleLink.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(ConsoleLink.person_id))
    )
    person_id = used.scalar_one_or_none()
    if person_id is None:
        raise DomainError("web.link_invalid")
    person = await session.get(Person, person_id)
    viewer = await viewer_of(session, person) if person is not None else None
    if viewer is None:  # the role was revoked since the link was sent
        raise DomainError("web.link_invalid")
    cookie = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=token_hash(cookie),
            person_id=person_id,
            csrf=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    await session.flush()
    return cookie, viewer


async def signed_in(
    session: AsyncSession, cookie: str | None, now: datetime
) -> tuple[Viewer, ConsoleSession] | None:
    """The viewer behind a session cookie, while the session lasts and the person is still staff."""
    if not cookie:
        return None
    found = (
        await session.execute(
            select(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash(cookie))
        )
    ).scalar_one_or_none()
    if found is None or found.ended_at is not None or found.expires_at <= now:
        return None
    person = await session.get(Person, found.person_id)
    viewer = await viewer_of(session, person) if person is not None else None
    return (viewer, found) if viewer is not None else None


async def sign_out(session: AsyncSession, cookie: str | None, now: datetime) -> None:
    """End the session behind a cookie (a second sign-out changes nothing)."""
    if cookie:
        await session.execute(
            update(ConsoleSession)
            .where(
                col(ConsoleSession.token_hash) == token_hash(cookie),
                col(ConsoleSession.ended_at).is_(None),
            )
            .values(ended_at=now)
        )


async def sign_ins(
    session: AsyncSession, community_id: int, limit: int = 50
) -> list[tuple[ConsoleSession, str]]:
    """The latest console sign-ins of a community (for the audit log): session and name."""
    rows = await session.execute(
        select(ConsoleSession, col(Person.name))
        .join(Person, col(Person.id) == col(ConsoleSession.person_id))
        .where(col(Person.community_id) == community_id)
        .order_by(col(ConsoleSession.id).desc())
        .limit(limit)
    )
    return [(s, n) for s, n in rows.all()]


async def seed_desk_demo(session: AsyncSession, community_id: int, now: datetime) -> None:
    """The desk's demo: 钱桂兰 (86) of 乐清网格, whose elderly allowance her grid leader 朱凡
    filed on a home visit (代办) — waiting in 刘芳's review queue. Illustrative, like the rest."""
    from models.benefits import apply_for_benefit, load_catalogue
    from models.tables import Building, Household

    zhu = (
        await session.execute(
            select(Person).where(
                col(Person.community_id) == community_id, col(Person.name) == "朱凡"
            )
        )
    ).scalar_one()
    building = (
        await session.execute(
            select(Building).where(
                col(Building.community_id) == community_id,
                col(Building.estate) == "虹桥南村",
                col(Building.number) == "3",
            )
        )
    ).scalar_one()
    home = Household(grid_id=building.grid_id, building_id=building.id, unit="1", room="102")  # type: ignore[arg-type]
    session.add(home)
    await session.flush()
    today = now.date()
    qian = Person(
        community_id=community_id,
        grid_id=building.grid_id,
        household_id=home.id,
        name="钱桂兰",
        birth_date=today.replace(year=today.year - 86, day=min(today.day, 28)),
        verified=True,
        verified_at=now,
        created_at=now,
    )
    session.add(qian)
    await session.flush()
    assert qian.id is not None
    programme = load_catalogue(None).get("zlj")
    if programme is None:  # a catalogue without the demo's programme: nothing to file
        return
    await apply_for_benefit(
        session,
        programme,
        person_id=qian.id,
        actor=zhu,
        roles=await active_roles(session, zhu),
        answers={"hukou": True, "other_allowance": False},
        documents=[],
        now=now,
        note="入户走访时代办",
    )
