"""Votes: 10,000 eligible households voting on one poll, most of them in its last minute, through
the real dispatch path (`Linli.handle`: inbox dedupe, routing, the button's re-checks, the use
case, one transaction per message), then the close.

    .venv/bin/python -m bench.vote                        # 10,000 households, SQLite
    .venv/bin/python -m bench.vote --database-url postgresql://postgres@127.0.0.1:5432/test_h12
    .venv/bin/python -m bench.vote --smoke                # seconds: 300 households

The electorate: the demo community plus `--voters` generated households, each with a verified
resident and a Telegram account; a fifth of the households have a second member, who also
tries to vote (the household rule refuses), one voter in twenty double-taps (a second vote),
and one in twenty has a second (linked) account pressing at the same moment. The poll is per
household and closes `--minutes` after the first vote; 10 % of the votes are spread over the
time before the last minute, the rest fall in it (message times are the poll's clock, not
the wall's), `--parallel` chats at a time. Then two closes race (as two leader processes
after a failover would): one closes and sends the result chart, the other finds it closed.

The last line is one JSON object: votes per second, p50/p95 latency of a vote (ms), how many
were accepted and refused, and the invariants: no double vote per person or household, the
tally equals the ballots, the ballots equal the households that voted, the close happened once
and sent one result per reachable member of the audience.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import logging
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/vote.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select
from sqlmodel import col

from bench.harness import emit
from bench.scratch import ScratchDatabase
from bot.app import Linli
from bot.config import Settings
from handlers.core import Incoming
from models.db import Database
from models.demo import seed_demo
from models.poll_results import PollDraft, close_due_and_announce, create_poll
from models.polls import Ballot, PollOption, VoterRoll, check_invariants
from models.tables import Building, ChannelAccount, Household, Outbox, Person, Role

T0 = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
MESSAGE_IDS = itertools.count(1)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


async def electorate(db: Database, households: int) -> tuple[int, list[list[str]]]:
    """Generated households with verified residents and Telegram accounts; the poll's id and,
    per household, the chat ids of the accounts that will press (member, member, twin)."""
    rng = random.Random(12)
    async with db.session() as s:
        await seed_demo(s, T0, events=False)
        manager = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        cid, grid = manager.community_id, manager.grid_id
        buildings = []
        for n in range(households // 200 + 1):
            b = Building(community_id=cid, grid_id=grid or 0, estate="压测小区", number=str(n + 1))
            s.add(b)
            buildings.append(b)
        await s.flush()
        first_household = int(
            (await s.execute(select(func.coalesce(func.max(Household.id), 0)))).scalar_one()
        )
        await s.execute(
            insert(Household),
            [
                {"grid_id": grid, "building_id": buildings[i // 200].id, "unit": "1",
                 "room": str(i)}
                for i in range(households)
            ],
        )  # fmt: skip
        people, members = [], []
        for i in range(households):
            count = 2 if rng.random() < 0.2 else 1
            members.append(count)
            for m in range(count):
                people.append({"community_id": cid, "grid_id": grid, "verified": True,
                               "household_id": first_household + 1 + i,
                               "name": f"居民{i}-{m}", "created_at": T0})  # fmt: skip
        first_person = int(
            (await s.execute(select(func.coalesce(func.max(Person.id), 0)))).scalar_one()
        )
        await s.execute(insert(Person), people)
        accounts, chats = [], []
        pid = first_person
        for count in members:
            household_chats = []
            for m in range(count):
                pid += 1
                chat = f"{900_000_000 + pid}"
                accounts.append(_account(chat, pid))
                household_chats.append(chat)
                if m == 0 and rng.random() < 0.05:  # the same person on a second, linked app
                    twin = f"{800_000_000 + pid}"
                    accounts.append(_account(twin, pid))
                    household_chats.append("twin:" + twin)
            chats.append(household_chats)
        await s.execute(insert(ChannelAccount), accounts)
        poll = await create_poll(
            s,
            PollDraft("压测：外墙选哪一款？", [("方案一", None), ("方案二", None), ("方案三", None)],
                      T0 + timedelta(minutes=10), per_household=True, remind=False),
            manager,
            frozenset({(Role.MANAGER, None)}),
            T0,
        )  # fmt: skip
        return poll.id or 0, chats


def _account(chat: str, person_id: int) -> dict[str, Any]:
    return {"channel": "telegram", "external_id": chat, "chat_id": chat, "person_id": person_id,
            "locale": "zh", "created_at": T0, "last_seen_at": T0}  # fmt: skip


def schedule(chats: list[list[str]], options: list[int], minutes: int) -> list[tuple[datetime, list[Incoming]]]:  # fmt: skip
    """The presses in time order: (when, the presses at that moment: one, or a twin pair)."""
    rng = random.Random(7)
    close = T0 + timedelta(minutes=minutes)
    events: list[tuple[datetime, list[Incoming]]] = []

    def press(chat: str, option: int, at: datetime) -> Incoming:
        return Incoming(channel="telegram", chat_id=chat, user_id=chat,
                        payload=f"poll:vote:{{poll}}:{option}", message_id=f"v{next(MESSAGE_IDS)}",
                        received_at=at)  # fmt: skip

    for household in chats:
        early = rng.random() < 0.1
        window = (minutes - 1) * 60 if early else 59
        base = T0 if early else close - timedelta(minutes=1)
        at = base + timedelta(seconds=rng.uniform(0, window))
        option = rng.choice(options)
        first, *rest = household
        twins = [c.removeprefix("twin:") for c in rest if c.startswith("twin:")]
        others = [c for c in rest if not c.startswith("twin:")]
        events.append((at, [press(first, option, at), *(press(t, rng.choice(options), at)
                                                         for t in twins)]))  # fmt: skip
        if rng.random() < 0.05:  # a double tap
            events.append((at + timedelta(seconds=0.5), [press(first, option, at)]))
        for other in others:  # the second member of the household tries too
            later = min(at + timedelta(seconds=rng.uniform(1, 30)), close - timedelta(seconds=1))
            events.append((later, [press(other, rng.choice(options), later)]))
    events.sort(key=lambda e: e[0])
    return events


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    try:
        poll, chats = await electorate(db, args.voters)
        async with db.session() as s:
            options = list(
                (await s.execute(select(col(PollOption.id)).where(col(PollOption.poll_id) == poll)))
                .scalars()
            )  # fmt: skip
        settings = Settings(_env_file=None, database_url=url, telegram_token="123:vote")  # type: ignore[call-arg]
        linli = Linli(settings, db=db, clock=lambda: T0)
        events = schedule(chats, options, args.minutes)
        latencies: list[float] = []
        outcomes = {"accepted": 0, "household_refused": 0, "already_voted": 0, "other": 0}
        gate = asyncio.Semaphore(args.parallel)

        async def one(inc: Incoming) -> None:
            inc = dataclasses.replace(inc, payload=str(inc.payload).replace("{poll}", str(poll)))
            async with gate:
                started = time.perf_counter()
                replies = await linli.handle(inc)
                latencies.append((time.perf_counter() - started) * 1000)
            text = " ".join(r.text for r in replies)
            if "投票成功" in text:
                outcomes["accepted"] += 1
            elif "您家已由" in text:
                outcomes["household_refused"] += 1
            elif "您已投过" in text:
                outcomes["already_voted"] += 1
            else:
                outcomes["other"] += 1

        # The minute before the last is warm-up-free on purpose: the rush is what is measured.
        wall0 = time.perf_counter()
        cpu0 = time.process_time()
        pending: set[asyncio.Task[None]] = set()
        for _at, presses in events:
            for inc in presses:  # a twin pair is pressed at the same moment
                task = asyncio.create_task(one(inc))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if len(pending) >= args.parallel * 2:
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pending)
        seconds = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        presses = sum(len(p) for _, p in events)

        # Two closes at once (a failover's second leader): one closes and announces.
        after = T0 + timedelta(minutes=args.minutes, seconds=1)

        async def close() -> list[int]:
            async with db.session() as s:
                return await close_due_and_announce(s, after)

        close0 = time.perf_counter()
        closes = await asyncio.gather(close(), close(), return_exceptions=True)
        close_s = time.perf_counter() - close0
        closed = [c for c in closes if isinstance(c, list) and c]
        async with db.session() as s:
            inv = await check_invariants(s, poll)
            ballots = int(
                (
                    await s.execute(select(func.count()).where(col(Ballot.poll_id) == poll))
                ).scalar_one()
            )
            distinct = int(
                (
                    await s.execute(
                        select(func.count(func.distinct(Ballot.voter_key))).where(
                            col(Ballot.poll_id) == poll
                        )
                    )
                ).scalar_one()
            )
            roll_people = int(
                (
                    await s.execute(
                        select(func.count(func.distinct(VoterRoll.person_id))).where(
                            col(VoterRoll.poll_id) == poll
                        )
                    )
                ).scalar_one()
            )
            results = int(
                (
                    await s.execute(select(func.count()).where(col(Outbox.kind) == "poll_result"))
                ).scalar_one()
            )
            reachable = int(
                (
                    await s.execute(
                        select(func.count(func.distinct(ChannelAccount.person_id))).where(
                            col(ChannelAccount.person_id).is_not(None)
                        )
                    )
                ).scalar_one()
            )
        return {
            "households": args.voters,
            "presses": presses,
            "seconds": round(seconds, 2),
            "votes_per_s": round(presses / seconds, 1) if seconds else 0.0,
            "cpu_ms_per_vote": round(1000 * cpu / presses, 2) if presses else 0.0,
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "outcomes": outcomes,
            "close_s": round(close_s, 2),
            "results_sent": results,
            "invariants": {
                **inv,
                "no_double_vote_per_household": distinct == ballots,
                "every_household_voted_once": ballots == args.voters == outcomes["accepted"],
                "one_roll_row_per_voter": roll_people == ballots,
                "every_press_answered": sum(outcomes.values()) == presses and not outcomes["other"],
                "close_happened_once": len(closed) == 1
                and not any(isinstance(c, BaseException) for c in closes),
                "result_to_every_reachable_member": results == reachable,
            },
        }
    finally:
        await db.dispose()


def build_parser() -> argparse.ArgumentParser:
    """The command line (bench.harness finds the options here)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--voters", type=int, default=10_000, help="eligible households")
    p.add_argument("--minutes", type=int, default=10, help="the poll is open this long")
    p.add_argument("--parallel", type=int, default=16, help="votes in flight at once")
    p.add_argument("--database-url", default=None, help="PostgreSQL (or a new SQLite file)")
    p.add_argument("--smoke", action="store_true", help="a few seconds: 300 households")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.voters, args.parallel = 300, 8
    logging.basicConfig(level=logging.WARNING)
    database = ScratchDatabase(args.database_url, tmp_prefix="linli-vote-")
    database.prepare()
    try:
        figures = asyncio.run(run(database.url, args))
    finally:
        database.cleanup()
    print(
        f"{figures['presses']} presses ({figures['households']} households) in "
        f"{figures['seconds']} s = {figures['votes_per_s']}/s, p95 {figures['p95_ms']} ms; "
        f"{figures['outcomes']}; close {figures['close_s']} s, {figures['results_sent']} results",
        flush=True,
    )
    return emit({"bench": "vote", "database": database.kind, **figures})


if __name__ == "__main__":
    sys.exit(main())
