"""The demo community of DOMAIN.md: Hongnan, its two grids, households, people, a steward team.

Names, addresses and dates are illustrative, not real people.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.booking_demo import seed_demo_bookings
from models.console import seed_desk_demo
from models.event_demo import seed_demo_events
from models.idcard import IdCipher
from models.people import grant_role
from models.poll_demo import seed_poll_demo
from models.register import seed_demo_register
from models.reports import CategoryRoute, EscalationStep
from models.tables import (
    Building,
    Community,
    Grid,
    Household,
    Invitation,
    Person,
    Role,
    Street,
    Team,
    TeamMember,
)

DEMO_RESIDENT_CODE = "HQNC2345"
DEMO_VOLUNTEER_CODE = "HQVT6789"
DEMO_CENTRE = (28.1400, 120.9700)


def _years_ago(today: date, years: int, plus_days: int = 0) -> date:
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return born + timedelta(days=plus_days)


async def seed_demo(
    session: AsyncSession, now: datetime, cipher: IdCipher | None = None, *, events: bool = True
) -> bool:
    """Load the demo community once; False when it is already there (ID numbers need `cipher`;
    `events=False` leaves out the dated extras: the demo workshop and meeting, whose times follow
    `now`, and the application waiting on the staff desk)."""
    if (
        await session.execute(select(col(Community.id)).where(col(Community.name) == "虹南社区"))
    ).first():
        return False
    today = now.date()
    street = Street(name="虹桥街道")
    session.add(street)
    await session.flush()
    # Coordinates are illustrative (near Hongqiao, Yueqing), as are the names.
    hongnan = Community(
        street_id=street.id,  # type: ignore[arg-type]
        name="虹南社区",
        latitude=DEMO_CENTRE[0],
        longitude=DEMO_CENTRE[1],
        radius_m=1500,
    )
    session.add(hongnan)
    await session.flush()
    cid = hongnan.id
    assert cid is not None
    leqing, lemei = Grid(community_id=cid, name="乐清网格"), Grid(community_id=cid, name="乐美网格")
    session.add_all([leqing, lemei])
    await session.flush()

    buildings: dict[tuple[str, str], Building] = {}
    for estate, number, grid in (
        [("虹桥南村", str(n), leqing) for n in range(1, 5)]
        + [("虹桥南村", str(n), lemei) for n in range(5, 9)]
        + [("虹桥东村", str(n), lemei) for n in range(1, 4)]
    ):
        east = estate == "虹桥东村"
        b = Building(
            community_id=cid,
            grid_id=grid.id,  # type: ignore[arg-type]
            estate=estate,
            number=number,
            latitude=DEMO_CENTRE[0] + (0.002 if east else 0.0) + 0.0006 * int(number),
            longitude=DEMO_CENTRE[1] + (0.004 if east else 0.0),
        )
        session.add(b)
        buildings[(estate, number)] = b
    await session.flush()

    async def household(estate: str, number: str, unit: str, room: str) -> Household:
        b = buildings[(estate, number)]
        h = Household(grid_id=b.grid_id, building_id=b.id, unit=unit, room=room)  # type: ignore[arg-type]
        session.add(h)
        await session.flush()
        return h

    async def person(
        name: str, grid: Grid, home: Household | None, phone: str, born: date
    ) -> Person:
        p = Person(
            community_id=cid,
            grid_id=grid.id,
            household_id=home.id if home else None,
            name=name,
            phone=phone,
            birth_date=born,
            verified=True,
            verified_at=now,
            created_at=now,
        )
        session.add(p)
        await session.flush()
        return p

    h_chen = await household("虹桥南村", "3", "1", "101")
    h_wang = await household("虹桥南村", "2", "2", "402")
    h_zhu = await household("虹桥南村", "1", "1", "201")
    h_li = await household("虹桥南村", "4", "1", "302")
    h_zhao = await household("虹桥东村", "2", "3", "501")
    # 刘芳 lives in a building of her own grid: a person with a home is in its grid (the register).
    h_liu = await household("虹桥南村", "4", "2", "102")
    h_zhou = await household("虹桥南村", "7", "2", "201")

    manager = await person("刘芳", leqing, h_liu, "13800000001", _years_ago(today, 41))
    zhu = await person("朱凡", leqing, h_zhu, "13800000002", _years_ago(today, 38))
    zhou = await person("周杰", lemei, h_zhou, "13800000003", _years_ago(today, 45))
    # The empty-nest elderly woman of DOMAIN.md: she turns 80 in two weeks.
    chen = await person(
        "陈秀英", leqing, h_chen, "13800000004", _years_ago(today, 80, plus_days=14)
    )
    wang = await person("王建国", leqing, h_wang, "13800000005", _years_ago(today, 67))
    li = await person("李红", leqing, h_li, "13800000006", _years_ago(today, 52))
    zhang = await person("张伟", leqing, None, "13800000007", _years_ago(today, 35))
    await person("赵敏", lemei, h_zhao, "13800000008", _years_ago(today, 29))
    sun = await person("孙强", lemei, None, "13800000009", _years_ago(today, 26))
    chen.phone = None  # she has no smartphone: the grid leader acts for her

    await grant_role(session, manager, Role.MANAGER, now, reason="demo")
    await grant_role(
        session, zhu, Role.GRID_LEADER, now, grid_id=leqing.id, granted_by=manager, reason="demo"
    )
    await grant_role(
        session, zhou, Role.GRID_LEADER, now, grid_id=lemei.id, granted_by=manager, reason="demo"
    )
    await grant_role(
        session,
        wang,
        Role.REPRESENTATIVE,
        now,
        grid_id=leqing.id,
        granted_by=manager,
        reason="demo",
    )
    for volunteer in (zhu, li, zhang):
        await grant_role(
            session,
            volunteer,
            Role.VOLUNTEER,
            now,
            grid_id=leqing.id,
            granted_by=manager,
            reason="demo",
        )

    # A delivery rider (小蜜蜂) who uses the rest stations.
    await grant_role(
        session, sun, Role.COURIER, now, grid_id=lemei.id, granted_by=manager, reason="demo"
    )

    team = Team(
        community_id=cid,
        grid_id=leqing.id,
        name="乐清网格红管家服务队",
        description="楼道杂物、环境卫生、设施报修，随叫随到",
    )
    session.add(team)
    await session.flush()
    # 李红 leads the steward team (队长): she keeps its roster from the chat.
    session.add_all(
        TeamMember(team_id=team.id, person_id=p.id, is_leader=p is li)  # type: ignore[arg-type]
        for p in (zhu, li, zhang)
    )
    # Neighbour disputes go to the grid leader and the mediators (调解员), nobody else.
    mediators = Team(
        community_id=cid,
        grid_id=leqing.id,
        name="乐清网格调解小组",
        description="邻里纠纷调解（加入需网格长批准）",
        needs_approval=True,
    )
    session.add(mediators)
    await session.flush()
    session.add_all(TeamMember(team_id=mediators.id, person_id=p.id) for p in (zhu, wang))  # type: ignore[arg-type]
    for category in ("clutter", "hygiene", "safety", "facility", "other"):
        session.add(CategoryRoute(grid_id=leqing.id, category=category, team_id=team.id))  # type: ignore[arg-type]
    session.add(CategoryRoute(grid_id=leqing.id, category="dispute", team_id=mediators.id))  # type: ignore[arg-type]
    # The escalation ladder (data): untaken 4 hours → grid leader; not done in 3 days → manager.
    session.add_all(
        [
            EscalationStep(
                community_id=cid,
                level=1,
                condition="untaken",
                after_minutes=240,
                role="grid_leader",
            ),
            EscalationStep(
                community_id=cid, level=2, condition="undone", after_minutes=4320, role="manager"
            ),
        ]
    )

    for code, role in ((DEMO_RESIDENT_CODE, Role.RESIDENT), (DEMO_VOLUNTEER_CODE, Role.VOLUNTEER)):
        session.add(
            Invitation(
                code=code,
                community_id=cid,
                grid_id=leqing.id,
                role=role,
                created_by_id=manager.id,
                created_at=now,
                expires_at=now + timedelta(days=365),
                max_uses=1000,
            )
        )
    await session.flush()
    if events:
        # The wall-design vote, the satisfaction survey and 王丽 (in 王建国's household, so she
        # is in the register too).
        await seed_poll_demo(session, now)
    await seed_demo_register(session, cid, cipher, now)
    if events:
        await seed_demo_events(session, now)
        await seed_demo_bookings(session, now)
        await seed_desk_demo(session, cid, now)  # an application waiting for 刘芳 (the desk)
    return True
