"""Outreach, the daily scan: approach people reaching the age, escalate to home visits, re-certify.

Idempotent: an approach is a row with a unique (person, programme, period) key; a home visit
task has a dedupe key; so running the scan twice (or in two processes) approaches once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.benefits.apply import RECERT_NOTICE, current_approval, due_for_recert, open_application
from models.benefits.catalogue import Catalogue, Programme
from models.benefits.eligibility import Eligibility, assess, community_today, local_today
from models.benefits.notifications import tell_residents_not_yet_told
from models.benefits.permissions import is_manager
from models.benefits.tables import ApplicationStatus, BenefitApplication, BenefitOutreach
from models.errors import DomainError
from models.outbox import best_accounts, enqueue, enqueue_many, insert_ignoring_duplicates
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
    known_leaders: dict[tuple[int, int], list[int]] | None = None,
) -> int | None:
    """A home-visit task for the person's grid leader, with an 'apply for them' button."""
    if person.grid_id is None:
        return None
    known = {} if known_leaders is None else known_leaders  # grid → leaders, for one scan
    grid = (person.community_id, person.grid_id)
    if grid not in known:
        known[grid] = await role_holders(session, Role.GRID_LEADER, *grid)
    leaders = known[grid]
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


Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def run_outreach(
    session: AsyncSession, catalogue: Catalogue, now: datetime
) -> dict[str, int]:
    """The daily eligibility scan in the caller's one transaction (see `run_outreach_in_steps`)."""

    @asynccontextmanager
    async def same() -> AsyncIterator[AsyncSession]:
        yield session

    return await run_outreach_in_steps(same, catalogue, now)


async def run_outreach_in_steps(
    sessions: Sessions, catalogue: Catalogue, now: datetime
) -> dict[str, int]:
    """The daily eligibility scan: approach, escalate to home visits, remind to re-certify.

    Each step of SCAN_BATCH people is one `sessions()` transaction (the clock's job passes
    `Database.session`: a register of a million is committed a thousand at a time, so the
    bot's writes never wait long for it, and nothing of a step is in memory after it).
    Idempotent: an approach is a row with a unique (person, programme, period) key; a home
    visit task has a dedupe key; so running it twice (or in two processes) approaches once,
    and a scan cut short is finished by the next.
    """
    counts = {"approached": 0, "messaged": 0, "home_visits": 0, "recert": 0, "told": 0}
    async with sessions() as session:
        communities = (await session.execute(select(Community.id, Community.timezone))).all()
    leaders: dict[tuple[int, int], list[int]] = {}
    analysed_at = 0  # approaches made when the planner's statistics were last brought up to date
    for community_id, timezone in communities:
        today = local_today(now, timezone)
        for programme in catalogue.programmes:
            after: int | None = 0
            while after is not None:
                async with sessions() as session:
                    after = await _scan(
                        session, programme, community_id, today, now, counts, after, leaders
                    )
            if counts["approached"] - analysed_at >= ANALYZE_EVERY:
                async with sessions() as session:
                    await _refresh_statistics(session)
                analysed_at = counts["approached"]
            async with sessions() as session:
                await _escalate_silent(session, programme, community_id, today, now, counts)
            if programme.recertify_months:
                async with sessions() as session:
                    await _recertify(session, programme, community_id, today, now, counts)
    async with sessions() as session:
        counts["told"] = await tell_residents_not_yet_told(session, catalogue, now)
    return counts


SCAN_BATCH = 1000
# A first scan of an imported register adds its approaches faster than PostgreSQL's autovacuum
# re-reads the table's statistics. With statistics that still say "no approaches of this
# programme", the planner answers the next community's "not approached yet" with a nested loop
# over every approach (measured at 100,000 residents: 0.3 s a query before, 13 ms after, and
# 9.5 s of a second, idle run spent there). So after this many new approaches the scan
# refreshes the statistics of its own table itself (a sample: milliseconds).
ANALYZE_EVERY = 1000


async def _refresh_statistics(session: AsyncSession) -> None:
    """ANALYZE the approaches table on PostgreSQL (SQLite's planner uses the unique index)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("ANALYZE benefitoutreach"))


_P = Person.__table__.c  # type: ignore[attr-defined]


async def _scan(
    session: AsyncSession,
    programme: Programme,
    community_id: int,
    today: date,
    now: datetime,
    counts: dict[str, int],
    after: int,
    leaders: dict[tuple[int, int], list[int]],
) -> int | None:
    """One step: the next SCAN_BATCH candidates after person id `after`, approached set-wise
    (one INSERT of approaches, one of messages, a query each for accounts, families and
    register notes); the last id read, None when the register is done."""
    # Born on or before about this day → reaches the first band within the outreach window
    # (a day or two of slack, for 29 February and month ends; `assess` is the exact check).
    horizon = today + timedelta(days=programme.outreach_days)
    latest_birth = date(horizon.year - programme.first_age, horizon.month, 1) + timedelta(
        days=horizon.day
    )
    period = f"age{programme.first_age}"
    has_app = select(col(BenefitApplication.id)).where(
        col(BenefitApplication.person_id) == _P.id,
        col(BenefitApplication.programme) == programme.code,
    )
    approached = select(col(BenefitOutreach.id)).where(
        col(BenefitOutreach.person_id) == _P.id,
        col(BenefitOutreach.programme) == programme.code,
        col(BenefitOutreach.period) == period,
    )
    query = (
        select(_P.id, _P.household_id, _P.birth_date, _P.name, _P.locale)
        .where(
            _P.community_id == community_id,
            _P.verified.is_(True),
            _P.birth_date.is_not(None),
            _P.birth_date <= latest_birth,
            _P.id > after,
            ~has_app.exists(),
            ~approached.exists(),
        )
        .order_by(_P.id)
        .limit(SCAN_BATCH)
    )
    if programme.residency:
        query = query.where(_P.household_id.is_not(None))
    batch = (await session.execute(query)).all()
    answers = {q.code: q.eligible_answer for q in programme.questions}
    chosen = []
    for person in batch:
        result = assess(
            programme,
            today=today,
            birth_date=person.birth_date,
            resident=True if programme.residency else None,
            answers=answers,
        )
        if result.may_apply:
            chosen.append((person, result))
    if chosen:
        await _approach_many(session, programme, community_id, chosen, period, now, counts, leaders)
    return batch[-1].id if len(batch) == SCAN_BATCH else None


async def _approach_many(
    session: AsyncSession,
    programme: Programme,
    community_id: int,
    chosen: list[tuple[Any, Eligibility]],
    period: str,
    now: datetime,
    counts: dict[str, int],
    leaders: dict[tuple[int, int], list[int]],
) -> None:
    """Approach these people and their reachable families, with a home visit where needed."""
    households = {p.household_id for p, _ in chosen if p.household_id is not None}
    relatives: dict[int, list[tuple[int, str | None]]] = {}
    if households:
        rows = await session.execute(
            select(_P.household_id, _P.id, _P.locale)
            .where(_P.household_id.in_(households), _P.verified.is_(True))
            .order_by(_P.id)
        )
        for household_id, pid, locale in rows:
            relatives.setdefault(household_id, []).append((pid, locale))
    family = {
        p.id: [(r, loc) for r, loc in relatives.get(p.household_id, []) if r != p.id]
        for p, _ in chosen
    }
    addresses = await best_accounts(
        session, [p.id for p, _ in chosen] + [r for fam in family.values() for r, _ in fam]
    )
    # Claim the approaches first: only people not approached before (by another process
    # meanwhile, too) are messaged. Reached = has an account; the messages' keys are new.
    claims = [
        {
            "community_id": community_id,
            "person_id": p.id,
            "programme": programme.code,
            "period": period,
            "kind": "approach",
            "reached": p.id in addresses,
            "family_reached": sum(r in addresses for r, _ in family[p.id]),
            "created_at": now,
        }
        for p, _ in chosen
    ]
    claimed = dict(
        (
            await session.execute(
                insert_ignoring_duplicates(session, BenefitOutreach)
                .on_conflict_do_nothing(index_elements=["person_id", "programme", "period"])
                .returning(col(BenefitOutreach.person_id), col(BenefitOutreach.id)),
                claims,  # many parameter sets, one compiled statement (outbox.enqueue_many)
            )
        ).all()
    )
    messages: list[dict[str, Any]] = []
    for person, result in chosen:
        outreach_id = claimed.get(person.id)
        if outreach_id is None:
            continue
        assert result.band is not None
        key = "benefit.outreach_soon" if result.status == "soon" else "benefit.outreach_now"
        values = {
            "name": person.name,
            "amount": result.band.monthly_yuan,
            "age": result.band.min_age,
            "paid_from": result.paid_from.isoformat() if result.paid_from else "",
        }
        to_them = [(person.id, person.locale, key, "benefit.btn_apply")]
        to_family = [
            (r, loc, key + "_family", "benefit.btn_apply_for") for r, loc in family[person.id]
        ]
        for pid, locale, text_key, label in to_them + to_family:
            address = addresses.get(pid)
            if address is None:
                continue
            messages.append({
                "dedupe_key": f"outreach:{outreach_id}:{pid}", "channel": address.channel,
                "chat_id": address.chat_id, "account_id": address.account_id, "person_id": pid,
                "kind": "benefit", "locale": locale or address.locale or "zh",
                "text_key": text_key,
                "values": {**values, "programme": programme.name(locale or "zh")},
                "choices": [[label, f"bapply:{person.id}:{programme.code}"]],
            })  # fmt: skip
    await enqueue_many(session, messages, now)
    counts["approached"] += len(claimed)
    counts["messaged"] += sum(pid in addresses for pid in claimed)
    mobility = set(
        (
            await session.execute(
                select(col(ResidentRecord.person_id)).where(
                    col(ResidentRecord.person_id).in_(list(claimed)),
                    col(ResidentRecord.limited_mobility).is_(True),
                )
            )
        ).scalars()
    )
    # A home visit when the message reached nobody of their own, or they cannot come in.
    for person_id, outreach_id in claimed.items():
        reason = "no_account" if person_id not in addresses else None
        reason = reason or ("mobility" if person_id in mobility else None)
        if reason is None:
            continue
        person = await session.get(Person, person_id)
        assert person is not None
        task_id = await _home_visit(session, programme, person, period, reason, now, leaders)
        if task_id is not None:
            await session.execute(
                update(BenefitOutreach)
                .where(col(BenefitOutreach.id) == outreach_id)
                .values(task_id=task_id)
            )
            counts["home_visits"] += 1


async def _escalate_silent(
    session: AsyncSession,
    programme: Programme,
    community_id: int,
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
    query = (
        select(BenefitOutreach, Person)
        .join(Person, col(Person.id) == BenefitOutreach.person_id)
        .where(
            col(BenefitOutreach.community_id) == community_id,
            col(BenefitOutreach.programme) == programme.code,
            col(BenefitOutreach.task_id).is_(None),
            col(BenefitOutreach.created_at) <= due,
            ~has_app.exists(),
        )
        .order_by(col(BenefitOutreach.id))
        .limit(SCAN_BATCH)
    )
    leaders: dict[tuple[int, int], list[int]] = {}
    after = 0
    while True:  # SCAN_BATCH at a time: a week after a register's first scan this is many
        rows = (await session.execute(query.where(col(BenefitOutreach.id) > after))).all()
        for outreach, person in rows:
            reason = "recert_missed" if outreach.kind == "recert" else "no_answer"
            outreach.task_id = await _home_visit(
                session, programme, person, outreach.period, reason, now, leaders
            )
            counts["home_visits"] += outreach.task_id is not None
        if len(rows) < SCAN_BATCH:
            return
        after = rows[-1][0].id
        await session.flush()  # written now: what was read can be let go


async def _recertify(
    session: AsyncSession,
    programme: Programme,
    community_id: int,
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
                col(BenefitApplication.community_id) == community_id,
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
