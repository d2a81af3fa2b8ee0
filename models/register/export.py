"""The register out again, in exactly the import's format: what the import reads, nothing lost."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.idcard import IdCipher, parse_id_number
from models.register.parsing import COLUMNS
from models.register.tables import ResidentRecord
from models.register.xlsx import xlsx_bytes
from models.tables import Building, Grid, Household, Person

ID_COLUMN = [zh for _, zh, _ in COLUMNS].index("身份证号")


async def register_rows(
    session: AsyncSession, cipher: IdCipher, community_id: int
) -> list[list[str]]:
    """The register as rows of the import format (header first); only people with an ID number.

    The grid column is the person's own grid. A person with a home is in her building's grid
    (the import and onboarding keep it so, migration 0006 repaired older rows), so the file
    imports back unchanged.
    """
    query = (
        select(ResidentRecord, Person, Grid, Household, Building)
        .join(Person, col(Person.id) == ResidentRecord.person_id)
        .outerjoin(Household, col(Household.id) == Person.household_id)
        .outerjoin(Grid, col(Grid.id) == Person.grid_id)
        .outerjoin(Building, col(Building.id) == Household.building_id)
        .where(
            col(ResidentRecord.community_id) == community_id,
            col(ResidentRecord.id_cipher).is_not(None),
        )
        .order_by(col(Building.estate), col(Building.number), col(Household.unit),
                  col(Household.room), col(Person.id))
    )  # fmt: skip
    out = [[zh for _, zh, _ in COLUMNS]]
    for record, person, grid, household, building in await session.execute(query):
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
    """The rows as an .xlsx workbook (every cell text, the ID column formatted as text) or CSV."""
    if filename.lower().endswith(".csv"):
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return buf.getvalue().encode("utf-8-sig")  # with BOM: Excel opens it as UTF-8
    return xlsx_bytes(rows, sheet_name="居民底册", text_column=ID_COLUMN)


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
DEMO_WOMEN = frozenset({"刘芳", "陈秀英", "李红", "赵敏", "王丽"})


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
