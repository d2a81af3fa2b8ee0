"""Property: a register exported and imported again changes nothing, whatever the register held.

Random registers (hypothesis) go into the demo community (whose people have ID numbers too,
刘芳 among them): people in the demo's buildings with and without a grid column, in new
buildings, with only a grid, with landlines, notes that imply a flag, names with a middle dot
or an inner space, ID numbers ending in X. Then: export (xlsx or CSV) → import must report every
row unchanged and leave every row of the database as it was; and nobody with a home is in a
grid other than her building's (the data model that makes this possible).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models.db import Database
from models.demo import seed_demo
from models.idcard import IdCipher, compose_id_number
from models.register import ResidentRecord, import_register, register_rows, write_register
from models.tables import Building, Community, Household, Person
from tests.conftest import TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY, _count_rows, _empty
from tests.register_files import csv_bytes, xlsx

CIPHER = IdCipher(TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY)
NOW = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)
TODAY = NOW.date()
# (estate, building, grid) of the demo's buildings; and estates the file may add buildings to.
DEMO_BUILDINGS = [("虹桥南村", str(n), "乐清网格") for n in range(1, 5)] + [
    ("虹桥南村", str(n), "乐美网格") for n in range(5, 9)
]
GRIDS = ("乐清网格", "乐美网格", "乐清")  # "乐清" without 网格 is the same grid

chars = st.sampled_from("王李张刘陈顾桂兰秀英建国芳敏阿依古丽买提")
names = st.one_of(
    st.text(chars, min_size=1, max_size=4),
    st.builds(lambda a, b: f"{a}·{b}", st.text(chars, min_size=2, max_size=3),
              st.text(chars, min_size=2, max_size=3)),
    st.builds(lambda a, b: f"{a} {b}", st.text(chars, min_size=1, max_size=2),
              st.text(chars, min_size=1, max_size=2)),
)  # fmt: skip
phones = st.one_of(
    st.just(""),
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"0513-8[0-9]{7}", fullmatch=True),
)
flats = st.tuples(st.integers(1, 3), st.integers(101, 104))
places = st.one_of(
    # a demo building, the grid column right, or empty
    st.builds(lambda b, flat, with_grid: (b[0], b[1], *map(str, flat), b[2] if with_grid else ""),
              st.sampled_from(DEMO_BUILDINGS), flats, st.booleans()),
    # a building the file brings, in the grid it names
    st.builds(lambda n, flat: ("虹桥北村", f"{n}幢", *map(str, flat), GRIDS[n % 2]),
              st.integers(1, 3), flats),
    # no home, only a grid
    st.builds(lambda grid: ("", "", "", "", grid), st.sampled_from(GRIDS)),
)  # fmt: skip
flags = st.sampled_from(["", "是", "否"])
notes = st.one_of(
    st.just(""),
    st.sampled_from(["独居", "卧床", "  空巢老人，独居  ", "轮椅出行", "低保户"]),
    st.text(chars, max_size=30),
)
people = st.tuples(
    names, st.dates(date(1910, 1, 1), date(2024, 12, 31)), st.booleans(), phones, places,
    st.sampled_from(["", "户主", "配偶", "子女"]), flags, flags, notes,
)  # fmt: skip
registers = st.lists(people, min_size=1, max_size=12)


def _rows(register: list[tuple[Any, ...]]) -> list[list[object]]:
    rows = []
    for seq, (name, born, female, phone, place, relation, alone, mobility, note) in enumerate(
        register, 1
    ):
        number = compose_id_number("330382", born, 50 + seq, female=female)
        rows.append([name, number, phone, *place[:4], place[4], relation, alone, mobility, note])
    return rows


async def _state(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    async with db.session() as s:
        people = (await s.execute(select(Person).order_by(Person.id))).scalars().all()
        records = (
            (await s.execute(select(ResidentRecord).order_by(ResidentRecord.person_id)))
            .scalars()
            .all()
        )
        homes = (await s.execute(select(Household).order_by(Household.id))).scalars().all()
        buildings = (await s.execute(select(Building).order_by(Building.id))).scalars().all()
    return {
        "people": [(p.id, p.name, p.phone, p.birth_date, p.grid_id, p.household_id, p.verified,
                    p.verified_at) for p in people],
        "records": [(r.person_id, r.id_hash, r.id_cipher, r.id_masked, r.relation,
                     r.lives_alone, r.limited_mobility, r.notes, r.updated_at) for r in records],
        "homes": [(h.id, h.grid_id, h.building_id, h.unit, h.room) for h in homes],
        "buildings": [(b.id, b.grid_id, b.estate, b.number) for b in buildings],
    }  # fmt: skip


async def _round_trip(url: str, register: list[tuple[Any, ...]], first_csv: bool, out: str) -> None:
    db = Database(url)
    try:
        assert await _count_rows(db) == 0
        async with db.session() as s:
            await seed_demo(s, NOW, CIPHER)
            cid = (await s.execute(select(Community.id))).scalar_one()
        rows = _rows(register)
        data = csv_bytes(rows) if first_csv else xlsx(rows)

        async def run(data: bytes, name: str) -> Any:
            return await import_register(
                db, CIPHER, community_id=cid, data=data, filename=name, now=NOW, today=TODAY,
                source="cli", chunk_rows=4,
            )  # fmt: skip

        first = await run(data, "in.csv" if first_csv else "in.xlsx")
        assert first.count("rejected") == 0, [(r.name, r.reason) for r in first.rejected]
        before = await _state(db)
        async with db.session() as s:
            exported = await register_rows(s, CIPHER, cid)
        # the demo's ten (王丽 joined with issue 12), and the file's
        assert len(exported) - 1 == 10 + first.count("added")
        report = await run(write_register(exported, out), out)
        assert [r.status for r in report.rows] == ["unchanged"] * (len(exported) - 1), [
            (r.name, r.status, r.reason) for r in report.rows if r.status != "unchanged"
        ]
        assert await _state(db) == before
        state = before
        grid_of_home = {h[0]: h[1] for h in state["homes"]}
        building_grid = {b[0]: b[1] for b in state["buildings"]}
        assert all(h[1] == building_grid[h[2]] for h in state["homes"])
        assert all(p[4] == grid_of_home[p[5]] for p in state["people"] if p[5] is not None)
    finally:
        await _empty(db)
        await db.dispose()


@settings(max_examples=15, deadline=None, database=None)
@given(register=registers, first_csv=st.booleans(), out=st.sampled_from(["out.xlsx", "out.csv"]))
def test_an_export_imports_back_unchanged(
    database_url: str, register: list[tuple[Any, ...]], first_csv: bool, out: str
) -> None:
    asyncio.run(_round_trip(database_url, register, first_csv, out))
