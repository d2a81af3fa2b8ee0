"""The resident register (居民底册): import from Excel (.xlsx) or CSV, export in the same format.

One row is one person. The ID number identifies them, so importing the same file twice
changes nothing the second time; every row is reported as added, updated, unchanged or
rejected (with the reason as a message key). A file that is not a register at all (a
picture renamed .xlsx, a spreadsheet without the name and ID columns) changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Text, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.idcard import IdCipher, IdNumber, parse_id_number
from models.onboarding import clean_name, clean_phone, clean_room_part
from models.tables import Building, Grid, Household, Person

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
HEADER_SEARCH_ROWS = 10  # a register often has a title line (or a few) above its header


class ResidentRecord(SQLModel, table=True):
    """What the register says about a person beyond `Person`: the ID number and care notes."""

    __table_args__ = (UniqueConstraint("community_id", "id_hash"),)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    # Keyed hash (HMAC-SHA256) to find a person by ID number; the number itself only encrypted.
    id_hash: str | None = Field(default=None, max_length=64)
    id_cipher: str | None = Field(default=None, sa_type=Text)
    id_masked: str | None = Field(default=None, max_length=18)
    relation: str | None = Field(default=None, max_length=16)  # 与户主关系
    lives_alone: bool = False
    limited_mobility: bool = False
    notes: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class RegisterImport(SQLModel, table=True):
    """One import of a register file: who, when, what came of it (the audit trail)."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    by_id: int | None = Field(default=None, foreign_key="person.id")
    source: str = Field(max_length=16)  # chat / cli
    filename: str = Field(max_length=128)
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


# Column order of the format (export writes exactly these headers), with accepted aliases.
COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("name", "姓名", ("名字", "name")),
    ("id_number", "身份证号", ("身份证", "身份证号码", "公民身份号码", "id", "idnumber")),
    ("phone", "手机号", ("手机", "电话", "联系电话", "手机号码", "phone", "mobile")),
    ("estate", "小区", ("小区名称", "estate")),
    ("building", "楼栋", ("楼号", "幢", "栋", "幢号", "building")),
    ("unit", "单元", ("单元号", "unit")),
    ("room", "室", ("房号", "室号", "门牌号", "room")),
    ("grid", "网格", ("所属网格", "grid")),
    ("relation", "与户主关系", ("关系", "relation")),
    ("lives_alone", "独居", ("是否独居", "livesalone")),
    ("limited_mobility", "行动不便", ("是否行动不便", "limitedmobility")),
    ("notes", "备注", ("notes", "remark", "remarks")),
)
ADDRESS = ("estate", "building", "unit", "room")
YES = frozenset({"是", "y", "yes", "1", "true", "√", "✓", "有"})
NO = frozenset({"否", "n", "no", "0", "false", "", "无", "×"})
MOBILITY_WORDS = ("行动不便", "卧床", "轮椅", "瘫痪", "失能")


def _header_key(cell: str) -> str:
    text = unicodedata.normalize("NFKC", cell).strip().lower()
    text = re.sub(r"[\s*_:：()（）]", "", text)
    return text


_HEADERS: dict[str, str] = {}
for _field, _zh, _aliases in COLUMNS:
    for _name in (_zh, *_aliases):
        _HEADERS[_header_key(_name)] = _field


@dataclass
class RowResult:
    """What became of one row: its line in the file, the outcome, why (a message key)."""

    line: int
    status: str  # added / updated / unchanged / rejected
    name: str = ""
    masked_id: str | None = None
    reason: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    """The outcome of an import, row by row."""

    rows: list[RowResult]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def rejected(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == "rejected"]


class Rejected(Exception):
    """A row cannot be imported; `key` says why."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


# ---- reading files ----


def _cell_text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if column == "id_number":
            # Excel keeps 15 significant digits: an 18-digit number typed into a number cell
            # has lost its last digits for good.
            raise Rejected("roster.id_as_number")
        value = int(value) if value.is_integer() else value
    if isinstance(value, int) and column == "id_number" and len(str(value)) > 15:
        raise Rejected("roster.id_as_number")
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value).strip()


def _sheet_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # not a workbook at all: a picture, a .xls, a broken file
        raise DomainError("roster.not_a_register") from None
    try:
        sheet = book.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
            yield number, list(row)
    finally:
        book.close()


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError("roster.not_a_register")
    if "\x00" in text:
        raise DomainError("roster.not_a_register")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1):
        yield number, list(row)


def read_register(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, {column: cell}) for each data row; DomainError when the file is not a register."""
    if len(data) > MAX_BYTES:
        raise DomainError("roster.too_big", mb=MAX_BYTES // (1024 * 1024))
    if data[:4] == b"PK\x03\x04":
        rows = _sheet_rows(data)
    elif zipfile.is_zipfile(io.BytesIO(data)) or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise DomainError("roster.not_a_register")  # another archive, or an old .xls
    else:
        rows = _csv_rows(data)
    header: dict[int, str] | None = None
    for number, row in rows:
        if header is None:
            if number > HEADER_SEARCH_ROWS:
                break
            found = {
                i: _HEADERS[_header_key(str(cell))]
                for i, cell in enumerate(row)
                if cell is not None and _header_key(str(cell)) in _HEADERS
            }
            if {"name", "id_number"} <= set(found.values()):
                header = found
            continue
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        yield number, {name: row[i] if i < len(row) else None for i, name in header.items()}
    if header is None:
        raise DomainError("roster.not_a_register")


# ---- one row ----


@dataclass
class ParsedRow:
    """A row that passed the checks that need no database."""

    line: int
    name: str
    number: IdNumber
    phone: str | None
    address: tuple[str, str, str, str] | None
    grid: str | None
    relation: str | None
    lives_alone: bool
    limited_mobility: bool
    notes: str | None


def _flag(cells: dict[str, str], column: str, label: str) -> bool | None:
    if column not in cells:
        return None
    value = cells[column].strip().lower()
    if not value:
        return None
    if value in YES:
        return True
    if value in NO:
        return False
    raise Rejected("roster.bad_yes_no", column=label)


def _phone(text: str) -> str | None:
    if not text:
        return None
    try:
        return clean_phone(text)
    except DomainError:
        landline = re.sub(r"[\s()（）]", "", text)
        if re.fullmatch(r"0\d{2,3}-?\d{7,8}", landline):
            return landline
        raise Rejected("roster.bad_phone") from None


def building_number(text: str) -> str:
    """'3', '3幢', '3栋', '3号楼' → '3'."""
    number = unicodedata.normalize("NFKC", text).strip()
    for suffix in ("号楼", "幢", "栋", "号"):
        number = number.removesuffix(suffix)
    return number.strip()


def parse_row(line: int, raw: dict[str, Any], today: date) -> ParsedRow:
    """Check one row without the database; Rejected says why not."""
    cells = {column: _cell_text(value, column) for column, value in raw.items()}
    try:
        name = clean_name(cells.get("name", ""))
    except DomainError:
        raise Rejected("roster.bad_name") from None
    if not cells.get("id_number"):
        raise Rejected("roster.no_id")
    try:
        number = parse_id_number(cells["id_number"], today)
    except DomainError as err:
        raise Rejected(err.key) from None
    parts = tuple(cells.get(c, "") for c in ADDRESS)
    address: tuple[str, str, str, str] | None = None
    if any(parts):
        if not all(parts):
            raise Rejected("roster.incomplete_address")
        try:
            unit, room = clean_room_part(parts[2]), clean_room_part(parts[3])
        except DomainError:
            raise Rejected("roster.bad_address") from None
        number_text = building_number(parts[1])
        if not number_text or len(number_text) > 16 or len(parts[0]) > 64:
            raise Rejected("roster.bad_address")
        address = (parts[0].strip(), number_text, unit, room)
    grid = cells.get("grid", "").strip() or None
    if address is None and grid is None:
        raise Rejected("roster.no_place")
    notes = cells.get("notes", "").strip()[:200] or None
    lives_alone = _flag(cells, "lives_alone", "独居")
    mobility = _flag(cells, "limited_mobility", "行动不便")
    return ParsedRow(
        line=line,
        name=name,
        number=number,
        phone=_phone(cells.get("phone", "")),
        address=address,
        grid=grid,
        relation=cells.get("relation", "").strip()[:16] or None,
        lives_alone=bool(lives_alone) or (lives_alone is None and "独居" in (notes or "")),
        limited_mobility=bool(mobility)
        or (mobility is None and any(w in (notes or "") for w in MOBILITY_WORDS)),
        notes=notes,
    )


# ---- the import ----


def _grid_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().removesuffix("网格")


class _Places:
    """Grids, buildings and households of one community, loaded once, created as needed."""

    def __init__(self, session: AsyncSession, community_id: int) -> None:
        self.session = session
        self.community_id = community_id
        self.grids: dict[str, Grid] = {}
        self.grid_names: dict[int, str] = {}
        self.buildings: dict[tuple[str, str], Building] = {}
        self.households: dict[tuple[int, str, str], Household] = {}

    async def load(self) -> None:
        s, cid = self.session, self.community_id
        for g in (await s.execute(select(Grid).where(col(Grid.community_id) == cid))).scalars():
            self.grids[_grid_key(g.name)] = g
            self.grid_names[g.id] = g.name  # type: ignore[index]
        for b in (
            await s.execute(select(Building).where(col(Building.community_id) == cid))
        ).scalars():
            self.buildings[(b.estate, b.number)] = b
        for h in (
            await s.execute(
                select(Household)
                .join(Building, col(Building.id) == Household.building_id)
                .where(col(Building.community_id) == cid)
            )
        ).scalars():
            self.households[(h.building_id, h.unit, h.room)] = h

    async def place(self, row: ParsedRow) -> tuple[int, int | None]:
        """(grid id, household id) of a row; Rejected for an unknown grid or a mismatch."""
        grid = None
        if row.grid is not None:
            grid = self.grids.get(_grid_key(row.grid))
            if grid is None:
                raise Rejected("roster.unknown_grid", grid=row.grid)
        if row.address is None:
            assert grid is not None and grid.id is not None
            return grid.id, None
        estate, number, unit, room = row.address
        building = self.buildings.get((estate, number))
        if building is None:
            if grid is None:
                raise Rejected("roster.unknown_building", estate=estate, number=number)
            assert grid.id is not None
            building = Building(
                community_id=self.community_id, grid_id=grid.id, estate=estate, number=number
            )
            self.session.add(building)
            await self.session.flush()
            self.buildings[(estate, number)] = building
        elif grid is not None and building.grid_id != grid.id:
            raise Rejected(
                "roster.other_grid",
                grid=self.grid_names.get(building.grid_id, ""),
                estate=estate,
                number=number,
            )
        assert building.id is not None
        household = self.households.get((building.id, unit, room))
        if household is None:
            household = Household(
                grid_id=building.grid_id, building_id=building.id, unit=unit, room=room
            )
            self.session.add(household)
            await self.session.flush()
            self.households[(building.id, unit, room)] = household
        return building.grid_id, household.id


async def import_register(
    session: AsyncSession,
    cipher: IdCipher,
    *,
    community_id: int,
    data: bytes,
    filename: str,
    now: datetime,
    today: date,
    by: Person | None = None,
    source: str = "chat",
) -> ImportReport:
    """Add or update everyone in the file; report each row. Nothing changes for a non-register."""
    parsed: list[ParsedRow] = []
    results: dict[int, RowResult] = {}
    count = 0
    for line, raw in read_register(data):
        count += 1
        if count > MAX_ROWS:
            raise DomainError("roster.too_many_rows", max=MAX_ROWS)
        try:
            row = parse_row(line, raw, today)
        except Rejected as err:
            name = str(raw.get("name") or "").strip()[:20]
            results[line] = RowResult(line, "rejected", name, None, err.key, err.values)
            continue
        parsed.append(row)
    if not parsed and not results:
        raise DomainError("roster.empty")

    # The same ID number twice in one file: which row is right is not ours to guess.
    lines_of: dict[str, list[int]] = {}
    for row in parsed:
        lines_of.setdefault(row.number.value, []).append(row.line)
    places = _Places(session, community_id)
    await places.load()
    by_hash = {
        r.id_hash: r
        for r in (
            await session.execute(
                select(ResidentRecord).where(
                    col(ResidentRecord.community_id) == community_id,
                    col(ResidentRecord.id_hash).is_not(None),
                )
            )
        ).scalars()
    }
    for row in parsed:
        masked = row.number.masked
        lines = lines_of[row.number.value]
        if len(lines) > 1:
            others = "、".join(str(n) for n in lines if n != row.line)
            results[row.line] = RowResult(
                row.line, "rejected", row.name, masked, "roster.duplicate", {"lines": others}
            )
            continue
        try:
            grid_id, household_id = await places.place(row)
        except Rejected as err:
            results[row.line] = RowResult(
                row.line, "rejected", row.name, masked, err.key, err.values
            )
            continue
        digest = cipher.lookup_hash(row.number)
        status = await _apply_row(
            session, cipher, row, digest, by_hash.get(digest), community_id, grid_id,
            household_id, now, by,
        )  # fmt: skip
        results[row.line] = RowResult(row.line, status, row.name, masked)
    report = ImportReport([results[n] for n in sorted(results)])
    session.add(
        RegisterImport(
            community_id=community_id,
            by_id=by.id if by else None,
            source=source,
            filename=filename[-128:],
            rows=len(report.rows),
            added=report.count("added"),
            updated=report.count("updated"),
            unchanged=report.count("unchanged"),
            rejected=report.count("rejected"),
            at=now,
        )
    )
    await session.flush()
    return report


async def _adoptable(
    session: AsyncSession, community_id: int, row: ParsedRow, household_id: int | None
) -> Person | None:
    """Someone already known (self-registered, or seeded) by name and home or phone, without an ID."""
    query = (
        select(Person)
        .outerjoin(ResidentRecord, col(ResidentRecord.person_id) == Person.id)
        .where(
            col(Person.community_id) == community_id,
            col(Person.name) == row.name,
            col(ResidentRecord.id_hash).is_(None),
        )
        .order_by(col(Person.id))
    )
    for person in (await session.execute(query)).scalars():
        if (household_id is not None and person.household_id == household_id) or (
            row.phone is not None and person.phone == row.phone
        ):
            return person
    return None


async def _apply_row(
    session: AsyncSession,
    cipher: IdCipher,
    row: ParsedRow,
    digest: str,
    record: ResidentRecord | None,
    community_id: int,
    grid_id: int,
    household_id: int | None,
    now: datetime,
    by: Person | None,
) -> str:
    person: Person | None = None
    if record is not None:
        person = await session.get(Person, record.person_id)
    status = "updated"
    if person is None:
        person = await _adoptable(session, community_id, row, household_id)
    if person is None:
        status = "added"
        person = Person(community_id=community_id, name=row.name, created_at=now)
        session.add(person)
    wanted: dict[str, Any] = {
        "name": row.name,
        "phone": row.phone if row.phone is not None else person.phone,
        "birth_date": row.number.birth_date,
        "grid_id": grid_id,
        "household_id": household_id if household_id is not None else person.household_id,
    }
    changed = any(getattr(person, k) != v for k, v in wanted.items()) or not person.verified
    for k, v in wanted.items():
        setattr(person, k, v)
    if not person.verified:
        person.verified = True
        person.verified_at = now
        person.verified_by_id = by.id if by else None
    await session.flush()
    assert person.id is not None
    if record is None:
        record = await session.get(ResidentRecord, person.id)
    if record is None:
        record = ResidentRecord(person_id=person.id, community_id=community_id, updated_at=now)
        session.add(record)
        changed = True
    notes: dict[str, Any] = {
        "relation": row.relation,
        "lives_alone": row.lives_alone,
        "limited_mobility": row.limited_mobility,
        "notes": row.notes,
    }
    if record.id_hash != digest:
        # Encrypted once; an unchanged row is not re-encrypted (Fernet output differs each time).
        record.id_hash = digest
        record.id_cipher = cipher.encrypt(row.number)
        record.id_masked = row.number.masked
        changed = True
    if any(getattr(record, k) != v for k, v in notes.items()):
        changed = True
        for k, v in notes.items():
            setattr(record, k, v)
    if not changed:
        return "unchanged"
    record.updated_at = now
    return status


# ---- export ----


async def register_rows(
    session: AsyncSession, cipher: IdCipher, community_id: int
) -> list[list[str]]:
    """The register as rows of the import format (header first); only people with an ID number."""
    query = (
        select(ResidentRecord, Person, Grid, Household, Building)
        .join(Person, col(Person.id) == ResidentRecord.person_id)
        .outerjoin(Household, col(Household.id) == Person.household_id)
        # The address decides the grid (a building belongs to one grid), so a file written
        # here imports back unchanged even where a person's grid and home disagreed.
        .outerjoin(Grid, col(Grid.id) == func.coalesce(Household.grid_id, Person.grid_id))
        .outerjoin(Building, col(Building.id) == Household.building_id)
        .where(
            col(ResidentRecord.community_id) == community_id,
            col(ResidentRecord.id_cipher).is_not(None),
        )
        .order_by(col(Building.estate), col(Building.number), col(Household.unit),
                  col(Household.room), col(Person.id))
    )  # fmt: skip
    out = [[zh for _, zh, _ in COLUMNS]]
    for record, person, grid, household, building in (await session.execute(query)).all():
        out.append(
            [
                person.name,
                cipher.decrypt(record.id_cipher or ""),
                person.phone or "",
                building.estate if building else "",
                building.number if building else "",
                household.unit if household else "",
                household.room if household else "",
                grid.name if grid else "",
                record.relation or "",
                "是" if record.lives_alone else "否",
                "是" if record.limited_mobility else "否",
                record.notes or "",
            ]
        )
    return out


def write_register(rows: Iterable[list[str]], filename: str) -> bytes:
    """The rows as an .xlsx workbook (every cell text, so ID numbers keep all 18 digits) or CSV."""
    if filename.lower().endswith(".csv"):
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return buf.getvalue().encode("utf-8-sig")  # with BOM: Excel opens it as UTF-8
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "居民底册"
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def record_of(session: AsyncSession, person_id: int) -> ResidentRecord | None:
    """The register's notes about a person, if any."""
    return await session.get(ResidentRecord, person_id)


async def find_by_id_number(
    session: AsyncSession, cipher: IdCipher, community_id: int, raw: str
) -> Person | None:
    """The person with this ID number in the community's register (by keyed hash)."""
    digest = cipher.lookup_hash(raw)
    return (
        await session.execute(
            select(Person)
            .join(ResidentRecord, col(ResidentRecord.person_id) == Person.id)
            .where(
                col(ResidentRecord.community_id) == community_id,
                col(ResidentRecord.id_hash) == digest,
            )
        )
    ).scalar_one_or_none()


# ---- demo ----

DEMO_REGION = "320602"  # 南通市崇川区, the district of the news story (numbers are illustrative)
DEMO_WOMEN = frozenset({"刘芳", "陈秀英", "李红", "赵敏"})


async def seed_demo_register(
    session: AsyncSession, community_id: int, cipher: IdCipher | None, now: datetime
) -> None:
    """Register entries for the demo people: 陈秀英 lives alone and walks with difficulty.

    With ID keys configured, each gets an illustrative ID number (valid check digit) too.
    """
    from models.idcard import compose_id_number

    people = (
        await session.execute(
            select(Person).where(col(Person.community_id) == community_id).order_by(col(Person.id))
        )
    ).scalars()
    for seq, person in enumerate(list(people), 1):
        assert person.id is not None
        record = ResidentRecord(person_id=person.id, community_id=community_id, updated_at=now)
        if person.name == "陈秀英":
            record.lives_alone = record.limited_mobility = True
            record.notes = "空巢老人，独居，行动不便"
        if cipher is not None and person.birth_date is not None:
            raw = compose_id_number(
                DEMO_REGION, person.birth_date, seq, female=person.name in DEMO_WOMEN
            )
            number = parse_id_number(raw, now.date())
            record.id_hash = cipher.lookup_hash(number)
            record.id_cipher = cipher.encrypt(number)
            record.id_masked = number.masked
        session.add(record)
    await session.flush()
