"""PostgreSQL's planner sees the approaches a first scan has just made.

A first scan of an imported register adds approaches faster than autovacuum re-reads the
table's statistics; with statistics saying "none yet" the planner answered the next
community's "not approached yet" with a nested loop over every approach (0.3 s a query at
100,000 residents, 9.5 s of an idle second run). The scan refreshes them itself.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from models.benefits import BenefitOutreach, load_catalogue
from models.benefits import outreach as outreach_module
from models.db import Database, utcnow
from models.scale import generate
from scheduler import jobs
from tests.plans import explain, recording


async def test_after_a_big_first_scan_the_planner_counts_the_approaches(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite keeps no statistics unless asked (ANALYZE is never run on it)")
    monkeypatch.setattr(outreach_module, "ANALYZE_EVERY", 20)
    async with db.session() as s:
        await generate(s, residents=600, now=utcnow(), outbox_months=0)
    with recording(db) as rec:  # as bench.scale and bench.inbound explain the clock's jobs
        counts = await jobs.eligibility(db, load_catalogue())
    assert counts["approached"] >= 20
    assert "ANALYZE benefitoutreach" not in rec.statements  # not a statement to explain
    assert await explain(db, rec)

    async with db.session() as s:
        made = (await s.execute(select(func.count()).select_from(BenefitOutreach))).scalar_one()
        estimated = (
            await s.execute(
                text("SELECT reltuples FROM pg_class WHERE relname = 'benefitoutreach'")
            )
        ).scalar_one()
    assert made == counts["approached"]
    assert estimated == made  # ANALYZE of a table this small reads every row
