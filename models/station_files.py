"""Rest stations from a file (`linli import stations FILE`, .csv or .xlsx), one station a row.

Columns (a header row, Chinese or English names): key, name, address, latitude, longitude,
hours ("24小时" or "8:00-22:00"), facilities ("饮水、充电、空调" or "water,charger"), phone, team
(the managing team's name, made when missing), note, photo. A row is added, or updates the station
with the same key; a bad row is reported with its number and reason and changes nothing.
Importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.booking_desk import team_named
from models.errors import DomainError
from models.stations import FACILITIES, FACILITY_WORDS, parse_hours, upsert_station

COLUMNS = {
    "key": ("key", "编号", "代码"),
    "name": ("name", "名称", "站名"),
    "address": ("address", "地址"),
    "latitude": ("latitude", "lat", "纬度"),
    "longitude": ("longitude", "lon", "lng", "经度"),
    "hours": ("hours", "开放时间", "时间"),
    "facilities": ("facilities", "设施"),
    "phone": ("phone", "电话"),
    "team": ("team", "管理团队", "团队"),
    "note": ("note", "备注"),
    "photo": ("photo", "照片"),
}
# Facility names as the file may write them (the Chinese labels of the catalog too).
FACILITY_NAMES = {
    "饮水": "water", "充电": "charger", "空调": "aircon", "微波炉": "microwave",
    "医药箱": "first_aid", "卫生间": "toilet", "厕所": "toilet", "桌椅": "rest", "歇脚": "rest",
    "书报": "books", "报纸": "books", "面包": "food", "食物": "food", "无线网": "wifi",
    "wifi": "wifi", "雨伞": "umbrella",
}  # fmt: skip


@dataclass
class StationImport:
    """What an import did: stations added, updated, and the rows refused (number, reason)."""

    added: int = 0
    updated: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def read_table(data: bytes, filename: str) -> list[dict[str, str]]:
    """The rows of a .csv (UTF-8, with or without BOM) or .xlsx file, by column name."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows = [
            ["" if v is None else str(v).strip() for v in row]
            for row in book.active.iter_rows(values_only=True)  # type: ignore[union-attr]
        ]
        book.close()
    else:
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(data.decode("utf-8-sig")))]
    if not rows:
        return []
    names = {}
    for i, title in enumerate(rows[0]):
        for column, spellings in COLUMNS.items():
            if title.strip().lower() in spellings:
                names[i] = column
    return [
        {names[i]: cell for i, cell in enumerate(row) if i in names} for row in rows[1:] if any(row)
    ]


def facilities_of(text: str) -> list[str]:
    """'饮水、充电 空调' or 'water,charger' → the facility codes; DomainError for an unknown one."""
    out: list[str] = []
    for word in (w for w in re.split(r"[、,，;；/\s]+", text.strip().lower()) if w):
        code = word if word in FACILITIES else FACILITY_NAMES.get(word)
        if code is None:
            code = next((c for c, words in FACILITY_WORDS.items() if word in words), None)
        if code is None:
            raise DomainError("stations.bad_facility")
        if code not in out:
            out.append(code)
    return out


async def import_stations(
    session: AsyncSession, rows: list[dict[str, str]], community_id: int | None
) -> StationImport:
    """Add or update a station per row (in the caller's transaction, each row savepointed)."""
    result = StationImport()
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            fields = await _station_fields(session, row, community_id)
        except DomainError as err:
            result.refused.append((n, err.key))
            continue
        except KeyError:  # a column the file lacks
            result.refused.append((n, "stations.bad_row"))
            continue
        async with session.begin_nested():
            _station, new = await upsert_station(session, **fields)
        if new:
            result.added += 1
        else:
            result.updated += 1
    return result


async def _station_fields(
    session: AsyncSession, row: dict[str, str], community_id: int | None
) -> dict[str, Any]:
    key, name, address = row["key"].strip(), row["name"].strip(), row.get("address", "").strip()
    if not (1 <= len(key) <= 32 and 1 <= len(name) <= 64 and len(address) <= 128):
        raise DomainError("stations.bad_row")
    try:
        latitude, longitude = float(row["latitude"]), float(row["longitude"])
    except (KeyError, ValueError):
        raise DomainError("stations.bad_location") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise DomainError("stations.bad_location")
    open_24h, opens, closes = parse_hours(row.get("hours") or "24小时")
    team = (row.get("team") or "").strip()
    return {
        "key": key,
        "name": name,
        "address": address or name,
        "latitude": latitude,
        "longitude": longitude,
        "open_24h": open_24h,
        "opens": opens,
        "closes": closes,
        "facilities": facilities_of(row.get("facilities") or ""),
        "phone": (row.get("phone") or "").strip()[:20] or None,
        "team_id": await team_named(session, community_id, team) if team and community_id else None,
        "note": (row.get("note") or "").strip()[:256] or None,
        "photo_ref": (row.get("photo") or "").strip()[:256] or None,
        "community_id": community_id,
    }
