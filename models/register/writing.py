"""Importing a register in bulk: read every row first, then check and write in chunks.

The first pass reads the whole file (nothing is written for a file that is no register, too
big or empty) and notes the ID numbers that more than one row gives. The second checks the rows
chunk by chunk while the chunk before is being written (on PostgreSQL the server does its part,
foreign keys and indexes, while this process checks the next rows); the rows that share an ID
number are held back to the end, where they are rejected together or, when the other row was
bad anyway, written. Each chunk of rows is one transaction: its new buildings and flats, one query for the people
its ID hashes name, one for the people it may complete (known by name, without an ID), then
bulk inserts and bulk updates. Between chunks the writer is free (on SQLite: the one pooled
connection goes back to the pool, so the chat's messages get their turn), and the time per row
does not grow with the table. A chunk that fails leaves the chunks before it written; importing
the file again completes the rest (an import is idempotent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Database
from models.idcard import IdCipher, IdNumber
from models.register.bulk import PlannerStatistics, import_cache, insert_rows, reserve_ids
from models.register.matching import (
    Known,
    KnownPerson,
    KnownRecord,
    Place,
    Places,
    adoptable,
    known_by_hash,
    known_without_id,
)
from models.register.parsing import (
    ImportReport,
    ParsedRow,
    Rejected,
    RowResult,
    apart_from_twins,
    check_rows,
    read_file,
)
from models.register.report import rejections_of
from models.register.tables import RegisterImport, ResidentRecord
from models.tables import Person

# Rows a transaction: large enough that each page of the ID-hash index is written back to the
# WAL a few times per import rather than once per thousand rows, small enough that the chat waits
# a fraction of a second at most for the writer.
CHUNK_ROWS = 5000
# Rows checked between two turns of the event loop while a chunk is being written: ~1.5 ms of
# checking, so that the writer goes on within about a millisecond of each answer from the
# database (500 rows a turn left the server idle for ~7 ms an answer: 1.6 s of 100,000 rows).
CHECK_SLICE = 50
# Called inside a chunk's transaction after its writes: (session, rows done, rows in the file).
ChunkHook = Callable[[AsyncSession, int, int], Awaitable[None]]
# Called inside the last transaction, with the report and the id of the audit row.
FinishHook = Callable[[AsyncSession, ImportReport, int], Awaitable[None]]
# Awaited after each chunk's commit, outside any transaction: (rows done, rows in the file).
CommittedHook = Callable[[int, int], Awaitable[None]]


class Phases:
    """Wall seconds spent in each phase of an import, added up over the chunks (the benchmark's
    breakdown: where the time of a big import goes); does nothing without a dict to fill."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.into is None:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        if self.into is not None:
            self.into[name] = self.into.get(name, 0.0) + seconds


@dataclass(frozen=True)
class ImportRequest:
    """A register file someone sent, to be imported (in the background, from the chat)."""

    community_id: int
    by_id: int
    data: bytes = field(repr=False)
    filename: str
    today: date
    source: str = "chat"


async def import_register(
    db: Database,
    cipher: IdCipher,
    *,
    community_id: int,
    data: bytes,
    filename: str,
    now: datetime,
    today: date,
    by_id: int | None = None,
    source: str = "chat",
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: ChunkHook | None = None,
    on_finish: FinishHook | None = None,
    committed: CommittedHook | None = None,
    timings: dict[str, float] | None = None,
) -> ImportReport:
    """Add or update everyone in the file; report each row. Nothing changes for a non-register.

    DomainError (before anything is written) when the file is no register, too big or empty.
    `timings`, if given, receives the seconds of each phase (`Phases`).
    """
    phase = Phases(timings)
    with phase("read"):
        sheet = await read_file(data)
    places = Places(community_id)
    with phase("start"):
        async with db.session() as session:
            await places.load(session)
            loose = await known_without_id(session, community_id)
    results: list[RowResult] = []
    taken: set[int] = set()
    total = sheet.total
    statistics = PlannerStatistics(db)
    done = 0

    async def prepare(rows: list[ParsedRow], session: AsyncSession) -> Plan:
        placed = await _place_rows(session, places, rows, phase)
        return await _prepare(
            session, cipher, places, loose, placed, community_id, now, by_id, taken, phase
        )

    async def write(plan: Plan, read: int, session: AsyncSession) -> None:
        nonlocal done
        results.extend(plan.out)
        if plan.writes:
            await _apply(session, plan, community_id, now, by_id, phase)
        done += read
        if on_chunk is not None and (plan.out or read):
            await on_chunk(session, done, total)

    async def finish(rows: int, read: int) -> None:
        if rows:
            with phase("analyze"):
                await statistics.written_rows(rows)
        if committed is not None and (rows or read):
            await committed(done, total)

    def chunks() -> Iterator[tuple[list[ParsedRow], int] | None]:
        """Each chunk's good rows, checked a slice at a time (None: a turn for the loop), and
        at the end the held-back rows that share their ID number with no other good row."""
        held: list[ParsedRow] = []  # rows whose ID number another row gives too
        for start in range(0, total, chunk_rows):
            chunk: list[ParsedRow] = []
            end = min(start + chunk_rows, total)
            for piece in range(start, end, CHECK_SLICE):
                with phase("check"):
                    good, bad = check_rows(
                        sheet.fields, sheet.rows[piece : min(piece + CHECK_SLICE, end)], today,
                        cipher,
                    )  # fmt: skip
                results.extend(bad)
                for row in good:
                    (held if row.number.value in sheet.twice else chunk).append(row)
                yield None
            yield chunk, end - start
        unique, twins = apart_from_twins(held)
        results.extend(twins)
        yield unique, 0

    async with import_cache(db):
        if db.is_sqlite:
            # One process does all of SQLite's work: nothing to overlap, so chunk after chunk,
            # each one transaction.
            for item in chunks():
                if item is None:
                    await asyncio.sleep(0)
                    continue
                rows, read = item
                async with _transaction(db, phase) as session:
                    plan = await prepare(rows, session)
                    await write(plan, read, session)
                await finish(len(plan.out), read)
        else:
            await _overlapped(db, chunks(), prepare, write, finish, phase)
    report = ImportReport(sorted(results, key=lambda r: r.line))
    with phase("audit"):
        return await _audit(db, report, community_id, by_id, source, filename, now, on_finish)


@asynccontextmanager
async def _transaction(db: Database, phase: Phases) -> AsyncIterator[AsyncSession]:
    """`db.session()`, its commit's seconds counted as the phase `commit`."""
    async with db.session() as session:
        yield session
        ending = time.perf_counter()
    phase.add("commit", time.perf_counter() - ending)


async def _overlapped(
    db: Database,
    chunks: Iterator[tuple[list[ParsedRow], int] | None],
    prepare: Callable[[list[ParsedRow], AsyncSession], Awaitable[Plan]],
    write: Callable[[Plan, int, AsyncSession], Awaitable[None]],
    finish: Callable[[int, int], Awaitable[None]],
    phase: Phases,
) -> None:
    """Three stages at once, each a chunk behind the one before: this process checks chunk
    k+2 while chunk k+1 is prepared (its new buildings and flats written and committed, its
    people looked up and compared, new ID numbers encrypted) and chunk k's people and records
    are written. PostgreSQL's server does most of a chunk's writing (foreign-key checks, index
    upkeep) in its own processes, on the other core, while this one goes on. At most two chunks
    wait between two stages; the first failure stops the checking and is raised here, once the
    stages have stopped."""
    to_prepare: asyncio.Queue[tuple[list[ParsedRow], int] | None] = asyncio.Queue(maxsize=2)
    to_write: asyncio.Queue[tuple[Plan, int] | None] = asyncio.Queue(maxsize=2)
    failed: list[Exception] = []

    async def preparing() -> None:
        while (item := await to_prepare.get()) is not None:
            if not failed:  # after a failure the rest is only taken off the queue
                rows, read = item
                try:
                    async with _transaction(db, phase) as session:
                        plan = await prepare(rows, session)
                except Exception as err:
                    failed.append(err)
                else:
                    await to_write.put((plan, read))
            await asyncio.sleep(0)  # the chat's turn
        await to_write.put(None)

    async def writing() -> None:
        while (item := await to_write.get()) is not None:
            if not failed:
                plan, read = item
                try:
                    async with _transaction(db, phase) as session:
                        await write(plan, read, session)
                    await finish(len(plan.out), read)
                except Exception as err:
                    failed.append(err)
            await asyncio.sleep(0)

    stages = [asyncio.create_task(preparing()), asyncio.create_task(writing())]
    try:
        for item in chunks:
            if failed:
                break
            if item is None:
                await asyncio.sleep(0)  # the stages' and the chat's turn
            else:
                await to_prepare.put(item)
        await to_prepare.put(None)
        await asyncio.gather(*stages)
    finally:
        for stage in stages:
            if not stage.done():
                stage.cancel()
    if failed:
        raise failed[0]


async def _audit(
    db: Database,
    report: ImportReport,
    community_id: int,
    by_id: int | None,
    source: str,
    filename: str,
    now: datetime,
    on_finish: FinishHook | None,
) -> ImportReport:
    async with db.session() as session:
        audit = RegisterImport(
            community_id=community_id,
            by_id=by_id,
            source=source,
            filename=filename[-128:],
            rows=len(report.rows),
            added=report.count("added"),
            updated=report.count("updated"),
            unchanged=report.count("unchanged"),
            rejected=report.count("rejected"),
            rejections=rejections_of(report),
            at=now,
        )
        session.add(audit)
        await session.flush()
        if on_finish is not None:
            assert audit.id is not None
            await on_finish(session, report, audit.id)
    return report


def _record_values(row: ParsedRow) -> dict[str, Any]:
    return {
        "relation": row.relation,
        "lives_alone": row.lives_alone,
        "limited_mobility": row.limited_mobility,
        "notes": row.notes,
    }


_NEW_PERSON = ("id", "community_id", "grid_id", "household_id", "name", "phone", "birth_date",
               "locale", "verified", "verified_by_id", "verified_at", "created_at")  # fmt: skip
_NEW_RECORD = ("person_id", "community_id", "id_hash", "id_cipher", "id_masked", "relation",
               "lives_alone", "limited_mobility", "notes", "updated_at")  # fmt: skip
PERSON = Person.__table__  # type: ignore[attr-defined]
RECORD = ResidentRecord.__table__  # type: ignore[attr-defined]


@dataclass
class Placed:
    """A chunk's rows with their places (buildings and flats written), and the rows that have
    none (an unknown grid or building, a building of another grid)."""

    rows: list[tuple[ParsedRow, Place]]
    rejected: list[RowResult]


async def _place_rows(
    session: AsyncSession, places: Places, rows: list[ParsedRow], phase: Phases
) -> Placed:
    """Each row's place; the new buildings and flats they need written (a fixed few statements)."""
    placed = Placed([], [])
    with phase("places"):
        for row in rows:
            try:
                placed.rows.append((row, places.resolve(row)))
            except Rejected as err:
                placed.rejected.append(_rejected(row, err))
        await places.load_flats(
            session,
            {p.building.id for _, p in placed.rows if p.building and p.building.id is not None},
        )
        await places.write_new_places(session, [p for _, p in placed.rows])
    return placed


@dataclass
class Plan:
    """What a chunk will write, decided (and the new ID numbers encrypted) before any of it is:
    the rows' outcomes, new people (with their records' ciphertexts), records for people known
    without one, and the updates."""

    out: list[RowResult]
    new_people: list[tuple[ParsedRow, int, int | None]] = field(default_factory=list)
    new_people_tokens: list[str] = field(default_factory=list)
    new_people_ids: list[int] = field(default_factory=list)
    new_records: list[tuple[Any, ...]] = field(default_factory=list)
    person_updates: list[dict[str, Any]] = field(default_factory=list)
    record_updates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return (
            len(self.new_people)
            + len(self.new_records)
            + len(self.person_updates)
            + len(self.record_updates)
        )


async def _prepare(
    session: AsyncSession,
    cipher: IdCipher,
    places: Places,
    loose: dict[str, list[Known]],
    placed: Placed,
    community_id: int,
    now: datetime,
    by_id: int | None,
    taken: set[int],
    phase: Phases,
) -> Plan:
    """Compare each row with whom it names (one query for the chunk's ID hashes): the plan."""
    rows = placed.rows
    with phase("lookup"):
        known = await known_by_hash(session, community_id, [r.digest for r, _ in rows])
    # Rows without an address may name someone whose home is elsewhere: their homes' buildings.
    homes: set[int] = set()
    for row, place in rows:
        if place.building is None:
            match = known.get(row.digest)
            for person, _ in [match] if match else loose.get(row.name, []):
                if person.household_id is not None:
                    homes.add(person.household_id)
    with phase("places"):
        await places.load_homes(session, homes)
    plan = Plan(list(placed.rejected))
    with phase("match"):
        (plan.new_people, plan.new_records, plan.person_updates, plan.record_updates) = _match(
            places, loose, rows, known, community_id, now, by_id, taken, plan.out
        )
    with phase("encrypt"):
        # Every number to encrypt in one call: new people's, and those in the records' and
        # updates' id_cipher.
        rehashed = [u for u in plan.record_updates if isinstance(u["id_cipher"], IdNumber)]
        numbers = [row.number for row, _, _ in plan.new_people]
        tokens = cipher.encrypt_many(
            numbers + [r[3] for r in plan.new_records] + [u["id_cipher"] for u in rehashed]
        )
        plan.new_people_tokens = tokens[: len(numbers)]
        records = tokens[len(numbers) : len(numbers) + len(plan.new_records)]
        for update, token in zip(
            rehashed, tokens[len(numbers) + len(plan.new_records) :], strict=True
        ):
            update["id_cipher"] = token
        plan.new_records = [
            (*r[:3], token, *r[4:]) for r, token in zip(plan.new_records, records, strict=True)
        ]
    with phase("reserve"):
        # PostgreSQL: from the sequence, whatever transaction asks (so here, a stage ahead of
        # the inserts); SQLite: this chunk's transaction, which writes them too, holds the lock.
        plan.new_people_ids = await reserve_ids(session, PERSON, len(plan.new_people))
    return plan


async def _apply(
    session: AsyncSession, plan: Plan, community_id: int, now: datetime, by_id: int | None,
    phase: Phases,
) -> None:  # fmt: skip
    """Write a chunk's plan: a fixed number of statements, whatever the table holds."""
    new_records = plan.new_records
    if plan.new_people:
        ids = plan.new_people_ids
        with phase("insert_people"):
            await insert_rows(
                session,
                PERSON,
                _NEW_PERSON,
                [
                    (pid, community_id, grid_id, household_id, row.name, row.phone,
                     row.number.birth_date, "zh", True, by_id, now, now)
                    for pid, (row, grid_id, household_id) in zip(ids, plan.new_people, strict=True)
                ],
            )  # fmt: skip
        new_records = [
            _new_record(row, pid, community_id, now, token)
            for pid, (row, _, _), token in zip(
                ids, plan.new_people, plan.new_people_tokens, strict=True
            )
        ] + new_records
    with phase("update"):
        if plan.person_updates:
            await session.execute(
                PERSON.update().where(PERSON.c.id == bindparam("b_id")), plan.person_updates
            )
        if plan.record_updates:
            await session.execute(
                RECORD.update().where(RECORD.c.person_id == bindparam("b_person_id")),
                plan.record_updates,
            )
    with phase("insert_records"):
        await insert_rows(session, RECORD, _NEW_RECORD, new_records)


def _match(
    places: Places,
    loose: dict[str, list[Known]],
    placed: list[tuple[ParsedRow, Place]],
    known: dict[str, tuple[KnownPerson, KnownRecord]],
    community_id: int,
    now: datetime,
    by_id: int | None,
    taken: set[int],
    out: list[RowResult],
) -> tuple[
    list[tuple[ParsedRow, int, int | None]],
    list[tuple[Any, ...]],
    list[dict[str, Any]],
    list[dict[str, Any]],
]:
    """Each row against whom it names: new people, new records, updates (no statement)."""
    new_people: list[tuple[ParsedRow, int, int | None]] = []
    new_records: list[tuple[Any, ...]] = []
    person_updates: list[dict[str, Any]] = []
    record_updates: list[dict[str, Any]] = []
    for row, place in placed:
        household_id = places.household_id(place)
        match: Known | None = known.get(row.digest)
        if match is None:
            match = adoptable(loose.get(row.name, []), row, household_id, taken)
        if match is None:
            new_people.append((row, place.grid_id, household_id))
            out.append(RowResult(row.line, "added", row.name, row.number.masked))
            continue
        person, record = match
        if household_id is None:
            conflict = places.home_grid_conflict(person.household_id, place.grid_id)
            if conflict is not None:
                out.append(_rejected(row, conflict))
                continue
        taken.add(person.id)
        wanted: dict[str, Any] = {
            "name": row.name,
            "phone": row.phone if row.phone is not None else person.phone,
            "birth_date": row.number.birth_date,
            "grid_id": place.grid_id,
            "household_id": household_id if household_id is not None else person.household_id,
        }
        notes = _record_values(row)
        changed = not person.verified or any(getattr(person, k) != v for k, v in wanted.items())
        if record is None:
            new_records.append(_new_record(row, person.id, community_id, now))
            changed = True
        else:
            rehash = record.id_hash != row.digest
            if changed or rehash or any(getattr(record, k) != v for k, v in notes.items()):
                changed = True
                record_updates.append(
                    {
                        "b_person_id": person.id,
                        "id_hash": row.digest,
                        # Encrypted once; an unchanged number is not re-encrypted (Fernet
                        # output differs each time, so that would be a change every import).
                        # A new number is encrypted with the chunk's others (`encrypt_many`).
                        "id_cipher": row.number if rehash else record.id_cipher,
                        "id_masked": row.number.masked,
                        **notes,
                        "updated_at": now,
                    }
                )
        if changed:
            person_updates.append(
                {
                    "b_id": person.id,
                    **wanted,
                    "verified": True,
                    "verified_at": person.verified_at if person.verified else now,
                    "verified_by_id": person.verified_by_id if person.verified else by_id,
                }
            )
        out.append(
            RowResult(row.line, "updated" if changed else "unchanged", row.name, row.number.masked)
        )
    return new_people, new_records, person_updates, record_updates


def _new_record(
    row: ParsedRow, person_id: int, community_id: int, now: datetime, token: str | None = None
) -> tuple[Any, ...]:
    """A new record's values; without the `token` (the ciphertext), the ID number itself where
    it goes (encrypted with the chunk's others before the insert)."""
    return (
        person_id, community_id, row.digest, token or row.number, row.number.masked,
        row.relation, row.lives_alone, row.limited_mobility, row.notes, now,
    )  # fmt: skip


def _rejected(row: ParsedRow, err: Rejected) -> RowResult:
    return RowResult(row.line, "rejected", row.name, row.number.masked, err.key, err.values)
