"""Use cases about who someone is: accounts, roles, language, the register."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, exists, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.inbox import first_delivery
from models.tables import (
    Building,
    ChannelAccount,
    Community,
    Conversation,
    Grid,
    Household,
    Outbox,
    OutboxStatus,
    Person,
    ProcessedUpdate,
    Role,
    RoleGrant,
)

LOCALES = ("zh", "en")


async def get_or_create_account(
    session: AsyncSession,
    channel: str,
    external_id: str,
    chat_id: str,
    now: datetime,
    display_name: str | None = None,
) -> ChannelAccount:
    """The channel account for this user, created on first contact; last-seen is refreshed."""
    account = (
        await session.execute(
            select(ChannelAccount).where(
                col(ChannelAccount.channel) == channel,
                col(ChannelAccount.external_id) == external_id,
            )
        )
    ).scalar_one_or_none()
    if account is None:
        account = ChannelAccount(
            channel=channel,
            external_id=external_id,
            chat_id=chat_id,
            display_name=(display_name or "")[:128] or None,
            created_at=now,
            last_seen_at=now,
        )
        session.add(account)
        await session.flush()
        return account
    touch_account(account, chat_id, now)
    return account


# Last-seen only needs minute precision: not writing it on every message keeps a plain
# question a read plus the inbox insert.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


def touch_account(account: ChannelAccount, chat_id: str, now: datetime) -> None:
    """The person just wrote: they can be reached again, at this chat, seen now (roughly)."""
    if account.chat_id != chat_id:
        account.chat_id = chat_id
    if account.blocked_at is not None:
        account.blocked_at = None
    if now - account.last_seen_at >= LAST_SEEN_RESOLUTION:
        account.last_seen_at = now


# Built once: this runs for every message, and a prebuilt statement skips construction and
# cache-key generation each time. One statement brings the account, the person, the flow
# state, the person's active role grants (one row each; none: one row with NULLs) and whether
# messages are held for this account (WeChat's window, models/direct_messages.py: take_held
# reads them only then) — on PostgreSQL each statement is a round trip.
_HELD_WAITING = (
    exists()
    .where(
        col(Outbox.account_id) == col(ChannelAccount.id),
        # A literal, not a parameter: so that the planners may use the partial index on
        # held rows (ix_outbox_held_account), which a parameter could not prove applies.
        col(Outbox.status) == literal_column(f"'{OutboxStatus.HELD.value}'"),
    )
    .label("held_waiting")
)
_JOINS = (
    (Person, col(Person.id) == col(ChannelAccount.person_id)),
    (
        Conversation,
        and_(
            col(Conversation.channel) == bindparam("channel"),
            col(Conversation.chat_id) == bindparam("chat_id"),
        ),
    ),
    (
        RoleGrant,
        and_(
            col(RoleGrant.person_id) == col(Person.id),
            col(RoleGrant.revoked_at).is_(None),
        ),
    ),
)
_THE_ACCOUNT = and_(
    col(ChannelAccount.channel) == bindparam("channel"),
    col(ChannelAccount.external_id) == bindparam("external_id"),
)
_COLUMNS = (
    ChannelAccount,
    Person,
    Conversation,
    col(RoleGrant.role),
    col(RoleGrant.grid_id),
    _HELD_WAITING,
)


def _joined(query: Select[Any]) -> Select[Any]:
    for entity, on in _JOINS:
        query = query.outerjoin(entity, on)
    return query


_LOAD_CHAT = _joined(select(*_COLUMNS).select_from(ChannelAccount)).where(_THE_ACCOUNT)

# PostgreSQL: the inbox insert and the load in one statement (every statement is a round trip
# to the server): `WITH fresh AS (INSERT … ON CONFLICT DO NOTHING RETURNING 1)`, one row
# counting it, the account outer-joined to that row (so a first contact still gives a row,
# its account columns NULL). A message is BEGIN, this, COMMIT. A data-modifying CTE runs
# once, whatever the outer query reads; SQLite has none, so it keeps two statements there
# (models/inbox.py: the insert, one hop to its thread in the same transaction).
_FRESH = (
    pg_insert(ProcessedUpdate)
    .values(channel=bindparam("channel"), key=bindparam("key"), processed_at=bindparam("at"))
    .on_conflict_do_nothing()
    .returning(literal_column("1").label("one"))
    .cte("fresh")
)
_FRESH_COUNT = select(func.count().label("fresh")).select_from(_FRESH).subquery("f")
_RECORD_AND_LOAD_CHAT = _joined(
    select(_FRESH_COUNT.c.fresh, *_COLUMNS)
    .select_from(_FRESH_COUNT)
    .outerjoin(ChannelAccount, _THE_ACCOUNT)
)

# session.info key: (channel, external_id) → whether held messages wait (set by load_chat).
HELD_WAITING = "linli.held_waiting"


@dataclass(frozen=True)
class Chat:
    """Who is writing, in which flow, with which roles: what every message starts from."""

    account: ChannelAccount
    person: Person | None
    conversation: Conversation
    roles: frozenset[tuple[str, int | None]]


async def load_chat(
    session: AsyncSession,
    channel: str,
    external_id: str,
    chat_id: str,
    now: datetime,
    display_name: str | None = None,
) -> Chat:
    """Account, person, flow state and roles of one chat in one query (created on first contact)."""
    params = {"channel": channel, "external_id": external_id, "chat_id": chat_id}
    rows = (await session.execute(_LOAD_CHAT, params)).all()
    return await _chat_from(session, rows, channel, external_id, chat_id, now, display_name)


async def record_and_load_chat(
    session: AsyncSession,
    update_key: str,
    channel: str,
    external_id: str,
    chat_id: str,
    now: datetime,
    display_name: str | None = None,
) -> Chat | None:
    """Record the update (models/inbox.py) and load the chat; None, and nothing changed, when
    the update was recorded before (a redelivery). On PostgreSQL one statement, else two."""
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        if not await first_delivery(session, channel, update_key, now):
            return None
        return await load_chat(session, channel, external_id, chat_id, now, display_name)
    params = {
        "channel": channel,
        "external_id": external_id,
        "chat_id": chat_id,
        "key": update_key,
        "at": now,
    }
    rows = (await session.execute(_RECORD_AND_LOAD_CHAT, params)).all()
    if not rows[0][0]:
        return None
    found = [row[1:] for row in rows] if rows[0][1] is not None else []
    return await _chat_from(session, found, channel, external_id, chat_id, now, display_name)


async def _chat_from(
    session: AsyncSession,
    rows: Sequence[Any],
    channel: str,
    external_id: str,
    chat_id: str,
    now: datetime,
    display_name: str | None,
) -> Chat:
    """The chat from load_chat's rows (none: the account is created now)."""
    if not rows:
        account = await get_or_create_account(
            session, channel, external_id, chat_id, now, display_name
        )
        person, conversation, granted, held = None, None, set(), False
    else:
        account, person, conversation = rows[0][0], rows[0][1], rows[0][2]
        granted = {(role, grid) for *_, role, grid, _held in rows if role is not None}
        held = bool(rows[0][5])
        touch_account(account, chat_id, now)
    session.info.setdefault(HELD_WAITING, {})[(channel, external_id)] = held
    if conversation is None:
        conversation = Conversation(
            channel=channel, chat_id=chat_id, data={}, choices=[], updated_at=now
        )
        session.add(conversation)
    return Chat(account, person, conversation, _with_residence(person, granted))


def _with_residence(
    person: Person | None, granted: set[tuple[str, int | None]]
) -> frozenset[tuple[str, int | None]]:
    if person is None:
        return frozenset()
    if person.verified and person.household_id is not None:
        granted.add((Role.RESIDENT.value, person.grid_id))
    return frozenset(granted)


async def active_roles(
    session: AsyncSession, person: Person | None
) -> frozenset[tuple[str, int | None]]:
    """The (role, grid) pairs a person holds now; a verified household member is a resident."""
    if person is None:
        return frozenset()
    rows = (
        await session.execute(
            select(col(RoleGrant.role), col(RoleGrant.grid_id)).where(
                col(RoleGrant.person_id) == person.id,
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    ).all()
    return _with_residence(person, {(r, g) for r, g in rows})


async def set_locale(
    session: AsyncSession, account: ChannelAccount, person: Person | None, locale: str
) -> str:
    """Remember the person's language (on the person when known, else on the account)."""
    if locale not in LOCALES:
        raise DomainError("lang.unknown")
    account.locale = locale
    if person is not None:
        person.locale = locale
    return locale


async def grant_role(
    session: AsyncSession,
    person: Person,
    role: str,
    now: datetime,
    *,
    grid_id: int | None = None,
    granted_by: Person | None = None,
    reason: str | None = None,
) -> RoleGrant:
    """Grant a role (audited: by whom, when, why); an identical active grant is reused."""
    if role not in {r.value for r in Role}:
        raise DomainError("role.unknown")
    existing = (
        await session.execute(
            select(RoleGrant).where(
                col(RoleGrant.person_id) == person.id,
                col(RoleGrant.role) == role,
                col(RoleGrant.grid_id) == grid_id
                if grid_id is not None
                else col(RoleGrant.grid_id).is_(None),
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    grant = RoleGrant(
        person_id=person.id,  # type: ignore[arg-type]
        role=role,
        community_id=person.community_id,
        grid_id=grid_id,
        granted_by_id=granted_by.id if granted_by else None,
        granted_at=now,
        reason=reason,
    )
    session.add(grant)
    await session.flush()
    return grant


async def person_address(session: AsyncSession, person: Person) -> str | None:
    """'虹桥南村3幢1单元302' for a person with a household, else None."""
    if person.household_id is None:
        return None
    row = (
        await session.execute(
            select(
                col(Building.estate), col(Building.number), col(Household.unit), col(Household.room)
            )
            .join(Household, col(Household.building_id) == Building.id)
            .where(col(Household.id) == person.household_id)
        )
    ).one_or_none()
    if row is None:
        return None
    estate, number, unit, room = row
    return f"{estate}{number}幢{unit}单元{room}"


async def people_in_register(session: AsyncSession, limit: int = 50) -> list[Person]:
    """People in the register, in id order (the console's /as list)."""
    return list(
        (await session.execute(select(Person).order_by(col(Person.id)).limit(limit))).scalars()
    )


async def locale_of(session: AsyncSession, channel: str, external_id: str) -> str:
    """The language of whoever owns this channel account ('zh' when unknown)."""
    row = (
        await session.execute(
            select(col(Person.locale), col(ChannelAccount.locale))
            .select_from(ChannelAccount)
            .outerjoin(Person, col(Person.id) == ChannelAccount.person_id)
            .where(
                col(ChannelAccount.channel) == channel,
                col(ChannelAccount.external_id) == external_id,
            )
        )
    ).first()
    if row is None:
        return "zh"
    return row[0] or row[1] or "zh"


async def bind_account(
    session: AsyncSession, channel: str, external_id: str, person_id: int | None, now: datetime
) -> ChannelAccount:
    """Point a channel account at a person (the console's /as; never reachable from a chat)."""
    account = await get_or_create_account(session, channel, external_id, external_id, now)
    account.person_id = person_id
    return account


@dataclass(frozen=True)
class Scope:
    """Where an author may send: the whole community (a manager) or some grids (a grid leader)."""

    community_id: int
    grids: tuple[int, ...] | None  # None: every grid

    @classmethod
    def of(cls, community_id: int, roles: frozenset[tuple[str, int | None]]) -> Scope:
        """The scope a set of roles gives; DomainError when it gives none."""
        if any(r == Role.MANAGER for r, _ in roles):
            return cls(community_id, None)
        grids = tuple(sorted(g for r, g in roles if r == Role.GRID_LEADER and g is not None))
        if not grids:
            raise DomainError("error.forbidden")
        return cls(community_id, grids)


async def grids_in_scope(session: AsyncSession, scope: Scope) -> list[Grid]:
    """The grids of the scope's community that the scope covers, in id order."""
    query = select(Grid).where(col(Grid.community_id) == scope.community_id).order_by(col(Grid.id))
    if scope.grids is not None:
        query = query.where(col(Grid.id).in_(scope.grids))
    return list((await session.execute(query)).scalars())


async def buildings_in_scope(session: AsyncSession, scope: Scope) -> list[Building]:
    """The buildings of the grids a scope covers, by estate and id."""
    query = select(Building).where(col(Building.community_id) == scope.community_id)
    if scope.grids is not None:
        query = query.where(col(Building.grid_id).in_(scope.grids))
    rows = await session.execute(query.order_by(col(Building.estate), col(Building.id)))
    return list(rows.scalars())


async def community_buildings(session: AsyncSession, community_id: int) -> list[Building]:
    """Every building of a community, by estate and id."""
    rows = await session.execute(
        select(Building)
        .where(col(Building.community_id) == community_id)
        .order_by(col(Building.estate), col(Building.id))
    )
    return list(rows.scalars())


async def building_numbered(
    session: AsyncSession, community_id: int, estate: str, number: str
) -> Building | None:
    """The building `number` of an estate of the community, if there is one."""
    rows = await session.execute(
        select(Building).where(
            col(Building.community_id) == community_id,
            col(Building.estate) == estate,
            col(Building.number) == number,
        )
    )
    return rows.scalar_one_or_none()


async def community_zone(session: AsyncSession, community_id: int) -> ZoneInfo:
    """The community's time zone (times are stored in UTC and shown in this zone)."""
    community = await session.get(Community, community_id)
    return ZoneInfo(community.timezone if community else "Asia/Shanghai")
