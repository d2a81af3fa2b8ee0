"""A survey from a file (`linli import survey 满意度调查.xlsx`, or a manager's upload in the chat):
a few name/value lines about the survey, then a header row and one row per question. CSV
(UTF-8 or GB18030) or .xlsx, told apart by the bytes; names in Chinese or English. The format,
with an example file, is in docs/survey-file.md:

    标题 / title       红管家服务满意度调查
    说明 / intro       干得好不好，居民说了算。          (optional)
    截止 / closes      14 天  或  2026-03-20 18:00      (optional: 14 days)
    对象 / audience    居民 (default) / 居民代表 / a grid's name     (the rules polls use)
    小区 / estate      虹桥南村                          (optional)
    类型 | 题目 | 选项 | 队伍                            (the header row: type, question, options, team)
    星级 | 您对红管家服务队的总体评价？ |  | 乐清网格红管家服务队
    单选 | 问题处理得及时吗？ | 很及时/还可以/太慢了
    多选 | 希望多开展哪些服务？ | 环境整治、安全巡查、政策宣传
    文字 | 还有什么想说的？
    语音 | 用一句语音说说您的建议

Types: 单选 single, 多选 multiple, 星级 stars (1–5), 文字 text, 语音 voice (a voice note, or
text). Options are one cell split at / 、 ; | or one per column after 选项 (2 to 9). Every bad
row is reported with its line (`FileRejected`), and nothing is written then.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.poll_files import FIELDS as POLL_FIELDS
from models.poll_files import MAX_PROBLEMS, FileRejected, _audience, _closes, _rows
from models.poll_results import MAX_OPTIONS, _audience_rows, _send_to, may_create
from models.polls import PollAudience, audience_where
from models.surveys import QuestionKind, Survey, SurveyQuestion
from models.tables import Person, Role, Team

META = {
    "标题": "title", "问卷": "title", "问卷标题": "title", "title": "title", "survey": "title",
    "说明": "intro", "简介": "intro", "intro": "intro", "description": "intro",
    "截止": "closes", "截止时间": "closes", "closes": "closes", "deadline": "closes",
    "对象": "audience", "audience": "audience",
    "小区": "estate", "estate": "estate",
}  # fmt: skip
COLUMNS = {
    "类型": "type", "题型": "type", "type": "type", "kind": "type",
    "题目": "text", "问题": "text", "question": "text", "text": "text",
    "选项": "options", "options": "options", "option": "options", "choices": "options",
    "队伍": "team", "服务队": "team", "team": "team",
}  # fmt: skip
KINDS = {
    "单选": QuestionKind.SINGLE, "single": QuestionKind.SINGLE, "单选题": QuestionKind.SINGLE,
    "多选": QuestionKind.MULTIPLE, "multiple": QuestionKind.MULTIPLE, "多选题": QuestionKind.MULTIPLE,
    "星级": QuestionKind.STARS, "评分": QuestionKind.STARS, "打分": QuestionKind.STARS,
    "stars": QuestionKind.STARS, "rating": QuestionKind.STARS,
    "文字": QuestionKind.TEXT, "填空": QuestionKind.TEXT, "text": QuestionKind.TEXT,
    "语音": QuestionKind.VOICE, "voice": QuestionKind.VOICE,
}  # fmt: skip
SPLIT = re.compile(r"\s*[/／、;；|｜]\s*")
MAX_QUESTIONS = 30
DEFAULT_DAYS = 14


def _name(cell: str) -> str:
    return cell.strip().lower().rstrip("：:")


def file_kind(data: bytes, look: int = 12) -> str | None:
    """ "poll", "survey" or None (not ours: a register, say), from the first lines of a file: a
    survey has a 标题 line or a header row with 类型 and 题目; a poll's lines are a poll's names
    (问题, 选项, 截止 …). What routes a manager's upload in the chat, with no button to choose."""
    first: str | None = None
    seen = 0
    try:
        for _line, cells in _rows(data):
            texts = [str(c).strip() for c in cells if c is not None and str(c).strip()]
            if not texts:
                continue
            names = {COLUMNS.get(_name(c)) for c in texts}
            if META.get(_name(texts[0])) == "title" or {"type", "text"} <= names:
                return "survey"
            first = _name(texts[0]) if first is None else first
            seen += 1
            if seen >= look:
                break
    except (DomainError, csv.Error, ValueError):
        return None
    return "poll" if first is not None and first in POLL_FIELDS else None


@dataclass(frozen=True)
class QuestionDraft:
    kind: str
    text: str
    options: list[str] = field(default_factory=list)
    team_id: int | None = None


@dataclass(frozen=True)
class SurveyDraft:
    """What a file says a survey is."""

    title: str
    closes_at: datetime
    questions: list[QuestionDraft]
    intro: str | None = None
    audience: str = PollAudience.RESIDENTS
    grid_id: int | None = None
    estate: str | None = None


async def _team(session: AsyncSession, name: str, line: int, community_id: int) -> int:
    found = (
        await session.execute(
            select(col(Team.id)).where(
                col(Team.community_id) == community_id, col(Team.name) == name.strip()
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise DomainError("surveyfile.bad_team", line=line, team=name[:30])
    return int(found)


def _options(texts: list[str], header: dict[int, str]) -> list[str]:
    """The options of a row: the 选项 cell split, and the cells under 选项 or no header after it."""
    start = min((i for i, k in header.items() if k == "options"), default=None)
    if start is None:
        return []
    out: list[str] = []
    for i in range(start, len(texts)):
        if header.get(i, "options") != "options":
            continue
        out += [part[:100] for part in SPLIT.split(texts[i]) if part.strip()]
    return out


async def _question(
    session: AsyncSession, texts: list[str], header: dict[int, str], line: int, community_id: int
) -> QuestionDraft:
    by = {k: texts[i] if i < len(texts) else "" for i, k in header.items()}
    kind = KINDS.get(_name(by.get("type", "")))
    if kind is None:
        raise DomainError("surveyfile.bad_type", line=line, value=by.get("type", "")[:20] or "-")
    text = by.get("text", "").strip()
    if not text or len(text) > 300:
        raise DomainError("surveyfile.bad_text", line=line)
    options = (
        _options(texts, header) if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE) else []
    )
    if (
        kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
        and not 2 <= len(options) <= MAX_OPTIONS
    ):
        raise DomainError("surveyfile.bad_options", line=line, count=len(options))
    team = by.get("team", "").strip()
    team_id = await _team(session, team, line, community_id) if team else None
    return QuestionDraft(kind, text, options, team_id)


async def read_survey_file(
    session: AsyncSession, data: bytes, community_id: int, now: datetime, zone: ZoneInfo
) -> SurveyDraft:
    """The survey a file describes; `FileRejected` (every bad line) when it describes none."""
    meta: dict[str, Any] = {}
    header: dict[int, str] | None = None
    questions: list[QuestionDraft] = []
    problems: list[DomainError] = []
    for line, cells in _rows(data):
        texts = [str(c).strip() if c is not None else "" for c in cells]
        if not any(texts):
            continue
        try:
            if header is None and {"type", "text"} <= {COLUMNS.get(_name(c)) for c in texts}:
                header = {i: k for i, c in enumerate(texts) if (k := COLUMNS.get(_name(c)))}
            elif header is None:
                key = META.get(_name(texts[0]))
                value = texts[1] if len(texts) > 1 else ""
                if key is None:
                    raise DomainError("surveyfile.unknown_name", line=line, name=texts[0][:20])
                if key == "closes":
                    meta["closes_at"] = _closes(value, line, now, zone)
                elif key == "audience":
                    meta["audience"] = await _audience(session, value, line, community_id)
                else:
                    meta[key] = value[: 1000 if key == "intro" else 200] or None
            elif len(questions) >= MAX_QUESTIONS:
                raise DomainError("surveyfile.too_many", line=line, most=MAX_QUESTIONS)
            else:
                questions.append(await _question(session, texts, header, line, community_id))
        except DomainError as err:
            problems.append(err)
            if len(problems) >= MAX_PROBLEMS:
                break
    if not meta.get("title"):
        problems.append(DomainError("surveyfile.no_title"))
    if header is None:
        problems.append(DomainError("surveyfile.no_header"))
    elif not questions and not problems:
        problems.append(DomainError("surveyfile.no_questions"))
    closes_at = meta.get("closes_at") or now + timedelta(days=DEFAULT_DAYS)
    if closes_at <= now:
        problems.append(DomainError("surveyfile.past_deadline"))
    if problems:
        raise FileRejected(problems)
    audience, grid_id = meta.get("audience", (PollAudience.RESIDENTS, None))
    return SurveyDraft(
        title=meta["title"],
        closes_at=closes_at,
        questions=questions,
        intro=meta.get("intro"),
        audience=audience,
        grid_id=grid_id,
        estate=meta.get("estate"),
    )


async def create_survey(
    session: AsyncSession,
    draft: SurveyDraft,
    creator: Person,
    roles: frozenset[tuple[str, int | None]],
    now: datetime,
) -> Survey:
    """Open the survey with its questions, in the caller's transaction (all or nothing). A grid
    leader's survey is for their own grid."""
    if not may_create(roles):
        raise DomainError("polls.not_allowed")
    grid_id = draft.grid_id
    if not any(r == Role.MANAGER for r, _ in roles):
        grids = sorted(g for r, g in roles if r == Role.GRID_LEADER and g is not None)
        if grid_id is None or grid_id not in grids:
            grid_id = grids[0] if grids else None
    survey = Survey(
        community_id=creator.community_id,
        title=draft.title[:200],
        intro=draft.intro,
        audience=draft.audience,
        grid_id=grid_id,
        estate=draft.estate,
        opens_at=now,
        closes_at=draft.closes_at,
        created_by_id=creator.id or 0,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    for position, q in enumerate(draft.questions, 1):
        session.add(SurveyQuestion(survey_id=survey.id or 0, position=position, kind=q.kind,
                                   text=q.text, options=q.options, team_id=q.team_id))  # fmt: skip
    await session.flush()
    return survey


async def announce_survey(
    session: AsyncSession, survey: Survey, zone: ZoneInfo, now: datetime
) -> int:
    """ "📝 新问卷" to everyone in the survey's audience, a button to start (once per person: the
    outbox's dedupe key); how many messages were queued."""
    values = {"title": survey.title, "when": f"{survey.closes_at.astimezone(zone):%m-%d %H:%M}"}
    rows = _audience_rows(
        survey,  # type: ignore[arg-type]  (its audience fields are the polls')
        "survey_push",
        audience_where(survey),  # type: ignore[arg-type]
        values,
        None,
        "survey_open",
        now,
        [["surveys.btn_start_now", f"sv:go:{survey.id}"]],
    )
    return await _send_to(session, rows)
