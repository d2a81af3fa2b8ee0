"""Reviewing: the queue, opening an application, decisions, the applicant adding what was asked."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.benefits.apply import add_documents, record_event
from models.benefits.catalogue import Catalogue, Programme
from models.benefits.eligibility import community_today
from models.benefits.notifications import tell_applicant, tell_reviewers
from models.benefits.permissions import filer_role, get_visible, may_review, may_see
from models.benefits.tables import MAX_REASON, ApplicationStatus, BenefitApplication
from models.errors import DomainError
from models.tables import Person


async def review_queue(
    session: AsyncSession,
    catalogue: Catalogue,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    limit: int = 50,
) -> list[BenefitApplication]:
    """Applications waiting for a decision in the reviewer's community, oldest first."""
    codes = [p.code for p in catalogue.programmes if any(r == p.reviewer for r, _ in roles)]
    if not codes:
        raise DomainError("error.forbidden")
    rows = (
        await session.execute(
            select(BenefitApplication)
            .where(
                col(BenefitApplication.community_id) == actor.community_id,
                col(BenefitApplication.programme).in_(codes),
                col(BenefitApplication.status).in_(
                    (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW)
                ),
            )
            .order_by(col(BenefitApplication.submitted_at), col(BenefitApplication.id))
            .limit(limit)
        )
    ).scalars()
    return list(rows)


async def _reviewable(
    session: AsyncSession,
    catalogue: Catalogue,
    app_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
) -> tuple[BenefitApplication, Programme]:
    app = await session.get(BenefitApplication, app_id)
    if app is None:
        raise DomainError("benefit.not_found")
    programme = catalogue.get(app.programme)
    if programme is None or not may_review(programme, actor, roles, app):
        if may_see(app, actor, roles):
            raise DomainError("error.forbidden")
        raise DomainError("benefit.not_found")
    return app, programme


async def start_review(
    session: AsyncSession,
    catalogue: Catalogue,
    app_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    now: datetime,
) -> tuple[BenefitApplication, Programme]:
    """A reviewer opens an application: submitted → under review (the applicant is told)."""
    app, programme = await _reviewable(session, catalogue, app_id, actor, roles)
    if app.status == ApplicationStatus.SUBMITTED:
        app.status = ApplicationStatus.UNDER_REVIEW
        app.reviewer_id = actor.id
        app.updated_at = now
        event = await record_event(
            session, app, actor.id, ApplicationStatus.SUBMITTED, app.status, None, now
        )
        await tell_applicant(session, programme, app, event, "benefit.notify_under_review", now)
    return app, programme


DECISIONS = {
    "approve": ApplicationStatus.APPROVED,
    "reject": ApplicationStatus.REJECTED,
    "more": ApplicationStatus.MORE_INFO,
}


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


async def decide(
    session: AsyncSession,
    catalogue: Catalogue,
    app_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    decision: str,
    now: datetime,
    reason: str | None = None,
) -> BenefitApplication:
    """Approve, reject (with a reason) or ask for more (saying what); audited; the applicant is told."""
    app, programme = await _reviewable(session, catalogue, app_id, actor, roles)
    target = DECISIONS.get(decision)
    if target is None:
        raise DomainError("error.forbidden")
    if app.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW):
        raise DomainError("benefit.already_decided", id=app.id)
    reason = (reason or "").strip()[:MAX_REASON] or None
    if target != ApplicationStatus.APPROVED and reason is None:
        raise DomainError("benefit.reason_needed")
    before = app.status
    app.status = target
    app.reason = reason
    app.reviewer_id = actor.id
    app.updated_at = now
    choices: list[list[str]] | None = None
    if target == ApplicationStatus.MORE_INFO:
        choices = [["benefit.btn_add_info", f"bmore:{app.id}"]]
    else:
        app.open_key = None
        app.decided_at = now
    if target == ApplicationStatus.APPROVED and programme.recertify_months:
        today = await community_today(session, app.community_id, now)
        app.valid_until = _add_months(today, programme.recertify_months)
    event = await record_event(session, app, actor.id, before, target, reason, now)
    await tell_applicant(
        session, programme, app, event, f"benefit.notify_{target}", now, choices=choices
    )
    return app


async def add_information(
    session: AsyncSession,
    catalogue: Catalogue,
    app_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    *,
    note: str | None,
    documents: list[tuple[str, str]],
    now: datetime,
) -> BenefitApplication:
    """The applicant (or whoever filed it) sends what was asked for: back to the reviewers."""
    app = await get_visible(session, app_id, actor, roles)
    person = await session.get(Person, app.person_id)
    assert person is not None
    if (
        actor.id not in (app.person_id, app.filed_by_id)
        and filer_role(actor, roles, person) is None
    ):
        raise DomainError("error.forbidden")
    if app.status != ApplicationStatus.MORE_INFO:
        raise DomainError("benefit.not_waiting_for_info", id=app.id)
    programme = catalogue.get(app.programme)
    if programme is None:
        raise DomainError("benefit.not_found")
    note = (note or "").strip()[:MAX_REASON] or None
    if note is None and not documents:
        raise DomainError("benefit.nothing_added")
    if note:
        app.note = f"{app.note}\n{note}" if app.note else note
    await add_documents(session, programme, app, actor, documents, now)
    app.status = ApplicationStatus.SUBMITTED
    app.updated_at = now
    event = await record_event(
        session, app, actor.id, ApplicationStatus.MORE_INFO, app.status, note, now
    )
    await tell_applicant(session, programme, app, event, "benefit.notify_resubmitted", now)
    await tell_reviewers(session, programme, app, now)
    return app
