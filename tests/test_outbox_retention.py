"""Housekeeping keeps the outbox bounded: finished rows past the retention go, the rest stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlmodel import col

from models.db import Database, utcnow
from models.housekeeping import prune_outbox
from models.scale import generate
from models.tables import Outbox, OutboxStatus
from scheduler import jobs


async def _ages(db: Database) -> dict[str, int]:
    now = utcnow()
    async with db.session() as s:
        rows = (await s.execute(select(col(Outbox.status), col(Outbox.created_at)))).all()
    out: dict[str, int] = {}
    for status, created in rows:
        key = f"{status}:{'old' if created < now - timedelta(days=90) else 'new'}"
        out[key] = out.get(key, 0) + 1
    return out


async def test_finished_rows_past_the_retention_are_deleted_and_pending_ones_stay(
    db: Database,
) -> None:
    async with db.session() as s:
        made = await generate(s, residents=60, now=utcnow(), outbox_months=4)
    assert made.rows["outbox"] > 0
    async with db.session() as s:
        # An old row still pending (a channel down for months) and an old dead one.
        first, second = (
            await s.execute(select(col(Outbox.id)).order_by(col(Outbox.created_at)).limit(2))
        ).scalars()
        await s.execute(
            update(Outbox).where(col(Outbox.id) == first).values(status=OutboxStatus.PENDING)
        )
        await s.execute(
            update(Outbox).where(col(Outbox.id) == second).values(status=OutboxStatus.DEAD)
        )
    before = await _ages(db)
    assert before["sent:old"] > 0 and before["sent:new"] > 0

    counts = await jobs.housekeeping(db, retention_days=7, outbox_retention_days=90)

    after = await _ages(db)
    assert counts["outbox_rows"] == before["sent:old"] + 1  # the old dead row too
    assert after == {"pending:old": 1, "sent:new": before["sent:new"]}
    async with db.session() as s:
        assert await prune_outbox(s, utcnow(), timedelta(days=90)) == 0  # a second run: nothing


async def test_a_run_deletes_in_batches(db: Database) -> None:
    async with db.session() as s:
        await generate(s, residents=60, now=utcnow(), outbox_months=4)
        total = (await s.execute(select(func.count()).select_from(Outbox))).scalar_one()
    async with db.session() as s:
        assert await prune_outbox(s, utcnow(), timedelta(days=90), limit=7) == 7
    async with db.session() as s:
        left = (await s.execute(select(func.count()).select_from(Outbox))).scalar_one()
    assert left == total - 7
