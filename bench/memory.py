"""Memory of `linli run`: its RSS while residents write, and while a broadcast goes out.

One run: a fresh database (bench/scratch.py) with the demo community and `--recipients`
verified residents, each with a Telegram account (bench/broadcast.py: populate); the fake
Telegram Bot API in its own process (tests/fakes/telegram_server.py); then **`linli run`
itself**, as an operator starts it, in a child process polling the fake. The benchmark
reads the child's RSS (`/proc/<pid>/status`, VmRSS):

1. while `--messages` messages arrive, from `--chats` residents at a time, each waiting for
   its answer (fresh residents every round, so the per-chat state the bot keeps, if any,
   would grow with them), sampled after every round;
2. while a notice to the whole community (every resident: `--recipients` + the demo's) is
   sent by the child's delivery worker, sampled every second until every row is sent.

Last line: `{"bench": "memory", "smoke", "messages", "recipients", "database", "rss_mb":
{"started", "after_messages", "after_broadcast", "peak"}, "growth_mb_per_100k_messages",
"invariants": {"every_message_answered", "broadcast_sent", "stopped_cleanly",
"scratch_left_as_found"}}`. Run from the project root: `python -m bench.memory --smoke`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/memory.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from bench.broadcast import CHAT_BASE, enqueue, populate
from bench.harness import emit
from bench.scratch import ScratchDatabase
from models.db import Database, utcnow
from models.tables import Outbox, OutboxStatus, Person
from tests.fakes.telegram import TOKEN
from tests.fakes.telegram_server import serve_in_subprocess, stop_server

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ["帮助", "/start", "我能领尊老金吗", "你好", "English", "中文"]
FULL = {"messages": 100_000, "recipients": 100_000, "chats": 50}
SMOKE = {"messages": 200, "recipients": 300, "chats": 10}


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def start_linli(url: str, base_url: str, log: Path) -> subprocess.Popen[bytes]:
    """`linli run` against the fake, its log in `log`; returns once it polls."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"{base_url}/bot",
        "TELEGRAM_API_FILE_URL": f"{base_url}/file/bot",
        "TELEGRAM_WEBHOOK_URL": "",
        # The fake has no rate limit: the worker's pacer should not be what is measured.
        "TELEGRAM_PER_SECOND": "2000",
        "MEDIA_STORE": str(log.parent / "media"),
        "LOG_LEVEL": "INFO",
    }
    linli = str(Path(sys.executable).with_name("linli"))
    command = [linli, "run"] if Path(linli).exists() else [sys.executable, "-m", "bot.cli", "run"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "polling Telegram" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"linli run did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return proc


def simulate(base_url: str, chats: int, each: int, first_chat_id: int) -> dict[str, Any]:
    """One round of the fake's residents (tests/fakes/telegram_server.py: /_fake/run)."""
    spec = {"residents": chats, "messages": each, "script": SCRIPT, "first_chat_id": first_chat_id}
    with httpx.Client(timeout=None, trust_env=False) as client:
        response = client.post(f"{base_url}/_fake/run", json=spec)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


async def first_resident(url: str) -> int:
    db = Database(url)
    try:
        async with db.session() as s:
            return int(
                (
                    await s.execute(
                        select(func.min(Person.id)).where(col(Person.name) == "居民000000")
                    )
                ).scalar_one()
            )
    finally:
        await db.dispose()


async def unsent(url: str, notice_id: int) -> int:
    db = Database(url)
    try:
        async with db.session() as s:
            return int(
                (
                    await s.execute(
                        select(func.count())
                        .select_from(Outbox)
                        .where(
                            col(Outbox.notice_id) == notice_id,
                            col(Outbox.status) != OutboxStatus.SENT,
                        )
                    )
                ).scalar_one()
            )
    finally:
        await db.dispose()


async def make_notice(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        notice_id, rows, _ = await enqueue(db, utcnow())
        return notice_id, rows
    finally:
        await db.dispose()


def measure(url: str, base_url: str, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    db = Database(url)
    try:
        asyncio.run(populate(db, args.recipients, utcnow(), analyze=not db.is_sqlite))
    finally:
        asyncio.run(db.dispose())
    first = asyncio.run(first_resident(url))
    proc = start_linli(url, base_url, log)
    samples: list[tuple[str, int, float]] = [("started", 0, rss_mb(proc.pid))]
    unanswered = 0
    stopped = False
    try:
        # Rounds of `chats` fresh residents, 20 messages each (fewer in a small run).
        each = max(1, min(20, args.messages // args.chats))
        per_round = args.chats * each
        rounds = max(1, args.messages // per_round)
        sent = 0
        for index in range(rounds):
            chat = CHAT_BASE + first + (index * args.chats) % max(1, args.recipients - args.chats)
            result = simulate(base_url, args.chats, each, chat)
            unanswered += int(result.get("unanswered", 0))
            sent += int(result["answers"])
            if index % max(1, rounds // 20) == 0 or index == rounds - 1:
                samples.append(("messages", sent, rss_mb(proc.pid)))
                print(f"{sent:>7} messages: RSS {samples[-1][2]} MB", flush=True)
        after_messages = rss_mb(proc.pid)
        notice_id, rows = asyncio.run(make_notice(url))
        print(f"notice {notice_id}: {rows} rows queued", flush=True)
        started = time.monotonic()
        left = rows
        while left:
            time.sleep(1.0)
            left = asyncio.run(unsent(url, notice_id))
            samples.append(("broadcast", rows - left, rss_mb(proc.pid)))
            if int(time.monotonic() - started) % 20 == 0:
                print(f"{rows - left:>7} of {rows} sent: RSS {samples[-1][2]} MB", flush=True)
            if time.monotonic() - started > args.broadcast_timeout:
                break
        after_broadcast = rss_mb(proc.pid)
        broadcast_s = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            stopped = proc.wait(60) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if unanswered:
        # Late or lost? The bot's own account of it: its warnings and errors, the last ones.
        problems = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if " WARNING " in line or " ERROR " in line or "Traceback" in line
        ]
        print(
            f"{unanswered} messages unanswered within the fake's answer timeout; the bot's "
            f"log has {len(problems)} warning/error lines, the last ones:",
            flush=True,
        )
        for line in problems[-15:]:
            print("   ", line[:300], flush=True)
    message_samples = [s for s in samples if s[0] == "messages"]
    growth = 0.0
    if len(message_samples) >= 2 and message_samples[-1][1] > message_samples[0][1]:
        (_, n0, r0), (_, n1, r1) = message_samples[0], message_samples[-1]
        growth = round((r1 - r0) / (n1 - n0) * 100_000, 1)
    return {
        "messages": message_samples[-1][1] if message_samples else 0,
        "recipients": rows,
        "broadcast_s": round(broadcast_s, 1),
        "rss_mb": {
            "started": samples[0][2],
            "after_messages": after_messages,
            "after_broadcast": after_broadcast,
            "peak": max(s[2] for s in samples),
        },
        # From the first sample after a round to the last: what each 100,000 more would add.
        "growth_mb_per_100k_messages": growth,
        "samples": [[kind, n, mb] for kind, n, mb in samples],
        "unanswered": unanswered,
        "unsent": left,
        "stopped_cleanly": stopped,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line (bench.harness finds the options here)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--messages", type=int, default=None, help=f"messages ({FULL['messages']})")
    p.add_argument("--recipients", type=int, default=None, help=f"residents ({FULL['recipients']})")
    p.add_argument("--chats", type=int, default=None, help=f"at once ({FULL['chats']})")
    p.add_argument(
        "--broadcast-timeout", type=float, default=3600.0, help="give up after (seconds)"
    )
    p.add_argument("--database-url", default=None, help="PostgreSQL (or a new SQLite file)")
    p.add_argument("--smoke", action="store_true", help=f"seconds: {SMOKE}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    database = ScratchDatabase(args.database_url, tmp_prefix="linli-memory-")
    database.check()
    proc, base_url = serve_in_subprocess()
    try:
        database.prepare()
        with tempfile.TemporaryDirectory(prefix="linli-memory-log-") as tmp:
            try:
                figures = measure(database.url, base_url, args, Path(tmp) / "linli.log")
            finally:
                database.cleanup()
    finally:
        stop_server(proc)
    samples = figures.pop("samples")
    print("samples (phase, count, RSS MB):", samples)
    result = {
        "bench": "memory",
        "smoke": args.smoke,
        "database": database.kind,
        **figures,
        "invariants": {
            "every_message_answered": figures["unanswered"] == 0 and figures["messages"] > 0,
            "broadcast_sent": figures["unsent"] == 0,
            "stopped_cleanly": figures["stopped_cleanly"],
            "scratch_left_as_found": database.left_as_found(),
        },
    }
    return emit(result)


if __name__ == "__main__":
    sys.exit(main())
