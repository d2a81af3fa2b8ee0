"""The demo's seven-colour micro-stations (七彩微阵地) at 惠泽苑 and two rest stations.

Names of teams, times and coordinates are illustrative. Each point has its named team and a
session series on Saturdays, so the coming Saturday has sessions to book; 张伟 is in the
haircut team (he sees its 今日名单), and two neighbours already hold places in the first haircut
session, so the demo shows the last place going and the waitlist. An extra haircut session starts
about 45 minutes after the demo is loaded, on that day in the community's time zone (one of its
two places taken): the console walkthrough books, waits, is promoted and checks in there today.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.booking_desk import team_named
from models.bookings import KIND, SeriesSpec, ServicePoint, add_series, book
from models.signups import Slot, create_slot
from models.stations import upsert_station
from models.tables import Community, Person, Team, TeamMember

PLACE = "惠泽苑七彩微阵地"
# (key, name, colour, team, bring, per person per week, series start–end, minutes, places, words)
MICRO_STATIONS = (
    ("haircut", "志愿理发", "红", "巧手理发志愿队", None, 1, (9, 0), (11, 30), 30, 3,
     "理发 剪头发 剪头 剪发 免费理发 haircut barber hair"),
    ("law", "民生普法", "橙", "隆安律师事务所“法润明星”志愿服务队", "相关材料（合同、票据等）", None,
     (9, 0), (11, 0), 30, 2, "普法 法律 律师 法律咨询 法律援助 law legal lawyer"),
    ("fire", "消防常识", "黄", "明星社区消防宣传队", None, None, (9, 30), (11, 30), 60, 10,
     "消防 灭火器 防火 fire safety"),
    ("health", "健康义诊", "绿", "中山骨科医院“郭明义”志愿服务队", "医保卡、以前的病历", 1,
     (8, 30), (11, 30), 30, 4, "义诊 看病 量血压 测血压 体检 健康 health checkup clinic doctor"),
    ("plants", "绿植交换", "青", "绿植交换志愿队", "想交换的绿植", None, (9, 0), (11, 0), 60, 10,
     "绿植 植物 花草 交换 plants plant swap"),
    ("antifraud", "反诈宣传", "蓝", "反诈宣传志愿队", None, None, (9, 0), (11, 0), 60, 10,
     "反诈 诈骗 骗子 防骗 fraud scam"),
    ("bank", "银行业务", "紫", "银行金融服务队", "社保卡、身份证", 1, (9, 0), (11, 30), 30, 2,
     "银行 社保卡 补卡 换卡 银行业务 bank social security card"),
)  # fmt: skip


def coming_saturday(now: datetime, zone: ZoneInfo) -> datetime:
    """The next Saturday after today (community time), at midnight."""
    today = now.astimezone(zone).date()
    days = (5 - today.weekday()) % 7 or 7
    return datetime.combine(today + timedelta(days=days), time(0), zone)


def demo_today_start(now: datetime, zone: ZoneInfo) -> datetime:
    """When the demo's extra session starts: 45 minutes after loading (booking closes 30 minutes
    before, check-in opens an hour before), on the community's today. Late in the evening, when
    that would be after midnight, at 23:55 while that can still be booked; in the last half hour
    before midnight 45 minutes ahead after all (今日名单 lists a session whose check-in is open)."""
    start = (now + timedelta(minutes=45)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    today = now.astimezone(zone).date()
    if start.astimezone(zone).date() == today:
        return start
    last = datetime.combine(today, time(23, 55), zone).astimezone(UTC)
    return last if last > now + timedelta(minutes=35) else start


async def seed_demo_bookings(session: AsyncSession, now: datetime) -> list[ServicePoint]:
    """The seven micro-stations with their teams and Saturday sessions, and two rest stations."""
    community = (
        await session.execute(select(Community).where(col(Community.name) == "虹南社区"))
    ).scalar_one()
    cid = community.id or 0
    zone = ZoneInfo(community.timezone)
    people = {
        p.name: p
        for p in (
            await session.execute(select(Person).where(col(Person.community_id) == cid))
        ).scalars()
    }
    points = []
    for key, name, colour, team, bring, limit, start, end, minutes, places, words in MICRO_STATIONS:
        team_id = await team_named(session, cid, team)
        point = ServicePoint(
            community_id=cid,
            key=key,
            name=name,
            colour=colour,
            team_id=team_id,
            place=PLACE,
            latitude=28.1432,
            longitude=120.9731,
            bring=bring,
            keywords=words,
            capacity=places,
            session_minutes=minutes,
            per_person_limit=limit,
            created_at=now,
        )
        session.add(point)
        await session.flush()
        spec = SeriesSpec(5, time(*start), time(*end), minutes, places)
        await add_series(session, point.id or 0, spec, now)
        points.append(point)
    haircut = points[0]
    barbers = await session.get(Team, haircut.team_id)
    assert barbers is not None
    session.add(
        TeamMember(team_id=barbers.id or 0, person_id=people["张伟"].id or 0, is_leader=True)
    )
    # Two neighbours hold places in the first haircut session of the coming Saturday.
    saturday = coming_saturday(now, zone)
    first = (
        await session.execute(
            select(Slot)
            .where(
                col(Slot.kind) == KIND,
                col(Slot.owner_id) == haircut.id,
                col(Slot.starts_at) >= saturday,
            )
            .order_by(col(Slot.starts_at))
            .limit(1)
        )
    ).scalar_one()
    for name in ("王建国", "赵敏"):
        await book(session, first.id or 0, people[name].id or 0, now)
    # An extra haircut session today, so the console demo can book, wait, be promoted and check
    # in today (see `demo_today_start`).
    start = demo_today_start(now, zone)
    today = await create_slot(
        session, community_id=cid, kind=KIND, owner_id=haircut.id or 0, starts_at=start,
        ends_at=start + timedelta(minutes=30), capacity=2, now=now,
    )  # fmt: skip
    await book(session, today.id or 0, people["周杰"].id or 0, now)
    stewards = (
        await session.execute(select(Team.id).where(col(Team.name) == "乐清网格红管家服务队"))
    ).scalar_one_or_none()
    common = {"community_id": cid, "open_24h": True, "team_id": stewards}
    await upsert_station(
        session,
        key="lvcheng-office",
        name="小蜜蜂能量补给站（绿城沁园物业服务中心）",
        address="绿城沁园物业服务中心一楼",
        latitude=28.1412,
        longitude=120.9712,
        facilities=["water", "charger", "aircon", "first_aid", "rest", "books", "food"],
        phone="0577-61234567",
        note="党员、物业、居民轮流值守",
        **common,
    )
    await upsert_station(
        session,
        key="wanda-gate3",
        name="小蜜蜂能量补给站（万达广场3号门）",
        address="万达广场3号门东侧",
        latitude=28.1466,
        longitude=120.9808,
        facilities=["water", "charger", "aircon", "microwave", "first_aid", "toilet", "rest",
                    "books", "food"],
        **common,
    )  # fmt: skip
    await session.flush()
    return points
