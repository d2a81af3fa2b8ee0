"""Events from a file (`linli import events FILE`): one event per row of a .csv or .xlsx, with
a report per row. Each row is its own transaction: a bad row is reported and changes nothing,
the good ones are created. A row whose title and start already exist (not cancelled) is
reported as already there, so importing the same file twice creates nothing the second time.

Columns (a header row, Chinese or English; order free): 标题 title, 类型 kind (活动 / 议事协商会,
activity / meeting), 开始 start, 结束 end ("2027-03-08 14:00", or a time of the start's day,
"16:00"), 地点 place, 名额 capacity, 对象 audience (全体居民 / 有孩子的家庭 / 志愿者 / 快递骑手,
all / families / volunteers / couriers), 可带人数 companions (how many may come with each person),
志愿者岗位 duties ("布置场地×2；签到×1", or a number of helpers). Times are the community's.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.db import Database
from models.errors import DomainError
from models.events import (
    Audience,
    Event,
    EventKind,
    add_duties,
    create_event,
    may_create_events,
    zone_of,
)
from models.signups import Slot
from models.tables import Person

COLUMNS = {
    "title": ("标题", "活动名称", "名称", "title"),
    "kind": ("类型", "kind", "type"),
    "start": ("开始", "开始时间", "start", "starts"),
    "end": ("结束", "结束时间", "end", "ends"),
    "place": ("地点", "place", "location"),
    "capacity": ("名额", "人数", "capacity", "places"),
    "audience": ("对象", "参加对象", "audience"),
    "companions": ("可带人数", "同行人数", "companions", "companions limit"),
    "duties": ("志愿者岗位", "岗位", "duties", "helpers"),
}
REQUIRED = ("title", "start", "end", "place", "capacity")
KINDS = {"活动": EventKind.ACTIVITY, "议事协商会": EventKind.MEETING, "会议": EventKind.MEETING}
AUDIENCES = {
    "全体居民": Audience.ALL,
    "所有居民": Audience.ALL,
    "有孩子的家庭": Audience.FAMILIES,
    "亲子家庭": Audience.FAMILIES,
    "志愿者": Audience.VOLUNTEERS,
    "快递骑手": Audience.COURIERS,
    "快递员": Audience.COURIERS,
}
WHEN = re.compile(r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]+(\d{1,2})[:：点](\d{2})?")
CLOCK = re.compile(r"^\s*(\d{1,2})[:：点](\d{2})?\s*$")
DUTY = re.compile(r"^\s*(.+?)\s*[×xX*]\s*(\d{1,2})\s*$")
MAX_ROWS = 500


@dataclass
class RowResult:
    """One row's outcome: `created` / `exists` / `error`, with a message key and its values."""

    row: int
    status: str
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    event_id: int | None = None


@dataclass
class ImportReport:
    rows: list[RowResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)


def _table(data: bytes, filename: str, limit: int | None = None) -> list[list[Any]]:
    """The file's non-empty rows (.xlsx by openpyxl, else CSV); the first `limit` rows only."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as err:  # a damaged or not-really-xlsx file
            raise DomainError("events.import_unreadable") from err
        sheet = book.active
        if sheet is None:
            raise DomainError("events.import_unreadable")
        table = [list(r) for r in sheet.iter_rows(values_only=True, max_row=limit)]
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030", errors="replace")  # Excel's CSV on a Chinese system
        try:
            table = [list(r) for r in itertools.islice(csv.reader(io.StringIO(text)), limit)]
        except csv.Error as err:  # e.g. a NUL byte: not a table
            raise DomainError("events.import_unreadable") from err
    return [r for r in table if any(c not in (None, "") for c in r)]


def read_rows(data: bytes, filename: str) -> list[dict[str, Any]]:
    """The file's rows as {column: value} by the header row (.xlsx by openpyxl, else CSV)."""
    table = _table(data, filename)
    if not table:
        raise DomainError("events.import_empty")
    names: dict[int, str] = {}
    for i, cell in enumerate(table[0]):
        head = str(cell or "").strip().lower()
        for column, aliases in COLUMNS.items():
            if head in aliases:
                names[i] = column
    missing = [c for c in REQUIRED if c not in names.values()]
    if missing:
        raise DomainError("events.import_columns", columns=", ".join(missing))
    if len(table) - 1 > MAX_ROWS:
        raise DomainError("events.import_too_many", limit=MAX_ROWS)
    return [{names[i]: v for i, v in enumerate(r) if i in names} for r in table[1:]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _moment(value: Any, zone: ZoneInfo, day_of: datetime | None = None) -> datetime:
    """A start or end: a spreadsheet datetime, '2027-03-08 14:00', or (an end) '16:00'."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    if isinstance(value, time) and day_of is not None:
        return datetime.combine(day_of.astimezone(zone).date(), value, zone)
    text = _text(value)
    m = WHEN.match(text)
    if m:
        year, month, day, hour = (int(m.group(i)) for i in range(1, 5))
        try:
            return datetime(year, month, day, hour, int(m.group(5) or 0), tzinfo=zone)
        except ValueError as err:
            raise DomainError("events.import_bad_time", value=text) from err
    m = CLOCK.match(text)
    if m and day_of is not None:
        local = day_of.astimezone(zone)
        try:
            return local.replace(hour=int(m.group(1)), minute=int(m.group(2) or 0))
        except ValueError as err:
            raise DomainError("events.import_bad_time", value=text) from err
    raise DomainError("events.import_bad_time", value=text or "-")


def _number(value: Any, name: str, low: int, high: int) -> int:
    text = _text(value) or "0"
    if not text.isdigit() or not low <= int(text) <= high:
        raise DomainError("events.import_bad_number", column=name, value=text)
    return int(text)


def _duties(value: Any) -> list[tuple[str | None, int]]:
    """'布置场地×2；签到×1' → [('布置场地', 2), ('签到', 1)]; '4' → [(None, 4)]."""
    text = _text(value)
    if not text:
        return []
    if text.isdigit():
        return [(None, int(text))] if int(text) else []
    out: list[tuple[str | None, int]] = []
    for part in re.split(r"[;；,，、]", text):
        if not part.strip():
            continue
        m = DUTY.match(part)
        out.append((m.group(1), int(m.group(2))) if m else (part.strip(), 1))
    return out


def _choice(
    value: Any, table: Mapping[str, str], allowed: Collection[str], default: str, key: str
) -> str:
    text = _text(value)
    if not text:
        return default
    found = table.get(text, text.lower())
    if found not in allowed:
        raise DomainError(key)
    return found


async def _one_row(
    s: AsyncSession,
    organiser_id: int,
    row: dict[str, Any],
    number: int,
    now: datetime,
    duty_title: str,
) -> RowResult:
    """One row's event (and its duties), in the caller's transaction or savepoint."""
    organiser = await s.get(Person, organiser_id)
    assert organiser is not None
    zone = await zone_of(s, organiser.community_id)
    missing = [c for c in REQUIRED if not _text(row.get(c))]
    if missing:
        raise DomainError("events.import_missing", columns=", ".join(missing))
    title, place = _text(row["title"]), _text(row["place"])
    starts = _moment(row["start"], zone)
    ends = _moment(row["end"], zone, day_of=starts)
    if ends <= starts:
        raise DomainError("signup.bad_times")
    kind = _choice(row.get("kind"), KINDS, set(EventKind), EventKind.ACTIVITY, "events.bad_kind")
    audience = _choice(
        row.get("audience"), AUDIENCES, set(Audience) - {Audience.GRID, Audience.INVITEES},
        Audience.ALL, "events.bad_audience",
    )  # fmt: skip
    capacity = _number(row["capacity"], "capacity", 1, 10000)
    companions = _number(row.get("companions"), "companions", 0, 9)
    duties = _duties(row.get("duties"))
    when = f"{starts.astimezone(zone):%Y-%m-%d %H:%M}"
    same = await s.execute(
        select(Event.id)
        .join(Slot, col(Slot.id) == Event.slot_id)
        .where(
            col(Event.community_id) == organiser.community_id,
            col(Event.title) == title,
            col(Event.cancelled_at).is_(None),
            col(Slot.starts_at) == starts,
        )
    )
    existing = same.scalar_one_or_none()
    if existing is not None:
        return RowResult(
            number, "exists", "events.import_exists", {"title": title, "when": when}, existing
        )
    event = await create_event(
        s,
        organiser=organiser,
        kind=kind,
        title=title,
        place=place,
        starts_at=starts,
        ends_at=ends,
        capacity=capacity,
        audience=audience,
        max_party=1 + companions,
        now=now,
    )
    helpers = 0
    for name, count in duties:
        await add_duties(s, event.id or 0, organiser_id, name or duty_title, count, now)
        helpers += count
    return RowResult(
        number,
        "created",
        "events.import_created",
        {"title": title, "when": when, "capacity": capacity, "helpers": helpers},
        event.id,
    )


async def import_events(
    db: Database,
    *,
    organiser_id: int,
    data: bytes,
    filename: str,
    now: datetime,
    duty_title: str = "志愿服务",
) -> ImportReport:
    """Create the file's events as `organiser_id` (a manager or grid leader), row by row."""
    async with db.session() as s:
        organiser = await s.get(Person, organiser_id)
        if organiser is None or not await may_create_events(s, organiser):
            raise DomainError("error.forbidden")
    report = ImportReport()
    for number, row in enumerate(read_rows(data, filename), start=2):  # row 1 is the header
        try:
            async with db.session() as s:
                result = await _one_row(s, organiser_id, row, number, now, duty_title)
        except DomainError as err:  # this row's transaction is rolled back: nothing of it stays
            result = RowResult(number, "error", err.key, dict(err.values))
        report.rows.append(result)
    return report


async def import_events_here(
    session: AsyncSession,
    *,
    organiser: Person,
    data: bytes,
    filename: str,
    now: datetime,
    duty_title: str = "志愿服务",
) -> ImportReport:
    """The same import in the caller's transaction (a file sent in the chat), each row in its
    own savepoint: a bad row is rolled back whole and reported, the good ones stay."""
    if not await may_create_events(session, organiser):
        raise DomainError("error.forbidden")
    report = ImportReport()
    for number, row in enumerate(read_rows(data, filename), start=2):  # row 1 is the header
        try:
            async with session.begin_nested():
                result = await _one_row(session, organiser.id or 0, row, number, now, duty_title)
        except DomainError as err:  # the row's savepoint is rolled back: nothing of it stays
            result = RowResult(number, "error", err.key, dict(err.values))
        report.rows.append(result)
    return report


def looks_like_events(data: bytes, filename: str) -> bool:
    """Whether a file is an events table: its header row names most of the required columns
    (a file sent in the chat is routed by its header; `read_rows` then says what is missing)."""
    try:
        table = _table(data, filename, limit=5)
    except DomainError:
        return False
    head = {str(c or "").strip().lower() for c in (table[0] if table else [])}
    found = [c for c in REQUIRED if head & set(COLUMNS[c])]
    return len(found) >= 3
