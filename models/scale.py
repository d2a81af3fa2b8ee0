"""A district-sized register for benchmarks and plan tests, written with bulk inserts.

`generate(session, residents=N, now=...)` adds one street (街道) with communities of 10,000
residents, and in proportion (per community of 10,000 unless said otherwise):

- 20 grids of 500 residents, 5 buildings (幢) per grid in estates of 4 grids, 40 households
  (户) per building, 2.5 residents per household; 95 % verified, ages 0–94;
- channel accounts for 85 % of residents (70 % Telegram, 15 % WeChat; every role holder on
  Telegram);
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

How it is fast (1,000,000 residents: 12 million rows, most of them outbox rows): the rows made
in Python (people, households, accounts, the year's activity) go as tuples straight to the
driver, a chunk a call (SQLite `executemany`, PostgreSQL `COPY`), the next chunk made while
the driver writes the last (`_Writer`); the outbox rows and inbox keys are made by the
database itself (INSERT … SELECT over the accounts); on PostgreSQL an empty outbox or inbox
table gets its indexes built after its rows, not row by row. `seed(db, …)` runs `generate` in
a transaction of its own under `loading`'s settings (a large SQLite page cache; for a
benchmark's scratch file no journal and no syncing; PostgreSQL: no foreign-key triggers,
ANALYZE afterwards) and times each table (`Generated.seconds`). `linli seed scale` uses it
without `scratch`; the plan tests call `generate` in their own session.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from models.benefits.tables import BenefitApplication
from models.db import Database, UTCDateTime
from models.notices import Notice
from models.reports.tables import EscalationStep, Rating, Report
from models.tables import (
    Building,
    ChannelAccount,
    Community,
    Grid,
    Household,
    Person,
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
CHUNK = 20_000
CATEGORIES = ("junk", "light", "water", "noise", "other")
TELEGRAM_BASE = 7_000_000_000


@dataclass
class Generated:
    """What `generate` wrote: rows per table, and the ids a benchmark needs."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per table written
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


def _chunks(rows: Iterable[tuple[Any, ...]], size: int = CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    part: list[tuple[Any, ...]] = []
    for row in rows:
        part.append(row)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


class _Writer:
    """Streams generated rows (tuples in the order of the columns named) into tables through
    the raw driver, in chunks, and counts them.

    SQLAlchemy's executemany of dicts cost ~20 µs a row in Python (parameters processed and
    checked row by row, measured with cProfile at 100,000 residents: 30 of 33 s of CPU); here
    each value goes through its column type's own bind processor once per distinct value (the
    same few dates recur), then one driver call a chunk: SQLite `executemany` of a prepared
    INSERT (the loop is in C), PostgreSQL `COPY … FROM STDIN` (asyncpg
    `copy_records_to_table`). Columns not named get their scalar default, as Core would give.
    Both run in the session's transaction.
    """

    def __init__(self, session: AsyncSession, out: Generated) -> None:
        self.session = session
        self.out = out
        self.dialect = session.get_bind().dialect
        self.postgresql = self.dialect.name == "postgresql"
        self._driver: Any = None

    async def driver(self) -> Any:
        if self._driver is None:
            connection = await self.session.connection()
            raw = await connection.get_raw_connection()
            self._driver = raw.driver_connection
        return self._driver

    def bound(self, model: type[SQLModel], column: str, values: list[Any]) -> list[Any]:
        """`values` as `column`'s type binds them (for rows written with `convert=False`)."""
        proc = _table(model).c[column].type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return [v if proc is None or v is None else proc(v) for v in values]

    async def write(
        self,
        model: type[SQLModel],
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
        *,
        convert: bool = True,
    ) -> None:
        """Write `rows`; `convert=False`: the values are already as the driver takes them
        (`bound`; integers, strings and booleans need nothing on either database)."""
        t = _table(model)
        started = time.perf_counter()
        names = list(columns)
        extra = [
            (c.name, c.default.arg)  # type: ignore[attr-defined]
            for c in t.columns
            if c.name not in names and c.default is not None and c.default.is_scalar
        ]
        names += [n for n, _ in extra]
        tail = tuple(v for _, v in extra)
        procs: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]] = []
        for i, name in enumerate(names):
            proc = t.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect)
            if proc is not None and (convert or i >= len(columns)):
                procs.append((i, proc, {}))
        driver = await self.driver()
        quoted = ", ".join(f'"{n}"' for n in names)
        sql = f'INSERT INTO "{t.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})'
        # The driver writes one chunk (SQLite: in aiosqlite's thread; PostgreSQL: the server)
        # while the next is made here.
        pending: asyncio.Future[Any] | None = None
        for part in _chunks(rows):
            bound = [_convert(row + tail, procs) for row in part] if procs or tail else part
            if pending is not None:
                await pending
            if self.postgresql:
                pending = asyncio.ensure_future(
                    driver.copy_records_to_table(t.name, records=bound, columns=names)
                )
            else:
                pending = asyncio.ensure_future(driver.executemany(sql, bound))
            await asyncio.sleep(0)  # let it start
            self.out.rows[t.name] = self.out.rows.get(t.name, 0) + len(part)
        if pending is not None:
            await pending
        self.out.seconds[t.name] = round(
            self.out.seconds.get(t.name, 0.0) + time.perf_counter() - started, 3
        )

    async def write_dicts(self, model: type[SQLModel], rows: Iterable[dict[str, Any]]) -> None:
        """Rows as dicts with the same keys (the smaller tables): written as tuples."""
        it = iter(rows)
        first = next(it, None)
        if first is None:
            return
        columns = tuple(first)
        values = (tuple(r.values()) for r in itertools.chain([first], it))
        await self.write(model, columns, values)


def _convert(
    row: tuple[Any, ...], procs: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]]
) -> tuple[Any, ...]:
    """A row with each value as its column type binds it (memoised per distinct value)."""
    values = list(row)
    for i, proc, seen in procs:
        value = values[i]
        if value is None:
            continue
        try:
            values[i] = seen[value]
        except KeyError:
            values[i] = seen[value] = proc(value)
        except TypeError:  # unhashable (JSON lists and dicts): converted each time
            values[i] = proc(value)
    return tuple(values)


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
    await w.write(Street, ("id", "name"), [(sid, f"{name}{sid}")])
    out.street_id = sid

    c0 = await _next_id(session, Community)
    out.community_ids = [c0 + i for i in range(n_communities)]
    await w.write(
        Community,
        ("id", "street_id", "name", "timezone", "latitude", "longitude", "radius_m"),
        (
            (c0 + i, sid, f"规模社区{i + 1}", "Asia/Shanghai", 31.23 + i * 0.01, 121.47, 2000)
            for i in range(n_communities)
        ),
    )
    grids_per_community = math.ceil(n_grids / n_communities)

    def community_of_grid(g: int) -> int:
        return c0 + min(g // grids_per_community, n_communities - 1)

    g0 = await _next_id(session, Grid)
    await w.write(
        Grid,
        ("id", "community_id", "name"),
        ((g0 + g, community_of_grid(g), f"第{g + 1}网格") for g in range(n_grids)),
    )
    b0 = await _next_id(session, Building)

    def grid_of_building(b: int) -> int:
        return min(b // BUILDINGS_PER_GRID, n_grids - 1)

    await w.write(
        Building,
        ("id", "community_id", "grid_id", "estate", "number", "latitude", "longitude"),
        (
            (
                b0 + b,
                community_of_grid(grid_of_building(b)),
                g0 + grid_of_building(b),
                f"规模小区{grid_of_building(b) // GRIDS_PER_ESTATE + 1}",
                str(b + 1),
                None,
                None,
            )
            for b in range(n_buildings)
        ),
    )
    h0 = await _next_id(session, Household)

    def building_of_household(h: int) -> int:
        return min(h // HOUSEHOLDS_PER_BUILDING, n_buildings - 1)

    await w.write(
        Household,
        ("id", "grid_id", "building_id", "unit", "room"),
        (
            (
                h0 + h,
                g0 + grid_of_building(building_of_household(h)),
                b0 + building_of_household(h),
                str(h % HOUSEHOLDS_PER_BUILDING // 10 + 1),
                f"{h % 10 + 1:02d}{h % HOUSEHOLDS_PER_BUILDING:02d}",
            )
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
    # The few distinct dates and times, made once (a person's are drawn from these).
    birthdays = w.bound(Person, "birth_date", [today - timedelta(days=d) for d in range(95 * 365)])
    verified_ats = w.bound(Person, "verified_at", [now - timedelta(days=d) for d in range(700)])
    created_ats = w.bound(Person, "created_at", [now - timedelta(days=d) for d in range(730)])
    draw, below = rng.randrange, rng.random

    def people() -> Iterator[tuple[Any, ...]]:
        for i in range(residents):
            g = grid_of(i)
            verified = below() < 0.95
            yield (
                p0 + i,
                community_of_grid(g),
                g0 + g,
                h0 + household_of(i),
                f"居民{i:07d}",
                f"139{i:08d}",
                birthdays[draw(0, 95 * 365)],
                "zh" if below() < 0.9 else "en",
                verified,
                None,
                verified_ats[draw(1, 700)] if verified else None,
                created_ats[draw(1, 730)],
            )

    await w.write(
        Person,
        (
            "id",
            "community_id",
            "grid_id",
            "household_id",
            "name",
            "phone",
            "birth_date",
            "locale",
            "verified",
            "verified_by_id",
            "verified_at",
            "created_at",
        ),
        people(),
        convert=False,
    )

    # Roles: the first resident of each grid leads it; the first of each community manages it.
    leaders: dict[int, int] = {}
    for i in range(residents):
        leaders.setdefault(grid_of(i), p0 + i)
    managers = {community_of_grid(g): pid for g, pid in sorted(leaders.items(), reverse=True)}
    out.manager_ids = sorted(managers.values())
    volunteers = list(range(0, residents, VOLUNTEER_EVERY))
    # Channel accounts: 70 % Telegram, 15 % WeChat, 15 % none; everyone holding a role (grid
    # leaders, managers, volunteers: 2 % of residents) is on Telegram, as staff use the bot.
    staff = {pid - p0 for pid in leaders.values()} | set(volunteers)
    a0 = await _next_id(session, ChannelAccount)
    accounts: list[tuple[int, str, str]] = []  # (person index, channel, chat)
    for i in range(residents):
        k = below()
        if k < 0.70 or i in staff:
            accounts.append((i, "telegram", str(TELEGRAM_BASE + p0 + i)))
        elif k < 0.85:
            accounts.append((i, "wechat", f"oScale{p0 + i:012d}"))
    out.telegram_chats = [chat for _, ch, chat in accounts[:2000] if ch == "telegram"]
    (seen,) = w.bound(ChannelAccount, "created_at", [now - timedelta(days=1)])
    await w.write(
        ChannelAccount,
        (
            "id",
            "channel",
            "external_id",
            "chat_id",
            "person_id",
            "display_name",
            "locale",
            "created_at",
            "last_seen_at",
            "blocked_at",
        ),
        (
            (a0 + n, ch, chat, chat, p0 + i, None, None, seen, seen, None)
            for n, (i, ch, chat) in enumerate(accounts)
        ),
        convert=False,
    )

    granted = now - timedelta(days=200)

    def grants() -> Iterator[tuple[Any, ...]]:
        for g, pid in leaders.items():
            yield (pid, "grid_leader", community_of_grid(g), g0 + g)
            yield (pid, "resident", community_of_grid(g), g0 + g)
        for cid, pid in managers.items():
            yield (pid, "manager", cid, None)
        for i in volunteers:
            g = grid_of(i)
            yield (p0 + i, "volunteer", community_of_grid(g), g0 + g)

    await w.write(
        RoleGrant,
        (
            "person_id",
            "role",
            "community_id",
            "grid_id",
            "granted_by_id",
            "granted_at",
            "reason",
            "revoked_at",
            "revoked_by_id",
        ),
        ((*r, None, granted, None, None, None) for r in grants()),
    )
    t0 = await _next_id(session, Team)
    await w.write(
        Team,
        ("id", "community_id", "grid_id", "name"),
        ((t0 + g, community_of_grid(g), g0 + g, f"第{g + 1}网格红管家") for g in range(n_grids)),
    )
    await w.write(
        TeamMember,
        ("team_id", "person_id", "skills"),
        ((t0 + grid_of(i), p0 + i, []) for i in volunteers),
    )
    await w.write(
        EscalationStep,
        ("community_id", "level", "condition", "after_minutes", "role"),
        (
            row
            for cid in out.community_ids
            for row in (
                (cid, 1, "untaken", 120, "grid_leader"),
                (cid, 2, "undone", 4320, "manager"),
            )
        ),
    )

    await _activity(session, w, rng, out, now, residents, p0, g0, t0, grid_of, community_of_grid)
    await _outbox(session, out, now, a0, len(accounts), outbox_months, outbox_per_account)
    await _inbox_keys(session, out, now, a0, len(accounts))
    if w.postgresql:
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

    await w.write_dicts(Report, (report(n) for n in range(n_reports)))

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

    await w.write_dicts(Task, (task(n) for n in range(n_reports) if plans[n][3] != "new"))

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

    await w.write_dicts(
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

    await w.write_dicts(BenefitApplication, (application(n) for n in range(n_apps)))

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

    await w.write_dicts(
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
    started = time.perf_counter()
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
        async with _indexes_after(session, "outbox"):
            result = await session.execute(stmt, params)
        out.rows["outbox"] = out.rows.get("outbox", 0) + int(result.rowcount)  # type: ignore[attr-defined]
    out.seconds["outbox"] = round(time.perf_counter() - started, 3)


@asynccontextmanager
async def _indexes_after(session: AsyncSession, table: str) -> AsyncIterator[None]:
    """PostgreSQL, into an empty `table`: its indexes (but the primary key) dropped for the
    block and built again after it, in the same transaction (a sorted build of millions of
    rows, instead of each row's entry put into every index). Elsewhere: nothing."""
    if (
        session.get_bind().dialect.name != "postgresql"
        or (await session.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{table}")'))).scalar_one()
    ):
        yield
        return
    constraints = (
        await session.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"
            ),
            {"t": table},
        )
    ).all()
    indexes = (
        await session.execute(
            text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = :t"
                " AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM"
                " pg_constraint c WHERE c.conrelid = CAST(:t AS regclass)"
                " AND c.conname = i.indexname)"
            ),
            {"t": table},
        )
    ).all()
    for name, _ in constraints:
        await session.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        await session.execute(text(f'DROP INDEX "{name}"'))
    yield
    await session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for name, definition in constraints:
        await session.execute(text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))
    for _, definition in indexes:
        await session.execute(text(definition))


async def _inbox_keys(
    session: AsyncSession, out: Generated, now: datetime, a0: int, n_accounts: int
) -> None:
    """Two processed-update keys per account within the last day, by INSERT … SELECT on the
    database side (one statement; the hour of each from the account's id)."""
    if n_accounts == 0:
        return
    started = time.perf_counter()
    ts = UTCDateTime()
    when = " ".join(f"WHEN {h} THEN :at{h}" for h in range(24))
    stmt = text(
        'INSERT INTO processedupdate (channel, "key", processed_at)'
        " SELECT a.channel, 'scale:' || CAST(a.id AS TEXT) || ':' || CAST(k.k AS TEXT),"
        f" CASE (a.id * 7 + k.k * 5) % 24 {when} END"
        " FROM channelaccount a CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) k"
        " WHERE a.id >= :a0 AND a.id < :a1"
    ).bindparams(*(bindparam(f"at{h}", type_=ts) for h in range(24)))
    params: dict[str, Any] = {"a0": a0, "a1": a0 + n_accounts}
    for h in range(24):
        params[f"at{h}"] = now - timedelta(hours=h, minutes=30)
    async with _indexes_after(session, "processedupdate"):
        result = await session.execute(stmt, params)
    out.rows["processedupdate"] = int(result.rowcount)  # type: ignore[attr-defined]
    out.seconds["processedupdate"] = round(time.perf_counter() - started, 3)


LOAD_CACHE_KIB = 512 * 1024  # SQLite page cache while generating (the default is 2 MiB)


@asynccontextmanager
async def loading(db: Database, *, scratch: bool = False) -> AsyncIterator[None]:
    """Settings for a bulk load on `db`'s connection, put back afterwards.

    SQLite: a larger page cache (the indexes of a million rows do not fit in 2 MiB); with
    `scratch` (a benchmark's own throw-away file, nobody else connected) also no rollback
    journal and no syncing (`journal_mode = OFF`, `synchronous = OFF`): the 3 GB of a
    million residents' pages are written once, not to the WAL and then again at the
    checkpoint; a crash mid-load leaves a broken scratch file, never a real database.
    PostgreSQL (`seed`): with `scratch`, the commit does not wait for the WAL flush
    (`synchronous_commit = off`) and the generated rows skip the foreign-key triggers
    (`session_replication_role = replica`, for the transaction only; needs a superuser).
    """
    if db.is_sqlite:
        async with db.engine.connect() as conn:
            before = {
                p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar_one()
                for p in ("cache_size", "journal_mode", "synchronous")
            }
            await conn.exec_driver_sql(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}")
            if scratch:
                await conn.exec_driver_sql("PRAGMA journal_mode = OFF")
                await conn.exec_driver_sql("PRAGMA synchronous = OFF")
        try:
            yield
        finally:
            async with db.engine.connect() as conn:
                if scratch:
                    await conn.exec_driver_sql(f"PRAGMA journal_mode = {before['journal_mode']}")
                    await conn.exec_driver_sql(f"PRAGMA synchronous = {int(before['synchronous'])}")
                await conn.exec_driver_sql(f"PRAGMA cache_size = {int(before['cache_size'])}")
        return
    yield


async def seed(
    db: Database, *, residents: int, now: datetime, scratch: bool = False, **options: Any
) -> Generated:
    """`generate` in one transaction of its own under `loading`'s settings; on PostgreSQL the
    planner's statistics are then brought up to date (ANALYZE), as after any bulk load."""
    started = time.perf_counter()
    async with loading(db, scratch=scratch):
        async with db.session() as session:
            if scratch and not db.is_sqlite:
                await session.execute(text("SET LOCAL synchronous_commit = off"))
                # No foreign-key triggers for the generated rows (consistent by construction):
                # each checked row was a SELECT … FOR KEY SHARE of its parents.
                await session.execute(text("SET LOCAL session_replication_role = replica"))
            made = await generate(session, residents=residents, now=now, **options)
            committing = time.perf_counter()
        made.seconds["commit"] = round(time.perf_counter() - committing, 3)
    if not db.is_sqlite:
        analysing = time.perf_counter()
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("ANALYZE"))
        made.seconds["analyze"] = round(time.perf_counter() - analysing, 3)
    made.seconds["total"] = round(time.perf_counter() - started, 3)
    return made
