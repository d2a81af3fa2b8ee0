"""A fresh database for one benchmark run, left as it was found.

`ScratchDatabase(None, tmp_prefix=...)` is a SQLite file in a new temporary directory named
`tmp_prefix…` (deleted afterwards).
A SQLite URL must name a file that does not exist yet (deleted afterwards, with its -wal, -shm
and -journal files). A PostgreSQL URL must point at a database either without the schema (the
run creates it, then drops it again) or with the whole schema at the migrations' head and every
table empty (the run empties the tables again and sets the id sequences back to where they
were). Anything else is refused before the run touches it. `left_as_found()` checks,
after `cleanup()`, that it was.

`sibling_database(url, suffix)` gives a benchmark a PostgreSQL database of its own next to the
one named (`<db>_<suffix>`, created empty, dropped afterwards whatever happened), so a
benchmark run from the test suite never touches the test database's contents.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from models import load_all
from models.db import Database, async_url
from models.migrations import alembic_config, upgrade

load_all()  # every table on SQLModel.metadata


def _tables() -> list[str]:
    """The application's tables, parents before children."""
    # Tables live in many modules of models/: load_all() (above) imported them all, so a new
    # module's tables are emptied and dropped too.
    return [t.name for t in SQLModel.metadata.sorted_tables]


class ScratchDatabase:
    """A database for one run: a temporary SQLite file, or PostgreSQL left as found.

    Call `check()` (refuses, with SystemExit, a database the run could damage), `prepare()`
    (migrates to head; checks first if `check()` has not run), then, whatever happened,
    `cleanup()`.
    """

    def __init__(self, url: str | None, *, tmp_prefix: str) -> None:
        self._tmp: str | None = None
        if url is None:
            self._tmp = tempfile.mkdtemp(prefix=tmp_prefix)
            url = f"sqlite:///{self._tmp}/linli.db"
        self.url = url
        backend = make_url(url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise SystemExit(f"unsupported database {backend!r}: use sqlite or postgresql")
        self.kind = backend
        self._checked = False
        self._created_schema = False
        self._sequences: list[tuple[str, int | None, int]] = []

    def check(self) -> None:
        """Refuse a database the run could damage: an existing SQLite file, a non-empty PostgreSQL."""
        if self.kind == "sqlite":
            path = make_url(self.url).database
            if not path or path == ":memory:":
                raise SystemExit("a SQLite benchmark needs a file database")
            if self._tmp is None and Path(path).exists():
                raise SystemExit(f"{path} exists: give a new file (it is deleted afterwards)")
        else:
            self._created_schema = asyncio.run(self._check_postgresql())
        self._checked = True

    async def _check_postgresql(self) -> bool:
        """True when the schema is absent (the run creates it, then drops it again)."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        db = Database(self.url)
        try:
            async with db.engine.connect() as conn:
                present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
                ours = set(_tables())
                if not present & (ours | {"alembic_version"}):
                    return True
                if not ours <= present or "alembic_version" not in present:
                    raise SystemExit("the PostgreSQL schema is partial: give an empty database")
                version = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).all()
                if [row[0] for row in version] != [head]:
                    raise SystemExit(f"the PostgreSQL schema is not at {head}: migrate it first")
                for name in sorted(ours):
                    count = await conn.execute(text(f'SELECT COUNT(*) FROM "{name}"'))
                    if count.scalar_one():
                        raise SystemExit(f"table {name} has rows: the bench needs empty tables")
                # Emptying the tables afterwards is not enough: the id sequences move on too.
                rows = await conn.execute(
                    text(
                        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), "
                        "last_value, start_value FROM pg_sequences "
                        "WHERE schemaname = current_schema()"
                    )
                )
                self._sequences = [(str(r[0]), r[1], int(r[2])) for r in rows]
                return False
        finally:
            await db.dispose()

    def prepare(self) -> None:
        """Migrate to head, checking first if not yet checked (call outside an event loop)."""
        if not self._checked:
            self.check()
        upgrade(self.url)

    def cleanup(self) -> None:
        """Put the database back as it was: delete the file, or drop/empty the tables."""
        if self.kind == "postgresql":
            asyncio.run(self._clean_postgresql())
            return
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        path = make_url(self.url).database or ""
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(path + suffix).unlink(missing_ok=True)

    def left_as_found(self) -> bool:
        """After `cleanup()`: no file left, or the tables dropped (or empty, sequences back)."""
        if self.kind == "sqlite":
            if self._tmp is not None:
                return not Path(self._tmp).exists()
            path = make_url(self.url).database or ""
            return not any(Path(path + x).exists() for x in ("", "-wal", "-shm", "-journal"))
        return asyncio.run(self._postgresql_as_found())

    async def _postgresql_as_found(self) -> bool:
        db = Database(self.url)
        try:
            async with db.engine.connect() as conn:
                present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
                if self._created_schema:
                    return not present & {*_tables(), "alembic_version"}
                for name in _tables():
                    count = await conn.execute(text(f'SELECT COUNT(*) FROM "{name}"'))
                    if count.scalar_one():
                        return False
                rows = await conn.execute(
                    text(
                        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), "
                        "last_value FROM pg_sequences WHERE schemaname = current_schema()"
                    )
                )
                now = {str(r[0]): r[1] for r in rows}
                return all(now.get(name) == last for name, last, _ in self._sequences)
        finally:
            await db.dispose()

    async def _clean_postgresql(self) -> None:
        names = list(reversed(_tables()))
        db = Database(self.url)
        try:
            async with db.engine.begin() as conn:
                if self._created_schema:
                    for name in [*names, "alembic_version"]:
                        await conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
                else:
                    quoted = ", ".join(f'"{n}"' for n in names)
                    await conn.execute(text(f"TRUNCATE {quoted}"))
                    for name, last_value, start_value in self._sequences:
                        # setval(…, false): the next nextval() returns exactly that value.
                        following = start_value if last_value is None else last_value
                        await conn.execute(
                            text("SELECT setval(CAST(:seq AS regclass), :value, :called)"),
                            {"seq": name, "value": following, "called": last_value is not None},
                        )
        finally:
            await db.dispose()


@contextmanager
def sibling_database(url: str | None, suffix: str) -> Iterator[str | None]:
    """A new, empty PostgreSQL database `<db>_<suffix>` on `url`'s server, dropped afterwards.

    For SQLite (or no URL) it yields None: each benchmark makes its own temporary file.
    """
    if url is None or make_url(url).get_backend_name() != "postgresql":
        yield None
        return
    base = make_url(url)
    name = f"{base.database}_{suffix}"[:63]
    sibling = base.set(database=name).render_as_string(hide_password=False)

    async def admin(*statements: str) -> None:
        engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(admin(drop, f'CREATE DATABASE "{name}"'))  # a crashed earlier run left it?
    try:
        yield sibling
    finally:
        asyncio.run(admin(drop))
