"""The sign-up engine: places, the self-promoting waitlist, reminders, check-in, no-shows.

A test kind of slot ("test") is registered here, so the engine is checked apart from the
features (bookings, events) that use it; their own dialogue tests use it through the chat.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.db import Database
from models.errors import DomainError
from models.signups import (
    Signup,
    SignupReminder,
    SignupStatus,
    Slot,
    SlotKind,
    add_capacity,
    cancel,
    cancel_slot,
    check_in,
    check_in_by_code,
    check_invariants,
    claim_offer,
    close_ended_slots,
    create_slot,
    decline_offer,
    expire_offers,
    fire_signup_reminders,
    no_shows_since,
    person_signups,
    register_kind,
    sign_up,
)
from models.tables import ChannelAccount, Community, Outbox, Person, Street
from tests.conftest import FakeClock

MANAGER = "manager"
AFTER: list[tuple[int, list[int]]] = []


async def _describe(_s: AsyncSession, slot: Slot) -> dict[str, Any]:
    return {"title": f"slot {slot.id}", "when": slot.starts_at.isoformat(), "place": "here"}


async def _may_manage(session: AsyncSession, _slot: Slot, person_id: int) -> bool:
    person = await session.get(Person, person_id)
    return person is not None and person.name == MANAGER


async def _check(session: AsyncSession, slot: Slot, person_id: int, now: datetime) -> None:
    person = await session.get(Person, person_id)
    if person is not None and person.name == "banned":
        raise DomainError("signup.rule_test")


async def _after(_s: AsyncSession, slot: Slot, came: list[Signup], _now: datetime) -> None:
    AFTER.append((slot.id or 0, [s.person_id for s in came]))


async def _reminders(_s: AsyncSession, slot: Slot) -> list[tuple[str, datetime]]:
    return [
        ("day", slot.starts_at - timedelta(days=1)),
        ("hour", slot.starts_at - timedelta(hours=1)),
    ]


register_kind(
    SlotKind(
        name="test",
        describe=_describe,
        may_manage=_may_manage,
        check=_check,
        reminders=_reminders,
        after_slot=_after,
    )
)


class World:
    """A community with people who each have a chat account, and a helper to make slots."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db = db
        self.clock = clock
        self.community_id = 0
        self.people: dict[str, int] = {}

    async def setup(self, *names: str) -> World:
        async with self.db.session() as s:
            street = Street(name="街道")
            s.add(street)
            await s.flush()
            community = Community(street_id=street.id or 0, name="社区")
            s.add(community)
            await s.flush()
            self.community_id = community.id or 0
        for name in (*names, MANAGER):
            await self.person(name)
        return self

    async def person(self, name: str) -> int:
        async with self.db.session() as s:
            p = Person(community_id=self.community_id, name=name, verified=True)
            s.add(p)
            await s.flush()
            s.add(
                ChannelAccount(
                    channel="telegram",
                    external_id=f"u{p.id}",
                    chat_id=f"u{p.id}",
                    person_id=p.id,
                    last_seen_at=self.clock(),
                )
            )
            self.people[name] = p.id or 0
            return p.id or 0

    async def slot(self, capacity: int, *, in_hours: float = 48, **kw: Any) -> int:
        now = self.clock()
        async with self.db.session() as s:
            slot = await create_slot(
                s,
                community_id=self.community_id,
                kind="test",
                owner_id=1,
                starts_at=now + timedelta(hours=in_hours),
                ends_at=now + timedelta(hours=in_hours, minutes=30),
                capacity=capacity,
                now=now,
                **kw,
            )
            return slot.id or 0

    async def sign_up(self, slot_id: int, name: str, **kw: Any) -> Signup:
        async with self.db.session() as s:
            return (await sign_up(s, slot_id, self.people[name], self.clock(), **kw)).signup

    async def status(self, slot_id: int) -> dict[str, str]:
        names = {v: k for k, v in self.people.items()}
        async with self.db.session() as s:
            rows = await s.execute(
                select(Signup).where(col(Signup.slot_id) == slot_id).order_by(col(Signup.id))
            )
            return {names[r.person_id]: r.status for r in rows.scalars()}

    async def messages(self, name: str) -> list[tuple[str, list[list[str]]]]:
        async with self.db.session() as s:
            rows = await s.execute(
                select(Outbox)
                .where(col(Outbox.person_id) == self.people[name])
                .order_by(col(Outbox.id))
            )
            return [(r.text_key or "", r.choices) for r in rows.scalars()]

    async def invariants(self) -> dict[str, bool]:
        async with self.db.session() as s:
            return await check_invariants(s)


@pytest.fixture
async def world(db: Database, clock: FakeClock) -> World:
    return await World(db, clock).setup("王", "李", "张", "赵", "banned")


async def test_places_then_the_waitlist_in_order(world: World) -> None:
    slot = await world.slot(2)
    for name in ("王", "李", "张", "赵"):
        await world.sign_up(slot, name)
    assert await world.status(slot) == {
        "王": "booked",
        "李": "booked",
        "张": "waiting",
        "赵": "waiting",
    }
    async with world.db.session() as s:
        again = await sign_up(s, slot, world.people["赵"], world.clock())
        assert again.already and again.position == 2
    assert all((await world.invariants()).values())


async def test_a_cancel_offers_the_place_to_the_first_waiting_only(world: World) -> None:
    slot = await world.slot(1, claim_minutes=10)
    for name in ("王", "李", "张"):
        await world.sign_up(slot, name)
    first = await world.sign_up(slot, "王")
    async with world.db.session() as s:
        await cancel(s, first.id or 0, world.people["王"], world.clock())
    assert await world.status(slot) == {"王": "cancelled", "李": "offered", "张": "waiting"}
    offers = [m for m in await world.messages("李") if m[0] == "signup.offer"]
    assert offers and [c[1].split(":")[1] for c in offers[0][1]] == ["claim", "pass"]
    assert not [m for m in await world.messages("张") if m[0] == "signup.offer"]
    assert all((await world.invariants()).values())


async def test_claiming_an_offer_books_it(world: World) -> None:
    slot = await world.slot(1)
    await world.sign_up(slot, "王")
    li = await world.sign_up(slot, "李")
    async with world.db.session() as s:
        await cancel(
            s, (await world.sign_up(slot, "王")).id or 0, world.people["王"], world.clock()
        )
    async with world.db.session() as s:
        await claim_offer(s, li.id or 0, world.people["李"], world.clock())
    assert (await world.status(slot))["李"] == "booked"


async def test_declined_and_expired_offers_pass_down_the_queue(world: World) -> None:
    slot = await world.slot(1, claim_minutes=10)
    wang = await world.sign_up(slot, "王")
    li = await world.sign_up(slot, "李")
    zhang = await world.sign_up(slot, "张")
    await world.sign_up(slot, "赵")
    async with world.db.session() as s:
        await cancel(s, wang.id or 0, world.people["王"], world.clock())
    async with world.db.session() as s:
        await decline_offer(s, li.id or 0, world.people["李"], world.clock())
    assert (await world.status(slot))["张"] == "offered"
    world.clock.advance(minutes=9)
    async with world.db.session() as s:
        assert await expire_offers(s, world.clock()) == 0
    world.clock.advance(minutes=2)
    async with world.db.session() as s:
        assert await expire_offers(s, world.clock()) == 1
    assert await world.status(slot) == {
        "王": "cancelled",
        "李": "passed",
        "张": "passed",
        "赵": "offered",
    }
    assert "signup.offer_expired" in [m[0] for m in await world.messages("张")]
    async with world.db.session() as s:
        with pytest.raises(DomainError) as err:
            await claim_offer(s, zhang.id or 0, world.people["张"], world.clock())
    assert err.value.key == "signup.offer_gone"
    assert all((await world.invariants()).values())


async def test_refusals_change_nothing(world: World) -> None:
    slot = await world.slot(1, max_party=2)
    async with world.db.session() as s:
        with pytest.raises(DomainError) as err:
            await sign_up(s, slot, world.people["王"], world.clock(), party=3)
        assert err.value.key == "signup.party_limit"
    async with world.db.session() as s:
        with pytest.raises(DomainError) as err:
            await sign_up(s, slot, world.people["banned"], world.clock())
        assert err.value.key == "signup.rule_test"
    await world.sign_up(slot, "王")
    async with world.db.session() as s:
        with pytest.raises(DomainError) as err:
            await sign_up(s, slot, world.people["李"], world.clock(), waitlist=False)
        assert err.value.key == "signup.full"
    # someone else's sign-up in a forged button
    wang = await world.sign_up(slot, "王")
    for use_case in (cancel, claim_offer, decline_offer):
        async with world.db.session() as s:
            with pytest.raises(DomainError) as err:
                await use_case(s, wang.id or 0, world.people["李"], world.clock())
            assert err.value.key == "signup.not_found"
    async with world.db.session() as s:
        with pytest.raises(DomainError):
            await check_in(s, wang.id or 0, world.people["李"], world.clock())
    world.clock.advance(hours=49)
    async with world.db.session() as s:
        with pytest.raises(DomainError) as err:
            await sign_up(s, slot, world.people["张"], world.clock())
        assert err.value.key == "signup.past"
    assert await world.status(slot) == {"王": "booked"}


async def test_companions_take_places_and_a_big_party_waits(world: World) -> None:
    slot = await world.slot(3, max_party=3)
    await world.sign_up(slot, "王", party=2)
    await world.sign_up(slot, "李", party=2)  # only one place left: waits
    zhang = await world.sign_up(slot, "张")  # one fits
    assert await world.status(slot) == {"王": "booked", "李": "waiting", "张": "booked"}
    async with world.db.session() as s:
        await cancel(s, zhang.id or 0, world.people["张"], world.clock())
    assert (await world.status(slot))["李"] == "waiting"  # one place is not enough for two
    async with world.db.session() as s:
        await add_capacity(s, slot, 1, world.people[MANAGER], world.clock())
    assert (await world.status(slot))["李"] == "offered"
    assert all((await world.invariants()).values())


async def test_concurrent_sign_ups_for_the_last_place_give_one_booking(world: World) -> None:
    slot = await world.slot(1)
    names = ["王", "李", "张", "赵"]

    async def one(name: str) -> str:
        async with world.db.session() as s:
            result = await sign_up(s, slot, world.people[name], world.clock())
            return result.signup.status

    statuses = await asyncio.gather(*(one(n) for n in names))
    assert sorted(statuses) == ["booked", "waiting", "waiting", "waiting"]
    assert all((await world.invariants()).values())


async def test_the_same_person_twice_at_once_is_one_sign_up(world: World) -> None:
    slot = await world.slot(5)

    async def one() -> int:
        async with world.db.session() as s:
            return (await sign_up(s, slot, world.people["王"], world.clock())).signup.id or 0

    ids = await asyncio.gather(one(), one(), one())
    assert len(set(ids)) == 1
    assert all((await world.invariants()).values())


async def test_concurrent_cancels_promote_each_place_to_one_person(world: World) -> None:
    slot = await world.slot(2)
    booked = [await world.sign_up(slot, n) for n in ("王", "李")]
    for n in ("张", "赵", "banned2"):
        if n not in world.people:
            await world.person(n)
        await world.sign_up(slot, n)

    async def drop(signup: Signup) -> None:
        async with world.db.session() as s:
            await cancel(s, signup.id or 0, signup.person_id, world.clock())

    await asyncio.gather(*(drop(b) for b in booked))
    status = await world.status(slot)
    assert [status[n] for n in ("张", "赵", "banned2")] == ["offered", "offered", "waiting"]
    assert all((await world.invariants()).values())


async def test_reminders_fire_once_and_never_for_a_cancelled_sign_up(world: World) -> None:
    slot = await world.slot(2, in_hours=30)
    wang = await world.sign_up(slot, "王")
    li = await world.sign_up(slot, "李")
    async with world.db.session() as s:
        await cancel(s, li.id or 0, world.people["李"], world.clock())
    world.clock.advance(hours=6, minutes=1)  # the day-before reminder is due
    for expected in (1, 0):
        async with world.db.session() as s:
            assert await fire_signup_reminders(s, world.clock()) == expected
    reminders = [m for m in await world.messages("王") if m[0] == "signup.reminder"]
    assert len(reminders) == 1
    assert [c[1] for c in reminders[0][1]] == [f"su:go:{wang.id}", f"su:cancel:{wang.id}"]
    assert not [m for m in await world.messages("李") if m[0] == "signup.reminder"]
    async with world.db.session() as s:
        statuses = (await s.execute(select(SignupReminder.status))).scalars().all()
    assert sorted(statuses) == ["pending", "pending", "sent", "skipped"]


async def test_check_in_by_tap_and_by_code_then_no_shows(world: World) -> None:
    AFTER.clear()
    slot = await world.slot(3, in_hours=0.5)
    wang = await world.sign_up(slot, "王")
    li = await world.sign_up(slot, "李")
    await world.sign_up(slot, "张")
    manager = world.people[MANAGER]
    async with world.db.session() as s:
        await check_in(s, wang.id or 0, manager, world.clock())
        await check_in_by_code(s, slot, li.code, manager, world.clock())
        with pytest.raises(DomainError) as err:
            await check_in_by_code(s, slot, "0000", manager, world.clock())
        assert err.value.key == "signup.bad_code"
    world.clock.advance(hours=1)
    async with world.db.session() as s:
        assert await close_ended_slots(s, world.clock()) == 1
        assert await close_ended_slots(s, world.clock()) == 0
    assert await world.status(slot) == {"王": "checked_in", "李": "checked_in", "张": "no_show"}
    assert AFTER == [(slot, [world.people["王"], world.people["李"]])]
    async with world.db.session() as s:
        since = world.clock() - timedelta(days=14)
        assert await no_shows_since(s, world.people["张"], "test", since) == 1


async def test_a_person_checks_in_with_the_slots_code(world: World) -> None:
    slot = await world.slot(3, in_hours=0.5)
    await world.sign_up(slot, "王")
    async with world.db.session() as s:
        code = (await s.get(Slot, slot)).code  # type: ignore[union-attr]
        with pytest.raises(DomainError):
            await check_in_by_code(
                s, slot, code, world.people["李"], world.clock()
            )  # not signed up
        done = await check_in_by_code(s, slot, code, world.people["王"], world.clock())
        assert done.status == SignupStatus.CHECKED_IN


async def test_cancelling_a_slot_tells_everyone_waitlist_included(world: World) -> None:
    slot = await world.slot(1)
    await world.sign_up(slot, "王")
    await world.sign_up(slot, "李")
    async with world.db.session() as s:
        with pytest.raises(DomainError):
            await cancel_slot(s, slot, world.people["王"], world.clock())
    async with world.db.session() as s:
        assert await cancel_slot(s, slot, world.people[MANAGER], world.clock()) == 2
    assert await world.status(slot) == {"王": "cancelled", "李": "cancelled"}
    for name in ("王", "李"):
        assert "signup.cancelled_notice" in [m[0] for m in await world.messages(name)]
    async with world.db.session() as s:
        with pytest.raises(DomainError) as err:
            await sign_up(s, slot, world.people["张"], world.clock())
        assert err.value.key == "signup.slot_cancelled"
        assert await person_signups(s, world.people["王"], world.clock()) == []


async def test_a_late_reminder_says_when_it_was_due(world: World) -> None:
    slot = await world.slot(2, in_hours=30)
    await world.sign_up(slot, "王")
    world.clock.advance(hours=8)  # the service was down when the day-before reminder was due
    async with world.db.session() as s:
        assert await fire_signup_reminders(s, world.clock()) == 1
        row = (
            await s.execute(select(Outbox).where(col(Outbox.text_key) == "signup.reminder_late"))
        ).scalar_one()
    assert row.values["due"] == "03-07 16:00"  # 08:00 UTC (30 h before start minus a day)


async def test_check_in_codes_are_unique_where_they_can_be_typed(world: World) -> None:
    """Two sessions of one point on one day never share a door code, and no two people in them
    share a personal code: the volunteer who types 4821 at the station finds one person."""
    morning = await world.slot(3)  # 10:00 local, owner 1
    later = await world.slot(3, in_hours=48.5)  # 10:30, the same point and day
    next_day = await world.slot(3, in_hours=72)
    async with world.db.session() as s:
        slots = {i: await s.get(Slot, i) for i in (morning, later, next_day)}
    scope = slots[morning].code_scope  # type: ignore[union-attr]
    assert scope == slots[later].code_scope != slots[next_day].code_scope  # type: ignore[union-attr]
    assert slots[morning].code != slots[later].code  # type: ignore[union-attr]
    # Every four-digit code of that day is already someone's (cancelled sign-ups keep theirs):
    # a new sign-up in the later session draws until a code is free — six digits at last.
    now = world.clock()
    async with world.db.session() as s:
        await s.execute(
            insert(Signup),
            [
                {"slot_id": morning, "person_id": world.people["赵"], "party": 1,
                 "status": SignupStatus.CANCELLED, "booked_as": "self", "code": str(code),
                 "code_scope": scope, "created_at": now, "updated_at": now}
                for code in range(1000, 10000)
            ],
        )  # fmt: skip
    wang = await world.sign_up(later, "王")
    assert wang.status == SignupStatus.BOOKED and len(wang.code) == 6
    li = await world.sign_up(next_day, "李")  # another day is another scope: four digits
    assert len(li.code) == 4
    # The database itself refuses a second holder of a code in the scope.
    with pytest.raises(IntegrityError):
        async with world.db.session() as s:
            s.add(
                Signup(slot_id=later, person_id=world.people["张"], status=SignupStatus.CANCELLED,
                       code=wang.code, code_scope=scope, created_at=now, updated_at=now)
            )  # fmt: skip
            await s.flush()
    async with world.db.session() as s:  # the door codes too
        with pytest.raises(IntegrityError):
            async with s.begin_nested():
                moved = await s.get(Slot, later)
                assert moved is not None
                moved.code = slots[morning].code  # type: ignore[union-attr]
                await s.flush()
    assert all((await world.invariants()).values())
