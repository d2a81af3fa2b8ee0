"""Volunteer teams from the chat: joining, skills, pausing, quiet hours, and the roster.

A volunteer joins one of their grid's teams (or is made a member by an invitation that names
one); a team leader (队长), the grid leader of the team's grid or a manager adds, removes,
approves and deactivates members. Task pushes reach only members who are approved, active and
not paused; quiet hours delay a push to the end of the quiet time (the task is offered at once
and shows in 我的任务). Every use case re-checks who may do it, whatever a button says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.outbox import enqueue
from models.people import community_zone
from models.tables import Person, Role, RoleGrant, Team, TeamMember

# What a member can take: the report categories a volunteer fixes (disputes go to mediators,
# whom a manager appoints). Empty skills mean "all of the team's".
SKILLS = ("clutter", "hygiene", "safety", "facility", "other")
MAX_PAUSE_DAYS = 365

Roles = frozenset[tuple[str, int | None]]


def clean_skills(skills: list[str]) -> list[str]:
    """Known skills only, once each, in the catalogue's order."""
    wanted = set(skills)
    return [s for s in SKILLS if s in wanted]


async def _volunteer_grids(session: AsyncSession, person: Person) -> list[int | None]:
    rows = await session.execute(
        select(col(RoleGrant.grid_id)).where(
            col(RoleGrant.person_id) == person.id,
            col(RoleGrant.role).in_((Role.VOLUNTEER, Role.GRID_LEADER)),
            col(RoleGrant.community_id) == person.community_id,
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    return list(rows.scalars())


async def joinable_teams(session: AsyncSession, person: Person) -> list[Team]:
    """The teams a volunteer may join: their grid's (and community-wide ones), in id order."""
    grids = await _volunteer_grids(session, person)
    if not grids:
        return []
    query = select(Team).where(col(Team.community_id) == person.community_id)
    if None not in grids:
        query = query.where(
            or_(
                col(Team.grid_id).in_([g for g in grids if g is not None]),
                col(Team.grid_id).is_(None),
            )
        )
    return list((await session.execute(query.order_by(col(Team.id)))).scalars())


async def grid_teams(session: AsyncSession, community_id: int, grid_id: int) -> list[Team]:
    """The teams serving a grid (its own and community-wide ones), in id order."""
    rows = await session.execute(
        select(Team)
        .where(
            col(Team.community_id) == community_id,
            or_(col(Team.grid_id) == grid_id, col(Team.grid_id).is_(None)),
        )
        .order_by(col(Team.id))
    )
    return list(rows.scalars())


@dataclass(frozen=True)
class Membership:
    """One of my teams and my place in it."""

    team: Team
    member: TeamMember


async def memberships(session: AsyncSession, person_id: int) -> list[Membership]:
    """The teams a person is in, in team order."""
    rows = await session.execute(
        select(Team, TeamMember)
        .join(TeamMember, col(TeamMember.team_id) == col(Team.id))
        .where(col(TeamMember.person_id) == person_id)
        .order_by(col(Team.id))
    )
    return [Membership(t, m) for t, m in rows.all()]


async def _team(session: AsyncSession, team_id: int, community_id: int) -> Team:
    team = await session.get(Team, team_id)
    if team is None or team.community_id != community_id:
        raise DomainError("team.not_found")
    return team


async def add_to_team(
    session: AsyncSession,
    person: Person,
    team: Team,
    skills: list[str],
    now: datetime,
    *,
    approved: bool,
) -> TeamMember:
    """Make the person a member (or update their skills); the caller has checked permission."""
    assert person.id is not None and team.id is not None
    member = await session.get(TeamMember, (team.id, person.id))
    if member is None:
        member = TeamMember(team_id=team.id, person_id=person.id, approved=approved)
        # A new membership follows the person's pause and quiet hours in their other teams.
        other = next(iter(await memberships(session, person.id)), None)
        if other is not None:
            member.paused_until = other.member.paused_until
            member.quiet_from, member.quiet_to = other.member.quiet_from, other.member.quiet_to
        session.add(member)
    elif approved:
        member.approved = True
    member.skills = clean_skills(skills)
    await session.flush()
    if not member.approved:
        await _ask_approval(session, team, person, now)
    return member


async def join_team(
    session: AsyncSession, person: Person, team_id: int, skills: list[str], now: datetime
) -> TeamMember:
    """A volunteer joins one of their grid's teams (approved at once unless the team asks for it)."""
    team = await _team(session, team_id, person.community_id)
    if team.id not in {t.id for t in await joinable_teams(session, person)}:
        raise DomainError("team.not_yours")
    existing = await session.get(TeamMember, (team_id, person.id))
    approved = existing.approved if existing is not None else not team.needs_approval
    return await add_to_team(session, person, team, skills, now, approved=approved)


async def set_skills(
    session: AsyncSession, person: Person, team_id: int, skills: list[str]
) -> TeamMember:
    """Change my skills in one of my teams."""
    member = await session.get(TeamMember, (team_id, person.id))
    if member is None:
        raise DomainError("team.not_member")
    member.skills = clean_skills(skills)
    return member


async def leave_team(session: AsyncSession, person: Person, team_id: int, now: datetime) -> Team:
    """I leave a team; its grid leaders hear at once if nobody is left to take its tasks."""
    team = await _team(session, team_id, person.community_id)
    member = await session.get(TeamMember, (team_id, person.id))
    if member is None:
        raise DomainError("team.not_member")
    await session.delete(member)
    await session.flush()
    await _warn_if_nobody_left(session, team, now)
    return team


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of a day in the community's time zone."""
    return datetime.combine(day, time(0), tzinfo=zone)


async def pause(session: AsyncSession, person: Person, until: date, now: datetime) -> datetime:
    """暂停接单: no pushes in any of my teams until the start of `until` (community time)."""
    rows = await memberships(session, person.id or 0)
    if not rows:
        raise DomainError("team.none_yet")
    zone = await community_zone(session, person.community_id)
    today = now.astimezone(zone).date()
    if not today < until <= today + timedelta(days=MAX_PAUSE_DAYS):
        raise DomainError("team.pause_bad_date", days=MAX_PAUSE_DAYS)
    resume_at = local_midnight(until, zone)
    for m in rows:
        m.member.paused_until = resume_at
    await session.flush()
    for m in rows:
        await _warn_if_nobody_left(session, m.team, now)
    return resume_at


async def resume(session: AsyncSession, person: Person) -> int:
    """恢复接单: pushes again now; returns how many memberships were paused."""
    count = 0
    for m in await memberships(session, person.id or 0):
        if m.member.paused_until is not None:
            m.member.paused_until = None
            count += 1
    return count


def check_hour(value: int) -> int:
    """An hour of the day, 0-23."""
    if not 0 <= value <= 23:
        raise DomainError("team.quiet_bad")
    return value


async def set_quiet_hours(
    session: AsyncSession, person: Person, start: int | None, end: int | None
) -> None:
    """免打扰: pushes that fall between `start` and `end` o'clock wait until `end` (None: off)."""
    if (start is None) != (end is None) or (start is not None and start == end):
        raise DomainError("team.quiet_bad")
    rows = await memberships(session, person.id or 0)
    if not rows:
        raise DomainError("team.none_yet")
    for m in rows:
        m.member.quiet_from = check_hour(start) if start is not None else None
        m.member.quiet_to = check_hour(end) if end is not None else None


def quiet_end(member: TeamMember, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When the member's quiet time ends, if `now` falls inside it; else None."""
    start, end = member.quiet_from, member.quiet_to
    if start is None or end is None:
        return None
    local = now.astimezone(zone)
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end), tzinfo=zone)


# --- who a push reaches ------------------------------------------------------------------


def _usable(member: TeamMember, now: datetime) -> bool:
    return (
        member.approved
        and member.active
        and (member.paused_until is None or member.paused_until <= now)
    )


async def usable_members(session: AsyncSession, team_id: int, now: datetime) -> list[TeamMember]:
    """Members of a team a push may reach now (approved, active, not paused), by person id."""
    rows = (
        await session.execute(
            select(TeamMember)
            .where(col(TeamMember.team_id) == team_id)
            .order_by(col(TeamMember.person_id))
        )
    ).scalars()
    return [m for m in rows if _usable(m, now)]


async def has_members(session: AsyncSession, team_id: int) -> bool:
    """True when the team has anyone in it at all (paused or not)."""
    count = (
        await session.execute(
            select(func.count()).select_from(TeamMember).where(col(TeamMember.team_id) == team_id)
        )
    ).scalar_one()
    return bool(count)


async def reachable(session: AsyncSession, people: list[int], now: datetime) -> list[int]:
    """These people minus those who paused, or were made inactive, in every team they are in."""
    if not people:
        return []
    rows = (
        await session.execute(select(TeamMember).where(col(TeamMember.person_id).in_(people)))
    ).scalars()
    teamed: dict[int, bool] = {}
    for m in rows:
        teamed[m.person_id] = teamed.get(m.person_id, False) or _usable(m, now)
    return [p for p in people if teamed.get(p, True)]


async def push_times(
    session: AsyncSession, community_id: int, people: list[int], now: datetime
) -> dict[int, datetime]:
    """For people now in their quiet hours: when a push to them may go out."""
    if not people:
        return {}
    rows = (
        await session.execute(
            select(TeamMember).where(
                col(TeamMember.person_id).in_(people), col(TeamMember.quiet_from).is_not(None)
            )
        )
    ).scalars()
    zone: ZoneInfo | None = None
    out: dict[int, datetime] = {}
    for m in rows:
        if m.person_id in out:
            continue
        zone = zone or await community_zone(session, community_id)
        end = quiet_end(m, now, zone)
        if end is not None:
            out[m.person_id] = end
    return out


async def _grid_leaders(session: AsyncSession, team: Team) -> list[int]:
    query = select(col(RoleGrant.person_id)).where(
        col(RoleGrant.role) == Role.GRID_LEADER,
        col(RoleGrant.community_id) == team.community_id,
        col(RoleGrant.revoked_at).is_(None),
    )
    if team.grid_id is not None:
        query = query.where(
            or_(col(RoleGrant.grid_id) == team.grid_id, col(RoleGrant.grid_id).is_(None))
        )
    return list(
        (await session.execute(query.distinct().order_by(col(RoleGrant.person_id)))).scalars()
    )


async def _warn_if_nobody_left(session: AsyncSession, team: Team, now: datetime) -> None:
    """When a team is left with no member a push can reach, its grid leaders hear it at once."""
    assert team.id is not None
    if await usable_members(session, team.id, now):
        return
    day = now.date().isoformat()
    for leader in await _grid_leaders(session, team):
        await enqueue(
            session,
            person_id=leader,
            kind="team",
            dedupe_key=f"team:{team.id}:nobody:{leader}:{day}",
            now=now,
            text_key="team.nobody_left",
            values={"team": team.name},
            priority=1,
        )


# --- the roster: team leaders, grid leaders, managers -----------------------------------


async def may_manage(session: AsyncSession, actor: Person, roles: Roles, team: Team) -> bool:
    """A manager of the community, a grid leader of the team's grid, or the team's leader."""
    if team.community_id != actor.community_id:
        return False
    if any(r == Role.MANAGER for r, _ in roles):
        return True
    if any(r == Role.GRID_LEADER and (g is None or g == team.grid_id) for r, g in roles):
        return True
    member = await session.get(TeamMember, (team.id, actor.id))
    return member is not None and member.is_leader and member.active


async def managed_teams(session: AsyncSession, actor: Person, roles: Roles) -> list[Team]:
    """The teams this person may manage, in id order."""
    teams = (
        await session.execute(
            select(Team).where(col(Team.community_id) == actor.community_id).order_by(col(Team.id))
        )
    ).scalars()
    return [t for t in list(teams) if await may_manage(session, actor, roles, t)]


async def managed_team(session: AsyncSession, actor: Person, roles: Roles, team_id: int) -> Team:
    """The team if this person may manage it; else the same 'not found' as a missing team."""
    team = await session.get(Team, team_id)
    if team is None or not await may_manage(session, actor, roles, team):
        raise DomainError("team.not_found")
    return team


@dataclass(frozen=True)
class RosterLine:
    """A member as the roster shows them: hours, rating, state."""

    person: Person
    member: TeamMember
    minutes: int
    rating: float | None
    ratings: int


async def roster(
    session: AsyncSession, actor: Person, roles: Roles, team_id: int
) -> list[RosterLine]:
    """The team's members with their recorded hours and average rating, by name."""
    # Imported here: the task offers (models.tasks) ask this module who a push reaches.
    from models.reports.tables import Rating
    from models.tasks.tables import VolunteerHours

    team = await managed_team(session, actor, roles, team_id)
    rows = (
        await session.execute(
            select(Person, TeamMember)
            .join(TeamMember, col(TeamMember.person_id) == col(Person.id))
            .where(col(TeamMember.team_id) == team.id)
            .order_by(col(Person.id))
        )
    ).all()
    ids = [p.id for p, _m in rows]
    minutes = dict(
        (
            await session.execute(
                select(col(VolunteerHours.person_id), func.sum(VolunteerHours.minutes))
                .where(col(VolunteerHours.person_id).in_(ids))
                .group_by(col(VolunteerHours.person_id))
            )
        ).all()
    )
    rated = {
        who: (float(avg), int(n))
        for who, avg, n in (
            await session.execute(
                select(col(Rating.volunteer_id), func.avg(Rating.stars), func.count())
                .where(col(Rating.volunteer_id).in_(ids))
                .group_by(col(Rating.volunteer_id))
            )
        ).all()
    }
    return [
        RosterLine(
            person=p,
            member=m,
            minutes=int(minutes.get(p.id, 0) or 0),
            rating=rated[p.id][0] if p.id in rated else None,
            ratings=rated[p.id][1] if p.id in rated else 0,
        )
        for p, m in rows
    ]


async def _member(session: AsyncSession, team: Team, person_id: int) -> tuple[TeamMember, Person]:
    member = await session.get(TeamMember, (team.id, person_id))
    person = await session.get(Person, person_id)
    if member is None or person is None:
        raise DomainError("team.not_member")
    return member, person


async def candidates(
    session: AsyncSession, actor: Person, roles: Roles, team_id: int
) -> list[Person]:
    """Volunteers of the team's grid who are not in it yet, by id."""
    team = await managed_team(session, actor, roles, team_id)
    query = (
        select(Person)
        .join(RoleGrant, col(RoleGrant.person_id) == col(Person.id))
        .where(
            col(RoleGrant.role) == Role.VOLUNTEER,
            col(RoleGrant.community_id) == team.community_id,
            col(RoleGrant.revoked_at).is_(None),
            col(Person.id).not_in(
                select(col(TeamMember.person_id)).where(col(TeamMember.team_id) == team.id)
            ),
        )
    )
    if team.grid_id is not None:
        query = query.where(
            or_(col(RoleGrant.grid_id) == team.grid_id, col(RoleGrant.grid_id).is_(None))
        )
    return list((await session.execute(query.distinct().order_by(col(Person.id)))).scalars())


async def add_member(
    session: AsyncSession, actor: Person, roles: Roles, team_id: int, person_id: int, now: datetime
) -> Person:
    """A team leader (or grid leader, manager) adds a volunteer of the grid; approved at once."""
    team = await managed_team(session, actor, roles, team_id)
    person = next(
        (p for p in await candidates(session, actor, roles, team_id) if p.id == person_id), None
    )
    if person is None:
        raise DomainError("team.not_a_candidate")
    await add_to_team(session, person, team, [], now, approved=True)
    await _tell(session, person_id, team, "team.you_were_added", now, by=actor.name)
    return person


async def remove_member(
    session: AsyncSession, actor: Person, roles: Roles, team_id: int, person_id: int, now: datetime
) -> Person:
    """Remove a member from the team."""
    team = await managed_team(session, actor, roles, team_id)
    _member_row, person = await _member(session, team, person_id)
    await session.execute(
        delete(TeamMember).where(
            col(TeamMember.team_id) == team.id, col(TeamMember.person_id) == person_id
        )
    )
    await session.flush()
    await _tell(session, person_id, team, "team.you_were_removed", now)
    await _warn_if_nobody_left(session, team, now)
    return person


async def approve_member(
    session: AsyncSession, actor: Person, roles: Roles, team_id: int, person_id: int, now: datetime
) -> tuple[Person, bool]:
    """Approve a waiting member; (person, changed). Idempotent."""
    team = await managed_team(session, actor, roles, team_id)
    member, person = await _member(session, team, person_id)
    if member.approved:
        return person, False
    member.approved = True
    await _tell(session, person_id, team, "team.you_were_approved", now)
    return person, True


async def set_member_active(
    session: AsyncSession,
    actor: Person,
    roles: Roles,
    team_id: int,
    person_id: int,
    active: bool,
    now: datetime,
) -> Person:
    """Mark a member inactive (no pushes) or active again."""
    team = await managed_team(session, actor, roles, team_id)
    member, person = await _member(session, team, person_id)
    member.active = active
    await session.flush()
    if not active:
        await _warn_if_nobody_left(session, team, now)
    return person


async def _tell(
    session: AsyncSession, person_id: int, team: Team, key: str, now: datetime, **values: object
) -> None:
    await enqueue(
        session,
        person_id=person_id,
        kind="team",
        dedupe_key=f"team:{team.id}:{key}:{person_id}:{int(now.timestamp())}",
        now=now,
        text_key=key,
        values={"team": team.name, **values},
        priority=2,
    )


async def _ask_approval(session: AsyncSession, team: Team, person: Person, now: datetime) -> None:
    """A new member waits: the team's leaders (or, with none, the grid leaders) get a button."""
    assert team.id is not None
    leaders = list(
        (
            await session.execute(
                select(col(TeamMember.person_id)).where(
                    col(TeamMember.team_id) == team.id,
                    col(TeamMember.is_leader).is_(True),
                    col(TeamMember.active).is_(True),
                )
            )
        ).scalars()
    ) or await _grid_leaders(session, team)
    for leader in leaders:
        await enqueue(
            session,
            person_id=leader,
            kind="team",
            dedupe_key=f"team:{team.id}:approve:{person.id}:{leader}",
            now=now,
            text_key="team.approval_push",
            values={"team": team.name, "name": person.name},
            choices=[["team.btn_approve", f"team:approve:{team.id}:{person.id}"]],
            priority=1,
        )
