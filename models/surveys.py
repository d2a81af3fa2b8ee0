"""Surveys (问卷): several questions — one choice, several choices, 1–5 stars, free text or a voice
note — e.g. the red stewards' yearly satisfaction survey (居民评议).

* **Progress is a row.** `SurveyResponse` (one per person and survey, unique) remembers the
  answers given; a person who stops half-way and comes back days later (the chat's flow has long
  timed out, the bot may have restarted) resumes at the first question without an answer.
* **One answer per question**, unique `(response, question)`: answering again (a double tap, a
  message delivered twice) replaces it, never adds one.
* **Per team.** A question may be about a team (`SurveyQuestion.team_id`): the managers' results
  give each team its average stars; everything exports to .xlsx without names.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.charts import bar_chart
from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.polls import refusal
from models.tables import Person, Team


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    STARS = "stars"
    TEXT = "text"  # free text or a voice note
    VOICE = "voice"  # the same answer, asked for as a voice note ("说一说")


class Survey(SQLModel, table=True):
    """A questionnaire for an audience of a community (the rules polls use: verified residents,
    representatives only, a grid, an estate), open until `closes_at`."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    title: str = Field(max_length=200)
    intro: str | None = Field(default=None, max_length=1000)
    audience: str = Field(
        default="residents", max_length=16, sa_column_kwargs={"server_default": "residents"}
    )
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    estate: str | None = Field(default=None, max_length=64)
    opens_at: datetime = _ts(default_factory=utcnow)
    closes_at: datetime = _ts()
    created_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = _ts(default_factory=utcnow)

    @property
    def per_household(self) -> bool:
        """Everyone in the audience answers (the audience rules are the polls')."""
        return False


class SurveyQuestion(SQLModel, table=True):
    """One question; `options` for choice questions; `team_id` when it is about a team."""

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    position: int
    kind: str = Field(max_length=16)
    text: str = Field(max_length=300)
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    team_id: int | None = Field(default=None, foreign_key="team.id")


class SurveyResponse(SQLModel, table=True):
    """One person's progress through one survey."""

    __table_args__ = (UniqueConstraint("survey_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    started_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    finished_at: datetime | None = _ts(default=None)


class SurveyAnswer(SQLModel, table=True):
    """The answer to one question: chosen option numbers, stars, text or a voice note."""

    __table_args__ = (UniqueConstraint("response_id", "question_id"),)
    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="surveyresponse.id", index=True)
    question_id: int = Field(foreign_key="surveyquestion.id", index=True)
    choices: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    stars: int | None = None
    text: str | None = Field(default=None, max_length=1000)
    voice_ref: str | None = Field(default=None, max_length=256)
    answered_at: datetime = _ts(default_factory=utcnow)


# The audience rules are the polls' (`models.polls.refusal`); their reasons, for a survey.
WHY = {
    "polls.verify_first": "surveys.verify_first",
    "polls.representatives_only": "surveys.representatives_only",
    "polls.other_grid": "surveys.other_grid",
    "polls.other_estate": "surveys.other_estate",
}


# --- reading ----------------------------------------------------------------------------------


async def get_survey(session: AsyncSession, survey_id: int) -> Survey:
    survey = await session.get(Survey, survey_id)
    if survey is None:
        raise DomainError("surveys.not_found")
    return survey


async def questions_of(session: AsyncSession, survey_id: int) -> list[SurveyQuestion]:
    rows = await session.execute(
        select(SurveyQuestion)
        .where(col(SurveyQuestion.survey_id) == survey_id)
        .order_by(col(SurveyQuestion.position))
    )
    return list(rows.scalars())


def is_open(survey: Survey, now: datetime) -> bool:
    return survey.opens_at <= now < survey.closes_at


async def open_surveys_for(
    session: AsyncSession, person: Person, now: datetime
) -> list[tuple[Survey, SurveyResponse | None]]:
    """Open surveys of the person's community, with their progress (None: not started)."""
    if not person.verified:
        return []
    rows = await session.execute(
        select(Survey, SurveyResponse)
        .outerjoin(
            SurveyResponse,
            (col(SurveyResponse.survey_id) == Survey.id)
            & (col(SurveyResponse.person_id) == person.id),
        )
        .where(
            col(Survey.community_id) == person.community_id,
            col(Survey.opens_at) <= now,
            col(Survey.closes_at) > now,
        )
        .order_by(col(Survey.closes_at))
    )
    return [(s, r) for s, r in rows.all() if await refusal(session, s, person) is None]


async def recent_surveys(session: AsyncSession, community_id: int, limit: int = 6) -> list[Survey]:
    """The community's newest surveys, open or closed (their results, for organisers)."""
    rows = await session.execute(
        select(Survey)
        .where(col(Survey.community_id) == community_id)
        .order_by(col(Survey.id).desc())
        .limit(limit)
    )
    return list(rows.scalars())


# --- answering --------------------------------------------------------------------------------


@dataclass
class Progress:
    """Where a person is in a survey: the next question (None: finished), how many answered."""

    survey: Survey
    response: SurveyResponse
    question: SurveyQuestion | None
    answered: int
    total: int
    resumed: bool = False


async def _answered_ids(session: AsyncSession, response_id: int) -> set[int]:
    rows = await session.execute(
        select(col(SurveyAnswer.question_id)).where(col(SurveyAnswer.response_id) == response_id)
    )
    return set(rows.scalars())


async def _progress(
    session: AsyncSession, survey: Survey, response: SurveyResponse, resumed: bool = False
) -> Progress:
    questions = await questions_of(session, survey.id or 0)
    done = await _answered_ids(session, response.id or 0)
    nxt = next((q for q in questions if q.id not in done), None)
    return Progress(survey, response, nxt, len(done & {q.id for q in questions}), len(questions),
                    resumed)  # fmt: skip


async def start_or_resume(
    session: AsyncSession, survey_id: int, person: Person, now: datetime
) -> Progress:
    """The person's place in the survey: a new response, or the one they left half-way."""
    survey = await get_survey(session, survey_id)
    why = await refusal(session, survey, person)
    if why is not None:  # the polls' reason, in a survey's words
        raise DomainError(WHY.get(why, "surveys.not_for_you"))
    if not is_open(survey, now):
        raise DomainError("surveys.closed")
    found = (
        await session.execute(
            select(SurveyResponse).where(
                col(SurveyResponse.survey_id) == survey_id,
                col(SurveyResponse.person_id) == person.id,
            )
        )
    ).scalar_one_or_none()
    if found is not None:
        return await _progress(session, survey, found, resumed=True)
    response = SurveyResponse(
        survey_id=survey_id, person_id=person.id or 0, started_at=now, updated_at=now
    )
    session.add(response)
    await session.flush()
    return await _progress(session, survey, response)


@dataclass(frozen=True)
class Given:
    """An answer as the person gave it (the handler parses; this module checks)."""

    choices: tuple[int, ...] = ()
    stars: int | None = None
    text: str | None = None
    voice_ref: str | None = None
    skip: bool = False


def check_answer(question: SurveyQuestion, given: Given) -> None:
    """DomainError (a message key) when the answer does not fit the question."""
    n = len(question.options)
    if given.skip:
        return
    if question.kind == QuestionKind.SINGLE:
        if len(given.choices) != 1 or not 1 <= given.choices[0] <= n:
            raise DomainError("surveys.bad_choice", count=n)
    elif question.kind == QuestionKind.MULTIPLE:
        if not given.choices or any(not 1 <= c <= n for c in given.choices):
            raise DomainError("surveys.bad_choices", count=n)
    elif question.kind == QuestionKind.STARS:
        if given.stars is None or not 1 <= given.stars <= 5:
            raise DomainError("surveys.bad_stars")
    elif not (given.text and given.text.strip()) and not given.voice_ref:  # text or voice
        raise DomainError("surveys.bad_text")


async def answer(
    session: AsyncSession, survey_id: int, question_id: int, person: Person, given: Given,
    now: datetime,
) -> Progress:  # fmt: skip
    """Record the answer to one question (replacing an earlier one) and say what comes next."""
    progress = await start_or_resume(session, survey_id, person, now)
    question = await session.get(SurveyQuestion, question_id)
    if question is None or question.survey_id != survey_id:
        raise DomainError("surveys.not_found")
    check_answer(question, given)
    existing = (
        await session.execute(
            select(SurveyAnswer).where(
                col(SurveyAnswer.response_id) == progress.response.id,
                col(SurveyAnswer.question_id) == question_id,
            )
        )
    ).scalar_one_or_none()
    row = existing or SurveyAnswer(response_id=progress.response.id or 0, question_id=question_id)
    row.choices = sorted(set(given.choices))
    row.stars = given.stars
    row.text = given.text.strip()[:1000] if given.text else None
    row.voice_ref = given.voice_ref
    row.answered_at = now
    session.add(row)
    await session.flush()
    response = progress.response
    response.updated_at = now
    after = await _progress(session, progress.survey, response)
    if after.question is None and response.finished_at is None:
        response.finished_at = now
    return after


# --- results ----------------------------------------------------------------------------------


@dataclass
class QuestionResult:
    question: SurveyQuestion
    answers: int
    counts: list[int] = field(default_factory=list)  # per option, or per star 1..5
    average: float | None = None
    texts: list[str] = field(default_factory=list)
    voices: int = 0


async def results(session: AsyncSession, survey_id: int) -> tuple[int, int, list[QuestionResult]]:
    """(started, finished, per question: counts, average stars, texts)."""
    started = (
        await session.execute(
            select(func.count()).where(col(SurveyResponse.survey_id) == survey_id)
        )
    ).scalar_one()
    finished = (
        await session.execute(
            select(func.count()).where(
                col(SurveyResponse.survey_id) == survey_id,
                col(SurveyResponse.finished_at).is_not(None),
            )
        )
    ).scalar_one()
    out = []
    for q in await questions_of(session, survey_id):
        rows = list(
            (
                await session.execute(
                    select(SurveyAnswer).where(col(SurveyAnswer.question_id) == q.id)
                )
            ).scalars()
        )
        r = QuestionResult(q, len(rows))
        if q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            r.counts = [
                sum(1 for a in rows if i in a.choices) for i in range(1, len(q.options) + 1)
            ]
        elif q.kind == QuestionKind.STARS:
            stars = [a.stars for a in rows if a.stars]
            r.counts = [stars.count(i) for i in range(1, 6)]
            r.average = sum(stars) / len(stars) if stars else None
        else:
            r.texts = [a.text for a in rows if a.text]
            r.voices = sum(1 for a in rows if a.voice_ref)
        out.append(r)
    return int(started), int(finished), out


async def team_scores(session: AsyncSession, survey_id: int) -> list[tuple[str, float, int]]:
    """Per team its average stars over the questions about it: (team, average, answers)."""
    rows = await session.execute(
        select(col(Team.name), func.avg(SurveyAnswer.stars), func.count())
        .select_from(SurveyAnswer)
        .join(SurveyQuestion, col(SurveyQuestion.id) == SurveyAnswer.question_id)
        .join(Team, col(Team.id) == SurveyQuestion.team_id)
        .where(col(SurveyQuestion.survey_id) == survey_id, col(SurveyAnswer.stars).is_not(None))
        .group_by(col(Team.name))
        .order_by(col(Team.name))
    )
    return [(str(n), float(avg), int(c)) for n, avg, c in rows.all()]


def question_chart(r: QuestionResult) -> bytes | None:
    """A bar chart of one choice or star question (None for free text)."""
    q = r.question
    if q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        labels = list(q.options)
    elif q.kind == QuestionKind.STARS:
        labels = [f"{i} 星" for i in range(1, 6)]
    else:
        return None
    footer = (
        f"平均 {r.average:.1f} 星（{r.answers} 人）"
        if r.average is not None
        else f"{r.answers} 人回答"
    )
    return bar_chart(q.text, labels, r.counts, notes=[f"{n} 人" for n in r.counts], footer=footer)


def team_chart(title: str, scores: list[tuple[str, float, int]]) -> bytes:
    """Average stars per team (居民评议)."""
    return bar_chart(
        title,
        [name for name, _, _ in scores],
        [avg for _, avg, _ in scores],
        notes=[f"{avg:.1f} 星（{n}）" for _, avg, n in scores],
        xmax=5.8,
    )


async def results_xlsx(session: AsyncSession, survey_id: int) -> bytes:
    """The results as .xlsx: per question, per team, and every answer (no names)."""
    from openpyxl import Workbook

    survey = await get_survey(session, survey_id)
    started, finished, per_question = await results(session, survey_id)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "汇总"
    sheet.append([survey.title])
    sheet.append(["开始作答", started, "完成", finished])
    sheet.append(["题号", "题目", "选项 / 星级", "人数", "平均星级"])
    for r in per_question:
        q = r.question
        if q.kind == QuestionKind.STARS:
            for i, n in enumerate(r.counts, 1):
                sheet.append([q.position, q.text, f"{i} 星", n,
                              round(r.average, 2) if r.average is not None else ""])  # fmt: skip
        elif q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            for label, n in zip(q.options, r.counts, strict=True):
                sheet.append([q.position, q.text, label, n, ""])
        else:
            sheet.append([q.position, q.text, "文字 / 语音", r.answers, ""])
    teams = book.create_sheet("按队伍")
    teams.append(["队伍", "平均星级", "评分数"])
    for name, avg, n in await team_scores(session, survey_id):
        teams.append([name, round(avg, 2), n])
    raw = book.create_sheet("全部回答")
    raw.append(["答卷", "题号", "选择", "星级", "文字", "语音（媒体引用）"])
    questions = {q.id: q for q in await questions_of(session, survey_id)}
    rows = await session.execute(
        select(SurveyAnswer)
        .join(SurveyResponse, col(SurveyResponse.id) == SurveyAnswer.response_id)
        .where(col(SurveyResponse.survey_id) == survey_id)
        .order_by(col(SurveyAnswer.response_id), col(SurveyAnswer.question_id))
    )
    numbers: dict[int, int] = {}
    for a in rows.scalars():
        q = questions[a.question_id]
        number = numbers.setdefault(a.response_id, len(numbers) + 1)  # no person, no id
        picked = "、".join(q.options[c - 1] for c in a.choices if 0 < c <= len(q.options))
        raw.append([number, q.position, picked, a.stars or "", a.text or "",
                    a.voice_ref or ""])  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- demo -------------------------------------------------------------------------------------


async def seed_survey_demo(session: AsyncSession, community_id: int, author_id: int,
                           team_id: int | None, now: datetime) -> Survey:  # fmt: skip
    """The red stewards' satisfaction survey: four short questions, open two weeks."""
    survey = Survey(
        community_id=community_id,
        title="红管家服务满意度调查",
        intro="干得好不好，居民说了算。共 4 题，约 1 分钟。",
        opens_at=now,
        closes_at=now + timedelta(days=14),
        created_by_id=author_id,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    for position, (kind, text, options, team) in enumerate(
        [
            (QuestionKind.STARS, "您对乐清网格红管家服务队的总体评价？", [], team_id),
            (QuestionKind.SINGLE, "最近一次问题处理得及时吗？", ["很及时", "还可以", "太慢了"], team_id),
            (QuestionKind.MULTIPLE, "您希望多开展哪些服务？（可多选）",
             ["环境整治", "安全巡查", "政策宣传", "矛盾调解"], None),
            (QuestionKind.TEXT, "还有什么想对红管家说的？（文字或语音）", [], None),
        ],
        1,
    ):  # fmt: skip
        session.add(SurveyQuestion(survey_id=survey.id or 0, position=position, kind=kind,
                                   text=text, options=options, team_id=team))  # fmt: skip
    await session.flush()
    return survey
