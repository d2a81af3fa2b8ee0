"""`linli import survey FILE`: open a survey described in a file (.xlsx / .csv; the format is in
docs/survey-file.md and models/survey_files.py), the same reader a manager's upload in the chat
uses. It joins `linli import` (bot/cli_import.py) in bot/cli.py.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.config import SetupError, load_settings


def import_survey(
    file: Annotated[str, typer.Argument(help="the survey, .xlsx or .csv (one row per question)")],
    community: Annotated[str | None, typer.Option(help="community name (if several)")] = None,
) -> None:
    """Open a survey described in a file: a title, its audience and deadline, then one row per
    question (type, question, options, team). The community's first manager is its author;
    its audience is told (sent by the running bot); every bad line is listed and nothing is
    created then.

    Example: linli import survey docs/survey-example.csv
    """
    from bot.cli_common import _community_id, _file_refusal, _input_file, _ready
    from models.db import Database, utcnow
    from models.errors import DomainError
    from models.people import community_zone
    from models.poll_results import first_manager
    from models.survey_files import announce_survey, create_survey, read_survey_file

    settings = load_settings()
    _ready(settings)
    _, data = _input_file(file)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                cid = await _community_id(s, community)
                now = utcnow()
                zone = await community_zone(s, cid)
                draft = await read_survey_file(s, data, cid, now, zone)
                author = await first_manager(s, cid)
                if author is None:
                    raise SetupError("这个社区还没有管理员 / the community has no manager yet")
                survey = await create_survey(s, draft, author, frozenset({("manager", None)}), now)
                told = await announce_survey(s, survey, zone, now)
                return (
                    f"问卷 {survey.id} 已发布：{survey.title}（{len(draft.questions)} 题，"
                    f"{survey.closes_at.astimezone(zone):%Y-%m-%d %H:%M} 截止），已通知 {told} 人"
                    f" / survey {survey.id} is open, {told} people told"
                )
        except DomainError as err:  # a FileRejected lists every bad line
            raise _file_refusal(file, err) from None
        finally:
            await db.dispose()

    typer.echo(asyncio.run(go()))
