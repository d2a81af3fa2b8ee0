"""What a poll produces: the chart, the result sent to the audience at the close, the reminder to
non-voters, turnout by grid, the voter list of a named poll and the tally as .xlsx; and the
managers' side (who may manage a poll, create one, close it early).

The close is the clock's (`close_and_announce`, from `Poll.closes_at`) or a manager's; either way
`close_poll` changes the row once (a conditional UPDATE) and only that call sends the result, in
the same transaction: one INSERT … SELECT of outbox rows (dedupe key `pollresult:<poll>:<person>`).
The reminder is claimed the same way (`reminded_at`, once), then sent to the audience minus
the people (or households) on the voter roll.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.charts import bar_chart
from models.errors import DomainError
from models.media import keep_drawn
from models.outbox import best_account_id, insert_ignoring_duplicates
from models.polls import (
    Ballot,
    Poll,
    PollAudience,
    PollOption,
    PollStatus,
    Tally,
    VoterRoll,
    audience_where,
    close_poll,
    get_poll,
    tally,
)
from models.tables import ChannelAccount, Grid, Outbox, OutboxStatus, Person, Role, RoleGrant

MAX_OPTIONS = 9


# --- who may manage ---------------------------------------------------------------------------


def may_manage(poll: Poll, person: Person, roles: frozenset[tuple[str, int | None]]) -> bool:
    """The community's managers, the grid leader of a grid's poll, and its creator."""
    if person.community_id != poll.community_id:
        return False
    if poll.created_by_id == person.id or (Role.MANAGER, None) in roles:
        return True
    if any(r == Role.MANAGER for r, _ in roles):
        return True
    return poll.grid_id is not None and (Role.GRID_LEADER, poll.grid_id) in roles


def may_create(roles: frozenset[tuple[str, int | None]]) -> bool:
    """Managers and grid leaders organise votes."""
    return any(r in (Role.MANAGER, Role.GRID_LEADER) for r, _ in roles)


async def managed_poll(
    session: AsyncSession, poll_id: int, person: Person, roles: frozenset[tuple[str, int | None]]
) -> Poll:
    """The poll, when this person may manage it; else 'not allowed' (a forged button)."""
    poll = await get_poll(session, poll_id)
    if not may_manage(poll, person, roles):
        raise DomainError("polls.not_allowed")
    return poll


async def polls_managed_by(
    session: AsyncSession, person: Person, roles: frozenset[tuple[str, int | None]], limit: int = 8
) -> list[Poll]:
    """Recent polls of the community this person may manage, newest first."""
    rows = await session.execute(
        select(Poll)
        .where(col(Poll.community_id) == person.community_id)
        .order_by(col(Poll.id).desc())
        .limit(50)
    )
    return [p for p in rows.scalars() if may_manage(p, person, roles)][:limit]


async def first_manager(session: AsyncSession, community_id: int) -> Person | None:
    """The community's longest-serving manager (the organiser of a poll read from a file)."""
    row = await session.execute(
        select(Person)
        .join(RoleGrant, col(RoleGrant.person_id) == Person.id)
        .where(
            col(RoleGrant.role) == Role.MANAGER,
            col(RoleGrant.revoked_at).is_(None),
            col(Person.community_id) == community_id,
        )
        .order_by(col(RoleGrant.id))
    )
    return row.scalars().first()


# --- creating ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollDraft:
    """What a manager gives for a new poll (from the chat or a file)."""

    question: str
    options: Sequence[tuple[str, str | None]]  # label, picture reference
    closes_at: datetime
    audience: str = PollAudience.RESIDENTS
    grid_id: int | None = None
    estate: str | None = None
    per_household: bool = False
    anonymous: bool = False
    changeable: bool = False
    results_before_close: bool = False
    remind: bool = True
    description: str | None = None


REMIND_BEFORE_HOURS = 24


async def create_poll(
    session: AsyncSession,
    draft: PollDraft,
    creator: Person,
    roles: frozenset[tuple[str, int | None]],
    now: datetime,
) -> Poll:
    """Open a poll with its options; refusals: not an organiser, too few or many options, a
    deadline in the past, a changeable anonymous poll (changing needs the link anonymity cuts)."""
    from datetime import timedelta

    if not may_create(roles):
        raise DomainError("polls.not_allowed")
    grid_leader_only = not any(r == Role.MANAGER for r, _ in roles)
    grid_id = draft.grid_id
    if grid_leader_only:
        grids = sorted(g for r, g in roles if r == Role.GRID_LEADER and g is not None)
        if grid_id is None or grid_id not in grids:
            grid_id = grids[0] if grids else None
    question = draft.question.strip()
    labels = [(label.strip()[:100], ref) for label, ref in draft.options if label.strip()]
    if not question:
        raise DomainError("polls.new_bad_question")
    if not 2 <= len(labels) <= MAX_OPTIONS:
        raise DomainError("polls.new_bad_options")
    if draft.closes_at <= now:
        raise DomainError("polls.new_bad_deadline")
    remind_at = draft.closes_at - timedelta(hours=REMIND_BEFORE_HOURS)
    poll = Poll(
        community_id=creator.community_id,
        question=question[:200],
        description=draft.description,
        audience=draft.audience,
        grid_id=grid_id,
        estate=draft.estate,
        per_household=draft.per_household,
        anonymous=draft.anonymous,
        changeable=draft.changeable and not draft.anonymous,
        results_before_close=draft.results_before_close,
        status=PollStatus.OPEN,
        opens_at=now,
        closes_at=draft.closes_at,
        remind_at=remind_at if draft.remind and remind_at > now else None,
        created_by_id=creator.id or 0,
        created_at=now,
    )
    session.add(poll)
    await session.flush()
    for position, (label, ref) in enumerate(labels, 1):
        session.add(
            PollOption(poll_id=poll.id or 0, position=position, label=label, picture_ref=ref)
        )
    await session.flush()
    return poll


async def set_decision(
    session: AsyncSession,
    poll_id: int,
    person: Person,
    roles: frozenset[tuple[str, int | None]],
    text: str,
) -> Poll:
    """The organiser's decision text, sent with the result."""
    poll = await managed_poll(session, poll_id, person, roles)
    poll.decision = text.strip()[:1000] or None
    return poll


# --- results ----------------------------------------------------------------------------------


def results_visible(poll: Poll, now: datetime) -> bool:
    """Results show after the close, or before it when the poll says so."""
    return poll.status == PollStatus.CLOSED or now >= poll.closes_at or poll.results_before_close


def percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def result_lines(t: Tally) -> list[str]:
    """'方案一 青砖：12 票（40%）' per option, most votes first."""
    total = sum(n for _, n in t.counts)
    ranked = sorted(t.counts, key=lambda c: (-c[1], c[0].position))
    return [f"{o.label}：{n} 票（{percent(n, total)}%）" for o, n in ranked]


def result_chart(t: Tally) -> bytes:
    """The bar chart of a tally: options in their order, votes and shares, turnout under it."""
    total = sum(n for _, n in t.counts)
    return bar_chart(
        t.poll.question,
        [o.label for o, _ in t.counts],
        [n for _, n in t.counts],
        notes=[f"{n} 票 ({percent(n, total)}%)" for _, n in t.counts],
        footer=f"参与率 {percent(t.voters, t.eligible)}%（{t.voters}/{t.eligible}）",
    )


def _audience_rows(poll: Poll, key: str, where: Any, values: dict[str, Any], photo_ref: str | None,
                   kind: str, now: datetime, choices: list[list[str]] | None = None) -> Any:  # fmt: skip
    account = best_account_id()
    return (
        select(
            literal(f"{key}:{poll.id}:") + cast(col(Person.id), String),
            col(ChannelAccount.channel),
            col(ChannelAccount.chat_id),
            col(ChannelAccount.id),
            col(Person.id),
            literal(kind),
            func.coalesce(col(Person.locale), "zh"),
            literal(f"polls.{key}"),
            literal(values, type_=Outbox.__table__.c["values"].type),  # type: ignore[attr-defined]
            literal(photo_ref, type_=String),
            literal(choices or [], type_=Outbox.__table__.c.choices.type),  # type: ignore[attr-defined]
            literal(5),
            literal(OutboxStatus.PENDING.value),
            literal(0),
            literal(now, type_=Outbox.__table__.c.not_before.type),  # type: ignore[attr-defined]
            literal(now, type_=Outbox.__table__.c.created_at.type),  # type: ignore[attr-defined]
        )
        .select_from(Person)
        .join(ChannelAccount, col(ChannelAccount.id) == account)
        .where(where)
    )


async def _send_to(session: AsyncSession, rows: Any) -> int:
    columns = [
        "dedupe_key", "channel", "chat_id", "account_id", "person_id", "kind", "locale",
        "text_key", "values", "photo_ref", "choices", "priority", "status", "attempts",
        "not_before", "created_at",
    ]  # fmt: skip
    stmt = insert_ignoring_duplicates(session, Outbox).from_select(columns, rows)
    result = await session.execute(stmt.on_conflict_do_nothing())
    return int(result.rowcount)  # type: ignore[attr-defined]


async def announce_result(session: AsyncSession, poll_id: int, now: datetime) -> int:
    """The result to the audience (chart, turnout, decision); how many messages were queued."""
    t = await tally(session, poll_id)
    poll = t.poll
    photo = await keep_drawn(session, result_chart(t), f"poll:{poll.id}", now)
    values = {
        "question": poll.question,
        "lines": "\n".join(result_lines(t)),
        "turnout": percent(t.voters, t.eligible),
        "voters": t.voters,
        "eligible": t.eligible,
        "decision": f"\n✍ {poll.decision}" if poll.decision else "",
    }
    return await _send_to(
        session, _audience_rows(poll, "result_push", audience_where(poll), values, photo,
                                "poll_result", now)
    )  # fmt: skip


async def close_and_announce(session: AsyncSession, poll_id: int, now: datetime) -> bool:
    """Close the poll and send its result, once: False when it was already closed."""
    if not await close_poll(session, poll_id, now):
        return False
    await announce_result(session, poll_id, now)
    return True


async def close_due_and_announce(
    session: AsyncSession, now: datetime, limit: int = 20
) -> list[int]:
    """Clock job: polls past their deadline close and their results go out (each once)."""
    due = await session.execute(
        select(col(Poll.id))
        .where(col(Poll.status) == PollStatus.OPEN, col(Poll.closes_at) <= now)
        .order_by(col(Poll.closes_at))
        .limit(limit)
    )
    return [pid for pid in list(due.scalars()) if await close_and_announce(session, pid, now)]


async def close_early(
    session: AsyncSession,
    poll_id: int,
    person: Person,
    roles: frozenset[tuple[str, int | None]],
    now: datetime,
) -> bool:
    """A manager closes the poll before its deadline (the result goes out as at the close)."""
    await managed_poll(session, poll_id, person, roles)
    return await close_and_announce(session, poll_id, now)


def _not_voted(poll: Poll) -> Any:
    roll = select(VoterRoll.voter_key).where(col(VoterRoll.poll_id) == poll.id)
    if poll.per_household:
        key = literal("h:") + cast(col(Person.household_id), String)
    else:
        key = literal("p:") + cast(col(Person.id), String)
    return key.not_in(roll)


async def remind_due_polls(session: AsyncSession, now: datetime, limit: int = 20) -> int:
    """Clock job: 24 hours before the close, people who have not voted are reminded, once per
    poll (claimed by setting `reminded_at`). Returns how many messages were queued."""
    due = await session.execute(
        select(col(Poll.id))
        .where(
            col(Poll.status) == PollStatus.OPEN,
            col(Poll.remind_at) <= now,
            col(Poll.reminded_at).is_(None),
            col(Poll.closes_at) > now,
        )
        .limit(limit)
    )
    queued = 0
    for poll_id in list(due.scalars()):
        claimed = await session.execute(
            update(Poll)
            .where(col(Poll.id) == poll_id, col(Poll.reminded_at).is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue
        poll = await get_poll(session, poll_id)
        await session.refresh(poll)
        values = {"question": poll.question, "poll": poll.id}
        where = audience_where(poll) & _not_voted(poll)
        queued += await _send_to(
            session,
            _audience_rows(
                poll,
                "reminder_push",
                where,
                values,
                None,
                "poll_reminder",
                now,
                [["polls.btn_vote_now", f"poll:show:{poll_id}"]],
            ),
        )
    return queued


# --- for managers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GridTurnout:
    grid: str
    eligible: int
    voted: int


async def turnout_by_grid(session: AsyncSession, poll: Poll) -> list[GridTurnout]:
    """Per grid: how many may vote (people, or households) and how many have."""
    people = select(Person).where(audience_where(poll)).subquery()
    counted = (
        func.count(func.distinct(people.c.household_id)) if poll.per_household else func.count()
    )
    eligible = dict(
        (
            await session.execute(
                select(people.c.grid_id, counted).select_from(people).group_by(people.c.grid_id)
            )
        ).all()
    )
    voted = dict(
        (
            await session.execute(
                select(col(Person.grid_id), func.count())
                .select_from(VoterRoll)
                .join(Person, col(Person.id) == VoterRoll.person_id)
                .where(col(VoterRoll.poll_id) == poll.id)
                .group_by(col(Person.grid_id))
            )
        ).all()
    )
    grids = dict(
        (
            await session.execute(
                select(col(Grid.id), col(Grid.name)).where(
                    col(Grid.community_id) == poll.community_id
                )
            )
        ).all()
    )
    keys = sorted(set(eligible) | set(voted), key=lambda g: (g is None, g or 0))
    return [
        GridTurnout(grids.get(g, "—") if g is not None else "—", int(eligible.get(g, 0)),
                    int(voted.get(g, 0)))
        for g in keys
    ]  # fmt: skip


async def voter_list(session: AsyncSession, poll: Poll) -> list[tuple[str, str]]:
    """A named poll's voters and their choices (name, option); an anonymous poll has none to show."""
    if poll.anonymous:
        raise DomainError("polls.anonymous_list")
    rows = await session.execute(
        select(col(Person.name), col(PollOption.label))
        .select_from(VoterRoll)
        .join(Person, col(Person.id) == VoterRoll.person_id)
        .join(
            Ballot,
            (col(Ballot.poll_id) == VoterRoll.poll_id)
            & (col(Ballot.voter_key) == VoterRoll.voter_key),
        )
        .join(PollOption, col(PollOption.id) == Ballot.option_id)
        .where(col(VoterRoll.poll_id) == poll.id)
        .order_by(col(VoterRoll.voted_at), col(VoterRoll.id))
    )
    return [(str(n), str(label)) for n, label in rows.all()]


async def tally_xlsx(session: AsyncSession, poll: Poll) -> bytes:
    """The tally as an .xlsx workbook: results, turnout by grid, and (named polls) the voters."""
    from openpyxl import Workbook

    t = await tally(session, poll.id or 0)
    total = sum(n for _, n in t.counts)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "结果"
    sheet.append([poll.question])
    sheet.append(["选项", "票数", "占比"])
    for option, n in t.counts:
        sheet.append([option.label, n, f"{percent(n, total)}%"])
    sheet.append(["参与率", f"{t.voters}/{t.eligible}", f"{percent(t.voters, t.eligible)}%"])
    grids = book.create_sheet("网格参与")
    grids.append(["网格", "可投票", "已投票", "参与率"])
    for g in await turnout_by_grid(session, poll):
        grids.append([g.grid, g.eligible, g.voted, f"{percent(g.voted, g.eligible)}%"])
    if not poll.anonymous:
        names = book.create_sheet("投票名单")
        names.append(["姓名", "选项"])
        for name, label in await voter_list(session, poll):
            names.append([name, label])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
