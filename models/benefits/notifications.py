"""Telling people: the beneficiary (or, unreachable, their family), whoever filed, the reviewers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.benefits.catalogue import Catalogue, Programme
from models.benefits.tables import BenefitApplication, BenefitEvent
from models.outbox import account_for, enqueue
from models.tables import Person, RoleGrant


async def family_of(session: AsyncSession, person: Person) -> list[int]:
    """Verified people of the same household who can be reached (the family 'linked' to them)."""
    if person.household_id is None:
        return []
    ids = (
        await session.execute(
            select(col(Person.id)).where(
                col(Person.household_id) == person.household_id,
                col(Person.id) != person.id,
                col(Person.verified).is_(True),
            )
        )
    ).scalars()
    return [i for i in ids if i is not None and await account_for(session, i) is not None]


async def locale_of(session: AsyncSession, person_id: int) -> str:
    person = await session.get(Person, person_id)
    return person.locale if person and person.locale else "zh"


async def tell_applicant(
    session: AsyncSession,
    programme: Programme,
    app: BenefitApplication,
    event: BenefitEvent,
    key: str,
    now: datetime,
    values: dict[str, Any] | None = None,
    choices: list[list[str]] | None = None,
) -> int:
    """Tell the beneficiary (or, unreachable, their family) and whoever filed it. Returns how many."""
    person = await session.get(Person, app.person_id)
    assert person is not None and app.id is not None
    recipients = [app.person_id]
    if await account_for(session, app.person_id) is None:
        recipients += await family_of(session, person)
    if app.filed_by_id not in recipients:
        recipients.append(app.filed_by_id)
    told = 0
    for pid in recipients:
        locale = await locale_of(session, pid)
        sent = await enqueue(
            session,
            person_id=pid,
            kind="benefit",
            dedupe_key=f"benefit:{app.id}:{event.id}:{pid}",
            now=now,
            text_key=key,
            values={
                "id": app.id,
                "name": person.name,
                "programme": programme.name(locale),
                "amount": app.monthly_yuan or 0,
                "paid_from": app.paid_from.isoformat() if app.paid_from else "",
                "reason": app.reason or "",
                **(values or {}),
            },
            choices=choices,
            priority=1,
        )
        told += sent
        if sent and pid != app.filed_by_id and app.resident_told_at is None:
            app.resident_told_at = now
    return told


async def tell_resident_filed(
    session: AsyncSession,
    programme: Programme,
    app: BenefitApplication,
    actor: Person,
    now: datetime,
) -> None:
    """代办: the beneficiary (or family) learns who applied for them; the filer gets the receipt."""
    person = await session.get(Person, app.person_id)
    assert person is not None and app.id is not None
    recipients = [app.person_id]
    if await account_for(session, app.person_id) is None:
        recipients = await family_of(session, person)
    for pid in recipients:
        if pid == actor.id:
            continue
        if await enqueue(
            session,
            person_id=pid,
            kind="benefit",
            dedupe_key=f"benefit:{app.id}:filed:{pid}",
            now=now,
            text_key="benefit.notify_filed_for_you",
            values={
                "id": app.id,
                "name": person.name,
                "by": actor.name,
                "programme": programme.name(await locale_of(session, pid)),
            },
            choices=[["benefit.btn_mine", "bmine:"]],
            priority=1,
        ):
            app.resident_told_at = now


async def tell_reviewers(
    session: AsyncSession, programme: Programme, app: BenefitApplication, now: datetime
) -> None:
    reviewers = (
        await session.execute(
            select(col(RoleGrant.person_id))
            .where(
                col(RoleGrant.role) == programme.reviewer,
                col(RoleGrant.community_id) == app.community_id,
                col(RoleGrant.revoked_at).is_(None),
            )
            .distinct()
        )
    ).scalars()
    person = await session.get(Person, app.person_id)
    for pid in list(reviewers):
        await enqueue(
            session,
            person_id=pid,
            kind="benefit",
            dedupe_key=f"benefit:{app.id}:review:{pid}:{int(now.timestamp())}",
            now=now,
            text_key="benefit.notify_reviewer",
            values={
                "id": app.id,
                "name": person.name if person else "",
                "programme": programme.name(await locale_of(session, pid)),
            },
            choices=[["benefit.btn_review", f"breview:{app.id}"]],
            priority=2,
        )


async def tell_residents_not_yet_told(
    session: AsyncSession, catalogue: Catalogue, now: datetime
) -> int:
    """代办 applications whose resident could not be reached: tell them once they can be."""
    apps = (
        await session.execute(
            select(BenefitApplication).where(
                col(BenefitApplication.on_behalf).is_(True),
                col(BenefitApplication.resident_told_at).is_(None),
            )
        )
    ).scalars()
    told = 0
    for app in list(apps):
        programme = catalogue.get(app.programme)
        filer = await session.get(Person, app.filed_by_id)
        if programme is None or filer is None:
            continue
        await tell_resident_filed(session, programme, app, filer, now)
        told += app.resident_told_at is not None
    return told
