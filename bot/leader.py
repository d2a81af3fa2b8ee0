"""Only one process runs the clock and the delivery worker: the one holding the lock.

PostgreSQL: a session-level advisory lock on a connection kept open; if the process dies,
the server drops the connection and the lock with it, and a waiting process takes over.
SQLite: an exclusive `flock` on a file beside the database, released by the kernel when the
process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from models.db import Database

log = logging.getLogger("linli.leader")
LOCK_KEY = 0x4C494E4C49  # "LINLI"


class Leadership:
    """try_acquire() / wait_until_leader() / release()."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: AsyncConnection | None = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def _lock_path(self) -> str | None:
        database = make_url(self.db.url).database
        if not database or database == ":memory:":
            return None
        return os.path.abspath(database) + ".leader"

    def _flock(self) -> IO[bytes] | None:
        path = self._lock_path()
        if path is None:  # a private in-memory database: nobody else can share it
            return open(os.devnull, "rb")
        fh = open(path, "ab")  # held open for as long as we lead
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return None
        return fh

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never blocks."""
        if self.held:
            return True
        if self.db.is_sqlite:
            self._file = self._flock()
            return self._file is not None
        conn = await self.db.engine.connect()
        got = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
        ).scalar()
        await conn.commit()
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def still_held(self) -> bool:
        """False when the lock's connection was lost (then another process may lead)."""
        if self._conn is None:
            return self._file is not None
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
            return True
        except Exception:
            log.exception("lost the leader connection")
            return False

    async def wait_until_leader(self, stop: asyncio.Event, poll: float = 5.0) -> bool:
        """Try every `poll` seconds until leader (True) or stopped (False)."""
        announced = False
        while not stop.is_set():
            if await self.try_acquire():
                log.info("this process now runs the clock and delivery")
                return True
            if not announced:
                log.info("another process leads; waiting to take over")
                announced = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)
        return False

    async def release(self) -> None:
        """Give the lock up."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                await self._conn.commit()
            await self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None
