"""Record the SQL a piece of work runs and explain each statement: which large tables it scans.

Shared by tests/test_query_plans.py (a small generated district) and bench/scale.py (the
large ones). SQLite: `EXPLAIN QUERY PLAN`, a `SCAN <table>` without an index is a full scan.
PostgreSQL: `EXPLAIN` with `enable_seqscan` off when `force_index` is set (on a small test
database the planner rightly prefers a sequential scan to an index; with it off, a `Seq Scan`
that remains means no index can serve the query), as the planner chooses otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text

from models.db import Database

# Tables that grow with the number of residents or with time.
LARGE = frozenset(
    {
        "person",
        "household",
        "channelaccount",
        "rolegrant",
        "outbox",
        "processedupdate",
        "conversation",
        "report",
        "reportevent",
        "reportfollower",
        "reportphoto",
        "task",
        "taskoffer",
        "rating",
        "volunteerhours",
        "benefitapplication",
        "benefitevent",
        "benefitoutreach",
        "notice",
        "reminder",
        # the sign-up engine and events (issue 11): a district's bookings, events and meetings
        "slot",
        "signup",
        "signupreminder",
        "event",
        "eventinvitee",
        "sessionseries",
        "poll",
        "ballot",
    }
)

_SKIP = re.compile(
    r"^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SELECT 1$|SET |SHOW |ANALYZE\b)", re.I
)
_PLAIN_INSERT = re.compile(r"^\s*INSERT\b(?!.*\bSELECT\b)", re.I | re.S)


@dataclass
class Recorder:
    """Statements (with the parameters of their first run) seen on an engine, in order."""

    statements: dict[str, Any] = field(default_factory=dict)

    def add(self, statement: str, parameters: Any, executemany: bool) -> None:
        if executemany or _SKIP.match(statement) or _PLAIN_INSERT.match(statement):
            return
        self.statements.setdefault(statement, parameters)


@contextmanager
def recording(db: Database) -> Iterator[Recorder]:
    """Record what `db` runs inside the block."""
    rec = Recorder()

    def before(
        _conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool
    ) -> None:
        rec.add(statement, params, many)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield rec
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


@dataclass
class Plan:
    """One statement's plan and the large tables it reads in full."""

    statement: str
    lines: list[str]
    scans: list[str]


_SQLITE_SCAN = re.compile(r"\bSCAN (\w+)(?: AS \w+)?(.*)$")
_PG_SCAN = re.compile(r"Seq Scan on (\w+)")


async def explain(db: Database, rec: Recorder, *, force_index: bool = True) -> list[Plan]:
    """The plan of every recorded statement (run inside a transaction that is rolled back)."""
    plans: list[Plan] = []
    async with db.engine.connect() as conn:
        if not db.is_sqlite and force_index:
            await conn.execute(text("SET enable_seqscan = off"))
        for statement, params in rec.statements.items():
            prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
            result = await conn.exec_driver_sql(prefix + statement, params)
            rows = result.all()
            if db.is_sqlite:
                lines = [str(r[-1]) for r in rows]
                scans = []
                for line in lines:
                    m = _SQLITE_SCAN.search(line)
                    if m and m.group(1) in LARGE and "INDEX" not in m.group(2):
                        scans.append(m.group(1))
            else:
                lines = [str(r[0]) for r in rows]
                scans = [m.group(1) for line in lines for m in [_PG_SCAN.search(line)] if m]
                scans = [t for t in scans if t in LARGE]
            plans.append(Plan(statement, lines, scans))
        await conn.rollback()
    return plans
