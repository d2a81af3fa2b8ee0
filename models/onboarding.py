"""Use cases for joining: invitation codes, self-registration, confirmation by the grid leader."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.outbox import enqueue
from models.people import grant_role
from models.tables import (
    Building,
    ChannelAccount,
    Grid,
    Household,
    Invitation,
    Person,
    Role,
    RoleGrant,
    Team,
)
from models.teams import add_to_team, clean_skills

# No 0/O, 1/I/L: codes are read off paper notices by older people.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
INVITABLE_ROLES = (Role.RESIDENT, Role.VOLUNTEER, Role.REPRESENTATIVE, Role.GRID_LEADER)


def looks_like_code(text: str) -> bool:
    """True when text has the shape of an invitation code (case-insensitive)."""
    return bool(CODE_RE.match(text.strip().upper()))


def clean_phone(text: str) -> str:
    """A mainland mobile number without spaces or dashes, or DomainError('register.bad_phone')."""
    digits = re.sub(r"[\s\-]", "", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    if not PHONE_RE.match(digits):
        raise DomainError("register.bad_phone")
    return digits


def clean_name(text: str) -> str:
    """A person's name: 1-20 printable characters, or DomainError('register.bad_name')."""
    name = "".join(ch for ch in text.strip() if ch.isprintable())
    if not 1 <= len(name) <= 20 or any(ch.isdigit() for ch in name):
        raise DomainError("register.bad_name")
    if not any(ch.isalpha() for ch in name):
        raise DomainError("register.bad_name")
    return name


def clean_room_part(text: str) -> str:
    """A unit or room number such as '1' or '302', or DomainError('register.bad_room')."""
    part = text.strip().removesuffix("单元").removesuffix("室").strip()
    if not re.fullmatch(r"[0-9A-Za-z\-]{1,8}", part):
        raise DomainError("register.bad_room")
    return part


def _can_invite(
    actor_roles: frozenset[tuple[str, int | None]], role: str, grid_id: int | None
) -> bool:
    if any(r == Role.MANAGER for r, _ in actor_roles):
        return True
    # A grid leader may invite residents and volunteers into their own grid.
    return (
        role in (Role.RESIDENT, Role.VOLUNTEER)
        and grid_id is not None
        and ((Role.GRID_LEADER.value, grid_id) in actor_roles)
    )


async def create_invitation(
    session: AsyncSession,
    actor: Person,
    actor_roles: frozenset[tuple[str, int | None]],
    *,
    role: str,
    grid_id: int | None,
    now: datetime,
    person_id: int | None = None,
    ttl: timedelta = timedelta(days=30),
    max_uses: int = 200,
    team_id: int | None = None,
    skills: list[str] | None = None,
) -> Invitation:
    """A new invitation code for a grid and role (a volunteer's may name a team and skills);
    only managers (or a grid leader, own grid)."""
    if role not in {r.value for r in INVITABLE_ROLES}:
        raise DomainError("invite.bad_role")
    if team_id is not None:
        team = await session.get(Team, team_id)
        if (
            role != Role.VOLUNTEER
            or team is None
            or team.community_id != actor.community_id
            or (team.grid_id is not None and team.grid_id != grid_id)
        ):
            raise DomainError("invite.bad_team")
    if grid_id is not None:
        grid = await session.get(Grid, grid_id)
        if grid is None or grid.community_id != actor.community_id:
            raise DomainError("error.forbidden")
    if not _can_invite(actor_roles, role, grid_id):
        raise DomainError("error.forbidden")
    if person_id is not None:
        max_uses = 1
    for _ in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        clash = await session.execute(
            select(col(Invitation.id)).where(col(Invitation.code) == code)
        )
        if clash.first() is None:
            break
    invitation = Invitation(
        code=code,
        community_id=actor.community_id,
        grid_id=grid_id,
        role=role,
        person_id=person_id,
        created_by_id=actor.id,
        created_at=now,
        expires_at=now + ttl,
        max_uses=max_uses,
        team_id=team_id,
        skills=clean_skills(skills or []),
    )
    session.add(invitation)
    await session.flush()
    return invitation


async def find_invitation(session: AsyncSession, code: str, now: datetime) -> Invitation:
    """The usable invitation with this code, or DomainError saying why not."""
    code = code.strip().upper()
    invitation = (
        await session.execute(select(Invitation).where(col(Invitation.code) == code))
    ).scalar_one_or_none()
    if invitation is None:
        raise DomainError("invite.not_found")
    if invitation.expires_at <= now:
        raise DomainError("invite.expired")
    if invitation.uses >= invitation.max_uses:
        raise DomainError("invite.used_up")
    return invitation


@dataclass
class Joined:
    """Who the account now belongs to, and which role the invitation gave."""

    person: Person
    role: str
    new_person: bool
    team: Team | None = None


async def redeem_invitation(
    session: AsyncSession,
    account: ChannelAccount,
    code: str,
    now: datetime,
    *,
    name: str | None = None,
) -> Joined:
    """Link the account through an invitation: to the named person, or a new one in the grid.

    An invitation without a person needs a name when the account has no person yet
    (DomainError 'invite.needs_name'). The use counter is bumped atomically.
    """
    invitation = await find_invitation(session, code, now)
    person: Person | None = None
    new_person = False
    if invitation.person_id is not None:
        person = await session.get(Person, invitation.person_id)
        if person is None:
            raise DomainError("invite.not_found")
        if account.person_id is not None and account.person_id != person.id:
            raise DomainError("invite.account_taken")
    elif account.person_id is not None:
        person = await session.get(Person, account.person_id)
    if person is None:
        if name is None:
            raise DomainError("invite.needs_name")
        person = Person(
            community_id=invitation.community_id,
            grid_id=invitation.grid_id,
            name=clean_name(name),
            locale=account.locale or "zh",
            verified=True,
            verified_by_id=invitation.created_by_id,
            verified_at=now,
            created_at=now,
        )
        session.add(person)
        await session.flush()
        new_person = True
    # Count the use only if a use is still free (two people racing for the last use).
    bumped = await session.execute(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.uses) < Invitation.max_uses,
        )
        .values(uses=col(Invitation.uses) + 1)
    )
    if bumped.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError("invite.used_up")
    account.person_id = person.id
    if account.locale and new_person:
        person.locale = account.locale
    if invitation.role != Role.RESIDENT:
        creator = (
            await session.get(Person, invitation.created_by_id)
            if invitation.created_by_id
            else None
        )
        await grant_role(
            session,
            person,
            invitation.role,
            now,
            grid_id=invitation.grid_id,
            granted_by=creator,
            reason=f"invitation {invitation.code}",
        )
    elif not person.verified:
        person.verified = True
        person.verified_by_id = invitation.created_by_id
        person.verified_at = now
    if person.grid_id is None and invitation.grid_id is not None:
        person.grid_id = invitation.grid_id
    team = await session.get(Team, invitation.team_id) if invitation.team_id else None
    if team is not None:
        # The invitation is the team's consent: the member is approved at once.
        await add_to_team(session, person, team, invitation.skills, now, approved=True)
    return Joined(person=person, role=invitation.role, new_person=new_person, team=team)


async def estates(session: AsyncSession) -> list[str]:
    """The estates (小区) the register knows, in name order."""
    rows = await session.execute(
        select(col(Building.estate)).distinct().order_by(col(Building.estate))
    )
    return list(rows.scalars())


async def buildings_of(session: AsyncSession, estate: str) -> list[Building]:
    """The buildings of one estate, in number order."""
    rows = await session.execute(
        select(Building).where(col(Building.estate) == estate).order_by(col(Building.id))
    )
    return list(rows.scalars())


async def register_self(
    session: AsyncSession,
    account: ChannelAccount,
    *,
    name: str,
    phone: str,
    building_id: int,
    unit: str,
    room: str,
    now: datetime,
) -> Person:
    """A person registers themselves: unverified until their grid leader confirms."""
    if account.person_id is not None:
        raise DomainError("register.already")
    building = await session.get(Building, building_id)
    if building is None:
        raise DomainError("register.bad_building")
    unit, room = clean_room_part(unit), clean_room_part(room)
    household = (
        await session.execute(
            select(Household).where(
                col(Household.building_id) == building.id,
                col(Household.unit) == unit,
                col(Household.room) == room,
            )
        )
    ).scalar_one_or_none()
    if household is None:
        household = Household(
            grid_id=building.grid_id,
            building_id=building.id,  # type: ignore[arg-type]
            unit=unit,
            room=room,
        )
        session.add(household)
        await session.flush()
    person = Person(
        community_id=building.community_id,
        grid_id=building.grid_id,
        household_id=household.id,
        name=clean_name(name),
        phone=clean_phone(phone),
        locale=account.locale or "zh",
        verified=False,
        created_at=now,
    )
    session.add(person)
    await session.flush()
    account.person_id = person.id
    # Ask the grid leaders for their one tap, in this same transaction.
    address = f"{building.estate}{building.number}幢{unit}单元{room}"
    for leader in await grid_leaders_of(session, building.grid_id):
        await enqueue(
            session,
            person_id=leader.id,  # type: ignore[arg-type]
            kind="verify",
            dedupe_key=f"verify:{person.id}:{leader.id}",
            now=now,
            text_key="pending.push",
            values={"name": person.name, "phone": person.phone, "address": address},
            choices=[["btn.confirm_resident", f"verify:{person.id}"]],
        )
    return person


def _may_verify(actor_roles: frozenset[tuple[str, int | None]], grid_id: int | None) -> bool:
    return any(r == Role.MANAGER for r, _ in actor_roles) or (
        grid_id is not None and (Role.GRID_LEADER.value, grid_id) in actor_roles
    )


async def pending_residents(
    session: AsyncSession, actor_roles: frozenset[tuple[str, int | None]], community_id: int
) -> list[Person]:
    """Unverified people the actor may confirm, oldest first."""
    manager = any(r == Role.MANAGER for r, _ in actor_roles)
    grids = [g for r, g in actor_roles if r == Role.GRID_LEADER and g is not None]
    if not manager and not grids:
        raise DomainError("error.forbidden")
    query = select(Person).where(
        col(Person.verified).is_(False),
        col(Person.community_id) == community_id,
        col(Person.household_id).is_not(None),
    )
    if not manager:
        query = query.where(col(Person.grid_id).in_(grids))
    return list(
        (await session.execute(query.order_by(col(Person.created_at), col(Person.id)))).scalars()
    )


async def verify_resident(
    session: AsyncSession,
    actor: Person,
    actor_roles: frozenset[tuple[str, int | None]],
    person_id: int,
    now: datetime,
) -> tuple[Person, bool]:
    """Confirm a self-registered resident; returns (person, changed). Idempotent."""
    person = await session.get(Person, person_id)
    if person is None or person.community_id != actor.community_id:
        raise DomainError("error.forbidden")
    if not _may_verify(actor_roles, person.grid_id):
        raise DomainError("error.forbidden")
    if person.verified:
        return person, False
    person.verified = True
    person.verified_by_id = actor.id
    person.verified_at = now
    await enqueue(
        session,
        person_id=person_id,
        kind="verified",
        dedupe_key=f"verified:{person_id}",
        now=now,
        text_key="verify.you_are_verified",
        values={"name": person.name, "by": actor.name},
    )
    return person, True


async def grid_leaders_of(session: AsyncSession, grid_id: int | None) -> list[Person]:
    """The people holding the grid-leader role for a grid."""
    if grid_id is None:
        return []
    rows = await session.execute(
        select(Person)
        .join(RoleGrant, col(RoleGrant.person_id) == Person.id)
        .where(
            col(RoleGrant.role) == Role.GRID_LEADER,
            col(RoleGrant.grid_id) == grid_id,
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    return list(rows.scalars())
