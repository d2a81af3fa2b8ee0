"""这里坏了: a problem at a rest station becomes a problem report (issue 4) with the station as the
place, routed to the station's managing team."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.errors import DomainError
from models.reports import Place, Report, report_problem
from models.stations import RestStation
from models.tables import Person, Team


async def report_broken_station(
    session: AsyncSession,
    reporter: Person,
    station_id: int,
    description: str,
    photos: list[tuple[str, str]],
    now: datetime,
) -> tuple[Report, RestStation, str]:
    """File the report (category 'facility'); returns it, the station and the team's name."""
    station = await session.get(RestStation, station_id)
    if station is None or not station.active:
        raise DomainError("stations.not_found")
    place = Place(
        text=f"{station.name}（{station.address}）"[:128],
        latitude=station.latitude,
        longitude=station.longitude,
    )
    team = await session.get(Team, station.team_id) if station.team_id else None
    report = await report_problem(
        session,
        reporter=reporter,
        category="facility",
        description=description,
        place=place,
        photos=photos,
        now=now,
        team_id=station.team_id,
        grid_id=team.grid_id if team and team.community_id == reporter.community_id else None,
    )
    return report, station, team.name if team else ""
