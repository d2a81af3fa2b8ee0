"""Applying: what is known of a person, filing an application (for oneself or 代办), reading them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.benefits.catalogue import Programme
from models.benefits.eligibility import assess, community_today
from models.benefits.notifications import tell_applicant, tell_resident_filed, tell_reviewers
from models.benefits.permissions import filer_role
from models.benefits.tables import (
    MAX_REASON,
    ApplicationStatus,
    BenefitApplication,
    BenefitDocument,
    BenefitEvent,
)
from models.errors import DomainError
from models.register import ResidentRecord
from models.tables import Person

RECERT_NOTICE = timedelta(days=30)


@dataclass
class Facts:
    """What the register and earlier applications already tell about a person."""

    person: Person
    birth_date: date | None
    resident: bool | None
    answers: dict[str, bool] = field(default_factory=dict)
    record: ResidentRecord | None = None


async def known_facts(session: AsyncSession, person: Person, programme: Programme) -> Facts:
    """Birth date and residency from the register, answers from the latest application."""
    resident = bool(person.verified and person.household_id is not None) or None
    latest = (
        await session.execute(
            select(BenefitApplication)
            .where(
                col(BenefitApplication.person_id) == person.id,
                col(BenefitApplication.programme) == programme.code,
            )
            .order_by(col(BenefitApplication.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    answers = {k: v for k, v in (latest.answers if latest else {}).items() if isinstance(v, bool)}
    return Facts(
        person,
        person.birth_date,
        resident,
        answers,
        await session.get(ResidentRecord, person.id),
    )


async def open_application(
    session: AsyncSession, person_id: int, programme: str
) -> BenefitApplication | None:
    """The person's open application for the programme, if any."""
    return (
        await session.execute(
            select(BenefitApplication).where(
                col(BenefitApplication.open_key) == f"{person_id}:{programme}"
            )
        )
    ).scalar_one_or_none()


async def current_approval(
    session: AsyncSession, person_id: int, programme: str
) -> BenefitApplication | None:
    """The newest approved application, if any."""
    return (
        await session.execute(
            select(BenefitApplication)
            .where(
                col(BenefitApplication.person_id) == person_id,
                col(BenefitApplication.programme) == programme,
                col(BenefitApplication.status) == ApplicationStatus.APPROVED,
            )
            .order_by(col(BenefitApplication.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def apply_for_benefit(
    session: AsyncSession,
    programme: Programme,
    *,
    person_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    answers: dict[str, bool],
    documents: list[tuple[str, str]],
    now: datetime,
    birth_date: date | None = None,
    note: str | None = None,
) -> BenefitApplication:
    """File an application (for oneself, or 代办 for someone); checks who may, and eligibility again."""
    person = await session.get(Person, person_id)
    if person is None:
        raise DomainError("benefit.not_found")
    role = filer_role(actor, roles, person)
    if role is None:
        raise DomainError("error.forbidden")
    today = await community_today(session, person.community_id, now)
    facts = await known_facts(session, person, programme)
    born = facts.birth_date or birth_date
    merged = {**facts.answers, **answers}
    result = assess(
        programme, today=today, birth_date=born, resident=facts.resident, answers=merged
    )
    if not result.may_apply:
        raise DomainError("benefit.not_eligible_now")
    existing = await open_application(session, person_id, programme.code)
    if existing is not None:
        raise DomainError("benefit.already_open", id=existing.id)
    approved = await current_approval(session, person_id, programme.code)
    if approved is not None and not due_for_recert(approved, today):
        raise DomainError("benefit.already_approved", id=approved.id)
    assert result.band is not None
    app = BenefitApplication(
        community_id=person.community_id,
        grid_id=person.grid_id,
        person_id=person_id,
        programme=programme.code,
        status=ApplicationStatus.SUBMITTED,
        open_key=f"{person_id}:{programme.code}",
        filed_by_id=actor.id,  # type: ignore[arg-type]
        on_behalf=role != "self",
        filer_role=role,
        birth_date=born,
        band_min_age=result.band.min_age,
        monthly_yuan=result.band.monthly_yuan,
        paid_from=result.paid_from,
        answers=merged,
        note=(note or "").strip()[:MAX_REASON] or None,
        recertifies_id=approved.id if approved else None,
        submitted_at=now,
        updated_at=now,
    )
    session.add(app)
    await session.flush()
    await add_documents(session, programme, app, actor, documents, now)
    event = await record_event(session, app, actor.id, None, ApplicationStatus.SUBMITTED, None, now)
    if app.on_behalf:
        await tell_resident_filed(session, programme, app, actor, now)
    else:
        await tell_applicant(session, programme, app, event, "benefit.notify_submitted", now)
    await tell_reviewers(session, programme, app, now)
    return app


def due_for_recert(app: BenefitApplication, today: date) -> bool:
    return app.valid_until is not None and app.valid_until - RECERT_NOTICE <= today


async def add_documents(
    session: AsyncSession,
    programme: Programme,
    app: BenefitApplication,
    actor: Person,
    documents: list[tuple[str, str]],
    now: datetime,
) -> None:
    for kind, ref in documents[:20]:
        doc = programme.document(kind)
        session.add(
            BenefitDocument(
                application_id=app.id,  # type: ignore[arg-type]
                kind=kind if doc else "other",
                media_ref=ref[:256],
                sensitive=doc.sensitive if doc else False,
                added_by_id=actor.id,  # type: ignore[arg-type]
                added_at=now,
            )
        )
    await session.flush()


async def record_event(
    session: AsyncSession,
    app: BenefitApplication,
    actor_id: int | None,
    before: str | None,
    after: str,
    reason: str | None,
    now: datetime,
) -> BenefitEvent:
    event = BenefitEvent(
        application_id=app.id,  # type: ignore[arg-type]
        actor_id=actor_id,
        from_status=before,
        to_status=after,
        reason=reason,
        at=now,
    )
    session.add(event)
    await session.flush()
    return event


async def documents_of(session: AsyncSession, app_id: int) -> list[BenefitDocument]:
    """The application's document photos, in the order they came."""
    rows = await session.execute(
        select(BenefitDocument)
        .where(col(BenefitDocument.application_id) == app_id)
        .order_by(col(BenefitDocument.id))
    )
    return list(rows.scalars())


async def my_applications(session: AsyncSession, person: Person) -> list[BenefitApplication]:
    """Applications for this person or filed by them, newest first."""
    rows = await session.execute(
        select(BenefitApplication)
        .where(
            or_(
                col(BenefitApplication.person_id) == person.id,
                col(BenefitApplication.filed_by_id) == person.id,
            )
        )
        .order_by(col(BenefitApplication.id).desc())
        .limit(20)
    )
    return list(rows.scalars())


async def history(session: AsyncSession, app_id: int) -> list[BenefitEvent]:
    """The audit trail of one application."""
    rows = await session.execute(
        select(BenefitEvent)
        .where(col(BenefitEvent.application_id) == app_id)
        .order_by(col(BenefitEvent.id))
    )
    return list(rows.scalars())
