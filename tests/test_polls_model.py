"""Polls: one vote per person or household on every app, anonymity, closing once; account links."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.db import Database
from models.errors import DomainError
from models.linking import (
    AccountLink,
    new_link_code,
    redeem_link_code,
    unlink_account,
)
from models.polls import (
    Ballot,
    Poll,
    PollAudience,
    PollOption,
    cast_vote,
    check_invariants,
    close_due_polls,
    open_polls_for,
    tally,
)
from models.tables import ChannelAccount, Person
from tests.conftest import FakeClock


async def _people(db: Database) -> dict[str, Person]:
    async with db.session() as s:
        return {p.name: p for p in (await s.execute(select(Person))).scalars()}


async def _poll(db: Database, clock: FakeClock, **kw: object) -> tuple[int, list[int]]:
    people = await _people(db)
    async with db.session() as s:
        poll = Poll(
            community_id=people["刘芳"].community_id,
            question="虹桥南村外墙选哪一款？",
            closes_at=clock() + timedelta(days=3),
            created_by_id=people["刘芳"].id or 0,
            opens_at=clock(),
            **kw,  # type: ignore[arg-type]
        )
        s.add(poll)
        await s.flush()
        options = []
        for i, label in enumerate(("方案一 青砖", "方案二 白墙", "方案三 彩绘"), 1):
            option = PollOption(poll_id=poll.id or 0, position=i, label=label)
            s.add(option)
            await s.flush()
            options.append(option.id or 0)
        return poll.id or 0, options


async def _couple(db: Database) -> tuple[Person, Person]:
    """王建国 and his wife, a verified member of the same household."""
    wang = (await _people(db))["王建国"]
    async with db.session() as s:
        spouse = Person(
            community_id=wang.community_id,
            grid_id=wang.grid_id,
            household_id=wang.household_id,
            name="王秀兰",
            verified=True,
        )
        s.add(spouse)
    return wang, spouse


async def _vote(db: Database, clock: FakeClock, poll: int, option: int, person: Person) -> str:
    async with db.session() as s:
        return (await cast_vote(s, poll, option, person, clock())).receipt


async def test_one_vote_and_a_receipt_then_already_voted(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    poll, options = await _poll(demo, clock)
    receipt = await _vote(demo, clock, poll, options[0], people["王建国"])
    assert len(receipt) == 4
    with pytest.raises(DomainError) as err:
        await _vote(demo, clock, poll, options[1], people["王建国"])
    assert err.value.key == "polls.already_voted"
    async with demo.session() as s:
        t = await tally(s, poll)
        assert [n for _, n in t.counts] == [1, 0, 0]
        assert t.voters == 1 and t.eligible >= 5


async def test_a_changeable_named_poll_moves_the_vote(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    poll, options = await _poll(demo, clock, changeable=True)
    first = await _vote(demo, clock, poll, options[0], people["王建国"])
    again = await _vote(demo, clock, poll, options[2], people["王建国"])
    assert first == again
    async with demo.session() as s:
        assert [n for _, n in (await tally(s, poll)).counts] == [0, 0, 1]


async def test_per_household_the_second_member_is_told_who_voted(
    demo: Database, clock: FakeClock
) -> None:
    wang, spouse = await _couple(demo)
    poll, options = await _poll(demo, clock, per_household=True)
    await _vote(demo, clock, poll, options[1], wang)
    with pytest.raises(DomainError) as err:
        await _vote(demo, clock, poll, options[0], spouse)
    assert err.value.key == "polls.household_voted"
    assert err.value.values == {"name": "王**"}


async def test_two_members_of_a_household_at_once_give_one_vote(
    demo: Database, clock: FakeClock
) -> None:
    wang, spouse = await _couple(demo)
    poll, options = await _poll(demo, clock, per_household=True)

    async def vote(person: Person, option: int) -> str:
        try:
            return await _vote(demo, clock, poll, option, person)
        except DomainError as err:
            return err.key

    results = await asyncio.gather(vote(wang, options[0]), vote(spouse, options[1]))
    assert sorted(r == "polls.household_voted" for r in results) == [False, True]
    async with demo.session() as s:
        assert all((await check_invariants(s, poll)).values())
        assert sum(n for _, n in (await tally(s, poll)).counts) == 1


async def test_the_same_person_from_two_apps_at_once_is_one_vote(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    poll, options = await _poll(demo, clock)

    async def vote(option: int) -> str:
        try:
            return await _vote(demo, clock, poll, option, people["李红"])
        except DomainError as err:
            return err.key

    results = await asyncio.gather(vote(options[0]), vote(options[1]), vote(options[2]))
    assert sum(r == "polls.already_voted" for r in results) == 2
    async with demo.session() as s:
        assert (await tally(s, poll)).voters == 1


async def test_forged_and_out_of_audience_votes_are_refused_and_record_nothing(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    poll, options = await _poll(demo, clock, audience=PollAudience.REPRESENTATIVES)
    other, other_options = await _poll(demo, clock)
    cases = [
        (poll, options[0], people["李红"], "polls.representatives_only"),
        (poll, other_options[0], people["王建国"], "polls.bad_option"),
    ]
    for poll_id, option, person, key in cases:
        with pytest.raises(DomainError) as err:
            await _vote(demo, clock, poll_id, option, person)
        assert err.value.key == key
    clock.advance(days=4)
    with pytest.raises(DomainError) as err:
        await _vote(demo, clock, other, other_options[0], people["王建国"])
    assert err.value.key == "polls.closed"
    async with demo.session() as s:
        assert (await s.execute(select(Ballot))).first() is None


async def test_anonymous_ballots_name_nobody(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    poll, options = await _poll(demo, clock, anonymous=True)
    for name in ("王建国", "李红", "张伟"):
        if people[name].household_id is None:
            continue
        await _vote(demo, clock, poll, options[0], people[name])
    async with demo.session() as s:
        ballots = list((await s.execute(select(Ballot))).scalars())
    assert ballots and all(b.voter_key is None and b.cast_at is None for b in ballots)


async def test_closing_happens_once_and_lists_open_polls(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    poll, _ = await _poll(demo, clock)
    async with demo.session() as s:
        assert [p.id for p in await open_polls_for(s, people["王建国"], clock())] == [poll]
    clock.advance(days=3)
    async with demo.session() as s:
        assert await close_due_polls(s, clock()) == [poll]
    async with demo.session() as s:
        assert await close_due_polls(s, clock()) == []
        assert await open_polls_for(s, people["王建国"], clock()) == []


async def _account(
    db: Database, channel: str, external: str, person: Person | None
) -> ChannelAccount:
    async with db.session() as s:
        account = ChannelAccount(
            channel=channel,
            external_id=external,
            chat_id=external,
            person_id=person.id if person else None,
        )
        s.add(account)
        await s.flush()
        return account


async def test_linking_a_second_account_by_a_one_time_code(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    wang = people["王建国"]
    telegram = await _account(demo, "telegram", "t1", wang)
    wechat = await _account(demo, "wechat", "o-1", None)
    async with demo.session() as s:
        code = (await new_link_code(s, wang, clock())).code
    async with demo.session() as s:
        account = await s.get(ChannelAccount, wechat.id)
        assert account is not None
        assert (await redeem_link_code(s, account, code, clock())).id == wang.id
    async with demo.session() as s:  # single use
        other = await _account(demo, "wechat", "o-2", None)
        again = await s.get(ChannelAccount, other.id)
        assert again is not None
        with pytest.raises(DomainError) as err:
            await redeem_link_code(s, again, code, clock())
        assert err.value.key == "linking.bad_code"
    async with demo.session() as s:
        linked = await s.get(ChannelAccount, wechat.id)
        assert linked is not None and linked.person_id == wang.id
        by = await s.get(ChannelAccount, telegram.id)
        assert by is not None
        await unlink_account(s, wang, wechat.id or 0, by, clock())
    async with demo.session() as s:
        actions = [
            a.action
            for a in (await s.execute(select(AccountLink).order_by(col(AccountLink.id)))).scalars()
        ]
    assert actions == ["link", "bad_code", "unlink"]


async def test_a_code_expires_and_never_moves_someone_elses_account(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    li_account = await _account(demo, "wechat", "o-li", people["李红"])
    async with demo.session() as s:
        code = (await new_link_code(s, people["王建国"], clock())).code
    async with demo.session() as s:
        account = await s.get(ChannelAccount, li_account.id)
        assert account is not None
        with pytest.raises(DomainError) as err:
            await redeem_link_code(s, account, code, clock())
        assert err.value.key == "linking.linked_to_someone_else"
    clock.advance(minutes=11)
    fresh = await _account(demo, "wechat", "o-new", None)
    async with demo.session() as s:
        account = await s.get(ChannelAccount, fresh.id)
        assert account is not None
        with pytest.raises(DomainError) as err:
            await redeem_link_code(s, account, code, clock())
        assert err.value.key == "linking.bad_code"
    async with demo.session() as s:
        li = await s.get(ChannelAccount, li_account.id)
        assert li is not None and li.person_id == people["李红"].id


async def test_guessing_codes_is_stopped(demo: Database, clock: FakeClock) -> None:
    fresh = await _account(demo, "wechat", "o-guess", None)
    for attempt in range(6):
        async with demo.session() as s:
            account = await s.get(ChannelAccount, fresh.id)
            assert account is not None
            with pytest.raises(DomainError) as err:
                await redeem_link_code(s, account, f"{100000 + attempt}", clock())
            expected = "linking.bad_code" if attempt < 5 else "linking.too_many"
            assert err.value.key == expected
