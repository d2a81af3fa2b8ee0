"""Outreach, the daily scan: approach people reaching the age, escalate to home visits, re-certify.

Idempotent: an approach is a row with a unique (person, programme, period) key; a home visit
task has a dedupe key; so running the scan twice (or in two processes) approaches once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.benefits.apply import RECERT_NOTICE, current_approval, due_for_recert, open_application
from models.benefits.catalogue import Catalogue, Programme
from models.benefits.eligibility import Eligibility, assess, community_today, local_today
from models.benefits.notifications import family_of, locale_of, tell_residents_not_yet_told
from models.benefits.permissions import is_manager
from models.benefits.tables import ApplicationStatus, BenefitApplication, BenefitOutreach
from models.errors import DomainError
from models.outbox import enqueue, insert_ignoring_duplicates
from models.register import ResidentRecord
from models.tables import Community, Person, Role, TaskKind
from models.tasks import create_task, role_holders


async def _home_visit(
    session: AsyncSession,
    programme: Programme,
    person: Person,
    period: str,
    reason_key: str,
    now: datetime,
) -> int | None:
    """A home-visit task for the person's grid leader, with an 'apply for them' button."""
    if person.grid_id is None:
        return None
    leaders = await role_holders(session, Role.GRID_LEADER, person.community_id, person.grid_id)
    record = await session.get(ResidentRecord, person.id)
    notes = [k for k, on in (("独居", record and record.lives_alone),
                             ("行动不便", record and record.limited_mobility)) if on]  # fmt: skip
    task = await create_task(
        session,
        now=now,
        community_id=person.community_id,
        grid_id=person.grid_id,
        kind=TaskKind.HOME_VISIT,
        title=f"上门走访：{person.name}（{programme.name_zh}）",
        detail=_visit_detail(programme, person, reason_key, notes),
        subject_person_id=person.id,
        assignee_id=leaders[0] if leaders else None,
        dedupe_key=f"homevisit:{programme.code}:{person.id}:{period}",
        action_label_key="benefit.btn_apply_for",
        action_payload=f"bapply:{person.id}:{programme.code}",
    )
    return task.id


_VISIT_REASONS = {
    "no_account": "没有联系方式（未绑定聊天账号）",
    "mobility": "行动不便",
    "no_answer": "通知后7天内没有申请",
    "recert_missed": "资格认证已过期",
}


def _visit_detail(programme: Programme, person: Person, reason: str, notes: list[str]) -> str:
    lines = [f"{person.name} 可以申请{programme.name_zh}，请上门帮助办理（代办）。"]
    lines.append(f"原因：{_VISIT_REASONS.get(reason, reason)}")
    if notes:
        lines.append("底册备注：" + "、".join(notes))
    if person.phone:
        lines.append(f"电话：{person.phone}")
    return "\n".join(lines)


async def _new_outreach(
    session: AsyncSession,
    person: Person,
    programme: Programme,
    period: str,
    kind: str,
    now: datetime,
) -> BenefitOutreach | None:
    """Claim the (person, programme, period) approach; None when it was claimed before."""
    stmt = (
        insert_ignoring_duplicates(session, BenefitOutreach)
        .values(
            community_id=person.community_id,
            person_id=person.id,
            programme=programme.code,
            period=period,
            kind=kind,
            reached=False,
            family_reached=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["person_id", "programme", "period"])
        .returning(col(BenefitOutreach.id))
    )
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    return await session.get(BenefitOutreach, new_id) if new_id is not None else None


async def _approach(
    session: AsyncSession,
    programme: Programme,
    person: Person,
    result: Eligibility,
    outreach: BenefitOutreach,
    now: datetime,
    key: str,
) -> None:
    assert person.id is not None and result.band is not None
    values = {
        "name": person.name,
        "amount": result.band.monthly_yuan,
        "age": result.band.min_age,
        "paid_from": result.paid_from.isoformat() if result.paid_from else "",
    }
    button = [["benefit.btn_apply", f"bapply:{person.id}:{programme.code}"]]
    outreach.reached = await enqueue(
        session,
        person_id=person.id,
        kind="benefit",
        dedupe_key=f"outreach:{outreach.id}:{person.id}",
        now=now,
        text_key=key,
        values={**values, "programme": programme.name(person.locale)},
        choices=button,
        priority=1,
    )
    for relative in await family_of(session, person):
        outreach.family_reached += await enqueue(
            session,
            person_id=relative,
            kind="benefit",
            dedupe_key=f"outreach:{outreach.id}:{relative}",
            now=now,
            text_key=key + "_family",
            values={**values, "programme": programme.name(await locale_of(session, relative))},
            choices=[["benefit.btn_apply_for", f"bapply:{person.id}:{programme.code}"]],
            priority=1,
        )


async def run_outreach(
    session: AsyncSession, catalogue: Catalogue, now: datetime
) -> dict[str, int]:
    """The daily eligibility scan: approach, escalate to home visits, remind to re-certify.

    Idempotent: an approach is a row with a unique (person, programme, period) key; a home
    visit task has a dedupe key; so running it twice (or in two processes) approaches once.
    """
    counts = {"approached": 0, "messaged": 0, "home_visits": 0, "recert": 0, "told": 0}
    communities = (await session.execute(select(Community))).scalars().all()
    for community in communities:
        today = local_today(now, community.timezone)
        for programme in catalogue.programmes:
            await _scan(session, programme, community, today, now, counts)
            await _escalate_silent(session, programme, community, today, now, counts)
            if programme.recertify_months:
                await _recertify(session, programme, community, today, now, counts)
    counts["told"] = await tell_residents_not_yet_told(session, catalogue, now)
    return counts


async def _scan(
    session: AsyncSession,
    programme: Programme,
    community: Community,
    today: date,
    now: datetime,
    counts: dict[str, int],
) -> None:
    # Born on or before about this day → reaches the first band within the outreach window
    # (a day or two of slack, for 29 February and month ends; `assess` is the exact check).
    horizon = today + timedelta(days=programme.outreach_days)
    latest_birth = date(horizon.year - programme.first_age, horizon.month, 1) + timedelta(
        days=horizon.day
    )
    period = f"age{programme.first_age}"
    has_app = select(col(BenefitApplication.id)).where(
        col(BenefitApplication.person_id) == Person.id,
        col(BenefitApplication.programme) == programme.code,
    )
    approached = select(col(BenefitOutreach.id)).where(
        col(BenefitOutreach.person_id) == Person.id,
        col(BenefitOutreach.programme) == programme.code,
        col(BenefitOutreach.period) == period,
    )
    query = (
        select(Person)
        .where(
            col(Person.community_id) == community.id,
            col(Person.verified).is_(True),
            col(Person.birth_date).is_not(None),
            col(Person.birth_date) <= latest_birth,
            ~has_app.exists(),
            ~approached.exists(),
        )
        .order_by(col(Person.id))
    )
    if programme.residency:
        query = query.where(col(Person.household_id).is_not(None))
    async for person in _in_batches(session, query):
        result = assess(
            programme,
            today=today,
            birth_date=person.birth_date,
            resident=True if programme.residency else None,
            answers={q.code: q.eligible_answer for q in programme.questions},
        )
        if not result.may_apply:
            continue
        outreach = await _new_outreach(session, person, programme, period, "approach", now)
        if outreach is None:
            continue
        counts["approached"] += 1
        key = "benefit.outreach_soon" if result.status == "soon" else "benefit.outreach_now"
        await _approach(session, programme, person, result, outreach, now, key)
        counts["messaged"] += outreach.reached
        record = await session.get(ResidentRecord, person.id)
        reason = None
        if not outreach.reached:
            reason = "no_account"
        elif record is not None and record.limited_mobility:
            reason = "mobility"
        if reason is not None:
            outreach.task_id = await _home_visit(session, programme, person, period, reason, now)
            counts["home_visits"] += outreach.task_id is not None


SCAN_BATCH = 1000


async def _in_batches(session: AsyncSession, query: Any) -> AsyncIterator[Person]:
    """The people `query` selects (ordered by id), read SCAN_BATCH at a time by id, so that a
    register of a million is never in memory at once."""
    after = 0
    while True:
        batch = (
            (await session.execute(query.where(col(Person.id) > after).limit(SCAN_BATCH)))
            .scalars()
            .all()
        )
        for person in batch:
            yield person
        if len(batch) < SCAN_BATCH:
            return
        assert batch[-1].id is not None
        after = batch[-1].id


async def _escalate_silent(
    session: AsyncSession,
    programme: Programme,
    community: Community,
    today: date,
    now: datetime,
    counts: dict[str, int],
) -> None:
    """Approached, no application after `answer_days`, no visit yet: a home visit."""
    due = now - timedelta(days=programme.answer_days)
    has_app = select(col(BenefitApplication.id)).where(
        col(BenefitApplication.person_id) == BenefitOutreach.person_id,
        col(BenefitApplication.programme) == programme.code,
        col(BenefitApplication.submitted_at) > BenefitOutreach.created_at,
    )
    rows = (
        await session.execute(
            select(BenefitOutreach, Person)
            .join(Person, col(Person.id) == BenefitOutreach.person_id)
            .where(
                col(BenefitOutreach.community_id) == community.id,
                col(BenefitOutreach.programme) == programme.code,
                col(BenefitOutreach.task_id).is_(None),
                col(BenefitOutreach.created_at) <= due,
                ~has_app.exists(),
            )
        )
    ).all()
    for outreach, person in rows:
        reason = "recert_missed" if outreach.kind == "recert" else "no_answer"
        outreach.task_id = await _home_visit(
            session, programme, person, outreach.period, reason, now
        )
        counts["home_visits"] += outreach.task_id is not None


async def _recertify(
    session: AsyncSession,
    programme: Programme,
    community: Community,
    today: date,
    now: datetime,
    counts: dict[str, int],
) -> None:
    """Approved applications due for re-certification within 30 days: a reminder, once."""
    rows = (
        await session.execute(
            select(BenefitApplication, Person)
            .join(Person, col(Person.id) == BenefitApplication.person_id)
            .where(
                col(BenefitApplication.community_id) == community.id,
                col(BenefitApplication.programme) == programme.code,
                col(BenefitApplication.status) == ApplicationStatus.APPROVED,
                col(BenefitApplication.valid_until).is_not(None),
                col(BenefitApplication.valid_until) <= today + RECERT_NOTICE,
            )
        )
    ).all()
    for app, person in rows:
        newer = (
            await session.execute(
                select(col(BenefitApplication.id)).where(
                    col(BenefitApplication.person_id) == person.id,
                    col(BenefitApplication.programme) == programme.code,
                    col(BenefitApplication.id) > app.id,
                )
            )
        ).first()
        if newer is not None:
            continue
        assert app.valid_until is not None
        period = f"recert:{app.valid_until.isoformat()}"
        outreach = await _new_outreach(session, person, programme, period, "recert", now)
        if outreach is None:
            continue
        counts["recert"] += 1
        outreach.reached = await enqueue(
            session,
            person_id=person.id,  # type: ignore[arg-type]
            kind="benefit",
            dedupe_key=f"outreach:{outreach.id}:{person.id}",
            now=now,
            text_key="benefit.recert_reminder",
            values={
                "name": person.name,
                "programme": programme.name(person.locale),
                "until": app.valid_until.isoformat(),
            },
            choices=[["benefit.btn_recertify", f"bapply:{person.id}:{programme.code}"]],
            priority=1,
        )
        record = await session.get(ResidentRecord, person.id)
        if not outreach.reached or (record is not None and record.limited_mobility):
            outreach.task_id = await _home_visit(
                session,
                programme,
                person,
                period,
                "recert_missed" if not outreach.reached else "mobility",
                now,
            )
            counts["home_visits"] += outreach.task_id is not None


async def people_to_help(
    session: AsyncSession,
    catalogue: Catalogue,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    now: datetime,
) -> list[tuple[Person, Programme]]:
    """For a grid leader: people approached in their grids who have no open or approved application."""
    grids = [g for r, g in roles if r == Role.GRID_LEADER and g is not None]
    query = (
        select(BenefitOutreach, Person)
        .join(Person, col(Person.id) == BenefitOutreach.person_id)
        .where(col(BenefitOutreach.community_id) == actor.community_id)
        .order_by(col(BenefitOutreach.created_at), col(BenefitOutreach.id))
    )
    if not is_manager(roles):
        if not grids:
            raise DomainError("error.forbidden")
        query = query.where(col(Person.grid_id).in_(grids))
    out: list[tuple[Person, Programme]] = []
    seen: set[tuple[int, str]] = set()
    for outreach, person in (await session.execute(query)).all():
        programme = catalogue.get(outreach.programme)
        key = (person.id, outreach.programme)
        if programme is None or key in seen:
            continue
        seen.add(key)  # type: ignore[arg-type]
        if await open_application(session, person.id, programme.code) is not None:  # type: ignore[arg-type]
            continue
        approved = await current_approval(session, person.id, programme.code)  # type: ignore[arg-type]
        today = await community_today(session, person.community_id, now)
        if approved is not None and not due_for_recert(approved, today):
            continue
        out.append((person, programme))
    return out[:30]
