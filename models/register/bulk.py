"""Bulk writes for the register: ids reserved per chunk, rows handed to the driver in one call.

At street scale the ORM's bulk path and SQLAlchemy's executemany cost ten times what the
database itself spends on an inserted row (a statement's parameters are processed, compiled
and checked row by row in Python). Inserting 100,000 people and their records takes SQLite
about 1.5 s; through the ORM it took 15 s. So a chunk's new rows go to the driver directly:

- SQLite: one `executemany` of a prepared INSERT (the sqlite3 module loops in C), the values
  converted by the column types' own bind processors, so they are stored exactly as SQLAlchemy
  stores them;
- PostgreSQL: asyncpg's `copy_records_to_table` (COPY … FROM STDIN, binary), in the session's
  transaction.

New people's ids are reserved first (PostgreSQL: `nextval` of the id sequence; SQLite: the
chunk's transaction holds the write lock, so the ids after the largest are free), so a
record can name its person without reading the inserted rows back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Database


async def _driver(session: AsyncSession) -> Any:
    """The driver's own connection, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it runs itself: a driver
    call made first would run outside the transaction and commit on its own (a chunk's people
    written even though the chunk failed). So on PostgreSQL one statement goes through
    SQLAlchemy first when none has yet (SQLite's driver begins by itself before a write).
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if session.get_bind().dialect.name == "postgresql" and not driver.is_in_transaction():
        await session.execute(text("SELECT 1"))
    return driver


async def reserve_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """`count` ids for new rows of `table` (integer primary key `id`), unused by anyone else."""
    if count == 0:
        return []
    name = table.name
    driver = await _driver(session)
    if session.get_bind().dialect.name == "postgresql":
        # One array, not a row an id: 5,000 rows through SQLAlchemy's result took ~14 µs an id.
        ids: list[int] = await driver.fetchval(
            "SELECT array_agg(nextval(pg_get_serial_sequence($1, 'id'))) "
            "FROM generate_series(1, $2)",
            name,
            count,
        )
        return ids
    if not driver.in_transaction:
        # Take the write lock now: no other connection can insert between the read and ours.
        await driver.execute("BEGIN IMMEDIATE")
    top = (await session.execute(text(f"SELECT coalesce(max(id), 0) FROM {name}"))).scalar_one()
    return list(range(top + 1, top + 1 + count))


async def insert_rows(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    skip_conflicts_on: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]] | None:
    """Insert `rows` (Python values in the order of `columns`) in one driver call.

    `skip_conflicts_on`: the columns of a unique constraint; a row that would break it is left
    out (ON CONFLICT DO NOTHING), as when someone registered the same flat meanwhile.
    `returning` (with `skip_conflicts_on`): on PostgreSQL these columns of the rows inserted
    come back; None where the driver cannot say (SQLite's executemany), so read them back.
    """
    if not rows:
        return [] if returning else None
    driver = await _driver(session)
    names = ", ".join(columns)
    conflict = (
        f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING" if skip_conflicts_on else ""
    )
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        if not conflict:
            await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
            return None
        # One statement for the whole list, each column one array parameter: asyncpg's
        # executemany would run the INSERT once a row (measured: 14.7 s of a 100,000-row
        # import under load went to the 33,000 flats' inserts).
        arrays = ", ".join(
            f"${i}::{table.c[name].type.compile(dialect=dialect)}[]"
            for i, name in enumerate(columns, 1)
        )
        statement = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}){conflict}"
        values = [list(column) for column in zip(*rows, strict=True)]
        if returning:
            returned = await driver.fetch(f"{statement} RETURNING {', '.join(returning)}", *values)
            return [tuple(r) for r in returned]
        await driver.execute(statement, *values)
        return None
    marks = ", ".join("?" * len(columns))
    await driver.executemany(
        f"INSERT INTO {table.name} ({names}) VALUES ({marks}){conflict}",
        _bound(session, table, columns, rows),
    )
    return None


def _bound(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> list[Any]:
    """The rows with each value as the column's type stores it (SQLite: dates as text)."""
    dialect = session.get_bind().dialect
    convert: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]] = []
    for i, name in enumerate(columns):
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            convert.append((i, proc, {}))
    if not convert:
        return rows
    out: list[Any] = []
    for row in rows:
        values = list(row)
        for i, proc, seen in convert:
            # The same few values recur (the import's time, birthdays): convert each once.
            value = values[i]
            try:
                values[i] = seen[value]
            except KeyError:
                values[i] = seen[value] = proc(value)
        out.append(values)
    return out


IMPORT_CACHE_KIB = 64 * 1024  # SQLite page cache during an import (the default is 2 MiB)


@asynccontextmanager
async def import_cache(db: Database) -> AsyncIterator[None]:
    """On SQLite, a larger page cache for the import's duration, then the one before again.

    The ID-hash index takes its new keys in random order: with the default 2 MiB cache, at
    100,000 rows most of them land on a page that has to be read back first, and the time per
    row grows with the table (measured: 7.4 s against 2.9 s for 100,000 bare inserts).
    """
    if not db.is_sqlite:
        yield
        return
    async with db.engine.connect() as conn:
        before = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one()
        await conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


class PlannerStatistics:
    """On PostgreSQL, ANALYZE the register's tables as an import makes them grow.

    An import into empty tables outruns autovacuum: the planner still believes them empty and
    answers a chunk's `id_hash IN (…)` with a sequential scan, so each chunk reads the whole
    table and the import grows with its square (measured: 100,000 rows took 232 s against 5.6 s
    for 10,000). Once a table has been analyzed, the planner scales its row estimate by the
    table's current size in pages (the density of the last ANALYZE times the pages now), so the
    growth after the first ANALYZE is seen without another; later ones only refresh the
    histograms. So: the first after `first_after` rows, then each time the import's rows have
    grown eightfold (a 100,000-row import: two, at 5,000 and 40,000 rows; with each doubling it
    was five, 1.3 s of the lead's quiet 32.9 s run).
    """

    GROWTH = 8

    TABLES = ("person", "residentrecord", "household", "building")

    def __init__(self, db: Database, first_after: int = 2000) -> None:
        self.db = db
        self.next_at = first_after
        self.written = 0

    async def written_rows(self, count: int) -> None:
        """`count` more rows were committed; ANALYZE when the tables have grown enough."""
        if self.db.is_sqlite:
            return
        self.written += count
        if self.written < self.next_at:
            return
        async with self.db.engine.connect() as conn:
            await conn.exec_driver_sql(f"ANALYZE {', '.join(self.TABLES)}")
            await conn.commit()
        self.next_at = self.written * self.GROWTH
