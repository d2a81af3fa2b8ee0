"""Where a row's person lives and who they already are: places and people, found in batches.

The data model: a person with a home belongs to the grid of its building (a building belongs to
one grid, DOMAIN.md); only a person without a home has a grid of their own. So a row's grid
must agree with its building's, and a row without an address cannot move someone whose home
is in another grid. That is what makes an export import back unchanged.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.register.bulk import insert_rows
from models.register.parsing import ParsedRow, Rejected
from models.register.tables import ResidentRecord
from models.tables import Building, Grid, Household, Person


def grid_key(name: str) -> str:
    """'乐清网格', '乐清' → '乐清'."""
    return unicodedata.normalize("NFKC", name).strip().removesuffix("网格")


@dataclass(slots=True)
class BuildingRef:
    """A building known to the import; `id` is None until the chunk that needs it inserts it."""

    id: int | None
    grid_id: int
    estate: str
    number: str


@dataclass(slots=True)
class Place:
    """Where a row puts its person: the grid and, with an address, the building and flat."""

    grid_id: int
    building: BuildingRef | None = None
    unit: str = ""
    room: str = ""


class Places:
    """Grids and buildings of one community, loaded once; flats as the chunks need them."""

    def __init__(self, community_id: int) -> None:
        self.community_id = community_id
        self.grids: dict[str, tuple[int, str]] = {}
        self.grid_names: dict[int, str] = {}
        self.buildings: dict[tuple[str, str], BuildingRef] = {}
        self.households: dict[tuple[int, str, str], int] = {}
        self.building_of_household: dict[int, BuildingRef] = {}
        self.by_id: dict[int, BuildingRef] = {}
        self._flats_read: set[int] = set()

    async def load(self, session: AsyncSession) -> None:
        """Read the community's places."""
        cid = self.community_id
        for gid, name in await session.execute(
            select(col(Grid.id), col(Grid.name)).where(col(Grid.community_id) == cid)
        ):
            self.grids[grid_key(name)] = (gid, name)
            self.grid_names[gid] = name
        for bid, grid_id, estate, number in await session.execute(
            select(
                col(Building.id), col(Building.grid_id), col(Building.estate), col(Building.number)
            ).where(col(Building.community_id) == cid)
        ):
            ref = BuildingRef(bid, grid_id, estate, number)
            self.buildings[(estate, number)] = self.by_id[bid] = ref

    async def load_flats(self, session: AsyncSession, building_ids: set[int]) -> None:
        """The flats of these buildings, those not read yet (a query per thousand buildings).

        Read as the chunks need them, not all at the start: importing 1,000 people into a
        district's register reads their buildings' flats, not the district's.
        """
        todo = sorted(b for b in building_ids if b not in self._flats_read)
        for start in range(0, len(todo), 1000):
            batch = todo[start : start + 1000]
            for hid, bid, unit, room in await session.execute(
                select(
                    col(Household.id), col(Household.building_id), col(Household.unit),
                    col(Household.room),
                ).where(col(Household.building_id).in_(batch))
            ):  # fmt: skip
                self.households[(bid, unit, room)] = hid
                self.building_of_household[hid] = self.by_id[bid]
        self._flats_read.update(todo)

    async def load_homes(self, session: AsyncSession, household_ids: set[int]) -> None:
        """The buildings of these households (people's homes), those not known yet."""
        todo = sorted(h for h in household_ids if h not in self.building_of_household)
        for start in range(0, len(todo), 1000):
            for hid, bid in await session.execute(
                select(col(Household.id), col(Household.building_id)).where(
                    col(Household.id).in_(todo[start : start + 1000])
                )
            ):
                if bid in self.by_id:
                    self.building_of_household[hid] = self.by_id[bid]

    def resolve(self, row: ParsedRow) -> Place:
        """The row's place (a new building is noted, not yet written); Rejected if it cannot be."""
        grid: tuple[int, str] | None = None
        if row.grid is not None:
            grid = self.grids.get(grid_key(row.grid))
            if grid is None:
                raise Rejected("roster.unknown_grid", grid=row.grid)
        if row.address is None:
            assert grid is not None  # parse_row: an address or a grid
            return Place(grid[0])
        estate, number, unit, room = row.address
        building = self.buildings.get((estate, number))
        if building is None:
            if grid is None:
                raise Rejected("roster.unknown_building", estate=estate, number=number)
            building = BuildingRef(None, grid[0], estate, number)
            self.buildings[(estate, number)] = building
        elif grid is not None and building.grid_id != grid[0]:
            raise Rejected(
                "roster.other_grid",
                grid=self.grid_names.get(building.grid_id, ""),
                estate=estate,
                number=number,
            )
        return Place(building.grid_id, building, unit, room)

    def home_grid_conflict(self, household_id: int | None, grid_id: int) -> Rejected | None:
        """For a row without an address: the person's home is in another grid."""
        building = self.building_of_household.get(household_id) if household_id else None
        if building is None or building.grid_id == grid_id:
            return None
        return Rejected(
            "roster.home_in_other_grid",
            grid=self.grid_names.get(building.grid_id, ""),
            estate=building.estate,
            number=building.number,
        )

    async def write_new_places(self, session: AsyncSession, places: list[Place]) -> None:
        """Insert the buildings and households these places need (two statements or four)."""
        new_buildings: dict[tuple[str, str], BuildingRef] = {}
        for p in places:
            if p.building is not None and p.building.id is None:
                new_buildings[(p.building.estate, p.building.number)] = p.building
        if new_buildings:
            table = Building.__table__  # type: ignore[attr-defined]
            # Matched back by (estate, number), unique: RETURNING's order is not guaranteed.
            returned = await session.execute(
                table.insert().returning(table.c.id, table.c.estate, table.c.number),
                [
                    {"community_id": self.community_id, "grid_id": r.grid_id,
                     "estate": r.estate, "number": r.number}
                    for r in new_buildings.values()
                ],
            )  # fmt: skip
            for bid, estate, number in returned:
                new_buildings[(estate, number)].id = bid
        wanted: dict[tuple[int, str, str], BuildingRef] = {}
        for p in places:
            if p.building is not None:
                assert p.building.id is not None
                key = (p.building.id, p.unit, p.room)
                if key not in self.households:
                    wanted[key] = p.building
        if not wanted:
            return
        # Someone may have registered one of these flats since the import began: insert what
        # is missing (leaving out such a one), then read the ids of the buildings' flats back.
        returned = await insert_rows(
            session,
            Household.__table__,  # type: ignore[attr-defined]
            ("grid_id", "building_id", "unit", "room"),
            [(ref.grid_id, *key) for key, ref in wanted.items()],
            skip_conflicts_on=("building_id", "unit", "room"),
            returning=("id", "building_id", "unit", "room"),
        )
        buildings = {key[0]: ref for key, ref in wanted.items()}
        self._flats_read.update(buildings)
        for hid, bid, unit, room in returned or ():
            self.households[(bid, unit, room)] = hid
            self.building_of_household[hid] = buildings[bid]
        # SQLite's flats, and any flat someone else inserted first: read back by building.
        unread = sorted({key[0] for key in wanted if key not in self.households})
        for start in range(0, len(unread), 1000):
            for hid, bid, unit, room in await session.execute(
                select(
                    col(Household.id), col(Household.building_id), col(Household.unit),
                    col(Household.room),
                ).where(col(Household.building_id).in_(unread[start : start + 1000]))
            ):  # fmt: skip
                self.households[(bid, unit, room)] = hid
                self.building_of_household[hid] = buildings[bid]

    def household_id(self, place: Place) -> int | None:
        """The household of a place (after `write_new_places`)."""
        if place.building is None:
            return None
        assert place.building.id is not None
        return self.households[(place.building.id, place.unit, place.room)]


LOOKUP_BATCH = 1000  # ID hashes a query


@dataclass(slots=True)
class KnownPerson:
    """The columns of a known person that an import compares and keeps (no ORM object)."""

    id: int
    name: str
    phone: str | None
    birth_date: date | None
    grid_id: int | None
    household_id: int | None
    verified: bool
    verified_at: datetime | None
    verified_by_id: int | None


@dataclass(slots=True)
class KnownRecord:
    """The register columns of a known person."""

    id_hash: str | None
    id_cipher: str | None
    relation: str | None
    lives_alone: bool
    limited_mobility: bool
    notes: str | None


Known = tuple[KnownPerson, KnownRecord | None]
_PERSON_COLUMNS = tuple(KnownPerson.__slots__)  # type: ignore[attr-defined]
_RECORD_COLUMNS = tuple(KnownRecord.__slots__)  # type: ignore[attr-defined]


def _known_select() -> Any:
    person, record = Person.__table__, ResidentRecord.__table__  # type: ignore[attr-defined]
    return select(
        *(person.c[k] for k in _PERSON_COLUMNS),
        record.c.person_id.label("record_person_id"),
        *(record.c[k] for k in _RECORD_COLUMNS),
    )


def _known(row: Any) -> Known:
    n = len(_PERSON_COLUMNS)
    person = KnownPerson(*row[:n])
    record = KnownRecord(*row[n + 1 :]) if row[n] is not None else None
    return person, record


async def known_by_hash(
    session: AsyncSession, community_id: int, digests: list[str]
) -> dict[str, tuple[KnownPerson, KnownRecord]]:
    """The people of these ID hashes (a query per thousand; plain rows, not ORM objects)."""
    if not digests:
        return {}
    out: dict[str, tuple[KnownPerson, KnownRecord]] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    # PostgreSQL: the chunk's hashes as one array parameter (`= ANY($1)`), one statement a
    # chunk; SQLite: a query per thousand (an expanding parameter: the statement is compiled
    # once, not each hash coerced as a literal).
    batch = len(digests) if postgres else LOOKUP_BATCH
    hashes = (
        col(ResidentRecord.id_hash) == any_(bindparam("hashes", type_=ARRAY(String)))
        if postgres
        else col(ResidentRecord.id_hash).in_(bindparam("hashes", expanding=True))
    )
    query = (
        _known_select()
        .join_from(Person, ResidentRecord, col(ResidentRecord.person_id) == Person.id)
        .where(col(ResidentRecord.community_id) == community_id, hashes)
    )
    for start in range(0, len(digests), batch):
        rows = await session.execute(query, {"hashes": digests[start : start + batch]})
        for row in rows:
            person, record = _known(row)
            assert record is not None and record.id_hash is not None
            out[record.id_hash] = (person, record)
    return out


async def known_without_id(session: AsyncSession, community_id: int) -> dict[str, list[Known]]:
    """People known without an ID number (self-registered, seeded), by name; one query.

    Read once per import: they are few next to the register, and a query per chunk by name
    would scan the person table each time (no index on names), the cost per row growing with it.
    """
    out: dict[str, list[Known]] = {}
    rows = await session.execute(
        _known_select()
        .outerjoin_from(Person, ResidentRecord, col(ResidentRecord.person_id) == Person.id)
        .where(
            col(Person.community_id) == community_id,
            or_(col(ResidentRecord.person_id).is_(None), col(ResidentRecord.id_hash).is_(None)),
        )
        .order_by(col(Person.id))
    )
    for row in rows:
        person, record = _known(row)
        out.setdefault(person.name, []).append((person, record))
    return out


def adoptable(
    candidates: list[Known], row: ParsedRow, household_id: int | None, taken: set[int]
) -> Known | None:
    """The known person this row completes: same name and same home or phone, not yet taken."""
    for person, record in candidates:
        if person.id in taken:
            continue
        if (household_id is not None and person.household_id == household_id) or (
            row.phone is not None and person.phone == row.phone
        ):
            return person, record
    return None
