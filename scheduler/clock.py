"""The clock: APScheduler in the service's own loop, a few fixed jobs, per-item times in tables."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from models.benefits import Catalogue
from models.db import Database, utcnow
from scheduler import jobs


class Clock:
    """Starts and stops with the service; jobs have fixed ids, misfire grace and coalescing set."""

    def __init__(
        self,
        db: Database,
        *,
        retention_days: int = 7,
        outbox_retention_days: int = 90,
        tick_seconds: float = 2.0,
        wake: Callable[[], None] | None = None,
        programmes: Catalogue | None = None,
        eligibility_hour: int = 9,
        clock: jobs.Now = utcnow,
    ) -> None:
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        # A tick that runs late still catches everything due (it works from the tables), so a
        # generous grace beats APScheduler's 1 s default; coalescing makes a backlog one run.
        tick = {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": 60,
            "replace_existing": True,
        }
        self.scheduler.add_job(jobs.reminders, "interval", seconds=tick_seconds, id="reminders",
                               kwargs={"db": db, "wake": wake, "clock": clock}, **tick)  # fmt: skip
        self.scheduler.add_job(jobs.signups, "interval", seconds=tick_seconds, id="signups",
                               kwargs={"db": db, "wake": wake, "clock": clock}, **tick)  # fmt: skip
        self.scheduler.add_job(jobs.polls, "interval", seconds=tick_seconds, id="polls",
                               kwargs={"db": db, "wake": wake, "clock": clock}, **tick)  # fmt: skip
        self.scheduler.add_job(jobs.notices, "interval", seconds=tick_seconds, id="notices",
                               kwargs={"db": db, "wake": wake, "clock": clock}, **tick)  # fmt: skip
        self.scheduler.add_job(jobs.cases, "interval", seconds=max(tick_seconds, 30.0), id="cases",
                               kwargs={"db": db, "wake": wake, "clock": clock}, **tick)  # fmt: skip
        self.scheduler.add_job(jobs.progress, "interval", seconds=max(tick_seconds, 5.0), id="progress",
                               kwargs={"db": db, "wake": wake}, **tick)  # fmt: skip
        self.scheduler.add_job(
            jobs.housekeeping,
            "interval",
            hours=1,
            id="housekeeping",
            kwargs={
                "db": db,
                "retention_days": retention_days,
                "outbox_retention_days": outbox_retention_days,
            },
            replace_existing=True,
            # Missing an hourly clean-up by minutes is harmless; doing it twice in a row is waste.
            misfire_grace_time=600,
            coalesce=True,
            max_instances=1,
            next_run_time=utcnow() + timedelta(seconds=30),
        )

        if programmes is not None:
            # Daily, at a decent hour for a message to an elderly person (community time). The
            # scan claims each approach with a unique key, so a late or repeated run is harmless;
            # a run missed by up to 6 hours (a restart) still happens.
            self.scheduler.add_job(
                jobs.eligibility,
                "cron",
                hour=eligibility_hour,
                minute=0,
                timezone="Asia/Shanghai",
                id="eligibility",
                kwargs={"db": db, "programmes": programmes, "wake": wake},
                replace_existing=True,
                misfire_grace_time=6 * 3600,
                coalesce=True,
                max_instances=1,
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
