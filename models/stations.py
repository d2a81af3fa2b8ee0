"""Rest stations (小蜜蜂能量补给站): where a courier can get water, charge a phone, rest.

Finding the nearest is a range query on an index of (latitude, longitude) — a box around the
person that holds every station within the radius — then exact great-circle distances for the
few stations inside it; the box grows until enough are found or the search radius is reached.
Nothing loads every station into Python, so it stays fast with ten thousand of them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, Index, select
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.geo import bounding_box, distance_m

# Facilities a station may have (catalog keys `facility.<code>`), in the order they are listed.
FACILITIES = (
    "water",
    "charger",
    "aircon",
    "microwave",
    "first_aid",
    "toilet",
    "rest",
    "books",
    "food",
    "wifi",
    "umbrella",
)

# Words people use for each facility (for "有充电的" / "where can I charge").
FACILITY_WORDS: dict[str, tuple[str, ...]] = {
    "water": ("喝水", "饮水", "热水", "开水", "水", "water", "drink"),
    "charger": ("充电", "充电宝", "手机没电", "电瓶", "charge", "charger", "charging"),
    "aircon": ("空调", "凉快", "暖和", "取暖", "air con", "aircon", "air-conditioning", "cool"),
    "microwave": ("微波炉", "热饭", "加热", "microwave", "heat food"),
    "first_aid": ("医药箱", "急救", "药箱", "创可贴", "first aid", "first-aid", "medicine"),
    "toilet": ("厕所", "卫生间", "洗手间", "toilet", "restroom", "washroom"),
    "rest": ("歇脚", "休息", "坐一下", "rest", "sit"),
    "books": ("书", "报纸", "看书", "books", "newspaper"),
    "food": ("面包", "吃的", "食物", "充饥", "food", "bread", "snack"),
    "wifi": ("wifi", "无线网", "上网"),
    "umbrella": ("雨伞", "借伞", "umbrella"),
}


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class RestStation(SQLModel, table=True):
    """A place open to couriers and anyone passing: its hours, facilities and managing team."""

    __table_args__ = (Index("ix_reststation_lat_lon", "latitude", "longitude"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    key: str = Field(max_length=32, unique=True)  # stable, for files: "lvcheng-office"
    name: str = Field(max_length=64)
    address: str = Field(max_length=128)
    latitude: float
    longitude: float
    open_24h: bool = False
    opens: time | None = None  # local time, when not open all day
    closes: time | None = None
    facilities: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[]'")),
    )
    phone: str | None = Field(default=None, max_length=20)
    photo_ref: str | None = Field(default=None, max_length=256)
    team_id: int | None = Field(default=None, foreign_key="team.id")  # who fixes what breaks
    note: str | None = Field(default=None, max_length=256)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    active: bool = True
    created_at: datetime = _ts(default_factory=utcnow)


def is_open(station: RestStation, now: datetime) -> bool:
    """Open at this moment (local time; a range may pass midnight, 22:00–06:00)."""
    if station.open_24h:
        return True
    if station.opens is None or station.closes is None:
        return False
    local = now.astimezone(ZoneInfo(station.timezone)).time()
    if station.opens <= station.closes:
        return station.opens <= local < station.closes
    return local >= station.opens or local < station.closes


def facilities_in(text: str) -> list[str]:
    """The facilities a sentence asks for: '哪里可以喝水充电' → ['water', 'charger']."""
    lowered = text.lower()
    found = []
    for code in FACILITIES:
        if any(word in lowered for word in FACILITY_WORDS[code]):
            found.append(code)
    return found


@dataclass(frozen=True)
class Nearby:
    station: RestStation
    distance_m: float
    open_now: bool


SEARCH_RADII_M = (1_000.0, 3_000.0, 10_000.0, 30_000.0)


async def nearest(
    session: AsyncSession,
    latitude: float,
    longitude: float,
    now: datetime,
    *,
    facility: str | None = None,
    limit: int = 3,
    max_radius_m: float = SEARCH_RADII_M[-1],
) -> list[Nearby]:
    """The nearest active stations (with the facility, if asked), closest first.

    The box grows through SEARCH_RADII_M until `limit` stations lie within the radius; each step
    is one indexed range query returning only the stations inside the box.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise DomainError("stations.bad_location")
    if facility is not None and facility not in FACILITIES:
        raise DomainError("stations.bad_facility")
    found: list[Nearby] = []
    for radius in (r for r in SEARCH_RADII_M if r <= max_radius_m):
        box = bounding_box(latitude, longitude, radius)
        rows = await session.execute(
            select(RestStation).where(
                col(RestStation.active),
                col(RestStation.latitude).between(box.south, box.north),
                col(RestStation.longitude).between(box.west, box.east),
            )
        )
        found = []
        for station in rows.scalars():
            if facility is not None and facility not in station.facilities:
                continue
            d = distance_m(latitude, longitude, station.latitude, station.longitude)
            if d <= radius:
                found.append(Nearby(station, d, is_open(station, now)))
        if len(found) >= limit:
            break
    found.sort(key=lambda n: (n.distance_m, n.station.id or 0))
    return found[:limit]


async def by_words(session: AsyncSession, words: str, *, limit: int = 3) -> list[RestStation]:
    """Stations whose name or address contains what was typed ('万达', '绿城沁园')."""
    words = words.strip()
    if len(words) < 2:
        return []
    pattern = f"%{words}%"
    rows = await session.execute(
        select(RestStation)
        .where(
            col(RestStation.active),
            col(RestStation.name).like(pattern) | col(RestStation.address).like(pattern),
        )
        .order_by(col(RestStation.id))
        .limit(limit)
    )
    return list(rows.scalars())


def parse_hours(text: str) -> tuple[bool, time | None, time | None]:
    """'24小时' / '24h' → open all day; '8:00-22:00' → the range. DomainError otherwise."""
    s = unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "")
    if s in ("24小时", "24h", "24/7", "全天", "24hours", "全天24小时"):
        return True, None, None
    m = re.fullmatch(r"(\d{1,2})[:：](\d{2})[-–~至到](\d{1,2})[:：](\d{2})", s)
    if m is None:
        raise DomainError("stations.bad_hours")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
        raise DomainError("stations.bad_hours")
    closes = time(0, 0) if h2 == 24 else time(h2, m2)
    return False, time(h1, m1), closes


async def upsert_station(session: AsyncSession, **fields: Any) -> tuple[RestStation, bool]:
    """Create a station or update the one with the same key; True when it is new."""
    key = fields["key"]
    unknown = set(fields.get("facilities", [])) - set(FACILITIES)
    if unknown:
        raise DomainError("stations.bad_facility")
    existing = (
        await session.execute(select(RestStation).where(col(RestStation.key) == key))
    ).scalar_one_or_none()
    if existing is None:
        station = RestStation(**fields)
        session.add(station)
        await session.flush()
        return station, True
    for name, value in fields.items():
        setattr(existing, name, value)
    return existing, False
