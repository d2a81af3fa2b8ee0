"""Eligibility rules: who may get a programme, from when, at which band.

Dates are the community's calendar (Asia/Shanghai by default): a person turns 80 at local
midnight, not UTC's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from models.benefits.catalogue import Band, Programme
from models.idcard import age_on, reaches_age_on
from models.tables import Community


@dataclass(frozen=True)
class Eligibility:
    """What we can say now: eligible, soon (apply ahead), too young, not eligible, or unknown."""

    status: str  # eligible / soon / too_young / ineligible / unknown
    age: int | None = None
    band: Band | None = None
    paid_from: date | None = None
    reached_on: date | None = None
    missing: tuple[str, ...] = ()  # 'birth_date', 'resident', question codes
    failed: str | None = None  # 'resident', 'age' or a question code

    @property
    def may_apply(self) -> bool:
        return self.status in ("eligible", "soon")


def assess(
    programme: Programme,
    *,
    today: date,
    birth_date: date | None,
    resident: bool | None,
    answers: dict[str, bool],
) -> Eligibility:
    """Eligibility from what is known; `missing` lists what must be asked first."""
    missing: list[str] = []
    if birth_date is None:
        missing.append("birth_date")
    if programme.residency and resident is None:
        missing.append("resident")
    if programme.residency and resident is False:
        return Eligibility("ineligible", failed="resident")
    for q in programme.questions:
        if q.code not in answers:
            missing.append(q.code)
        elif answers[q.code] != q.eligible_answer:
            return Eligibility("ineligible", failed=q.code)
    if birth_date is None:
        return Eligibility("unknown", missing=tuple(missing))
    age = age_on(birth_date, today)
    first = reaches_age_on(birth_date, programme.first_age)
    # Reaching the age later: paid from then; already past it: from the application on.
    start = programme.paid_from(first if first >= today else today)
    band = programme.band_for(age)
    if band is not None:
        status = "unknown" if missing else "eligible"
        return Eligibility(status, age, band, start, first, tuple(missing))
    if age >= programme.first_age:  # past every band with an upper limit
        return Eligibility("ineligible", age=age, failed="age")
    upcoming = programme.band_for(programme.first_age)
    if first > today + timedelta(days=programme.outreach_days):
        return Eligibility("too_young", age, upcoming, start, first)
    return Eligibility(
        "unknown" if missing else "soon", age, upcoming, start, first, tuple(missing)
    )


def local_today(now: datetime, zone: str | ZoneInfo) -> date:
    """The date on the community's calendar at `now`."""
    return now.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)).date()


async def community_today(session: AsyncSession, community_id: int, now: datetime) -> date:
    """Today on the community's calendar."""
    community = await session.get(Community, community_id)
    return local_today(now, community.timezone if community else "Asia/Shanghai")
