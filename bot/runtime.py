"""What runs beside the chat: leadership, then the clock and the delivery worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from bot.app import Linli
from bot.config import Settings
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker, Sender
from bot.leader import Leadership
from scheduler import jobs
from scheduler.clock import Clock

log = logging.getLogger("linli.runtime")


def delivery_settings(settings: Settings) -> DeliverySettings:
    """The worker's tuning from the service settings."""
    return DeliverySettings(
        batch=settings.delivery_batch,
        concurrency=settings.delivery_concurrency,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        flush_every=settings.delivery_flush_every,
    )


def telegram_limits(settings: Settings) -> ChannelLimits:
    """Telegram's ceilings as configured."""
    return ChannelLimits(
        per_second=settings.telegram_per_second,
        per_chat_interval=settings.telegram_per_chat_seconds,
        per_group_per_minute=settings.telegram_group_per_minute,
    )


class Background:
    """Waits to lead (one leader per database), then runs the clock and the worker until stopped."""

    def __init__(self, linli: Linli, senders: list[Sender], settings: Settings) -> None:
        self.linli = linli
        self.settings = settings
        self.leadership = Leadership(linli.db)
        self.worker = DeliveryWorker(
            linli.db, senders, delivery_settings(settings), clock=linli.clock
        )
        self.stop_event = asyncio.Event()
        self.leading = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        linli.after_commit.append(self.worker.wake)

    def start(self) -> None:
        """Start in the running loop."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        if not await self.leadership.wait_until_leader(self.stop_event):
            return
        clock = Clock(
            self.linli.db,
            retention_days=self.settings.processed_update_retention_days,
            outbox_retention_days=self.settings.outbox_retention_days,
            tick_seconds=self.settings.clock_tick_seconds,
            wake=self.worker.wake,
            programmes=self.linli.programmes,
            eligibility_hour=self.settings.eligibility_scan_hour,
            clock=self.linli.clock,
        )
        try:
            await self.worker.start_as_leader()
            clock.start()
            await self._resume_imports()
            self.leading.set()
            worker = asyncio.create_task(self.worker.run(self.stop_event))
            while not self.stop_event.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), 10)
                if not await self.leadership.still_held():
                    log.error("leadership lost: stopping the clock and delivery")
                    self.stop_event.set()
                else:
                    await self._resume_imports()
            await worker
        finally:
            await clock.shutdown()
            await self.leadership.release()

    async def _resume_imports(self) -> None:
        """Register imports whose process stopped (a restart): the leader starts them again."""
        try:
            resumed = await self.linli.register_imports.resume()
        except Exception:  # the loop that holds the leadership must not end on it
            log.exception("resuming interrupted register imports failed")
            return
        if resumed:
            log.info("resumed %d interrupted register import(s)", resumed)

    async def tick(self) -> None:
        """One run of the ticking jobs now (the piped console's last step, so that what became
        due during a short session is handled before its delivery drains)."""
        for job in (jobs.reminders, jobs.signups, jobs.notices, jobs.cases):
            try:  # as under the scheduler: one job's failure is logged, the others still run
                await job(self.linli.db, self.worker.wake, self.linli.clock)
            except Exception as err:
                log.warning("the last tick's %s failed: %r", job.__name__, err)

    async def stop(self) -> None:
        """Stop the clock and worker (rows still queued are given back) and release the lock."""
        self.stop_event.set()
        if self._task is not None:
            await self._task
