"""Broadcast throughput: one notice to N recipients through the real delivery stack, over HTTP.

A run migrates a fresh database (bench/scratch.py: a temporary SQLite file, or the PostgreSQL
database given, which must have no schema or empty tables and is left as found), seeds the demo
community, adds N verified residents each with a Telegram account, then times
`create_notice(...)` for the whole community by the demo manager 刘芳 (one INSERT … SELECT:
`enqueue_s`). The fake Bot API runs in its own process (tests/fakes/limited_server.py) and
enforces the ceiling C per second, one message a second per chat and 20 a minute per group,
answering 429 as Telegram does. A `DeliveryWorker` with a `TelegramSender` over `HTTPXRequest`
then delivers all N + 10 rows (the ten demo people have accounts too). The achieved rate is
measured on the server, from its first to its last successful send.

It prints a summary and, as the last line, one JSON object:
`{"bench": "broadcast", "recipients", "ceiling", "achieved_rate", "ratio", "http_429", "lost",
"duplicates", "enqueue_s", "database", "goal_met", "invariants"}`. With `--enqueue-only` nothing
is sent; the JSON then carries `enqueue_s` (and `enqueue_100k_s` when `--recipients 100000`).

    python -m bench.broadcast --smoke                  # 100 recipients at 100/s (seconds)
    python -m bench.broadcast                          # 10,000 recipients at 300/s (~36 s)
    python -m bench.broadcast --recipients 2000        # quick mode (~10 s)
    python -m bench.broadcast --recipients 1000 --ceiling 30     # Telegram's ceiling (~36 s)
    python -m bench.broadcast --recipients 100000 --enqueue-only
    python -m bench.broadcast --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/broadcast.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import String, cast, event, func, insert, literal, select, text
from sqlmodel import col
from telegram import Bot
from telegram.request import HTTPXRequest

from bench.harness import emit
from bench.scratch import ScratchDatabase
from bot.channels.telegram_channel import TelegramSender
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from handlers.core import Reply
from models.db import Database, utcnow
from models.demo import seed_demo
from models.notices import Audience, Category, create_notice, notice_report
from models.people import active_roles
from models.tables import ChannelAccount, Community, Grid, Outbox, Person
from tests.fakes.limited_server import max_in_window, serve_limited
from tests.fakes.telegram import TOKEN, Limits
from tests.fakes.telegram_server import stop_server

log = logging.getLogger("bench.broadcast")

GOAL_RATIO = 0.95
FULL = {"recipients": 10_000, "ceiling": 300.0}
SMOKE = {"recipients": 100, "ceiling": 100.0}  # 109 rows over ~1 s: the sliding second counts
CHAT_BASE = 800_000_000  # chat id = CHAT_BASE + person id: distinct, private (positive)
INSERT_CHUNK = 5_000
NOTICE_TEXT = (
    "【虹南社区通知】本周六上午9点在社区活动室举办健康讲座，欢迎居民参加。"
    "如需帮助请回复或联系网格长。"
)


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """`items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- the community ----


async def populate(db: Database, recipients: int, now: datetime, analyze: bool) -> int:
    """Demo community + `recipients` verified residents, everyone with a Telegram account."""
    async with db.session() as s:
        await seed_demo(s, now)
    async with db.session() as s:
        cid = (await s.execute(select(col(Community.id)))).scalar_one()
        grids = list((await s.execute(select(col(Grid.id)).order_by(col(Grid.id)))).scalars())
        rows = [
            {
                "community_id": cid,
                "grid_id": grids[i % len(grids)],
                "household_id": None,
                "name": f"居民{i:06d}",
                "phone": None,
                "birth_date": None,
                "locale": "zh",
                "verified": True,
                "verified_by_id": None,
                "verified_at": now,
                "created_at": now,
            }
            for i in range(recipients)
        ]
        for part in chunks(rows, INSERT_CHUNK):
            await s.execute(insert(Person), part)
        ts_type = ChannelAccount.__table__.c.created_at.type  # type: ignore[attr-defined]
        chat = cast(col(Person.id) + CHAT_BASE, String)
        accounts = select(
            literal("telegram"),
            chat,
            chat,
            col(Person.id),
            literal(now, type_=ts_type),
            literal(now, type_=ts_type),
        ).where(col(Person.community_id) == cid)
        columns = ["channel", "external_id", "chat_id", "person_id", "created_at", "last_seen_at"]
        await s.execute(insert(ChannelAccount).from_select(columns, accounts))
        linked = (await s.execute(select(func.count()).select_from(ChannelAccount))).scalar_one()
    if analyze:
        async with db.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("ANALYZE"))
    return int(linked)


async def enqueue(db: Database, now: datetime) -> tuple[int, int, float]:
    """Time `create_notice` (committed) for the community by 刘芳: (notice id, rows, seconds)."""
    async with db.session() as s:
        manager = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        roles = await active_roles(s, manager)
    started = time.perf_counter()
    async with db.session() as s:
        notice = await create_notice(
            s,
            manager,
            roles,
            audience=Audience.COMMUNITY,
            arg=None,
            category=Category.GENERAL,
            text=NOTICE_TEXT,
            now=now,
        )
    seconds = time.perf_counter() - started
    assert notice.id is not None
    return notice.id, notice.recipients, seconds


# ---- delivery ----


@dataclass
class SqlCounter:
    """Statements the worker's engine ran, and the time spent inside them."""

    statements: int = 0
    seconds: float = 0.0
    _started: list[float] = field(default_factory=list)

    def attach(self, db: Database) -> None:
        """Listen on the engine's cursor events."""
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(db.engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, *_args: Any) -> None:
        self.statements += 1
        if self._started:
            self.seconds += time.perf_counter() - self._started.pop()


class TimedSender:
    """A TelegramSender that notes when each send starts (the worker's view of the pace).

    With `window` > 0 it also lets at most `window` sends start in any second (an experiment:
    what a sliding-window guard in the worker would do against bursts after a stall).
    """

    def __init__(self, inner: TelegramSender, window: int = 0) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.limits = inner.limits
        self.window = window
        self.starts: list[float] = []
        self.guard_waits = 0

    def is_group(self, chat_id: str) -> bool:
        """As the wrapped sender."""
        return self.inner.is_group(chat_id)

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        """Note the time (after the guard, if any), then send through the wrapped sender."""
        while self.window and len(self.starts) >= self.window:
            wait = self.starts[-self.window] + 1.0 - time.monotonic()
            if wait <= 0:
                break
            self.guard_waits += 1
            await asyncio.sleep(wait)
        self.starts.append(time.monotonic())
        await self.inner.send(chat_id, reply, photo_ref)


async def watch_loop(lags: list[tuple[float, float]], every: float = 0.005) -> None:
    """Record (when, ms late) each `every`-second sleep wakes up, until cancelled."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(every)
        now = time.monotonic()
        lags.append((now, (now - before - every) * 1000))


@dataclass
class Delivery:
    """What the worker did and what the server saw."""

    mode: str
    wall_s: float
    worker_cpu_s: float
    worker_sent: int
    worker_429: int
    server: dict[str, Any]
    by_status: dict[str, int]
    sql: SqlCounter
    client_starts: list[float] = field(default_factory=list)
    loop_lag_ms: list[tuple[float, float]] = field(default_factory=list)
    guard_waits: int = 0
    finished: bool = True  # False: the bench gave up waiting (nothing sent for STALL_S)

    @property
    def achieved_rate(self) -> float:
        """Successful sends per second, the server's first to its last."""
        first, last = self.server["first_success"], self.server["last_success"]
        if first is None or last is None or last <= first:
            return 0.0
        return (self.server["sent"] - 1) / (last - first)


STALL_S = 60.0  # give up when nothing was sent for this long (a busy machine is slow, not stuck)


async def until_delivered(db: Database, worker: DeliveryWorker, notice_id: int) -> bool:
    """Wait until the worker is idle and no row of the notice is pending or leased.

    False when nothing was sent for `STALL_S` seconds (the delivery is stuck: give up).
    """
    progress, since = worker.sent_total, time.perf_counter()
    while True:
        # Idle: everything due is sent and recorded, nothing is queued in the worker (rows
        # still queued would be given back as pending when it stops).
        try:
            await asyncio.wait_for(worker.wait_idle(), 5.0)
        except TimeoutError:
            if worker.sent_total != progress:
                progress, since = worker.sent_total, time.perf_counter()
            elif time.perf_counter() - since > STALL_S:
                log.error("gave up: nothing sent for %.0f s", STALL_S)
                return False
            continue
        async with db.session() as s:
            if (await notice_report(s, notice_id)).pending == 0:
                return True
        await asyncio.sleep(0.1)  # some rows wait for a retry: look again shortly


async def drained(worker: DeliveryWorker) -> bool:
    """`worker.drain()` to its end; False (drain cancelled) when nothing was sent for `STALL_S`."""
    task = asyncio.create_task(worker.drain())
    progress, since = worker.sent_total, time.perf_counter()
    while not task.done():
        await asyncio.wait({task}, timeout=5.0)
        if worker.sent_total != progress:
            progress, since = worker.sent_total, time.perf_counter()
        elif not task.done() and time.perf_counter() - since > STALL_S:
            log.error("gave up: nothing sent for %.0f s", STALL_S)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return False
    await task
    return True


async def deliver(
    db: Database, base_url: str, args: argparse.Namespace, notice_id: int
) -> Delivery:
    """Run a DeliveryWorker over HTTP until the notice's rows are delivered (or it is stuck)."""
    settings = DeliverySettings(
        batch=args.batch,
        concurrency=args.concurrency,
        flush_every=args.flush_every,
        lease=timedelta(seconds=args.lease),
    )
    limits = ChannelLimits(per_second=args.ceiling * args.pace_factor)
    request = HTTPXRequest(
        connection_pool_size=args.concurrency + 8, pool_timeout=30.0, read_timeout=30.0
    )
    bot = Bot(TOKEN, base_url=f"{base_url}/bot", request=request)
    window = int(args.ceiling * args.window_guard) if args.window_guard else 0
    sender = TimedSender(TelegramSender(bot, limits), window)
    worker = DeliveryWorker(db, [sender], settings)
    lags: list[tuple[float, float]] = []
    sql = SqlCounter()
    sql.attach(db)
    profile = cProfile.Profile() if args.profile else None
    async with httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as fake:
        async with bot:  # getMe: not a send, but forget it anyway
            (await fake.post("/_fake/reset")).raise_for_status()
            log.info("objects tracked by the GC: %d", len(gc.get_objects()))
            if args.gc_freeze:
                gc.collect()
                gc.freeze()
            cpu, wall = time.process_time(), time.perf_counter()
            watcher = asyncio.create_task(watch_loop(lags))
            if profile is not None:
                profile.enable()
            finished = True
            try:
                if args.drain:
                    finished = await drained(worker)
                else:
                    stop = asyncio.Event()
                    task = asyncio.create_task(worker.run(stop))
                    finished = await until_delivered(db, worker, notice_id)
                    stop.set()
                    await task
            finally:
                if profile is not None:
                    profile.disable()
                watcher.cancel()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        response = await fake.get("/_fake/stats")
        response.raise_for_status()
        server: dict[str, Any] = response.json()
    if profile is not None:
        profile.dump_stats(args.profile)
    async with db.session() as s:
        counts = await s.execute(
            select(col(Outbox.status), func.count()).group_by(col(Outbox.status))
        )
        by_status = {str(status): int(count) for status, count in counts.all()}
    return Delivery(
        mode="drain" if args.drain else "run",
        wall_s=wall,
        worker_cpu_s=cpu,
        worker_sent=worker.sent_total,
        worker_429=sum(state.http_429 for state in worker.channels.values()),
        server=server,
        by_status=by_status,
        sql=sql,
        client_starts=sender.starts,
        loop_lag_ms=lags,
        guard_waits=sender.guard_waits,
        finished=finished,
    )


async def expected_chats(db: Database, notice_id: int) -> set[str]:
    """The chat of every outbox row of the notice."""
    async with db.session() as s:
        rows = await s.execute(
            select(col(Outbox.chat_id)).where(col(Outbox.notice_id) == notice_id)
        )
        return {str(chat) for chat in rows.scalars()}


# ---- the command ----


@dataclass
class Outcome:
    """Everything the run measured."""

    linked: int = 0
    seed_s: float = 0.0
    notice_id: int = 0
    rows: int = 0
    enqueue_s: float = 0.0
    delivery: Delivery | None = None
    chats: set[str] = field(default_factory=set)
    pending_after: int = 0


async def run_bench(url: str, base_url: str | None, args: argparse.Namespace) -> Outcome:
    """Populate, enqueue, and (unless enqueue-only) deliver; the measurements."""
    db = Database(url)
    out = Outcome()
    try:
        now = utcnow()
        started = time.perf_counter()
        out.linked = await populate(db, args.recipients, now, analyze=not args.no_analyze)
        out.seed_s = time.perf_counter() - started
        out.notice_id, out.rows, out.enqueue_s = await enqueue(db, utcnow())
        if base_url is None:
            return out
        out.delivery = await deliver(db, base_url, args, out.notice_id)
        out.chats = await expected_chats(db, out.notice_id)
        async with db.session() as s:
            out.pending_after = (await notice_report(s, out.notice_id)).pending
    finally:
        await db.dispose()
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.broadcast", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes: {SMOKE} (options given still count)"
    )
    parser.add_argument(
        "--recipients",
        type=int,
        default=None,
        help=f"residents besides demo ({FULL['recipients']})",
    )
    parser.add_argument(
        "--ceiling",
        type=float,
        default=None,
        help=f"sends per second allowed ({FULL['ceiling']:g})",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a fresh SQLite file in a temporary directory; a PostgreSQL database "
        "must have empty tables (or no schema) and is emptied (or dropped) afterwards",
    )
    parser.add_argument(
        "--server-ceiling",
        type=float,
        default=None,
        help="diagnosis: the fake server's per-second limit (default: the ceiling)",
    )
    parser.add_argument("--enqueue-only", action="store_true", help="time enqueueing, send none")
    defaults = DeliverySettings()
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--flush-every", type=int, default=defaults.flush_every)
    parser.add_argument(
        "--lease", type=float, default=defaults.lease.total_seconds(), help="seconds"
    )
    parser.add_argument(
        "--drain",
        action="store_true",
        help="deliver with DeliveryWorker.drain() (default: run(stop), as production does)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: skip ANALYZE after the bulk load (autovacuum would do it in production)",
    )
    parser.add_argument(
        "--pace-factor",
        type=float,
        default=1.0,
        help="experiment: the worker paces at this fraction of the ceiling (the server keeps C)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="experiment: gc.freeze() before delivery (fewer, shorter full collections)",
    )
    parser.add_argument(
        "--window-guard",
        type=float,
        default=0.0,
        metavar="F",
        help="experiment: also let at most F x C sends start in any second (0: off)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the delivery phase into FILE")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, sizes filled in from `--smoke` or the full defaults."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.recipients < 1 or args.ceiling <= 0 or args.concurrency < 1 or args.batch < 1:
        parser.error("--recipients, --ceiling, --concurrency and --batch must be positive")
    return args


def report(args: argparse.Namespace, kind: str, out: Outcome, clean: bool) -> dict[str, Any]:
    """Print the human-readable summary; the JSON result."""
    print(
        f"database {kind}: {out.linked} linked accounts ({args.recipients} + demo) "
        f"seeded in {out.seed_s:.2f} s"
    )
    print(
        f"create_notice(COMMUNITY) enqueued {out.rows} rows in {out.enqueue_s:.3f} s "
        f"({out.rows / out.enqueue_s if out.enqueue_s else 0:,.0f} rows/s)"
    )
    result: dict[str, Any] = {"bench": "broadcast", "smoke": args.smoke}
    result["recipients"] = args.recipients
    ceiling = int(args.ceiling) if float(args.ceiling).is_integer() else args.ceiling
    delivery = out.delivery
    if delivery is None:
        result["enqueue_s"] = round(out.enqueue_s, 3)
        if args.recipients == 100_000:
            result["enqueue_100k_s"] = round(out.enqueue_s, 3)
        result["database"] = kind
        result["invariants"] = {
            "everyone_enqueued": out.rows == out.linked,
            "scratch_left_as_found": clean,
        }
        return result
    server = delivery.server
    per_chat: dict[str, int] = server.get("per_chat", {})
    lost = sum(1 for chat in out.chats if per_chat.get(chat, 0) == 0)
    duplicates = sum(count - 1 for count in per_chat.values() if count > 1)
    strangers = sum(1 for chat in per_chat if chat not in out.chats)
    rate = delivery.achieved_rate
    ratio = rate / args.ceiling
    span = (server["last_success"] or 0) - (server["first_success"] or 0)
    print(
        f"delivery ({delivery.mode}(), concurrency {args.concurrency}, batch {args.batch}, "
        f"flush_every {args.flush_every}, lease {args.lease:g} s): {server['sent']} sent in "
        f"{span:.2f} s on the server = {rate:.1f}/s of a {args.ceiling:g}/s ceiling "
        f"(ratio {ratio:.3f}); most in any 1 s: {server['max_in_1s']}"
    )
    print(
        f"  worker wall {delivery.wall_s:.2f} s, CPU {delivery.worker_cpu_s:.2f} s "
        f"({delivery.worker_cpu_s / max(delivery.worker_sent, 1) * 1000:.2f} ms/message); "
        f"fake server CPU {server['server_cpu_s']:.2f} s; "
        f"SQL {delivery.sql.statements} statements, {delivery.sql.seconds:.2f} s"
    )
    lags = sorted(lag for _, lag in delivery.loop_lag_ms) or [0.0]
    first = server["first_success"] or 0.0
    worst_at = max(delivery.loop_lag_ms, key=lambda x: x[1], default=(first, 0.0))[0] - first
    print(
        f"  worker: most send starts in any 1 s {max_in_window(delivery.client_starts)}; "
        f"event-loop lag ms p50 {lags[len(lags) // 2]:.1f}, "
        f"p99 {lags[len(lags) * 99 // 100]:.1f}, max {lags[-1]:.1f} "
        f"(at {worst_at:.2f} s after the first send)"
        + (f"; window-guard waits {delivery.guard_waits}" if args.window_guard else "")
    )
    if server["http_429_times"]:
        offsets = ", ".join(f"{t - first:.2f}" for t in server["http_429_times"][:10])
        print(
            f"  429s at s after the first send: {offsets}; successful sends inside a "
            f"retry_after just asked for: {server['sent_during_retry_after']}"
        )
    if "loop_lag_ms" in server:
        print(f"  fake server event-loop lag ms {server['loop_lag_ms']}")
    print(
        f"  429s: {server['http_429']} at the server ({delivery.worker_429} seen by the worker); "
        f"other failures {server['failed_by_status']}; lost {lost}, duplicates {duplicates}, "
        f"sends to unknown chats {strangers}; outbox rows by status {delivery.by_status}"
    )
    met = ratio >= GOAL_RATIO and not (server["http_429"] or lost or duplicates)
    print(
        f"goal (ratio >= {GOAL_RATIO}, no 429, none lost, no duplicates): "
        f"{'met' if met else 'MISSED'}"
    )
    if args.profile:
        print(f"cProfile stats of the delivery phase written to {args.profile}")
    result.update(
        {
            "ceiling": ceiling,
            "achieved_rate": round(rate, 2),
            "ratio": round(ratio, 4),
            "http_429": int(server["http_429"]),
            "lost": lost,
            "duplicates": duplicates,
            "enqueue_s": round(out.enqueue_s, 3),
            "database": kind,
            "goal_met": met,
        }
    )
    if args.recipients == 100_000:
        result["enqueue_100k_s"] = round(out.enqueue_s, 3)
    result["invariants"] = {
        "everyone_enqueued": out.rows == out.linked,
        "none_lost": lost == 0,
        "no_duplicates": duplicates == 0,
        "no_http_429": server["http_429"] == 0,
        "no_sends_to_unknown_chats": strangers == 0,
        "nothing_left_pending": out.pending_after == 0,
        "delivery_finished": delivery.finished,
        "scratch_left_as_found": clean,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the summary, then the JSON line.

    1 when an invariant fails or, in a full run that sends, when the rate goal is missed.
    """
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    database = ScratchDatabase(args.database_url, tmp_prefix="linli-broadcast-")
    proc = None
    base_url = None
    if not args.enqueue_only:
        limits = Limits(
            per_second=args.server_ceiling or args.ceiling,
            per_chat_interval=1.0,
            group_per_minute=20,
        )
        proc, base_url = serve_limited(limits)
        print(f"fake Telegram Bot API with limits at {base_url} (own process)", flush=True)
    try:
        database.prepare()
        try:
            out = asyncio.run(run_bench(database.url, base_url, args))
        finally:
            database.cleanup()
    finally:
        if proc is not None:
            stop_server(proc)
    result = report(args, database.kind, out, database.left_as_found())
    status = emit(result)
    if out.delivery is not None and not args.smoke and not result["goal_met"]:
        return 1  # full size: the rate is part of the verdict; a smoke run is too short for it
    return status


if __name__ == "__main__":
    sys.exit(main())
