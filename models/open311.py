"""Open311 GeoReport v2: API keys, and reports filed by other apps through the same use case.

A key belongs to one community and to a client (another app, a city dashboard); the client is
a register entry of its own (`Person`, not verified, no household), which is the reporter of
what it files, so a report from Open311 is created by `report_problem` like one from the chat:
it gets its task, pushed to the volunteers its category routes to. Reporter names and phones
never leave: the requests list and the request show no person at all. Disputes (邻里纠纷) are
private: not a service, and not listed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.console import token_hash
from models.db import timestamp, utcnow
from models.errors import DomainError
from models.reports import (
    CATEGORIES,
    DISPUTE,
    STATE_GROUPS,
    Place,
    Report,
    locate,
    place_label,
    report_problem,
)
from models.tables import Building, Community, Person

MAX_LISTED = 1000
DEFAULT_WINDOW = timedelta(days=90)  # the spec: "a span of 90 days or first 1000 requests"
# Open311 has two statuses; a case that is done waits only for the resident's rating.
CLOSED_STATES = STATE_GROUPS["done"] + STATE_GROUPS["closed"]


class Open311Key(SQLModel, table=True):
    """An api_key of one client app (only its hash is kept), and the register entry it files as."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    name: str = Field(max_length=64)
    key_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id")
    created_at: datetime = timestamp(default_factory=utcnow)
    revoked_at: datetime | None = timestamp(default=None)


class Open311Token(SQLModel, table=True):
    """The token a POST answers with, and the report it became (tokens/{token}.json)."""

    token: str = Field(max_length=48, primary_key=True)
    report_id: int = Field(foreign_key="report.id")
    key_id: int = Field(foreign_key="open311key.id")
    created_at: datetime = timestamp(default_factory=utcnow)


def service_codes() -> tuple[str, ...]:
    """The report categories other apps may file (not disputes)."""
    return tuple(c for c in CATEGORIES if c != DISPUTE)


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition (GeoReport's `attribute`): what the chat also asks."""

    code: str
    datatype: str  # string | number | datetime | text | singlevaluelist | multivaluelist
    required: bool
    order: int
    description_key: str  # the catalog key of the question


# Where exactly: the chat asks it as "which building / where" for a place it cannot pin on the
# map. A report of "other" is all description, so it has no questions (metadata=false).
PLACE_DETAIL = Attribute("place_detail", "string", False, 1, "open311.attr_place_detail")
ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    code: (() if code == "other" else (PLACE_DETAIL,)) for code in service_codes()
}


async def jurisdiction(session: AsyncSession, given: str | None) -> Community | None:
    """The community a `jurisdiction_id` names (its number or its name); None when unknown."""
    given = (given or "").strip()
    if not given:
        return None
    query = select(Community)
    if given.isdigit() and len(given) <= 9:
        query = query.where(col(Community.id) == int(given))
    else:
        query = query.where(col(Community.name) == given[:64])
    return (await session.execute(query)).scalars().first()


async def issue_key(session: AsyncSession, community_name: str, client: str, now: datetime) -> str:
    """A new api_key for a client app of a community (printed once, stored as its hash)."""
    community = (
        await session.execute(select(Community).where(col(Community.name) == community_name))
    ).scalar_one_or_none()
    if community is None or community.id is None:
        raise DomainError("open311.no_community")
    client = client.strip()[:40]
    if not client:
        raise DomainError("open311.no_client")
    reporter = Person(community_id=community.id, name=f"Open311 · {client}", created_at=now)
    session.add(reporter)
    await session.flush()
    assert reporter.id is not None
    key = secrets.token_urlsafe(24)
    session.add(
        Open311Key(
            community_id=community.id,
            name=client,
            key_hash=token_hash(key),
            person_id=reporter.id,
            created_at=now,
        )
    )
    await session.flush()
    return key


async def client_of(session: AsyncSession, api_key: str | None) -> Open311Key | None:
    """The client holding this key, unless it is unknown or revoked."""
    if not api_key:
        return None
    found = (
        await session.execute(
            select(Open311Key).where(col(Open311Key.key_hash) == token_hash(api_key))
        )
    ).scalar_one_or_none()
    return found if found is not None and found.revoked_at is None else None


async def file_request(
    session: AsyncSession,
    client: Open311Key,
    *,
    service_code: str,
    description: str,
    now: datetime,
    lat: float | None = None,
    long: float | None = None,
    address: str | None = None,
    photos: list[tuple[str, str]] | None = None,
) -> tuple[Report, str]:
    """A report filed by a client app exactly as the chat files one; the report and its token.

    `address` is the spec's address_string or the place_detail attribute (the finer one wins
    as the place's words); `photos` are media-store references, like a chat photo's."""
    if service_code not in service_codes():
        raise DomainError("open311.bad_service_code")
    if (lat is None) != (long is None):
        raise DomainError("open311.lat_and_long")
    if lat is not None and long is not None and not (-90 <= lat <= 90 and -180 <= long <= 180):
        raise DomainError("open311.bad_lat_long")
    if lat is None and not (address or "").strip():
        raise DomainError("open311.no_location")
    reporter = await session.get(Person, client.person_id)
    if reporter is None:
        raise DomainError("open311.bad_key")
    if lat is not None and long is not None:
        place = await locate(session, client.community_id, lat, long)
        if address:
            place = Place(place.building_id, address.strip()[:128], place.latitude, place.longitude)
    else:
        place = Place(text=(address or "").strip()[:128])
    report = await report_problem(
        session,
        reporter=reporter,
        category=service_code,
        description=description,
        place=place,
        photos=photos or [],
        now=now,
    )
    assert report.id is not None and client.id is not None
    token = secrets.token_urlsafe(18)
    session.add(Open311Token(token=token, report_id=report.id, key_id=client.id, created_at=now))
    await session.flush()
    return report, token


@dataclass(frozen=True)
class Request:
    """One report as Open311 shows it: no reporter, no phone."""

    report: Report
    address: str

    @property
    def status(self) -> str:
        return "closed" if self.report.state in CLOSED_STATES else "open"


@dataclass(frozen=True)
class Filters:
    """requests.json's filters (the spec's defaults: every code, every status)."""

    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    ids: tuple[int, ...] = ()
    community_id: int | None = None  # the jurisdiction asked for (None: every community)

    def window(self, now: datetime) -> tuple[datetime, datetime | None]:
        """The span listed: the one asked for, else the 90 days up to its end (or now)."""
        if self.start is not None:
            return self.start, self.end
        return (self.end or now) - DEFAULT_WINDOW, self.end


async def list_requests(session: AsyncSession, filters: Filters, now: datetime) -> list[Request]:
    """Reports (never disputes) newest first, by the spec's filters; at most MAX_LISTED, and
    without a start_date only the last 90 days (asked by number: any age)."""
    query = select(Report).where(col(Report.category) != DISPUTE)
    if filters.community_id is not None:
        query = query.where(col(Report.community_id) == filters.community_id)
    if filters.ids:
        query = query.where(col(Report.id).in_(filters.ids))
    else:
        if filters.service_codes:
            query = query.where(col(Report.category).in_(filters.service_codes))
        if filters.statuses == ("open",):
            query = query.where(col(Report.state).not_in(CLOSED_STATES))
        elif filters.statuses == ("closed",):
            query = query.where(col(Report.state).in_(CLOSED_STATES))
        start, end = filters.window(now)
        query = query.where(col(Report.created_at) >= start)
        if end is not None:
            query = query.where(col(Report.created_at) <= end)
    rows = await session.execute(query.order_by(col(Report.id).desc()).limit(MAX_LISTED))
    reports = list(rows.scalars())
    # The buildings in one query, held here: the session's identity map keeps objects only
    # while referenced, so place_label's `session.get` would otherwise query once per report.
    ids = {r.building_id for r in reports if r.building_id is not None}
    held = (
        list((await session.execute(select(Building).where(col(Building.id).in_(ids)))).scalars())
        if ids
        else []
    )
    listed = [Request(r, await place_label(session, r)) for r in reports]
    del held
    return listed


async def request_of(
    session: AsyncSession, report_id: int, community_id: int | None = None
) -> Request | None:
    """One report, unless it does not exist, is a dispute, or is another jurisdiction's."""
    report = await session.get(Report, report_id)
    if report is None or report.category == DISPUTE:
        return None
    if community_id is not None and report.community_id != community_id:
        return None
    return Request(report, await place_label(session, report))


async def report_of_token(session: AsyncSession, token: str) -> int | None:
    """The report a POST's token became."""
    found = await session.get(Open311Token, token[:48])
    return found.report_id if found is not None else None
