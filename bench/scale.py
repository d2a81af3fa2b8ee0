"""Scale: the same messages and clock ticks against generated districts of several sizes.

    .venv/bin/python -m bench.scale                                # 1,000 and 100,000 residents
    .venv/bin/python -m bench.scale --residents 1000,100000,1000000 --messages 3000
    .venv/bin/python -m bench.scale --database-url postgresql://postgres@127.0.0.1:5432/test_h13
    .venv/bin/python -m bench.scale --smoke                        # seconds: 1,000 residents

For each size: a fresh database (bench/scratch.py: a temporary SQLite file, or the PostgreSQL
database given, left as found), `models.scale.seed` (timed; `ANALYZE` on PostgreSQL), then

1. messages: `--chats` residents at a time, each saying the lines of a script (start, help, a
   report begun and cancelled, "my cases", a benefit question, language switches) through
   `Linli.handle` in this process (no Telegram stack: the bot's own work per message);
   rate, p50/p95 and CPU per message;
2. the clock's jobs once each (reminders, sign-ups, notices, cases = escalation + hours credit,
   progress, housekeeping, the daily outreach scan), wall and CPU seconds; the cases tick
   again until it has nothing to do (`cases_backlog`: ticks, the slowest); then every job
   once more (`jobs_again`: an ordinary tick);
3. every statement of 1 and 2 explained as the planner really chooses at this size
   (tests/plans.py): the large tables read in full;
4. the RSS of this process after the messages and after the jobs.

The last line is one JSON object: {"bench": "scale", "database", "sizes": [...],
"cpu_ratio_largest_smallest", "invariants": {...}}; the exit status is 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/scale.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bench.harness import emit
from bench.scratch import ScratchDatabase
from bot.app import Linli
from bot.config import Settings
from handlers.core import Incoming
from models.benefits import load_catalogue
from models.db import Database, utcnow
from models.scale import seed
from scheduler import jobs
from tests.plans import Plan, explain, recording

SCRIPT = (
    "/start",
    "帮助",
    "楼道里堆满了杂物",
    "/cancel",
    "我的事项",
    "我能领尊老金吗",
    "/cancel",
    "English",
    "help",
    "中文",
)


MESSAGE_IDS = itertools.count(1)  # unique across the warm-up and the measured run


def rss_mb() -> float:
    """This process's resident set now, in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return round(pages * resource.getpagesize() / 1e6, 1)


async def messages(linli: Linli, chats: list[str], total: int, parallel: int) -> dict[str, Any]:
    """`total` messages from `parallel` chats at a time (each waits for its answer)."""
    latencies: list[float] = []
    unanswered = 0
    per_chat = max(1, total // max(1, min(parallel, len(chats))))

    async def resident(chat: str) -> None:
        nonlocal unanswered
        for n in range(per_chat):
            started = time.perf_counter()
            inc = Incoming(
                "telegram",
                chat,
                chat,
                text=SCRIPT[n % len(SCRIPT)],
                message_id=f"scale-{next(MESSAGE_IDS)}",
            )
            replies = await linli.handle(inc)
            latencies.append(time.perf_counter() - started)
            unanswered += not replies

    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(resident(c) for c in chats[:parallel]))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = len(latencies)
    latencies.sort()
    return {
        "messages": n,
        "unanswered": unanswered,
        "rate": round(n / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[int(n * 0.95) - 1] * 1000, 2),
        "cpu_ms_per_message": round(cpu / n * 1000, 3),
    }


async def clock_jobs(db: Database, outreach: bool = True) -> dict[str, dict[str, float]]:
    """Each of the clock's jobs once: wall and CPU seconds."""
    programmes = load_catalogue()
    runs = {
        "reminders": lambda: jobs.reminders(db),
        "signups": lambda: jobs.signups(db),
        "notices": lambda: jobs.notices(db),
        "cases": lambda: jobs.cases(db),
        "progress": lambda: jobs.progress(db),
        "housekeeping": lambda: jobs.housekeeping(db, retention_days=7),
        "outreach": lambda: jobs.eligibility(db, programmes),
    }
    if not outreach:
        del runs["outreach"]
    out: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await run()
        out[name] = {
            "wall_s": round(time.perf_counter() - wall0, 3),
            "cpu_s": round(time.process_time() - cpu0, 3),
        }
    return out


async def cases_until_caught_up(db: Database, most: int = 100) -> dict[str, float]:
    """The cases tick again and again until one has nothing to do (a backlog is worked off
    `jobs.CASES_PER_TICK` rungs a tick): how many ticks it took and the slowest of them."""
    ticks, walls, cpus = 0, [0.0], [0.0]
    for _ in range(most):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        done = await jobs.cases(db)
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
        ticks += 1
        if not done:
            break
    return {
        "ticks": ticks,
        "slowest_wall_s": round(max(walls), 3),
        "slowest_cpu_s": round(max(cpus), 3),
        "total_wall_s": round(sum(walls), 3),
    }


BIG = 10_000


async def big_scans(db: Database, plans: list[Plan]) -> list[str]:
    """The tables read in full by some plan that hold at least BIG rows, as "table (rows)"."""
    out = []
    for table in sorted({t for p in plans for t in p.scans}):
        async with db.session() as s:
            rows = (await s.execute(text(f'SELECT COUNT(*) FROM "{table}"'))).scalar_one()
        if rows >= BIG:
            out.append(f"{table} ({rows})")
    return out


async def one_size(url: str, residents: int, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, analyse, message, tick, explain: the figures of one size."""
    db = Database(url)
    try:
        wall0 = time.perf_counter()
        # The benchmark's own scratch database: the fast load settings; ANALYZE on PostgreSQL.
        made = await seed(
            db,
            residents=residents,
            now=utcnow(),
            scratch=True,
            outbox_months=args.outbox_months,
        )
        seed_s = time.perf_counter() - wall0
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            telegram_token="123:scale",
            telegram_webhook_url=None,
        )
        linli = Linli(settings, db=db)
        chats = made.telegram_chats
        # An unmeasured warm-up (caches of SQLAlchemy, the catalogs, the planner) by other chats.
        await messages(linli, chats[-args.chats :], min(200, args.messages), args.chats)
        rss_before = rss_mb()
        with recording(db) as hot:
            measured = await messages(linli, chats, args.messages, args.chats)
        rss_after_messages = rss_mb()
        with recording(db) as ticks:
            timed = await clock_jobs(db, outreach=not args.no_outreach)
        # The cases tick works a backlog off a bounded number of rungs a tick.
        backlog = await cases_until_caught_up(db)
        rss_after_jobs = rss_mb()
        # The first ticks work off what the generator left (every overdue report escalated,
        # everyone of age approached); the second is a tick of an ordinary day.
        again = await clock_jobs(db, outreach=not args.no_outreach)
        # A table the planner rightly reads whole because it is small here (an empty reminder
        # table, the few flows of the chats that talked) is not counted: only BIG rows or more.
        hot_scans = await big_scans(db, await explain(db, hot, force_index=False))
        tick_scans = await big_scans(db, await explain(db, ticks, force_index=False))
        return {
            "residents": residents,
            "rows": made.rows,
            "seed_s": round(seed_s, 1),
            "seed_phases_s": made.seconds,
            **measured,
            "jobs": timed,
            "cases_backlog": backlog,
            "jobs_again": again,
            "hot_path_full_scans": hot_scans,
            "clock_full_scans": tick_scans,
            "rss_mb": {
                "before_messages": rss_before,
                "after_messages": rss_after_messages,
                "after_jobs": rss_after_jobs,
            },
        }
    finally:
        await db.dispose()


def build_parser() -> argparse.ArgumentParser:
    """The command line (bench.harness finds the options here)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--residents", default="1000,100000", help="sizes, comma-separated")
    p.add_argument("--messages", type=int, default=2000, help="measured messages per size")
    p.add_argument("--chats", type=int, default=16, help="residents talking at once")
    p.add_argument("--outbox-months", type=int, default=1, help="months of delivered outbox rows")
    p.add_argument("--database-url", default=None, help="PostgreSQL (or a new SQLite file)")
    p.add_argument(
        "--no-outreach",
        action="store_true",
        help="skip the daily outreach scan (minutes at 100,000)",
    )
    p.add_argument("--smoke", action="store_true", help="a few seconds: 1,000 residents")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, with --smoke applied and the sizes read."""
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.residents, args.messages, args.chats = "1000", 60, 4
    args.sizes = [int(s) for s in str(args.residents).split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sizes: list[dict[str, Any]] = []
    kind = "sqlite"
    for residents in args.sizes:
        database = ScratchDatabase(args.database_url, tmp_prefix="linli-scale-")
        kind = database.kind
        database.prepare()
        try:
            figures = asyncio.run(one_size(database.url, residents, args))
        finally:
            database.cleanup()
        print(json.dumps(figures, ensure_ascii=False), flush=True)
        sizes.append(figures)
    small, large = sizes[0], sizes[-1]
    result = {
        "bench": "scale",
        "database": kind,
        "sizes": [{k: v for k, v in s.items() if k not in ("rows",)} for s in sizes],
        "cpu_ratio_largest_smallest": round(
            large["cpu_ms_per_message"] / small["cpu_ms_per_message"], 3
        ),
        "p50_ratio_largest_smallest": round(large["p50_ms"] / small["p50_ms"], 3),
        "invariants": {
            "every_message_answered": all(s["unanswered"] == 0 for s in sizes),
            "no_full_scan_on_the_hot_path": all(not s["hot_path_full_scans"] for s in sizes),
            "every_size_generated": all(s["rows"].get("person") == s["residents"] for s in sizes),
        },
    }
    return emit(result)


if __name__ == "__main__":
    sys.exit(main())
