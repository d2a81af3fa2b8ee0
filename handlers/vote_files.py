"""A poll or a survey from a file a manager sends in the chat (the same files `linli import poll`
and `linli import survey` read): the document is told apart by its content — a survey's 标题
line or header row (类型, 题目), a poll's names (问题, 选项, 截止) — so there is no second upload
button; anything else (the resident register) goes on to its own handler (handlers/benefits/
review.py). Organisers only (managers, grid leaders); every bad line is reported with its
number, and nothing is created then. WeChat official accounts receive no files: there the CLI
or the staff desk takes the file (docs/survey-file.md).

Both are kinds of file in the chat's one document routing (handlers/uploads.py): the role is
checked before anything is downloaded, and the register stays the fallback."""

from __future__ import annotations

from handlers.core import Choice, Context, Reply
from handlers.feature import Feature
from handlers.polls import deadline_text
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from handlers.uploads import FileKind, register_file_kind
from models.errors import DomainError
from models.people import community_zone
from models.poll_files import FileRejected, read_poll_file
from models.poll_results import create_poll, may_create
from models.polls import PollAudience
from models.survey_files import announce_survey, create_survey, file_kind, read_survey_file
from models.surveys import Survey
from models.tables import Grid

router = Router()

# A poll or survey file is a few kilobytes; a bigger document is the register (not fetched here).
MAX_FILE_BYTES = 512 * 1024


def problem_lines(ctx: Context, err: DomainError) -> list[str]:
    """Every problem of a rejected file, one line each (a single error: its own sentence)."""
    problems = err.problems if isinstance(err, FileRejected) else [err]
    return [f"· {ctx.t(p.key, **p.values)}" for p in problems]


def _refused(ctx: Context, filename: str, err: DomainError) -> Outcome:
    lines = [ctx.t("votefile.refused", file=filename), *problem_lines(ctx, err),
             ctx.t("votefile.nothing_created")]  # fmt: skip
    return with_menu(ctx, "\n".join(lines))


async def _may_send(ctx: Context) -> bool:
    return may_create(ctx.roles)


async def _create(ctx: Context, data: bytes, filename: str, kind: str) -> Outcome:
    assert ctx.person is not None
    zone = await community_zone(ctx.session, ctx.person.community_id)
    try:
        if kind == "poll":
            return await _poll(ctx, data, zone)
        return await _survey(ctx, data, zone)
    except DomainError as err:  # raised before anything is written: nothing is half-made
        return _refused(ctx, filename or kind, err)


async def _poll_file(ctx: Context, data: bytes, filename: str) -> Outcome:
    return await _create(ctx, data, filename, "poll")


async def _survey_file(ctx: Context, data: bytes, filename: str) -> Outcome:
    return await _create(ctx, data, filename, "survey")


def _is(kind: str) -> object:
    def recognise(data: bytes, _filename: str) -> bool:
        return len(data) <= MAX_FILE_BYTES and file_kind(data) == kind

    return recognise


SURVEY_FILE = register_file_kind(
    FileKind("survey", "uploads.kind_survey", _may_send, _is("survey"), _survey_file)  # type: ignore[arg-type]
)
POLL_FILE = register_file_kind(
    FileKind("poll", "uploads.kind_poll", _may_send, _is("poll"), _poll_file)  # type: ignore[arg-type]
)


async def _poll(ctx: Context, data: bytes, zone: object) -> Outcome:
    assert ctx.person is not None
    draft = await read_poll_file(ctx.session, data, ctx.person.community_id, ctx.now, zone)  # type: ignore[arg-type]
    poll = await create_poll(ctx.session, draft, ctx.person, ctx.roles, ctx.now)
    text = ctx.t("votefile.poll_open", question=poll.question, options=len(draft.options),
                 when=await deadline_text(ctx, poll))  # fmt: skip
    return [Reply(text, [Choice(ctx.t("polls.btn_manage"), f"pa:admin:{poll.id}")])]


async def survey_audience(ctx: Context, survey: Survey) -> str:
    """Who the survey is for, in words (the polls' words; a grid by its name)."""
    if survey.audience == PollAudience.REPRESENTATIVES:
        return ctx.t("polls.who_representatives")
    if survey.estate:
        return ctx.t("polls.who_estate", estate=survey.estate)
    grid = await ctx.session.get(Grid, survey.grid_id) if survey.grid_id is not None else None
    if grid is not None:
        return ctx.t("polls.who_estate", estate=grid.name)
    return ctx.t("polls.who_residents")


async def _survey(ctx: Context, data: bytes, zone: object) -> Outcome:
    assert ctx.person is not None
    draft = await read_survey_file(ctx.session, data, ctx.person.community_id, ctx.now, zone)  # type: ignore[arg-type]
    survey = await create_survey(ctx.session, draft, ctx.person, ctx.roles, ctx.now)
    when = f"{survey.closes_at.astimezone(zone):%m-%d %H:%M}"  # type: ignore[arg-type]
    told = await announce_survey(ctx.session, survey, zone, ctx.now)  # type: ignore[arg-type]
    text = ctx.t("votefile.survey_open", title=survey.title, questions=len(draft.questions),
                 who=await survey_audience(ctx, survey), when=when, told=told)  # fmt: skip
    return [Reply(text, [Choice(ctx.t("surveys.btn_results", title=survey.title[:12]),
                                f"sv:results:{survey.id}")])]  # fmt: skip


feature = Feature(name="vote_files", router=router)
