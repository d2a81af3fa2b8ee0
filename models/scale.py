"""A district-sized register for benchmarks and plan tests, written with bulk inserts.

`generate(session, residents=N, now=...)` adds one street (街道) with communities of 10,000
residents, and in proportion (per community of 10,000 unless said otherwise):

- 20 grids of 500 residents, 5 buildings (幢) per grid in estates of 4 grids, 40 households
  (户) per building, 2.5 residents per household; 95 % verified, ages 0–94;
- channel accounts for 85 % of residents (70 % Telegram, 15 % WeChat);
- role grants: a grid leader per grid, a manager per community, a volunteer per 50 residents
  (each grid's volunteers form its team);
- a year of reports, 1 per 20 residents, spread evenly over the 365 days before `now`: older
  than 14 days closed (taken, done, closed, its task done, 60 % rated), newer ones a mix of
  new, taken and done; each report but the new ones has its task;
- benefit applications, 1 per 100 residents (a fifth still open);
- notices, 1 per community per week of the year, delivered;
- outbox rows, `outbox_per_account` (10) per channel account per month over `outbox_months`
  (1) months, delivered (`sent`), written by one INSERT … SELECT on the database side;
- processed-update keys, 2 per account, within the last day.

Ids are given explicitly (after the largest already present), so the generator can run on a
database that has other data; on PostgreSQL the id sequences are moved past them afterwards.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from models.benefits.tables import BenefitApplication
from models.db import UTCDateTime
from models.notices import Notice
from models.reports.tables import EscalationStep, Rating, Report
from models.tables import (
    Building,
    ChannelAccount,
    Community,
    Grid,
    Household,
    Person,
    ProcessedUpdate,
    RoleGrant,
    Street,
    Team,
    TeamMember,
)
from models.tasks.tables import Task

PER_COMMUNITY = 10_000
PER_GRID = 500
BUILDINGS_PER_GRID = 5
GRIDS_PER_ESTATE = 4
HOUSEHOLDS_PER_BUILDING = 40
RESIDENTS_PER_HOUSEHOLD = 2.5
REPORTS_PER_RESIDENT_YEAR = 1 / 20
APPLICATIONS_PER_RESIDENT = 1 / 100
VOLUNTEER_EVERY = 50
CHUNK = 5_000
CATEGORIES = ("junk", "light", "water", "noise", "other")
TELEGRAM_BASE = 7_000_000_000


@dataclass
class Generated:
    """What `generate` wrote: rows per table, and the ids a benchmark needs."""

    rows: dict[str, int] = field(default_factory=dict)
    street_id: int = 0
    community_ids: list[int] = field(default_factory=list)
    first_person_id: int = 0
    telegram_chats: list[str] = field(default_factory=list)  # a sample, for benchmarks
    manager_ids: list[int] = field(default_factory=list)


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


async def _next_id(session: AsyncSession, model: type[SQLModel]) -> int:
    t = _table(model)
    return int((await session.execute(select(func.coalesce(func.max(t.c.id), 0)))).scalar_one()) + 1


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    part: list[dict[str, Any]] = []
    for row in rows:
        part.append(row)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


class _Writer:
    """Streams generated rows into tables in chunks and counts them."""

    def __init__(self, session: AsyncSession, out: Generated) -> None:
        self.session = session
        self.out = out

    async def write(self, model: type[SQLModel], rows: Iterator[dict[str, Any]]) -> None:
        t = _table(model)
        for part in _chunks(rows):
            await self.session.execute(insert(t), part)
            self.out.rows[t.name] = self.out.rows.get(t.name, 0) + len(part)


async def generate(
    session: AsyncSession,
    *,
    residents: int,
    now: datetime,
    seed: int = 13,
    outbox_months: int = 1,
    outbox_per_account: int = 10,
    name: str = "规模测试街道",
) -> Generated:
    """Write a district of `residents` people and a year of its activity (see the module doc)."""
    rng = random.Random(seed)
    out = Generated()
    w = _Writer(session, out)
    n_communities = max(1, math.ceil(residents / PER_COMMUNITY))
    n_grids = max(1, math.ceil(residents / PER_GRID))
    n_households = max(1, math.ceil(residents / RESIDENTS_PER_HOUSEHOLD))
    n_buildings = max(1, math.ceil(n_households / HOUSEHOLDS_PER_BUILDING))

    sid = await _next_id(session, Street)
    await session.execute(insert(_table(Street)), [{"id": sid, "name": f"{name}{sid}"}])
    out.street_id = sid

    c0 = await _next_id(session, Community)
    out.community_ids = [c0 + i for i in range(n_communities)]
    await w.write(
        Community,
        (
            {
                "id": c0 + i,
                "street_id": sid,
                "name": f"规模社区{i + 1}",
                "timezone": "Asia/Shanghai",
                "latitude": 31.23 + i * 0.01,
                "longitude": 121.47,
                "radius_m": 2000,
            }
            for i in range(n_communities)
        ),
    )
    grids_per_community = math.ceil(n_grids / n_communities)

    def community_of_grid(g: int) -> int:
        return c0 + min(g // grids_per_community, n_communities - 1)

    g0 = await _next_id(session, Grid)
    await w.write(
        Grid,
        (
            {"id": g0 + g, "community_id": community_of_grid(g), "name": f"第{g + 1}网格"}
            for g in range(n_grids)
        ),
    )
    b0 = await _next_id(session, Building)

    def grid_of_building(b: int) -> int:
        return min(b // BUILDINGS_PER_GRID, n_grids - 1)

    await w.write(
        Building,
        (
            {
                "id": b0 + b,
                "community_id": community_of_grid(grid_of_building(b)),
                "grid_id": g0 + grid_of_building(b),
                "estate": f"规模小区{grid_of_building(b) // GRIDS_PER_ESTATE + 1}",
                "number": str(b + 1),
                "latitude": None,
                "longitude": None,
            }
            for b in range(n_buildings)
        ),
    )
    h0 = await _next_id(session, Household)

    def building_of_household(h: int) -> int:
        return min(h // HOUSEHOLDS_PER_BUILDING, n_buildings - 1)

    await w.write(
        Household,
        (
            {
                "id": h0 + h,
                "grid_id": g0 + grid_of_building(building_of_household(h)),
                "building_id": b0 + building_of_household(h),
                "unit": str(h % HOUSEHOLDS_PER_BUILDING // 10 + 1),
                "room": f"{h % 10 + 1:02d}{h % HOUSEHOLDS_PER_BUILDING:02d}",
            }
            for h in range(n_households)
        ),
    )

    p0 = await _next_id(session, Person)
    out.first_person_id = p0

    def household_of(i: int) -> int:
        return min(int(i / RESIDENTS_PER_HOUSEHOLD), n_households - 1)

    def grid_of(i: int) -> int:
        return grid_of_building(building_of_household(household_of(i)))

    today = now.date()

    def person(i: int) -> dict[str, Any]:
        age_days = rng.randrange(0, 95 * 365)
        verified = rng.random() < 0.95
        g = grid_of(i)
        return {
            "id": p0 + i,
            "community_id": community_of_grid(g),
            "grid_id": g0 + g,
            "household_id": h0 + household_of(i),
            "name": f"居民{i:07d}",
            "phone": f"139{i:08d}",
            "birth_date": today - timedelta(days=age_days),
            "locale": "zh" if rng.random() < 0.9 else "en",
            "verified": verified,
            "verified_by_id": None,
            "verified_at": now - timedelta(days=rng.randrange(1, 700)) if verified else None,
            "created_at": now - timedelta(days=rng.randrange(1, 730)),
        }

    await w.write(Person, (person(i) for i in range(residents)))

    # Channel accounts: 70 % Telegram, 15 % WeChat, 15 % none.
    a0 = await _next_id(session, ChannelAccount)
    kinds = [rng.random() for _ in range(residents)]
    accounts: list[tuple[int, str, str]] = []  # (person index, channel, chat)
    for i, k in enumerate(kinds):
        if k < 0.70:
            accounts.append((i, "telegram", str(TELEGRAM_BASE + p0 + i)))
        elif k < 0.85:
            accounts.append((i, "wechat", f"oScale{p0 + i:012d}"))
    out.telegram_chats = [chat for _, ch, chat in accounts[:2000] if ch == "telegram"]
    seen = now - timedelta(days=1)
    await w.write(
        ChannelAccount,
        (
            {
                "id": a0 + n,
                "channel": ch,
                "external_id": chat,
                "chat_id": chat,
                "person_id": p0 + i,
                "display_name": None,
                "locale": None,
                "created_at": seen,
                "last_seen_at": seen,
                "blocked_at": None,
            }
            for n, (i, ch, chat) in enumerate(accounts)
        ),
    )

    # Roles: the first resident of each grid leads it; the first of each community manages it.
    leaders: dict[int, int] = {}
    for i in range(residents):
        leaders.setdefault(grid_of(i), p0 + i)
    managers = {community_of_grid(g): pid for g, pid in sorted(leaders.items(), reverse=True)}
    out.manager_ids = sorted(managers.values())
    volunteers = [i for i in range(0, residents, VOLUNTEER_EVERY)]

    def grants() -> Iterator[dict[str, Any]]:
        base = {"granted_by_id": None, "granted_at": now - timedelta(days=200), "reason": None}
        base |= {"revoked_at": None, "revoked_by_id": None}
        for g, pid in leaders.items():
            yield base | {"person_id": pid, "role": "grid_leader", "grid_id": g0 + g}
            yield base | {"person_id": pid, "role": "resident", "grid_id": g0 + g}
        for cid, pid in managers.items():
            yield base | {"person_id": pid, "role": "manager", "grid_id": None, "community_id": cid}
        for i in volunteers:
            g = grid_of(i)
            yield base | {"person_id": p0 + i, "role": "volunteer", "grid_id": g0 + g}

    await w.write(
        RoleGrant,
        (
            {"community_id": community_of_grid(r["grid_id"] - g0)} | r
            if r.get("grid_id") is not None
            else r
            for r in grants()
        ),
    )
    t0 = await _next_id(session, Team)
    await w.write(
        Team,
        (
            {
                "id": t0 + g,
                "community_id": community_of_grid(g),
                "grid_id": g0 + g,
                "name": f"第{g + 1}网格红管家",
            }
            for g in range(n_grids)
        ),
    )
    await w.write(
        TeamMember,
        ({"team_id": t0 + grid_of(i), "person_id": p0 + i, "skills": []} for i in volunteers),
    )
    await w.write(
        EscalationStep,
        (
            row
            for cid in out.community_ids
            for row in (
                {"community_id": cid, "level": 1, "condition": "untaken"}
                | {"after_minutes": 120, "role": "grid_leader"},
                {"community_id": cid, "level": 2, "condition": "undone"}
                | {"after_minutes": 4320, "role": "manager"},
            )
        ),
    )

    await _activity(session, w, rng, out, now, residents, p0, g0, t0, grid_of, community_of_grid)
    await _outbox(session, out, now, a0, len(accounts), outbox_months, outbox_per_account)
    await w.write(
        ProcessedUpdate,
        (
            {
                "channel": ch,
                "key": f"scale:{a0 + n}:{k}",
                "processed_at": now - timedelta(hours=rng.randrange(0, 24)),
            }
            for n, (_, ch, _) in enumerate(accounts)
            for k in range(2)
        ),
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        for model in (Street, Community, Grid, Building, Household, Person, ChannelAccount):
            await _advance_sequence(session, model)
        for model in (RoleGrant, Team, EscalationStep, Report, Task, Rating):
            await _advance_sequence(session, model)
        for model in (BenefitApplication, Notice):
            await _advance_sequence(session, model)
    return out


async def _advance_sequence(session: AsyncSession, model: type[SQLModel]) -> None:
    name = _table(model).name
    await session.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
            f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{name}"), false)'
        )
    )


async def _activity(
    session: AsyncSession,
    w: _Writer,
    rng: random.Random,
    out: Generated,
    now: datetime,
    residents: int,
    p0: int,
    g0: int,
    t0: int,
    grid_of: Any,
    community_of_grid: Any,
) -> None:
    """A year of reports with their tasks and ratings, applications and notices."""
    n_reports = int(residents * REPORTS_PER_RESIDENT_YEAR)
    r0 = await _next_id(session, Report)
    k0 = await _next_id(session, Task)
    year = timedelta(days=365)
    plans: list[tuple[int, int, datetime, str]] = []  # (reporter index, grid, created, state)
    for n in range(n_reports):
        i = rng.randrange(residents)
        created = now - year * (1 - (n + 0.5) / max(n_reports, 1))
        age = now - created
        if age > timedelta(days=14):
            state = "closed"
        else:
            state = rng.choice(("new", "taken", "taken", "done", "closed"))
        plans.append((i, grid_of(i), created, state))

    def report(n: int) -> dict[str, Any]:
        i, g, created, state = plans[n]
        taken = created + timedelta(hours=2) if state != "new" else None
        done = created + timedelta(days=2) if state in ("done", "closed") else None
        return {
            "id": r0 + n,
            "community_id": community_of_grid(g),
            "grid_id": g0 + g,
            "category": CATEGORIES[n % len(CATEGORIES)],
            "description": "楼道里堆满了杂物",
            "voice_ref": None,
            "building_id": None,
            "place": None,
            "latitude": None,
            "longitude": None,
            "reporter_id": p0 + i,
            "share_contact": False,
            "state": state,
            "task_id": k0 + n if state != "new" else None,
            "escalation_level": 0,
            "created_at": created,
            "respond_by": created + timedelta(days=1),
            "taken_at": taken,
            "done_at": done,
            "closed_at": done + timedelta(days=3) if state == "closed" else None,
            "updated_at": done or taken or created,
        }

    await w.write(Report, (report(n) for n in range(n_reports)))

    def volunteer_of(g: int) -> int:
        return p0 + min(g * PER_GRID, residents - 1) // VOLUNTEER_EVERY * VOLUNTEER_EVERY

    def task(n: int) -> dict[str, Any]:
        _i, g, created, state = plans[n]
        done = state in ("done", "closed")
        return {
            "id": k0 + n,
            "community_id": community_of_grid(g),
            "grid_id": g0 + g,
            "kind": "report",
            "report_id": r0 + n,
            "subject_person_id": None,
            "team_id": t0 + g,
            "title": "楼道杂物",
            "detail": "",
            "state": "done" if done else "taken",
            "assignee_id": volunteer_of(g),
            "assigned_by_id": None,
            "dedupe_key": f"report:{r0 + n}",
            "action_label_key": None,
            "action_payload": None,
            "created_by_id": None,
            "created_at": created,
            "due_at": created + timedelta(days=3),
            "taken_at": created + timedelta(hours=2),
            "done_at": created + timedelta(days=2) if done else None,
            "minutes_claimed": 60 if done else None,
            "hours_credited_at": created + timedelta(days=9) if done else None,
            "note": None,
        }

    await w.write(Task, (task(n) for n in range(n_reports) if plans[n][3] != "new"))

    def rating(n: int) -> dict[str, Any]:
        i, g, created, _ = plans[n]
        return {
            "report_id": r0 + n,
            "task_id": k0 + n,
            "rater_id": p0 + i,
            "volunteer_id": volunteer_of(g),
            "team_id": t0 + g,
            "stars": 4 + n % 2,
            "fixed": True,
            "comment": None,
            "voice_ref": None,
            "created_at": created + timedelta(days=3),
        }

    await w.write(
        Rating, (rating(n) for n in range(n_reports) if plans[n][3] == "closed" and n % 5 < 3)
    )

    n_apps = int(residents * APPLICATIONS_PER_RESIDENT)

    def application(n: int) -> dict[str, Any]:
        i = rng.randrange(residents)
        g = grid_of(i)
        status = ("submitted", "under_review", "approved", "approved", "rejected")[n % 5]
        submitted = now - timedelta(days=rng.randrange(1, 365))
        is_open = status in ("submitted", "under_review")
        return {
            "community_id": community_of_grid(g),
            "grid_id": g0 + g,
            "person_id": p0 + i,
            "programme": "elderly",
            "status": status,
            "open_key": f"{p0 + i}:elderly:{n}" if is_open else None,
            "filed_by_id": p0 + i,
            "on_behalf": False,
            "filer_role": "self",
            "birth_date": date(1944, 1, 1),
            "band_min_age": 80,
            "monthly_yuan": 100,
            "paid_from": None,
            "answers": {},
            "note": None,
            "reason": None,
            "reviewer_id": None,
            "recertifies_id": None,
            "valid_until": None,
            "resident_told_at": None,
            "submitted_at": submitted,
            "updated_at": submitted,
            "decided_at": None if is_open else submitted + timedelta(days=5),
        }

    await w.write(BenefitApplication, (application(n) for n in range(n_apps)))

    def notice(cid: int, week: int, author: int) -> dict[str, Any]:
        at = now - timedelta(weeks=52 - week)
        return {
            "community_id": cid,
            "author_id": author,
            "audience": "community",
            "audience_arg": None,
            "category": "general",
            "text": "本周六上午社区义诊。",
            "photo_ref": None,
            "status": "done",
            "scheduled_at": at,
            "enqueued_at": at,
            "finished_at": at + timedelta(hours=1),
            "cancelled_at": None,
            "recipients": 0,
            "unreachable": 0,
            "progress_reported": 100,
            "created_at": at,
        }

    await w.write(
        Notice,
        (
            notice(cid, week, author)
            for cid, author in zip(out.community_ids, out.manager_ids, strict=False)
            for week in range(52)
        ),
    )


async def _outbox(
    session: AsyncSession,
    out: Generated,
    now: datetime,
    a0: int,
    n_accounts: int,
    months: int,
    per_month: int,
) -> None:
    """`per_month` delivered rows per account per month, by one INSERT … SELECT per month."""
    if n_accounts == 0 or months <= 0 or per_month <= 0:
        return
    ts = UTCDateTime()
    for m in range(months):
        # A small table of (k, at): the k-th message of month m, at its time.
        slots = " UNION ALL ".join(f"SELECT {k} AS k, :at{k} AS at" for k in range(per_month))
        stmt = text(
            "INSERT INTO outbox (dedupe_key, channel, chat_id, account_id, person_id, kind,"
            ' locale, text, text_key, "values", choices, priority, status, attempts,'
            " not_before, lease_until, sent_at, last_error, created_at)"
            " SELECT 'scale:' || CAST(a.id AS TEXT) || ':' || :m || ':'"
            " || CAST(s.k AS TEXT), a.channel, a.chat_id, a.id, a.person_id, 'push', 'zh',"
            " '本周六上午社区义诊。', NULL, '{}', '[]', 5, 'sent', 1, s.at, NULL, s.at, NULL, s.at"
            f" FROM channelaccount a CROSS JOIN ({slots}) s"
            " WHERE a.id >= :a0 AND a.id < :a1"
        ).bindparams(
            *(bindparam(f"at{k}", type_=ts) for k in range(per_month)),
        )
        month_start = now - timedelta(days=30 * (m + 1))
        params: dict[str, Any] = {"m": str(m), "a0": a0, "a1": a0 + n_accounts}
        for k in range(per_month):
            params[f"at{k}"] = month_start + timedelta(days=30 * (k + 0.5) / per_month)
        result = await session.execute(stmt, params)
        out.rows["outbox"] = out.rows.get("outbox", 0) + int(result.rowcount)  # type: ignore[attr-defined]
