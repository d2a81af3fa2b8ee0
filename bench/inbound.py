"""Inbound throughput: Linli against a bare python-telegram-bot echo bot, over real HTTP.

One run starts the fake Telegram Bot API (tests/fakes/telegram_server.py) in its own process,
then drives two bots against it with the same simulated residents, each polling getUpdates:

1. a bare PTB echo bot (the ceiling: PTB + HTTP + the fake, no work per message);
2. Linli itself (`Linli` + `build_application`) on a freshly migrated, demo-seeded database.

It prints a summary and, as the last line, one JSON object with both rates and their ratio
(`"bench": "inbound"`, `"invariants"`: every message answered, no failed or unexpected call).
Run from the project root: `python -m bench.inbound --residents 50 --messages 20`;
`python -m bench.inbound --smoke` is 5 residents x 8 messages, one round, no warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/inbound.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import event
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bench.harness import emit
from bench.scratch import ScratchDatabase
from bot.app import Linli
from bot.channels.telegram_channel import build_application, start_polling
from bot.cli import run_async
from bot.config import Settings
from models.db import Database, utcnow
from models.demo import seed_demo
from tests.fakes.telegram import TOKEN
from tests.fakes.telegram_server import serve_in_subprocess, stop_server

log = logging.getLogger("bench.inbound")

# What residents of the demo community type: commands, menu words, requests, language switches.
SCRIPT = [
    "/start",
    "帮助",
    "楼道里堆满了杂物",
    "我能领尊老金吗",
    "English",
    "help",
    "中文",
    "我想预约理发",
]

GOAL_RATIO = 0.5
FULL = {"residents": 50, "messages": 20, "warmup": 2000, "rounds": 3}
SMOKE = {"residents": 5, "messages": len(SCRIPT), "warmup": 0, "rounds": 1}
# Private chat ids of the residents: warm-up residents are other people than the measured
# ones, and every measured round has residents of its own.
WARMUP_FIRST_CHAT_ID = 690_000_001
FIRST_CHAT_ID = 700_000_001
ROUND_CHAT_STRIDE = 1_000_000


# ---- measurements ----


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Phase:
    """One simulation against one bot, as the fake server measured it."""

    name: str
    answers: int
    seconds: float
    latencies_ms: list[float]
    unanswered: int = 0
    unexpected_answers: int = 0
    failed_calls: list[str] = field(default_factory=list)
    server_cpu_seconds: float = 0.0
    bot_cpu_seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    updates_delivered: int = 0
    client_connections: int = 0
    sql_statements: int | None = None
    round_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Answers per second of wall time."""
        return self.answers / self.seconds if self.seconds > 0 else 0.0

    def per_answer(self, amount: float) -> float:
        """`amount` divided by the number of answers."""
        return amount / self.answers if self.answers else 0.0

    def p(self, pct: float) -> float:
        """A latency percentile in milliseconds."""
        return percentile(self.latencies_ms, pct)

    def summary(self) -> str:
        """One human-readable paragraph."""
        head = f"{self.name:>5}: {self.answers} answers in {self.seconds:.2f} s = {self.rate:.1f}/s"
        if len(self.round_rates) > 1:
            rates = ", ".join(f"{r:.1f}" for r in self.round_rates)
            head += f" (fastest of {len(self.round_rates)} rounds: {rates})"
        lines = [
            head,
            f"       latency ms p50 {self.p(50):.1f}  p95 {self.p(95):.1f}  "
            f"p99 {self.p(99):.1f}  max {max(self.latencies_ms, default=0):.1f}",
            f"       CPU s: fake server {self.server_cpu_seconds:.2f}, "
            f"bot process {self.bot_cpu_seconds:.2f} (wall {self.seconds:.2f}); "
            f"bot CPU per answer {self.per_answer(self.bot_cpu_seconds * 1000):.2f} ms",
        ]
        polls = self.calls.get("getUpdates", 0)
        per_poll = self.updates_delivered / polls if polls else 0.0
        line = (
            f"       Bot API calls: getUpdates {polls} ({per_poll:.1f} updates each), "
            f"sendMessage {self.calls.get('sendMessage', 0)}; "
            f"{self.client_connections} TCP connections"
        )
        if self.sql_statements is not None:
            line += f"; SQL statements per answer {self.per_answer(self.sql_statements):.1f}"
        lines.append(line)
        if self.unanswered or self.unexpected_answers or self.failed_calls:
            lines.append(
                f"       WARNING: {self.unanswered} unanswered, "
                f"{self.unexpected_answers} unexpected answers, "
                f"failed calls: {self.failed_calls[:3]}"
            )
        return "\n".join(lines)


async def run_simulation(
    base_url: str, residents: int, messages: int, first_chat_id: int | None = None
) -> Phase:
    """Ask the fake server to run the residents; its measurements as a Phase (name unset)."""
    spec: dict[str, Any] = {"residents": residents, "messages": messages, "script": SCRIPT}
    if first_chat_id is not None:
        spec["first_chat_id"] = first_chat_id
    async with httpx.AsyncClient(timeout=None, trust_env=False) as client:
        response = await client.post(f"{base_url}/_fake/run", json=spec)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
    return Phase(
        name="",
        answers=int(data["answers"]),
        seconds=float(data["seconds"]),
        latencies_ms=[float(x) for x in data["latencies_ms"]],
        unanswered=int(data.get("unanswered", 0)),
        unexpected_answers=int(data.get("unexpected_answers", 0)),
        failed_calls=list(data.get("failed_calls", [])),
        server_cpu_seconds=float(data.get("server_cpu_seconds", 0.0)),
        calls={str(k): int(v) for k, v in data.get("calls", {}).items()},
        updates_delivered=int(data.get("updates_delivered", 0)),
        client_connections=int(data.get("client_connections", 0)),
    )


@dataclass(frozen=True)
class Load:
    """What the residents do: how many, how much, how often it is measured."""

    residents: int
    messages: int
    warmup: int  # unmeasured messages in all, before the first round
    rounds: int

    @property
    def warmup_each(self) -> int:
        """Warm-up messages per warm-up resident (at least `warmup` in all)."""
        return math.ceil(self.warmup / self.residents)


async def drive(
    app: Application,
    name: str,
    base_url: str,
    load: Load,
    profile: cProfile.Profile | None = None,
    sql_counter: list[int] | None = None,
    settings: Settings | None = None,
) -> Phase:
    """Poll with `app`, warm up, measure `load.rounds` rounds, stop; the fastest round."""
    rounds: list[Phase] = []
    async with app:
        assert app.updater is not None
        if settings is not None:  # Linli polls the way `linli run` does
            await start_polling(app, settings)
        else:  # the bare echo bot: PTB's defaults
            await app.updater.start_polling(poll_interval=0, timeout=10)
        await app.start()
        try:
            if load.warmup:
                warm = await run_simulation(
                    base_url, load.residents, load.warmup_each, WARMUP_FIRST_CHAT_ID
                )
                if warm.unanswered:
                    log.warning("%s: %d warm-up messages unanswered", name, warm.unanswered)
            for index in range(load.rounds):
                # Every round has residents of its own: each one starts a fresh conversation.
                first_chat_id = FIRST_CHAT_ID + index * ROUND_CHAT_STRIDE
                if sql_counter is not None:
                    sql_counter[0] = 0
                cpu = time.process_time()
                if profile is not None:
                    profile.enable()
                try:
                    phase = await run_simulation(
                        base_url, load.residents, load.messages, first_chat_id
                    )
                finally:
                    if profile is not None:
                        profile.disable()
                phase.bot_cpu_seconds = time.process_time() - cpu
                if sql_counter is not None:
                    phase.sql_statements = sql_counter[0]
                rounds.append(phase)
        finally:
            await app.updater.stop()
            await app.stop()
    best = max(rounds, key=lambda r: r.rate)
    best.name = name
    best.round_rates = [r.rate for r in rounds]
    best.unanswered = sum(r.unanswered for r in rounds)
    return best


# ---- the two bots ----


async def echo_phase(base_url: str, concurrency: int, load: Load) -> Phase:
    """A bare PTB bot that says back what it hears: the ceiling of the pipeline."""

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{base_url}/bot")
        .base_file_url(f"{base_url}/file/bot")
        .concurrent_updates(concurrency)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    return await drive(app, "echo", base_url, load)


async def linli_phase(settings: Settings, load: Load, profile: cProfile.Profile | None) -> Phase:
    """Linli on the demo community, wired exactly as `linli run` wires it for polling."""
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            await seed_demo(session, utcnow())
    finally:
        await db.dispose()
    linli = Linli(settings)
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(linli.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        app = build_application(linli, settings)
        base_url = settings.telegram_api_base_url.removesuffix("/bot")
        return await drive(app, "linli", base_url, load, profile, statements, settings)
    finally:
        await linli.close()


def classify_us(rounds: int = 200) -> float:
    """CPU microseconds of free-text understanding per message, over the script's lines."""
    from handlers.nlu import understand

    texts = [t for t in SCRIPT if not t.startswith("/")]
    understand(texts[0])  # the model is trained before timing
    start = time.process_time()
    for _ in range(rounds):
        for text in texts:
            understand(text)
    return (time.process_time() - start) / (rounds * len(texts)) * 1e6


# ---- the command ----


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.inbound", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes: {SMOKE} (options given still count)"
    )
    parser.add_argument(
        "--residents",
        type=int,
        default=None,
        help=f"simulated residents, chats ({FULL['residents']})",
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=None,
        help=f"messages each resident sends ({FULL['messages']})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="unmeasured messages sent first, per bot, by N other residents (0: none; "
        f"{FULL['warmup']}); the first ~1500 answers of a fresh process are slower",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="measured rounds per bot (fresh residents each); the fastest round counts "
        f"({FULL['rounds']})",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a fresh SQLite file in a temporary directory; a PostgreSQL URL must "
        "point at a database without the schema or with empty tables (restored afterwards)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="write cProfile stats of the Linli phase to FILE"
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, sizes filled in from `--smoke` or the full defaults."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.residents, args.messages, args.rounds) < 1 or args.warmup < 0:
        parser.error("--residents, --messages, --rounds must be at least 1, --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run both phases and print the summary, then the JSON line; 1 when an invariant fails."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    database = ScratchDatabase(args.database_url, tmp_prefix="linli-bench-")
    database.check()
    profile = cProfile.Profile() if args.profile else None
    load = Load(args.residents, args.messages, args.warmup, args.rounds)
    proc, base_url = serve_in_subprocess()
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=database.url,
            telegram_token=TOKEN,
            telegram_api_base_url=f"{base_url}/bot",
            telegram_api_file_url=f"{base_url}/file/bot",
            telegram_webhook_url=None,
        )
        concurrency = settings.telegram_concurrent_updates
        print(
            f"fake Telegram Bot API at {base_url} (own process); "
            f"{args.residents} residents x {args.messages} messages "
            f"per round, {args.rounds} rounds per bot after "
            f"{load.warmup_each * load.residents if load.warmup else 0} warm-up messages; "
            f"concurrent_updates={concurrency}",
            flush=True,
        )
        echo = asyncio.run(echo_phase(base_url, concurrency, load))
        print(echo.summary(), flush=True)
        database.prepare()
        try:
            # Linli runs the way `linli run` runs it (uvloop when installed); the echo bot the
            # way a bare PTB bot runs (asyncio).
            linli = run_async(linli_phase(settings, load, profile))
        finally:
            database.cleanup()
        print(linli.summary(), flush=True)
    finally:
        stop_server(proc)
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"cProfile stats of the Linli phase written to {args.profile}")
    ratio = linli.rate / echo.rate if echo.rate else 0.0
    verdict = "meets" if ratio >= GOAL_RATIO else "below"
    print(
        f"ratio linli/echo = {ratio:.3f} ({verdict} the goal of {GOAL_RATIO}); "
        f"database {database.kind}; loops: echo asyncio, linli {loop_name()}"
    )
    result = {
        "bench": "inbound",
        "smoke": args.smoke,
        "residents": args.residents,
        "messages_each": args.messages,
        "echo_rate": round(echo.rate, 2),
        "linli_rate": round(linli.rate, 2),
        "ratio": round(ratio, 4),
        "linli_p50_ms": round(linli.p(50), 2),
        "linli_p95_ms": round(linli.p(95), 2),
        "echo_p50_ms": round(echo.p(50), 2),
        "database": database.kind,
        "linli_loop": loop_name(),
        "classify_us": round(classify_us(), 1),
        "goal_met": ratio >= GOAL_RATIO,
        "invariants": {
            "echo_answered_all": echo.unanswered == 0 and echo.answers > 0,
            "linli_answered_all": linli.unanswered == 0 and linli.answers > 0,
            "no_failed_calls": not (echo.failed_calls or linli.failed_calls),
            "no_unexpected_answers": not (echo.unexpected_answers or linli.unexpected_answers),
            "scratch_left_as_found": database.left_as_found(),
        },
    }
    return emit(result)


def loop_name() -> str:
    """The event loop `run_async` gives Linli here."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


if __name__ == "__main__":
    sys.exit(main())
