"""Reading a register file and checking its rows: pure code, no database.

The file is read streaming (our own .xlsx reader, `xlsx.py`, or the csv module), all of it
before anything is written (`read_file`), so a file that is no register changes nothing; the
rows are then checked a slice at a time (`check_rows`) as the import writes them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from models.errors import DomainError
from models.idcard import IdCipher, IdNumber, normalize_id, parse_id_number
from models.onboarding import PHONE_RE, clean_name, clean_phone, clean_room_part
from models.register.xlsx import NotAWorkbook, xlsx_rows

# Telegram lets a bot download files of up to 20 MB; a 200,000-row CSV is about 18 MB.
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
HEADER_SEARCH_ROWS = 10  # a register often has a title line (or a few) above its header
YIELD_EVERY = 500  # rows checked between two turns of the event loop (the chat keeps answering)

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
MAX_NOTES = 200
MAX_RELATION = 16


def _header_key(cell: str) -> str:
    text = unicodedata.normalize("NFKC", cell).strip().lower()
    return re.sub(r"[\s*_:：()（）]", "", text)


_HEADERS: dict[str, str] = {}
for _field, _zh, _aliases in COLUMNS:
    for _name in (_zh, *_aliases):
        _HEADERS[_header_key(_name)] = _field


@dataclass(slots=True)
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
    """The outcome of an import, row by row (in the file's order)."""

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
    if value.__class__ is str:  # most cells: test the exact type first (isinstance is slower)
        return value.strip()  # type: ignore[no-any-return]
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
    try:
        yield from xlsx_rows(data)
    except NotAWorkbook:  # not a workbook at all: a picture, a .xls, a broken file
        raise DomainError("roster.not_a_register") from None


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
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
    yield from enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)


def read_register(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, {column: cell}) for each data row; DomainError when the file is not a register."""
    if len(data) > MAX_BYTES:
        raise DomainError("roster.too_big", mb=MAX_BYTES // (1024 * 1024))
    rows: Iterator[tuple[int, Any]]
    if data[:4] == b"PK\x03\x04":
        rows = _sheet_rows(data)
    elif zipfile.is_zipfile(io.BytesIO(data)) or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise DomainError("roster.not_a_register")  # another archive, or an old .xls
    else:
        rows = _csv_rows(data)
    header: list[tuple[int, str]] | None = None
    for number, row in rows:
        if header is None:
            if number > HEADER_SEARCH_ROWS:
                break
            found = [
                (i, _HEADERS[_header_key(str(cell))])
                for i, cell in enumerate(row)
                if cell is not None and _header_key(str(cell)) in _HEADERS
            ]
            if {"name", "id_number"} <= {name for _, name in found}:
                header = found
            continue
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        width = len(row)
        yield number, {name: row[i] if i < width else None for i, name in header}
    if header is None:
        raise DomainError("roster.not_a_register")


def check_header(data: bytes) -> None:
    """DomainError unless the file is a register (its header is found); reads the first rows only."""
    rows = read_register(data)
    try:
        next(rows, None)
    finally:
        rows.close()


# ---- one row ----


@dataclass(slots=True)
class ParsedRow:
    """A row that passed the checks that need no database; `digest` is its ID's lookup hash."""

    line: int
    name: str
    number: IdNumber
    digest: str
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
    if len(text) == 11 and PHONE_RE.match(text):  # already clean (clean_phone would keep it)
        return text
    try:
        return clean_phone(text)
    except DomainError:
        landline = re.sub(r"[\s()（）]", "", text)
        if re.fullmatch(r"0\d{2,3}-?\d{7,8}", landline):
            return landline
        raise Rejected("roster.bad_phone") from None


def _room_part(text: str) -> str:
    if len(text) <= 8 and text.isascii() and text.isdigit():  # clean_room_part would keep it
        return text
    return clean_room_part(text)


def building_number(text: str) -> str:
    """'3', '3幢', '3栋', '3号楼' → '3'."""
    if text.isascii() and text.isdigit():
        return text
    number = unicodedata.normalize("NFKC", text).strip()
    for suffix in ("号楼", "幢", "栋", "号"):
        number = number.removesuffix(suffix)
    return number.strip()


def parse_row(line: int, raw: dict[str, Any], today: date, cipher: IdCipher) -> ParsedRow:
    """Check one row without the database; Rejected says why not."""
    cells = {column: _cell_text(value, column) for column, value in raw.items()}
    if not cells.get("name"):
        raise Rejected("roster.no_name")
    try:
        name = clean_name(cells["name"])
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
            unit, room = _room_part(parts[2]), _room_part(parts[3])
        except DomainError:
            raise Rejected("roster.bad_address") from None
        number_text = building_number(parts[1])
        if not number_text or len(number_text) > 16 or len(parts[0]) > 64:
            raise Rejected("roster.bad_address")
        address = (parts[0].strip(), number_text, unit, room)
    grid = cells.get("grid", "").strip() or None
    if address is None and grid is None:
        raise Rejected("roster.no_place")
    notes = cells.get("notes", "").strip()[:MAX_NOTES].strip() or None
    lives_alone = _flag(cells, "lives_alone", "独居")
    mobility = _flag(cells, "limited_mobility", "行动不便")
    return ParsedRow(
        line=line,
        name=name,
        number=number,
        digest=cipher.lookup_hash(number),
        phone=_phone(cells.get("phone", "")),
        address=address,
        grid=grid,
        relation=cells.get("relation", "").strip()[:MAX_RELATION].strip() or None,
        lives_alone=bool(lives_alone) or (lives_alone is None and "独居" in (notes or "")),
        limited_mobility=bool(mobility)
        or (mobility is None and any(w in (notes or "") for w in MOBILITY_WORDS)),
        notes=notes,
    )


@dataclass
class ReadFile:
    """A register read through once (the first of an import's two passes).

    `rows` are the data rows' cells in `fields` order (a tuple a row, not a dict: a third of the
    memory); `twice` the ID numbers (normalised as `parse_row` does) that more than one row
    gives, so that the second pass can check and write the other rows chunk by chunk and hold
    those back until the end, where `apart_from_twins` applies the rule for them.
    """

    fields: tuple[str, ...]
    rows: list[tuple[int, tuple[Any, ...]]]
    twice: frozenset[str]

    @property
    def total(self) -> int:
        return len(self.rows)


def _id_key(value: Any) -> str | None:
    """The ID number a cell gives, normalised as `parse_row` normalises it (None: no number)."""
    try:
        text = _cell_text(value, "id_number")
    except Rejected:
        return None
    return normalize_id(text) if text else None


async def read_file(data: bytes) -> ReadFile:
    """Read every row (no checks beyond the file's own): DomainError when the file is not a
    register, too big, has too many rows or none, so that nothing is written for it.

    Gives the event loop a turn every few hundred rows, so a big file does not stall the chat.
    """
    fields: tuple[str, ...] = ()
    rows: list[tuple[int, tuple[Any, ...]]] = []
    seen: set[str] = set()
    twice: set[str] = set()
    for count, (line, raw) in enumerate(read_register(data), 1):
        if count > MAX_ROWS:
            raise DomainError("roster.too_many_rows", max=MAX_ROWS)
        if count % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        if not fields:
            fields = tuple(raw)
        rows.append((line, tuple(raw.values())))
        key = _id_key(raw.get("id_number"))
        if key is not None:
            if key in seen:
                twice.add(key)
            else:
                seen.add(key)
    if not rows:
        raise DomainError("roster.empty")
    return ReadFile(fields, rows, frozenset(twice))


def check_rows(
    fields: tuple[str, ...],
    rows: list[tuple[int, tuple[Any, ...]]],
    today: date,
    cipher: IdCipher,
) -> tuple[list[ParsedRow], list[RowResult]]:
    """`parse_row` for each row: the good ones, and the rejected ones with their reasons."""
    parsed: list[ParsedRow] = []
    rejected: list[RowResult] = []
    for line, values in rows:
        raw = dict(zip(fields, values, strict=True))
        try:
            parsed.append(parse_row(line, raw, today, cipher))
        except Rejected as err:
            name = str(raw.get("name") or "").strip()[:20]
            rejected.append(RowResult(line, "rejected", name, None, err.key, err.values))
    return parsed, rejected


def apart_from_twins(parsed: list[ParsedRow]) -> tuple[list[ParsedRow], list[RowResult]]:
    """The same ID number twice in one file: which row is right is not ours to guess, so every
    row that shares its number with another good row is rejected, naming the others' lines."""
    lines_of: dict[str, list[int]] = {}
    for row in parsed:
        lines_of.setdefault(row.digest, []).append(row.line)
    unique: list[ParsedRow] = []
    rejected: list[RowResult] = []
    for row in parsed:
        lines = lines_of[row.digest]
        if len(lines) == 1:
            unique.append(row)
            continue
        others = "、".join(str(n) for n in lines if n != row.line)
        rejected.append(
            RowResult(
                row.line, "rejected", row.name, row.number.masked, "roster.duplicate",
                {"lines": others},
            )
        )  # fmt: skip
    return unique, rejected
