"""Polls (投票): a question, options with pictures, an audience, one vote per person or household.

* **One vote, on every app.** A vote belongs to the person (or their household), never to a chat
  account: someone with Telegram and WeChat linked to one person has one vote.
* **The voter roll decides.** Before a ballot is written, a row goes into `VoterRoll` with the
  unique key `(poll, voter_key)` — `p:<person>` or `h:<household>` — by INSERT … ON CONFLICT DO
  NOTHING; only the transaction that inserted it writes a ballot. Two apps at the same moment, or
  two members of one household, give one vote.
* **Anonymous means anonymous.** An anonymous poll's ballots carry no person and no household;
  the roll says only who has voted, not how (ballots and roll rows are not linked, ballots have
  random ids and no time, so not even their order matches the roll's), so nobody — managers
  included — can tell who voted for what. Changing a vote needs that link, so only
  named polls may allow it.
* **Closing** is a clock job from the poll's `closes_at`; it happens once (a conditional UPDATE),
  and the result goes to the audience.

Audience rules (`Poll.audience`): `residents` (verified residents of the community, optionally one
grid `grid_id` or one estate `estate`), `representatives` (居民代表 only).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import UniqueConstraint, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.outbox import insert_ignoring_duplicates
from models.tables import Building, Household, Person, Role, RoleGrant

RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class PollAudience(StrEnum):
    RESIDENTS = "residents"
    REPRESENTATIVES = "representatives"


class PollStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Poll(SQLModel, table=True):
    """A question with options, its audience, its deadline and how it counts."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    question: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    audience: str = Field(default=PollAudience.RESIDENTS, max_length=16)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    estate: str | None = Field(default=None, max_length=64)
    per_household: bool = False
    anonymous: bool = False
    changeable: bool = False  # named polls only
    results_before_close: bool = False
    status: str = Field(default=PollStatus.OPEN, max_length=16)
    opens_at: datetime = _ts(default_factory=utcnow)
    closes_at: datetime = _ts(index=True)
    remind_at: datetime | None = _ts(default=None)  # a reminder to non-voters
    reminded_at: datetime | None = _ts(default=None)
    closed_at: datetime | None = _ts(default=None)
    decision: str | None = Field(default=None, max_length=1000)
    created_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = _ts(default_factory=utcnow)


class PollOption(SQLModel, table=True):
    """One answer of a poll, with an optional picture (a media reference, as report photos)."""

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    position: int
    label: str = Field(max_length=100)
    picture_ref: str | None = Field(default=None, max_length=256)


class VoterRoll(SQLModel, table=True):
    """Who has voted (a person, or a household for per-household polls): one row each."""

    __table_args__ = (UniqueConstraint("poll_id", "voter_key"),)
    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id")
    voter_key: str = Field(max_length=24)  # p:<person> or h:<household>
    person_id: int = Field(foreign_key="person.id")  # who cast it (for "您家已由 张** 投票")
    voted_at: datetime = _ts(default_factory=utcnow)


class Ballot(SQLModel, table=True):
    """One vote. In an anonymous poll it names nobody (`voter_key` is NULL)."""

    __table_args__ = (UniqueConstraint("receipt"),)
    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="poll.id", index=True)
    option_id: int = Field(foreign_key="polloption.id")
    voter_key: str | None = Field(default=None, max_length=24)
    receipt: str = Field(max_length=8)
    cast_at: datetime | None = _ts(default=None)  # None in anonymous polls (no timing trail)


# --- reading ------------------------------------------------------------------------------------


async def get_poll(session: AsyncSession, poll_id: int) -> Poll:
    poll = await session.get(Poll, poll_id)
    if poll is None:
        raise DomainError("polls.not_found")
    return poll


async def options_of(session: AsyncSession, poll_id: int) -> list[PollOption]:
    rows = await session.execute(
        select(PollOption)
        .where(col(PollOption.poll_id) == poll_id)
        .order_by(col(PollOption.position))
    )
    return list(rows.scalars())


async def _is_representative(session: AsyncSession, person: Person) -> bool:
    row = await session.execute(
        select(RoleGrant.id).where(
            col(RoleGrant.person_id) == person.id,
            col(RoleGrant.role) == Role.REPRESENTATIVE,
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    return row.first() is not None


async def _estate_of(session: AsyncSession, person: Person) -> str | None:
    if person.household_id is None:
        return None
    row = await session.execute(
        select(col(Building.estate))
        .join(Household, col(Household.building_id) == Building.id)
        .where(col(Household.id) == person.household_id)
    )
    return row.scalar_one_or_none()


async def refusal(session: AsyncSession, poll: Poll, person: Person) -> str | None:
    """None when the person may vote in the poll; else the message key saying why not."""
    if person.community_id != poll.community_id:
        return "polls.not_in_audience"
    if not person.verified:
        return "polls.verify_first"
    if poll.audience == PollAudience.REPRESENTATIVES:
        if not await _is_representative(session, person):
            return "polls.representatives_only"
    elif person.household_id is None:
        return "polls.residents_only"
    if poll.grid_id is not None and person.grid_id != poll.grid_id:
        return "polls.other_grid"
    if poll.estate is not None and await _estate_of(session, person) != poll.estate:
        return "polls.other_estate"
    if poll.per_household and person.household_id is None:
        return "polls.residents_only"
    return None


def voter_key(poll: Poll, person: Person) -> str:
    if poll.per_household and person.household_id is not None:
        return f"h:{person.household_id}"
    return f"p:{person.id}"


async def open_polls_for(session: AsyncSession, person: Person, now: datetime) -> list[Poll]:
    """Open polls this person may vote in, closing soonest first."""
    rows = await session.execute(
        select(Poll)
        .where(
            col(Poll.community_id) == person.community_id,
            col(Poll.status) == PollStatus.OPEN,
            col(Poll.opens_at) <= now,
            col(Poll.closes_at) > now,
        )
        .order_by(col(Poll.closes_at))
    )
    return [p for p in rows.scalars() if await refusal(session, p, person) is None]


async def who_voted(session: AsyncSession, poll: Poll, person: Person) -> VoterRoll | None:
    """The roll row that counts for this person (theirs, or their household's)."""
    row = await session.execute(
        select(VoterRoll).where(
            col(VoterRoll.poll_id) == poll.id, col(VoterRoll.voter_key) == voter_key(poll, person)
        )
    )
    return row.scalar_one_or_none()


# --- voting -------------------------------------------------------------------------------------


def new_receipt() -> str:
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(4))


@dataclass(frozen=True)
class VoteResult:
    receipt: str
    changed: bool = False


async def cast_vote(
    session: AsyncSession, poll_id: int, option_id: int, person: Person, now: datetime
) -> VoteResult:
    """One vote for an option. Refusals (DomainError) change nothing: a closed poll, an option of
    another poll, someone outside the audience, a second vote ("您已投过" / "您家已由 … 投票")."""
    poll = await get_poll(session, poll_id)
    if poll.status != PollStatus.OPEN or now >= poll.closes_at or now < poll.opens_at:
        raise DomainError("polls.closed")
    option = await session.get(PollOption, option_id)
    if option is None or option.poll_id != poll.id:
        raise DomainError("polls.bad_option")
    why = await refusal(session, poll, person)
    if why is not None:
        raise DomainError(why)
    key = voter_key(poll, person)
    inserted = (
        await session.execute(
            insert_ignoring_duplicates(session, VoterRoll)
            .values(poll_id=poll.id, voter_key=key, person_id=person.id, voted_at=now)
            .on_conflict_do_nothing(index_elements=["poll_id", "voter_key"])
            .returning(col(VoterRoll.id))
        )
    ).first()
    if inserted is None:
        return await _second_vote(session, poll, option, person, key, now)
    receipt = await _write_ballot(session, poll, option, key, now)
    return VoteResult(receipt)


async def _write_ballot(
    session: AsyncSession, poll: Poll, option: PollOption, key: str, now: datetime
) -> str:
    for _ in range(8):
        receipt = new_receipt()
        done = (
            await session.execute(
                insert_ignoring_duplicates(session, Ballot)
                .values(
                    # A random id, not the next number: ballots cannot be matched to the roll
                    # by their order (the roll says who voted, in order).
                    id=secrets.randbelow(2**31 - 2) + 1,
                    poll_id=poll.id,
                    option_id=option.id,
                    voter_key=None if poll.anonymous else key,
                    receipt=receipt,
                    cast_at=None if poll.anonymous else now,
                )
                .on_conflict_do_nothing()  # a receipt or id already taken: draw again
                .returning(col(Ballot.id))
            )
        ).first()
        if done is not None:
            return receipt
    raise RuntimeError("no free receipt code")  # 31^4 codes: practically unreachable


async def _second_vote(
    session: AsyncSession, poll: Poll, option: PollOption, person: Person, key: str, now: datetime
) -> VoteResult:
    roll = (
        await session.execute(
            select(VoterRoll).where(
                col(VoterRoll.poll_id) == poll.id, col(VoterRoll.voter_key) == key
            )
        )
    ).scalar_one()
    if poll.changeable and not poll.anonymous and roll.person_id == person.id:
        ballot = (
            await session.execute(
                select(Ballot).where(col(Ballot.poll_id) == poll.id, col(Ballot.voter_key) == key)
            )
        ).scalar_one()
        ballot.option_id = option.id or 0
        ballot.cast_at = now
        return VoteResult(ballot.receipt, changed=True)
    if roll.person_id != person.id:
        other = await session.get(Person, roll.person_id)
        raise DomainError("polls.household_voted", name=mask_name(other.name if other else ""))
    raise DomainError("polls.already_voted")


def mask_name(name: str) -> str:
    """张** for 张伟伟: who in the household voted, without the full name."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else "**"


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    poll: Poll
    counts: list[tuple[PollOption, int]]
    voters: int  # rows in the roll
    eligible: int  # people (or households) in the audience

    @property
    def turnout(self) -> float:
        return self.voters / self.eligible if self.eligible else 0.0


def audience_where(poll: Poll) -> Any:
    """The condition on `Person` for the people who may vote in the poll."""
    conditions = [col(Person.community_id) == poll.community_id, col(Person.verified)]
    if poll.audience == PollAudience.REPRESENTATIVES:
        reps = select(RoleGrant.person_id).where(
            col(RoleGrant.role) == Role.REPRESENTATIVE, col(RoleGrant.revoked_at).is_(None)
        )
        conditions.append(col(Person.id).in_(reps))
    else:
        conditions.append(col(Person.household_id).is_not(None))
    if poll.grid_id is not None:
        conditions.append(col(Person.grid_id) == poll.grid_id)
    if poll.estate is not None:
        in_estate = (
            select(Household.id)
            .join(Building, col(Building.id) == Household.building_id)
            .where(col(Building.estate) == poll.estate)
        )
        conditions.append(col(Person.household_id).in_(in_estate))
    if poll.per_household:
        conditions.append(col(Person.household_id).is_not(None))
    return and_(*conditions)


async def eligible_count(session: AsyncSession, poll: Poll) -> int:
    """How many people (or households, per household) may vote."""
    sub = select(Person).where(audience_where(poll)).subquery()
    counted = func.count(func.distinct(sub.c.household_id)) if poll.per_household else func.count()
    return int((await session.execute(select(counted).select_from(sub))).scalar_one())


async def tally(session: AsyncSession, poll_id: int) -> Tally:
    """Votes per option, voters and the audience's size."""
    poll = await get_poll(session, poll_id)
    options = await options_of(session, poll_id)
    rows = await session.execute(
        select(col(Ballot.option_id), func.count())
        .where(col(Ballot.poll_id) == poll_id)
        .group_by(col(Ballot.option_id))
    )
    by_option = dict(rows.all())
    voters = await session.execute(
        select(func.count()).select_from(VoterRoll).where(col(VoterRoll.poll_id) == poll_id)
    )
    return Tally(
        poll,
        [(o, int(by_option.get(o.id, 0))) for o in options],
        int(voters.scalar_one()),
        await eligible_count(session, poll),
    )


async def close_due_polls(session: AsyncSession, now: datetime) -> list[int]:
    """Clock job: polls past their deadline close, once each. Returns the ids closed now
    (the caller sends the results)."""
    due = await session.execute(
        select(col(Poll.id)).where(col(Poll.status) == PollStatus.OPEN, col(Poll.closes_at) <= now)
    )
    closed = []
    for poll_id in due.scalars():
        if await close_poll(session, poll_id, now):
            closed.append(poll_id)
    return closed


async def close_poll(session: AsyncSession, poll_id: int, now: datetime) -> bool:
    """Close a poll (at its time, or early by a manager); True only for the call that closed it."""
    result = await session.execute(
        update(Poll)
        .where(col(Poll.id) == poll_id, col(Poll.status) == PollStatus.OPEN)
        .values(status=PollStatus.CLOSED, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def check_invariants(session: AsyncSession, poll_id: int) -> dict[str, bool]:
    """No double votes, the tally equals the ballots, one ballot per roll row."""
    ballots = await session.execute(
        select(func.count()).select_from(Ballot).where(col(Ballot.poll_id) == poll_id)
    )
    rolls = await session.execute(
        select(func.count()).select_from(VoterRoll).where(col(VoterRoll.poll_id) == poll_id)
    )
    t = await tally(session, poll_id)
    n_ballots = int(ballots.scalar_one())
    return {
        "one_ballot_per_voter": n_ballots == int(rolls.scalar_one()),
        "tally_equals_ballots": sum(n for _, n in t.counts) == n_ballots,
    }
