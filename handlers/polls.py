"""投票: the open polls a person may vote in, a poll with its pictures, one tap to vote, the
receipt, and the results (after the close, or before when the poll allows it).

Every button is re-checked in `models/polls.py` (`cast_vote`): a closed poll, a poll outside the
person's audience, an option of another poll or a second vote is refused and nothing is written.
The managers' side (create, close early, turnout, export) is `handlers/poll_admin.py`.
"""

from __future__ import annotations

from handlers.core import Choice, Context, Reply
from handlers.feature import Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from models.errors import DomainError
from models.media import STORE
from models.people import community_zone
from models.poll_results import may_create, may_manage, result_chart, result_lines, results_visible
from models.polls import (
    Poll,
    PollAudience,
    PollStatus,
    cast_vote,
    get_poll,
    mask_name,
    open_polls_for,
    options_of,
    refusal,
    tally,
    who_voted,
)
from models.tables import Person

router = Router()


def registered(ctx: Context) -> bool:
    return ctx.person is not None and ctx.person.id is not None


async def deadline_text(ctx: Context, poll: Poll) -> str:
    zone = await community_zone(ctx.session, poll.community_id)
    return f"{poll.closes_at.astimezone(zone):%m-%d %H:%M}"


def audience_text(ctx: Context, poll: Poll) -> str:
    """Who may vote, in words: '虹桥南村居民，每户一票'."""
    if poll.audience == PollAudience.REPRESENTATIVES:
        who = ctx.t("polls.who_representatives")
    elif poll.estate:
        who = ctx.t("polls.who_estate", estate=poll.estate)
    elif poll.grid_id is not None:
        who = ctx.t("polls.who_grid")
    else:
        who = ctx.t("polls.who_residents")
    how = ctx.t("polls.per_household") if poll.per_household else ctx.t("polls.per_person")
    kind = ctx.t("polls.anonymous") if poll.anonymous else ctx.t("polls.named")
    return f"{who}，{how}，{kind}"


def mark(i: int) -> str:
    """①②③ for the options (not "1." — WeChat's numbered lines are the choices to type)."""
    return "①②③④⑤⑥⑦⑧⑨"[i - 1] if 1 <= i <= 9 else f"({i})"


def _shown_here(ctx: Context, ref: str | None) -> bool:
    """A picture this chat can see: from the media store, or already on this channel."""
    if not ref:
        return False
    channel = ref.partition(":")[0]
    return channel in (STORE, ctx.incoming.channel)


async def poll_card(ctx: Context, poll: Poll) -> list[Reply]:
    """The poll: question, pictures (an album), deadline, who may vote, a button per option."""
    assert ctx.person is not None
    options = await options_of(ctx.session, poll.id or 0)
    lines = [ctx.t("polls.card", question=poll.question)]
    if poll.description:
        lines.append(poll.description)
    lines += [f"{mark(i)} {o.label}" for i, o in enumerate(options, 1)]
    lines.append(ctx.t("polls.deadline", when=await deadline_text(ctx, poll)))
    lines.append(ctx.t("polls.who", who=audience_text(ctx, poll)))
    album = [
        (str(o.picture_ref), f"{mark(i)} {o.label}")
        for i, o in enumerate(options, 1)
        if _shown_here(ctx, o.picture_ref)
    ]
    choices: list[Choice] = []
    open_now = poll.status == PollStatus.OPEN and ctx.now < poll.closes_at
    why = await refusal(ctx.session, poll, ctx.person)
    voted = await who_voted(ctx.session, poll, ctx.person) if why is None else None
    if not open_now:
        lines.append(ctx.t("polls.closed"))
    elif why is not None:
        lines.append(ctx.t(why))
    elif voted is not None and not (poll.changeable and voted.person_id == ctx.person.id):
        lines.append(await _voted_line(ctx, voted.person_id))
    else:
        if voted is not None:
            lines.append(ctx.t("polls.may_change"))
        choices = [
            Choice(ctx.t("polls.btn_vote", option=o.label[:20]), f"poll:vote:{poll.id}:{o.id}")
            for o in options
        ]
    if results_visible(poll, ctx.now):
        choices.append(Choice(ctx.t("polls.btn_results"), f"poll:result:{poll.id}"))
    if may_manage(poll, ctx.person, ctx.roles):
        choices.append(Choice(ctx.t("polls.btn_manage"), f"pa:admin:{poll.id}"))
    return [Reply("\n".join(lines), choices, album=album)]


async def _voted_line(ctx: Context, voter_id: int) -> str:
    if ctx.person is not None and voter_id == ctx.person.id:
        return ctx.t("polls.already_voted")
    other = await ctx.session.get(Person, voter_id)
    return ctx.t("polls.household_voted", name=mask_name(other.name if other else ""))


@router.intent("vote", "vote", "poll", "polls")
async def list_polls(ctx: Context, _arg: str) -> Outcome:
    """投票: the open polls this person may vote in (one is shown at once)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    staff = may_create(ctx.roles)
    manage = [Choice(ctx.t("polls.btn_new"), "pa:new"), Choice(ctx.t("polls.btn_mine"), "pa:mine")]
    if not ctx.person.verified:
        return with_menu(ctx, ctx.t("polls.verify_first"))
    polls = await open_polls_for(ctx.session, ctx.person, ctx.now)
    if not polls:
        if staff:
            return [Reply(ctx.t("polls.none_staff"), manage)]
        return with_menu(ctx, ctx.t("polls.none"))
    if len(polls) == 1:
        replies = await poll_card(ctx, polls[0])
    else:
        lines = [ctx.t("polls.list_title", count=len(polls))]
        choices = []
        for p in polls:
            lines.append(ctx.t("polls.list_line", question=p.question,
                               when=await deadline_text(ctx, p)))  # fmt: skip
            choices.append(Choice(ctx.t("polls.btn_open", question=p.question[:20]),
                                  f"poll:show:{p.id}"))  # fmt: skip
        replies = [Reply("\n".join(lines), choices)]
    if staff:
        replies.append(Reply(ctx.t("polls.staff_hint"), manage))
    return replies


@router.payload("poll:show", poll=int, refuse="polls.not_found")
async def show_poll(ctx: Context, poll: int) -> Outcome:
    """One poll's card (from the list or a reminder)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await get_poll(ctx.session, poll)
    if found.community_id != ctx.person.community_id:
        raise DomainError("polls.not_found")
    return await poll_card(ctx, found)


@router.payload("poll:vote", poll=int, option=int, refuse="polls.not_found")
async def vote(ctx: Context, poll: int, option: int) -> Outcome:
    """One tap: the vote, re-checked (closed, audience, option of this poll, a second vote)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    result = await cast_vote(ctx.session, poll, option, ctx.person, ctx.now)
    found = await get_poll(ctx.session, poll)
    label = next((o.label for o in await options_of(ctx.session, poll) if o.id == option), "")
    key = "polls.changed" if result.changed else "polls.voted"
    text = ctx.t(key, receipt=result.receipt, option=label, when=await deadline_text(ctx, found))
    return with_menu(ctx, text)


async def results_replies(ctx: Context, poll: Poll) -> list[Reply]:
    """The tally as text and a chart (turnout, the decision)."""
    t = await tally(ctx.session, poll.id or 0)
    lines = [ctx.t("polls.results_title", question=poll.question), *result_lines(t)]
    lines.append(ctx.t("polls.turnout", turnout=round(100 * t.turnout), voters=t.voters,
                       eligible=t.eligible))  # fmt: skip
    if poll.decision:
        lines.append(ctx.t("polls.decision", decision=poll.decision))
    return [Reply("\n".join(lines)),
            Reply(ctx.t("polls.chart"), photo=result_chart(t), photo_name=f"poll-{poll.id}.png")]  # fmt: skip


@router.payload("poll:result", poll=int, refuse="polls.not_found")
async def show_results(ctx: Context, poll: int) -> Outcome:
    """Results: after the close, or before it only when the poll says so (managers always)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await get_poll(ctx.session, poll)
    if found.community_id != ctx.person.community_id:
        raise DomainError("polls.not_found")
    if not (results_visible(found, ctx.now) or may_manage(found, ctx.person, ctx.roles)):
        return with_menu(ctx, ctx.t("polls.results_later"))
    return [*await results_replies(ctx, found), *with_menu(ctx, ctx.t("polls.results_end"))]


feature = Feature(
    name="vote",
    router=router,
    menu=(MenuItem("vote", 40),),
    commands=(Command("vote", 40),),
    keywords=(
        Keywords(
            "vote",
            zh=(
                "投票 表决 设计方案 方案 选方案 投一票 投个票 墙绘 外墙设计 "
                "设计图 民意 征求意见 选哪个 哪个方案 投赞成 投反对 赞成票"
            ),
            en="vote, poll, ballot, wall design, design:1.5, designs:1.5",
            rank=3,
        ),
    ),
)
