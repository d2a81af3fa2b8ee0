"""The clock: APScheduler in the service's own loop, a few fixed jobs, per-item times in tables."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from models.db import Database, utcnow
from models.housekeeping import prune

log = logging.getLogger("linli.clock")


async def housekeeping(db: Database, retention_days: int) -> None:
    """Forget old inbox keys and end flows that timed out (a fixed, module-level job)."""
    async with db.session() as session:
        counts = await prune(session, utcnow(), timedelta(days=retention_days))
    log.info("housekeeping: %s", counts)


class Clock:
    """Starts and stops with the service; jobs have fixed ids, misfire grace and coalescing set."""

    def __init__(self, db: Database, *, retention_days: int = 7) -> None:
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_job(
            housekeeping,
            "interval",
            hours=1,
            id="housekeeping",
            kwargs={"db": db, "retention_days": retention_days},
            replace_existing=True,
            # Missing an hourly clean-up by minutes is harmless; doing it twice in a row is waste.
            misfire_grace_time=600,
            coalesce=True,
            max_instances=1,
            next_run_time=utcnow() + timedelta(seconds=30),
        )

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        """Start in the running event loop."""
        self.scheduler.start()

    async def shutdown(self) -> None:
        """Stop; jobs in flight are not waited for (their work is one transaction)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            # AsyncIOScheduler stops through loop.call_soon: let that callback run.
            await asyncio.sleep(0)
