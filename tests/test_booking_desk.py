"""Who may book for whom (代办), and a session of another community refused by `book`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models.booking_demo import seed_demo_bookings
from models.booking_desk import proxy_role
from models.bookings import KIND, ServicePoint, book
from models.db import Database
from models.errors import DomainError
from models.signups import create_slot
from models.tables import Community, Person, Role, Street
from tests.conftest import FakeClock

LEQING, LEMEI = 1, 2


def _p(pid: int, grid: int, household: int | None, community: int = 1) -> Person:
    return Person(
        id=pid, community_id=community, grid_id=grid, household_id=household, name=str(pid)
    )


def test_who_may_book_for_whom() -> None:
    resident = _p(1, LEQING, 10)
    none: frozenset[tuple[str, int | None]] = frozenset()
    assert proxy_role(_p(2, LEMEI, 10), none, resident) == "family"  # same household
    assert (
        proxy_role(_p(3, LEQING, 11), frozenset({(Role.GRID_LEADER, LEQING)}), resident)
        == "grid_leader"
    )
    assert (
        proxy_role(_p(4, LEQING, 12), frozenset({(Role.VOLUNTEER, LEQING)}), resident)
        == "volunteer"
    )
    assert proxy_role(_p(5, LEMEI, 13), frozenset({(Role.MANAGER, None)}), resident) == "manager"
    assert proxy_role(_p(6, LEMEI, 14), frozenset({(Role.GRID_LEADER, LEMEI)}), resident) is None
    assert proxy_role(_p(7, LEQING, 15), none, resident) is None  # a neighbour, no role
    assert proxy_role(resident, frozenset({(Role.MANAGER, None)}), resident) is None  # oneself
    stranger = _p(8, LEQING, 10, community=2)  # same household number, another community
    assert proxy_role(stranger, frozenset({(Role.MANAGER, None)}), resident) is None


async def test_a_session_of_another_community_is_not_found(
    demo: Database, clock: FakeClock
) -> None:
    async with demo.session() as s:
        await seed_demo_bookings(s, clock())
        street = Street(name="别的街道")
        s.add(street)
        await s.flush()
        other = Community(street_id=street.id or 0, name="别的社区")
        s.add(other)
        await s.flush()
        point = ServicePoint(community_id=other.id or 0, key="x", name="理发", place="别处")
        s.add(point)
        await s.flush()
        start = clock() + timedelta(days=2)
        slot = await create_slot(
            s, community_id=other.id or 0, kind=KIND, owner_id=point.id or 0, starts_at=start,
            ends_at=start + timedelta(minutes=30), capacity=3, now=clock(),
        )  # fmt: skip
        li = (await s.execute(select(Person).where(Person.name == "李红"))).scalar_one()
        with pytest.raises(DomainError) as refused:
            await book(s, slot.id or 0, li.id or 0, clock())
        assert refused.value.key == "signup.not_found"
        assert slot.held == 0
