"""The daily outreach scan over a generated district, a step of people per transaction.

The scan approaches set-wise (models/benefits/outreach.py: one INSERT of approaches and one
of messages per step); these checks hold whatever the step size: everyone who may apply is
approached once, each approach's messages match what it records, the home visits go to the
unreachable and the less mobile, and a second run approaches nobody.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from models.benefits import BenefitOutreach, load_catalogue
from models.benefits import outreach as outreach_module
from models.db import Database, utcnow
from models.register import ResidentRecord
from models.scale import generate
from models.tables import Outbox, Person
from scheduler import jobs

PROGRAMMES = load_catalogue()


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 people a step: the 600-resident district below takes several steps.
    monkeypatch.setattr(outreach_module, "SCAN_BATCH", 40)


async def test_the_scan_in_steps_approaches_each_person_once_with_their_messages(
    db: Database, small_steps: None
) -> None:
    async with db.session() as s:
        await generate(s, residents=600, now=utcnow(), outbox_months=0)
        # Some of the old cannot come in: they get a home visit though they were messaged.
        old = (
            await s.execute(select(col(Person.id)).where(col(Person.birth_date) < date(1946, 1, 1)))
        ).scalars()
        old_ids = list(old)[:5]
        for pid in old_ids:
            s.add(ResidentRecord(person_id=pid, community_id=1, limited_mobility=True))
    counts = await jobs.eligibility(db, PROGRAMMES)
    assert counts["approached"] > outreach_module.SCAN_BATCH  # more than one step's worth

    async with db.session() as s:
        approaches = (await s.execute(select(BenefitOutreach))).scalars().all()
        messages = (await s.execute(select(col(Outbox.dedupe_key)))).scalars().all()
        mobile_less = set(
            (
                await s.execute(
                    select(col(ResidentRecord.person_id)).where(
                        col(ResidentRecord.limited_mobility).is_(True)
                    )
                )
            ).scalars()
        )
    assert len(approaches) == counts["approached"]
    assert len({(a.person_id, a.programme, a.period) for a in approaches}) == len(approaches)
    by_approach: dict[int, set[str]] = {}
    for key in messages:
        if key.startswith("outreach:"):
            _, oid, pid = key.split(":")
            by_approach.setdefault(int(oid), set()).add(pid)
    for a in approaches:
        sent = by_approach.get(a.id or 0, set())
        assert a.reached == (str(a.person_id) in sent), a
        assert a.family_reached == len(sent - {str(a.person_id)}), a
        assert (a.task_id is not None) == (not a.reached or a.person_id in mobile_less), a
    assert counts["messaged"] == sum(a.reached for a in approaches)
    assert counts["home_visits"] == sum(a.task_id is not None for a in approaches)
    assert any(a.family_reached for a in approaches) and any(not a.reached for a in approaches)

    again = await jobs.eligibility(db, PROGRAMMES)
    assert again["approached"] == 0 and again["home_visits"] == 0


async def test_a_scan_cut_short_is_finished_by_the_next_one(
    db: Database, small_steps: None
) -> None:
    async with db.session() as s:
        await generate(s, residents=300, now=utcnow(), outbox_months=0)
    first = await jobs.eligibility(db, PROGRAMMES)
    async with db.session() as s:
        # As if the process had stopped after the first step: later approaches never were.
        ids = (
            await s.execute(select(col(BenefitOutreach.id)).order_by(col(BenefitOutreach.id)))
        ).scalars()
        keep = list(ids)[outreach_module.SCAN_BATCH // 2]
        await s.execute(
            Outbox.__table__.delete().where(col(Outbox.dedupe_key).like("outreach:%"))  # type: ignore[attr-defined]
        )
        await s.execute(
            BenefitOutreach.__table__.delete().where(col(BenefitOutreach.id) > keep)  # type: ignore[attr-defined]
        )
        left = (await s.execute(select(func.count()).select_from(BenefitOutreach))).scalar_one()
    second = await jobs.eligibility(db, PROGRAMMES)
    assert left + second["approached"] == first["approached"]
