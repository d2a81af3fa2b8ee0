"""Benefit programmes (尊老金 first): eligibility, applications, review, outreach.

Programmes are data: a TOML file read once at start (`load_catalogue`), so age bands and
amounts are configuration, and a second programme needs no code. Dates are the community's
calendar (Asia/Shanghai by default): a person turns 80 at local midnight, not UTC's.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.idcard import age_on, reaches_age_on
from models.outbox import account_for, enqueue, insert_ignoring_duplicates
from models.register import ResidentRecord
from models.tables import Community, Person, Role, RoleGrant

DEFAULT_PROGRAMMES = Path(__file__).parent / "data" / "benefits.toml"
CODE_RE = re.compile(r"^[a-z0-9_]{1,12}$")
MAX_REASON = 500
RECERT_NOTICE = timedelta(days=30)


# ---- programmes as data ----


@dataclass(frozen=True)
class Band:
    """An age band and its monthly amount (yuan); max_age None: no upper limit."""

    min_age: int
    max_age: int | None
    monthly_yuan: int

    def covers(self, age: int) -> bool:
        return age >= self.min_age and (self.max_age is None or age <= self.max_age)


@dataclass(frozen=True)
class Worded:
    """Something of a programme that people read, in Chinese and English."""

    code: str
    zh: str
    en: str

    def text(self, locale: str) -> str:
        return self.en if locale == "en" else self.zh


@dataclass(frozen=True)
class Question(Worded):
    """A yes/no condition; `eligible_answer` is the answer that qualifies."""

    eligible_answer: bool = True


@dataclass(frozen=True)
class DocumentKind(Worded):
    """A document to bring, as a photo; a sensitive one (the ID card) is shown to fewer people."""

    sensitive: bool = False


@dataclass(frozen=True)
class Programme:
    """Who is eligible, for how much, from when, with what documents, reviewed by whom."""

    code: str
    name_zh: str
    name_en: str
    keywords: tuple[str, ...]
    bands: tuple[Band, ...]
    questions: tuple[Question, ...] = ()
    documents: tuple[DocumentKind, ...] = ()
    residency: bool = True
    starts: str = "birthday"
    outreach_days: int = 30
    answer_days: int = 7
    recertify_months: int = 0
    reviewer: str = Role.MANAGER
    illustrative: bool = False

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh

    @property
    def first_age(self) -> int:
        return min(b.min_age for b in self.bands)

    def band_for(self, age: int) -> Band | None:
        return next((b for b in self.bands if b.covers(age)), None)

    def question(self, code: str) -> Question | None:
        return next((q for q in self.questions if q.code == code), None)

    def document(self, code: str) -> DocumentKind | None:
        return next((d for d in self.documents if d.code == code), None)

    def paid_from(self, reached: date) -> date:
        """The first day paid for someone who reaches the age on `reached`."""
        if self.starts == "next_month":
            return date(reached.year + reached.month // 12, reached.month % 12 + 1, 1)
        return reached


@dataclass(frozen=True)
class Catalogue:
    """The programmes of this installation, loaded at start."""

    programmes: tuple[Programme, ...]
    source: str = ""

    def get(self, code: str) -> Programme | None:
        return next((p for p in self.programmes if p.code == code), None)

    def find(self, text: str) -> Programme | None:
        """The programme a message names ('我能领尊老金吗'), if exactly one does."""
        lowered = text.lower()
        hits = [p for p in self.programmes if any(k.lower() in lowered for k in p.keywords)]
        return hits[0] if len(hits) == 1 else None


def _need(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def _wording(table: dict[str, Any], where: str) -> tuple[str, str, str]:
    """A worded item's code, Chinese and English, each required."""
    return (
        _need(table, "code", str, where),
        _need(table, "zh", str, where),
        _need(table, "en", str, where),
    )


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and check the programmes file (the shipped illustrative one when no path is given)."""
    source = Path(path) if path else DEFAULT_PROGRAMMES
    with source.open("rb") as fh:
        data = tomllib.load(fh)
    programmes = []
    for i, raw in enumerate(data.get("programme", []), 1):
        where = f"{source}: programme {i}"
        code = _need(raw, "code", str, where)
        if not CODE_RE.match(code):
            raise ValueError(f"{where}: code must be 1-12 of a-z 0-9 _")
        bands = tuple(
            Band(
                _need(b, "min_age", int, where),
                b.get("max_age"),
                _need(b, "monthly_yuan", int, where),
            )
            for b in raw.get("band", [])
        )
        if not bands:
            raise ValueError(f"{where}: at least one [[programme.band]]")
        starts = raw.get("starts", "birthday")
        if starts not in ("birthday", "next_month"):
            raise ValueError(f"{where}: starts must be 'birthday' or 'next_month'")
        programmes.append(
            Programme(
                code=code,
                name_zh=_need(raw, "name_zh", str, where),
                name_en=_need(raw, "name_en", str, where),
                keywords=tuple(raw.get("keywords", [])),
                bands=bands,
                questions=tuple(
                    Question(*_wording(q, where), bool(q.get("eligible_answer", True)))
                    for q in raw.get("question", [])
                ),
                documents=tuple(
                    DocumentKind(*_wording(d, where), bool(d.get("sensitive", False)))
                    for d in raw.get("document", [])
                ),
                residency=bool(raw.get("residency", True)),
                starts=starts,
                outreach_days=int(raw.get("outreach_days", 30)),
                answer_days=int(raw.get("answer_days", 7)),
                recertify_months=int(raw.get("recertify_months", 0)),
                reviewer=str(raw.get("reviewer", Role.MANAGER)),
                illustrative=bool(raw.get("illustrative", False)),
            )
        )
    if len({p.code for p in programmes}) != len(programmes):
        raise ValueError(f"{source}: two programmes with the same code")
    return Catalogue(tuple(programmes), str(source))


# ---- eligibility ----


@dataclass(frozen=True)
class Eligibility:
    """What we can say now: eligible, soon (apply ahead), too young, not eligible, or unknown."""

    status: str  # eligible / soon / too_young / ineligible / unknown
    age: int | None = None
    band: Band | None = None
    paid_from: date | None = None
    reached_on: date | None = None
    missing: tuple[str, ...] = ()  # 'birth_date', 'resident', question codes
    failed: str | None = None  # 'resident', 'age' or a question code

    @property
    def may_apply(self) -> bool:
        return self.status in ("eligible", "soon")


def assess(
    programme: Programme,
    *,
    today: date,
    birth_date: date | None,
    resident: bool | None,
    answers: dict[str, bool],
) -> Eligibility:
    """Eligibility from what is known; `missing` lists what must be asked first."""
    missing: list[str] = []
    if birth_date is None:
        missing.append("birth_date")
    if programme.residency and resident is None:
        missing.append("resident")
    if programme.residency and resident is False:
        return Eligibility("ineligible", failed="resident")
    for q in programme.questions:
        if q.code not in answers:
            missing.append(q.code)
        elif answers[q.code] != q.eligible_answer:
            return Eligibility("ineligible", failed=q.code)
    if birth_date is None:
        return Eligibility("unknown", missing=tuple(missing))
    age = age_on(birth_date, today)
    first = reaches_age_on(birth_date, programme.first_age)
    # Reaching the age later: paid from then; already past it: from the application on.
    start = programme.paid_from(first if first >= today else today)
    band = programme.band_for(age)
    if band is not None:
        status = "unknown" if missing else "eligible"
        return Eligibility(status, age, band, start, first, tuple(missing))
    if age >= programme.first_age:  # past every band with an upper limit
        return Eligibility("ineligible", age=age, failed="age")
    upcoming = programme.band_for(programme.first_age)
    if first > today + timedelta(days=programme.outreach_days):
        return Eligibility("too_young", age, upcoming, start, first)
    return Eligibility(
        "unknown" if missing else "soon", age, upcoming, start, first, tuple(missing)
    )


def local_today(now: datetime, zone: str | ZoneInfo) -> date:
    """The date on the community's calendar at `now`."""
    return now.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)).date()


# ---- tables ----


class ApplicationStatus(StrEnum):
    """submitted → under review → approved / rejected (reason) / more information needed."""

    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    MORE_INFO = "more_info"
    APPROVED = "approved"
    REJECTED = "rejected"


OPEN = (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW, ApplicationStatus.MORE_INFO)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class BenefitApplication(SQLModel, table=True):
    """One application for one person (the beneficiary), maybe filed by someone else (代办)."""

    __table_args__ = (Index("ix_benefitapplication_queue", "community_id", "status", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    programme: str = Field(max_length=16)
    status: str = Field(default=ApplicationStatus.SUBMITTED, max_length=16)
    # "<person>:<programme>" while the application is open, else NULL: one open one at a time.
    open_key: str | None = Field(default=None, max_length=40, unique=True)
    filed_by_id: int = Field(foreign_key="person.id", index=True)
    on_behalf: bool = False
    filer_role: str = Field(default="self", max_length=16)  # self / family / grid_leader / manager
    birth_date: date | None = None
    band_min_age: int | None = None
    monthly_yuan: int | None = None
    paid_from: date | None = None
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text)
    reviewer_id: int | None = Field(default=None, foreign_key="person.id")
    recertifies_id: int | None = Field(default=None, foreign_key="benefitapplication.id")
    valid_until: date | None = None
    resident_told_at: datetime | None = _ts(default=None)
    submitted_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    decided_at: datetime | None = _ts(default=None)


class BenefitDocument(SQLModel, table=True):
    """A photo of a document, stored by reference on the channel it came from."""

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="benefitapplication.id", index=True)
    kind: str = Field(max_length=32)
    media_ref: str = Field(max_length=256)
    sensitive: bool = False
    added_by_id: int = Field(foreign_key="person.id")
    added_at: datetime = _ts(default_factory=utcnow)


class BenefitEvent(SQLModel, table=True):
    """The audit trail: every status change, by whom, when, why."""

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="benefitapplication.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=Text)
    at: datetime = _ts(default_factory=utcnow)


class BenefitOutreach(SQLModel, table=True):
    """One approach of one person about one programme and period (the key that makes it once)."""

    __table_args__ = (UniqueConstraint("person_id", "programme", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    programme: str = Field(max_length=16)
    period: str = Field(max_length=32)  # 'age80' (reaching the first band) or 'recert:2027-03-21'
    kind: str = Field(max_length=16)  # approach / recert
    reached: bool = False  # a message went to the person's own chat account
    family_reached: int = 0
    task_id: int | None = Field(default=None, foreign_key="task.id")
    created_at: datetime = _ts(default_factory=utcnow)


# ---- who may do what ----


def _is_manager(roles: frozenset[tuple[str, int | None]]) -> bool:
    return any(r == Role.MANAGER for r, _ in roles)


def _leads(roles: frozenset[tuple[str, int | None]], grid_id: int | None) -> bool:
    return grid_id is not None and (Role.GRID_LEADER.value, grid_id) in roles


def filer_role(
    actor: Person, roles: frozenset[tuple[str, int | None]], person: Person
) -> str | None:
    """How `actor` may file for `person`: self, family, grid_leader, manager; None: may not."""
    if actor.id == person.id:
        return "self"
    if actor.community_id != person.community_id:
        return None
    if _leads(roles, person.grid_id):
        return "grid_leader"
    if _is_manager(roles):
        return "manager"
    if (
        actor.verified
        and actor.household_id is not None
        and actor.household_id == person.household_id
    ):
        return "family"
    return None


def _may_review(
    programme: Programme | None,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    app: BenefitApplication,
) -> bool:
    role = programme.reviewer if programme else Role.MANAGER
    return actor.community_id == app.community_id and any(r == role for r, _ in roles)


def may_see(
    app: BenefitApplication, actor: Person, roles: frozenset[tuple[str, int | None]]
) -> bool:
    """The beneficiary, whoever filed it, the grid's leader, the community's managers."""
    if actor.id in (app.person_id, app.filed_by_id):
        return True
    if actor.community_id != app.community_id:
        return False
    return _is_manager(roles) or _leads(roles, app.grid_id)


def may_see_sensitive(
    app: BenefitApplication, actor: Person, roles: frozenset[tuple[str, int | None]]
) -> bool:
    """ID card photos: the beneficiary, whoever filed it, and the community's managers (reviewers)."""
    if actor.id in (app.person_id, app.filed_by_id):
        return True
    return actor.community_id == app.community_id and _is_manager(roles)


async def get_visible(
    session: AsyncSession, app_id: int, actor: Person, roles: frozenset[tuple[str, int | None]]
) -> BenefitApplication:
    """The application if `actor` may see it; otherwise the same answer as for none at all."""
    app = await session.get(BenefitApplication, app_id)
    if app is None or not may_see(app, actor, roles):
        raise DomainError("benefit.not_found")
    return app


# ---- facts and applying ----


@dataclass
class Facts:
    """What the register and earlier applications already tell about a person."""

    person: Person
    birth_date: date | None
    resident: bool | None
    answers: dict[str, bool] = field(default_factory=dict)
    record: ResidentRecord | None = None


async def community_today(session: AsyncSession, community_id: int, now: datetime) -> date:
    """Today on the community's calendar."""
    community = await session.get(Community, community_id)
    return local_today(now, community.timezone if community else "Asia/Shanghai")


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
    if approved is not None and not _due_for_recert(approved, today):
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
    await _add_documents(session, programme, app, actor, documents, now)
    event = await _record(session, app, actor.id, None, ApplicationStatus.SUBMITTED, None, now)
    if app.on_behalf:
        await _tell_resident_filed(session, programme, app, actor, now)
    else:
        await _tell(session, programme, app, event, "benefit.notify_submitted", now)
    await _tell_reviewers(session, programme, app, now)
    return app


def _due_for_recert(app: BenefitApplication, today: date) -> bool:
    return app.valid_until is not None and app.valid_until - RECERT_NOTICE <= today


async def _add_documents(
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


async def _record(
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


# ---- telling people ----


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


async def _locale(session: AsyncSession, person_id: int) -> str:
    person = await session.get(Person, person_id)
    return person.locale if person and person.locale else "zh"


async def _tell(
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
        locale = await _locale(session, pid)
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


async def _tell_resident_filed(
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
                "programme": programme.name(await _locale(session, pid)),
            },
            choices=[["benefit.btn_mine", "bmine:"]],
            priority=1,
        ):
            app.resident_told_at = now


async def _tell_reviewers(
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
                "programme": programme.name(await _locale(session, pid)),
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
        await _tell_resident_filed(session, programme, app, filer, now)
        told += app.resident_told_at is not None
    return told


# ---- reviewing ----


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
    if programme is None or not _may_review(programme, actor, roles, app):
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
        event = await _record(
            session, app, actor.id, ApplicationStatus.SUBMITTED, app.status, None, now
        )
        await _tell(session, programme, app, event, "benefit.notify_under_review", now)
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
    event = await _record(session, app, actor.id, before, target, reason, now)
    await _tell(session, programme, app, event, f"benefit.notify_{target}", now, choices=choices)
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
    await _add_documents(session, programme, app, actor, documents, now)
    app.status = ApplicationStatus.SUBMITTED
    app.updated_at = now
    event = await _record(
        session, app, actor.id, ApplicationStatus.MORE_INFO, app.status, note, now
    )
    await _tell(session, programme, app, event, "benefit.notify_resubmitted", now)
    await _tell_reviewers(session, programme, app, now)
    return app


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


# ---- outreach: the daily scan ----


async def _home_visit(
    session: AsyncSession,
    programme: Programme,
    person: Person,
    period: str,
    reason_key: str,
    now: datetime,
) -> int | None:
    """A home-visit task for the person's grid leader, with an 'apply for them' button."""
    from models.tables import TaskKind
    from models.tasks import create_task, role_holders

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
            values={**values, "programme": programme.name(await _locale(session, relative))},
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
    for person in (await session.execute(query)).scalars().all():
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
    if not _is_manager(roles):
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
        if approved is not None and not _due_for_recert(approved, today):
            continue
        out.append((person, programme))
    return out[:30]
