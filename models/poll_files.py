"""A poll from a file (`linli import poll 外墙投票.xlsx`): two columns, a name and a value, one
line each, as anyone writes it in Excel; CSV (UTF-8 or GB18030) or .xlsx, told apart by the
bytes. Names in Chinese or English:

    问题 / question        虹桥南村外墙改造，选哪一款设计？
    选项 / option          方案一 青瓦白墙        (one line per option, 2 to 9)
    截止 / closes          2026-03-20 18:00  或  7 天 (days from now)
    对象 / audience        居民 (default) / 居民代表 / a grid's name (乐清网格)
    小区 / estate          虹桥南村 (optional: only residents of that estate)
    每户一票 / per household    是 / 否
    匿名 / anonymous       是 / 否
    可改票 / changeable    是 / 否
    提前公布 / results early    是 / 否
    提醒 / reminder        是 (default) / 否
    说明 / description     free text

Unknown names and bad values are refused with the line number (every bad line is reported:
`FileRejected.problems`); nothing is written then. The same reader serves a manager's upload
in the chat (handlers/vote_files.py).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.poll_results import PollDraft
from models.polls import PollAudience
from models.register.xlsx import NotAWorkbook, xlsx_rows
from models.tables import Grid

FIELDS = {
    "问题": "question", "question": "question",
    "选项": "option", "option": "option",
    "截止": "closes", "截止时间": "closes", "closes": "closes", "deadline": "closes",
    "对象": "audience", "audience": "audience",
    "小区": "estate", "estate": "estate",
    "每户一票": "per_household", "per household": "per_household",
    "匿名": "anonymous", "anonymous": "anonymous",
    "可改票": "changeable", "changeable": "changeable",
    "提前公布": "results_early", "results early": "results_early",
    "提醒": "remind", "reminder": "remind",
    "说明": "description", "description": "description",
}  # fmt: skip
YES = {"是", "yes", "y", "true", "1", "对"}
NO = {"否", "no", "n", "false", "0", "不"}
DAYS = re.compile(r"^(\d{1,2})\s*(天|days?)$", re.IGNORECASE)
MAX_PROBLEMS = 20  # a file with more bad lines than this is reported by its first ones


class FileRejected(DomainError):
    """A file that describes no poll (or survey): every problem found, each a DomainError with
    its line; the error itself is the first of them (callers that show one show that)."""

    def __init__(self, problems: list[DomainError]) -> None:
        first = problems[0]
        super().__init__(first.key, **first.values)
        self.problems = problems


def _rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    if data[:2] == b"PK":
        try:
            yield from xlsx_rows(data)
        except NotAWorkbook:
            raise DomainError("pollfile.unreadable") from None
        return
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DomainError("pollfile.unreadable")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    yield from enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)


def _flag(value: str, line: int) -> bool:
    v = value.strip().lower()
    if v in YES:
        return True
    if v in NO:
        return False
    raise DomainError("pollfile.bad_value", line=line, value=value)


def _closes(value: str, line: int, now: datetime, zone: ZoneInfo) -> datetime:
    v = value.strip()
    days = DAYS.match(v)
    if days:
        return now + timedelta(days=int(days.group(1)))
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M", "%Y/%m/%d"):
        try:
            parsed = datetime.strptime(v[:16], fmt)
        except ValueError:
            continue
        if fmt.endswith("%d"):
            parsed = parsed.replace(hour=18)  # a day without a time: that evening
        return parsed.replace(tzinfo=zone)
    raise DomainError("pollfile.bad_value", line=line, value=value)


async def read_poll_file(
    session: AsyncSession, data: bytes, community_id: int, now: datetime, zone: ZoneInfo
) -> PollDraft:
    """The poll a file describes; DomainError (with the line) when it describes none."""
    values: dict[str, Any] = {"options": []}
    problems: list[DomainError] = []
    seen_closes = False
    for line, cells in _rows(data):
        texts = [str(c).strip() if c is not None else "" for c in cells]
        if not any(texts):
            continue
        name, value = texts[0], (texts[1] if len(texts) > 1 else "")
        key = FIELDS.get(name.strip().lower().rstrip("：:"))
        try:
            if key is None:
                raise DomainError("pollfile.unknown_name", line=line, name=name[:20])
            if key == "option":
                if value:
                    values["options"].append((value[:100], None))
            elif key == "closes":
                seen_closes = True
                values["closes_at"] = _closes(value, line, now, zone)
            elif key in ("per_household", "anonymous", "changeable", "results_early", "remind"):
                values[key] = _flag(value, line)
            elif key == "audience":
                values["audience"] = await _audience(session, value, line, community_id)
            else:
                values[key] = value or None
        except DomainError as err:
            problems.append(err)
            if len(problems) >= MAX_PROBLEMS:
                break
    if not values.get("question"):
        problems.append(DomainError("pollfile.no_question"))
    if not seen_closes:
        problems.append(DomainError("pollfile.no_deadline"))
    if problems:
        raise FileRejected(problems)
    audience, grid_id = values.get("audience", (PollAudience.RESIDENTS, None))
    return PollDraft(
        question=values["question"],
        options=values["options"],
        closes_at=values["closes_at"],
        audience=audience,
        grid_id=grid_id,
        estate=values.get("estate"),
        per_household=values.get("per_household", False),
        anonymous=values.get("anonymous", False),
        changeable=values.get("changeable", False),
        results_before_close=values.get("results_early", False),
        remind=values.get("remind", True),
        description=values.get("description"),
    )


async def _audience(
    session: AsyncSession, value: str, line: int, community_id: int
) -> tuple[str, int | None]:
    v = value.strip()
    if v in ("", "居民", "residents", "全体居民"):
        return PollAudience.RESIDENTS, None
    if v in ("居民代表", "代表", "representatives"):
        return PollAudience.REPRESENTATIVES, None
    grid = (
        await session.execute(
            select(col(Grid.id)).where(col(Grid.community_id) == community_id, col(Grid.name) == v)
        )
    ).scalar_one_or_none()
    if grid is None:
        raise DomainError("pollfile.bad_value", line=line, value=value)
    return PollAudience.RESIDENTS, int(grid)
