"""Booking under a rush: 1,000 residents race for 200 places in 10 sessions, then cancellations
promote the waitlist — through the real dispatch path (`Linli.handle`, as a pressed Telegram
button arrives), on SQLite or PostgreSQL.

Phases: (1) every resident taps "book" on one session (100 per session, 20 places: 80 wait),
some tap twice at the same moment; (2) a quarter of the booked cancel at once: each freed place
is offered to one waiting person; (3) the offered claim their places. After each phase the
engine's promises are checked over the whole table. The last line is one JSON object
(`"bench": "booking"`): bookings per second, latency p50/p95, and the invariants.
Run from the project root: `python -m bench.booking`; `python -m bench.booking --smoke` is
100 residents for 20 places.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/booking.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select
from sqlmodel import col

from bench.harness import emit
from bench.scratch import ScratchDatabase
from bot.app import Linli
from bot.config import Settings
from handlers.core import Incoming
from models.bookings import KIND, ServicePoint
from models.db import Database, utcnow
from models.signups import Signup, Slot, check_invariants, create_slot
from models.tables import ChannelAccount, Community, Person, Street

FULL = {"residents": 1000, "sessions": 10, "places": 20, "parallel": 50}
SMOKE = {"residents": 100, "sessions": 10, "places": 2, "parallel": 10}
FIRST_USER = 800_000_001
MESSAGE_IDS = itertools.count(1)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


async def seed(db: Database, residents: int, sessions: int, places: int) -> list[int]:
    """A community, a service point with `sessions` sessions, residents with Telegram accounts."""
    now = utcnow()
    async with db.session() as s:
        street = Street(name="基准街道")
        s.add(street)
        await s.flush()
        community = Community(street_id=street.id or 0, name="基准社区")
        s.add(community)
        await s.flush()
        cid = community.id or 0
        point = ServicePoint(
            community_id=cid, key="haircut", name="志愿理发", place="惠泽苑七彩微阵地",
            capacity=places, no_show_limit=None, created_at=now,
        )  # fmt: skip
        s.add(point)
        await s.flush()
        slots = []
        for n in range(sessions):
            start = (now + timedelta(days=2, minutes=30 * n)).replace(second=0, microsecond=0)
            slot = await create_slot(
                s, community_id=cid, kind=KIND, owner_id=point.id or 0, starts_at=start,
                ends_at=start + timedelta(minutes=30), capacity=places, now=now,
            )  # fmt: skip
            slots.append(slot.id or 0)
        people = [
            Person(community_id=cid, name=f"居民{i}", verified=True) for i in range(residents)
        ]
        s.add_all(people)
        await s.flush()
        s.add_all(
            ChannelAccount(
                channel="telegram",
                external_id=str(FIRST_USER + i),
                chat_id=str(FIRST_USER + i),
                person_id=p.id,
            )
            for i, p in enumerate(people)
        )
    return slots


async def press(linli: Linli, user: int, payload: str, latencies: list[float]) -> str:
    """One button press as Telegram delivers it; the answer's text."""
    inc = Incoming(
        "telegram", str(user), str(user), payload=payload, message_id=f"b-{next(MESSAGE_IDS)}"
    )
    started = time.perf_counter()
    replies = await linli.handle(inc)
    latencies.append((time.perf_counter() - started) * 1000)
    return "\n".join(r.text for r in replies)


async def in_parallel(jobs: list[Any], parallel: int) -> list[str]:
    """Run the coroutines, at most `parallel` at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(job: Any) -> str:
        async with gate:
            return str(await job)

    return await asyncio.gather(*(one(j) for j in jobs))


async def signups_by(db: Database, status: str) -> dict[int, list[Signup]]:
    async with db.session() as s:
        rows = await s.execute(
            select(Signup)
            .where(col(Signup.status) == status)
            .order_by(col(Signup.created_at), col(Signup.id))
        )
        out: dict[int, list[Signup]] = {}
        for signup in rows.scalars():
            out.setdefault(signup.slot_id, []).append(signup)
        return out


async def engine_checks(db: Database) -> dict[str, bool]:
    async with db.session() as s:
        checks = await check_invariants(s)
        over = await s.execute(
            select(func.count()).select_from(Slot).where(col(Slot.held) > col(Slot.capacity))
        )
        checks["no_session_over_capacity"] = over.scalar_one() == 0
    return checks


async def run(url: str, sizes: dict[str, int]) -> dict[str, Any]:
    db = Database(url)
    try:
        slots = await seed(db, sizes["residents"], sizes["sessions"], sizes["places"])
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            telegram_token="123:booking",
            telegram_webhook_url=None,
        )
        linli = Linli(settings, db=db)
        users = [FIRST_USER + i for i in range(sizes["residents"])]
        parallel = sizes["parallel"]

        # 1. The rush: everyone taps one session; every tenth resident taps twice at once.
        book_ms: list[float] = []
        jobs = []
        for i, user in enumerate(users):
            payload = f"bk:go:{slots[i % len(slots)]}"
            jobs.append(press(linli, user, payload, book_ms))
            if i % 10 == 0:
                jobs.append(press(linli, user, payload, book_ms))
        wall0 = time.perf_counter()
        answers = await in_parallel(jobs, parallel)
        rush_s = time.perf_counter() - wall0
        booked = await signups_by(db, "booked")
        waiting = await signups_by(db, "waiting")
        after_rush = await engine_checks(db)
        places = sizes["sessions"] * sizes["places"]
        full = sum(len(v) for v in booked.values()) == places

        # 2. A quarter of each session's booked cancel at the same moment.
        cancel_ms: list[float] = []
        account = {p: FIRST_USER + i for i, p in enumerate(await person_ids(db))}
        leaving = {slot: rows[: max(1, len(rows) // 4)] for slot, rows in booked.items()}
        jobs = [
            press(linli, account[s.person_id], f"su:cancel:{s.id}", cancel_ms)
            for rows in leaving.values()
            for s in rows
        ]
        await in_parallel(jobs, parallel)
        offered = await signups_by(db, "offered")
        first_in_queue = all(
            [o.id for o in offered.get(slot, [])]
            == [w.id for w in waiting.get(slot, [])][: len(rows)]
            for slot, rows in leaving.items()
        )
        one_offer_per_freed_place = all(
            len(offered.get(slot, [])) == min(len(rows), len(waiting.get(slot, [])))
            for slot, rows in leaving.items()
        )
        after_cancel = await engine_checks(db)

        # 3. The offered claim their places.
        claim_ms: list[float] = []
        jobs = [
            press(linli, account[o.person_id], f"su:claim:{o.id}", claim_ms)
            for rows in offered.values()
            for o in rows
        ]
        claims = await in_parallel(jobs, parallel)
        booked_after = await signups_by(db, "booked")
        after_claim = await engine_checks(db)
        refilled = sum(len(v) for v in booked_after.values()) == places
    finally:
        await db.dispose()
    invariants = {
        "every_tap_answered": all(answers) and all(claims),
        "sessions_filled": full,
        "no_session_over_capacity": all(
            c["no_session_over_capacity"] for c in (after_rush, after_cancel, after_claim)
        ),
        "nobody_booked_twice": all(
            c["nobody_twice"] for c in (after_rush, after_cancel, after_claim)
        ),
        "held_matches_signups": all(
            c["held_matches_signups"] for c in (after_rush, after_cancel, after_claim)
        ),
        "each_freed_place_offered_to_exactly_one": one_offer_per_freed_place,
        "offers_go_first_in_queue": first_in_queue,
        "claims_refill_every_place": refilled,
    }
    taps = len(book_ms)
    return {
        "bench": "booking",
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        **sizes,
        "taps": taps,
        "bookings": places,
        "waiting": sum(len(v) for v in waiting.values()),
        "cancelled": sum(len(v) for v in leaving.values()),
        "promoted": sum(len(v) for v in offered.values()),
        "bookings_per_s": round(taps / rush_s, 1) if rush_s else 0.0,
        "p50_ms": round(percentile(book_ms, 50), 1),
        "p95_ms": round(percentile(book_ms, 95), 1),
        "cancel_p95_ms": round(percentile(cancel_ms, 95), 1),
        "claim_p95_ms": round(percentile(claim_ms, 95), 1),
        "invariants": invariants,
    }


async def person_ids(db: Database) -> list[int]:
    async with db.session() as s:
        rows = await s.execute(select(Person.id).order_by(col(Person.id)))
        return [int(i) for i in rows.scalars()]


def build_parser() -> argparse.ArgumentParser:
    """The command line (bench.harness finds the options here)."""
    p = argparse.ArgumentParser(
        prog="python -m bench.booking", description=(__doc__ or "").split("\n\n")[0]
    )
    p.add_argument("--residents", type=int, default=FULL["residents"])
    p.add_argument("--sessions", type=int, default=FULL["sessions"])
    p.add_argument("--places", type=int, default=FULL["places"], help="places per session")
    p.add_argument("--parallel", type=int, default=FULL["parallel"], help="taps at once")
    p.add_argument("--database-url", default=None, help="PostgreSQL (or a new SQLite file)")
    p.add_argument("--smoke", action="store_true", help="100 residents for 20 places")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sizes = dict(SMOKE) if args.smoke else {
        "residents": args.residents, "sessions": args.sessions, "places": args.places,
        "parallel": args.parallel,
    }  # fmt: skip
    database = ScratchDatabase(args.database_url, tmp_prefix="linli-bench-booking-")
    database.prepare()
    try:
        result = asyncio.run(run(database.url, sizes))
    finally:
        database.cleanup()
    print(
        f"{result['taps']} taps for {result['bookings']} places in {sizes['sessions']} sessions "
        f"({result['database']}): {result['bookings_per_s']}/s, p95 {result['p95_ms']} ms; "
        f"{result['cancelled']} cancelled, {result['promoted']} promoted",
        flush=True,
    )
    return emit(result)


if __name__ == "__main__":
    sys.exit(main())
