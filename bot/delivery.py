"""The delivery worker: claims due outbox rows, paces them at each channel's ceiling, records the outcome.

Pacing is burst-free (one slot every 1/rate seconds), because a platform that counts
messages in a sliding second would punish the burst a token bucket allows at start-up.
On a 429 the whole channel waits the `retry_after` the platform gave. Outcomes are written in
bulk every `flush_every` messages (or `flush_interval` seconds), so the database is not on the
hot path; the price is that a crash can repeat at most `in_flight_bound` messages
(2 × (flush_every + concurrency), in practice far fewer: a flush also runs every 0.2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.i18n import translate
from handlers.core import Choice, Reply
from models.db import Database, utcnow
from models.outbox import (
    Claimed,
    claim,
    mark_blocked,
    mark_failed,
    mark_held,
    mark_retry_now,
    mark_sent,
    release_all_leases,
)
from models.tables import Outbox

log = logging.getLogger("linli.delivery")


class SendError(Exception):
    """A failed send, classified: 'retry' (try later), 'throttled' (429), 'blocked' (403), 'dead',
    'held' (cannot reach the person now; given when they next write)."""

    def __init__(self, kind: str, detail: str = "", retry_after: float = 0.0) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class ChannelLimits:
    """A channel's ceilings (Telegram's by default)."""

    per_second: float = 30.0
    per_chat_interval: float = 1.0
    per_group_per_minute: float = 20.0


class Sender(Protocol):
    """What a channel adapter gives the worker."""

    channel: str
    limits: ChannelLimits

    def is_group(self, chat_id: str) -> bool:
        """True for group chats, which have their own, slower limit."""
        ...

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        """Send one message or raise SendError."""
        ...


class Pacer:
    """Slots 1/rate apart with no burst; `pause` holds everything back, reserved slots too."""

    def __init__(self, rate: float, now: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.now = now
        self.next_slot = 0.0
        self.paused_until = 0.0

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait for it."""
        now = self.now()
        slot = max(now, self.next_slot, self.paused_until)
        self.next_slot = slot + self.interval
        return slot - now

    def pause(self, seconds: float) -> None:
        """Nothing goes out for `seconds` (a 429's retry_after)."""
        self.paused_until = max(self.paused_until, self.now() + seconds)
        self.next_slot = max(self.next_slot, self.paused_until)

    def still_good(self, slot_start: float) -> bool:
        """After waiting for a slot: False when it must be taken again, because a pause began
        meanwhile, or because the loop woke us so late (a stall) that going now would bunch
        up with the slots after ours."""
        now = self.now()
        return now >= self.paused_until and now - slot_start < self.interval


@dataclass
class ChannelState:
    """A sender with its pacers."""

    sender: Sender
    pacer: Pacer
    chats: dict[str, float] = field(default_factory=dict)
    http_429: int = 0

    async def wait_turn(self, chat_id: str) -> None:
        """Wait for this chat's own interval, then for a channel slot."""
        limits = self.sender.limits
        gap = (
            60.0 / limits.per_group_per_minute
            if self.sender.is_group(chat_id)
            else limits.per_chat_interval
        )
        now = self.pacer.now()
        if len(self.chats) > 50_000:  # forget chats whose interval is long over
            self.chats = {c: t for c, t in self.chats.items() if t > now}
        ready = max(now, self.chats.get(chat_id, 0.0))
        self.chats[chat_id] = ready + gap
        if ready > now:
            await asyncio.sleep(ready - now)
        while True:
            delay = self.pacer.reserve()
            slot = self.pacer.now() + delay
            if delay > 0:
                await asyncio.sleep(delay)
            if self.pacer.still_good(slot):
                return


@dataclass
class DeliverySettings:
    """Worker tuning; `in_flight_bound` is the most a crash can repeat."""

    batch: int = 500
    concurrency: int = 32
    lease: timedelta = timedelta(seconds=60)
    flush_every: int = 50
    flush_interval: float = 0.2
    idle_poll: float = 0.5

    @property
    def in_flight_bound(self) -> int:
        """Sends a crash can leave unrecorded: the batch being written, plus the one filling up
        meanwhile (a sender that finds it full waits for the write), each at most
        flush_every + concurrency."""
        return 2 * (self.flush_every + self.concurrency)


def render(row: Claimed | Outbox) -> Reply:
    """The outbox row as a Reply in the recipient's language."""
    if row.text is not None:
        text = row.text
    else:
        text = translate(row.locale, row.text_key or "")
        if row.values:
            text = text.format(**row.values)
    choices = [Choice(translate(row.locale, label), payload) for label, payload in row.choices]
    return Reply(text, choices)


class DeliveryWorker:
    """One worker per leader process: claim → pace → send → record."""

    def __init__(
        self,
        db: Database,
        senders: list[Sender],
        settings: DeliverySettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings or DeliverySettings()
        self.clock = clock
        self.channels = {s.channel: ChannelState(s, Pacer(s.limits.per_second)) for s in senders}
        self._queue: asyncio.Queue[Claimed] = asyncio.Queue()
        self._sent: list[int] = []
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.sent_total = 0
        self._running = False
        self._held: set[int] = set()  # ids queued, being sent, or sent but not yet recorded
        self._more_due = True  # the last claim was full: more rows may be waiting
        # Idle = holding nothing, and a claim begun after the last wake() found nothing due.
        self._claims_begun = 0
        self._idle_after = 1  # the number of the first claim that may report "nothing due"
        self._nothing_due = False
        self._idle = asyncio.Event()
        slowest = min((s.limits.per_second for s in senders), default=30.0)
        # Claimed rows must go out well within their lease, or they would be claimed again.
        self._queue_cap = max(
            self.settings.concurrency * 2, int(slowest * self.settings.lease.total_seconds() / 2)
        )
        self._low_water = max(self.settings.concurrency * 2, self.settings.batch // 2)

    def wake(self) -> None:
        """New rows were committed: look now instead of at the next poll."""
        self._more_due = True
        # Whatever an earlier claim found, only a claim that begins after this call can show
        # that the new rows are gone.
        self._idle_after = self._claims_begun + 1
        self._nothing_due = False
        self._idle.clear()
        self._wake.set()

    @property
    def idle(self) -> bool:
        """True when the worker holds no row (queued, in flight or unrecorded) and found nothing due."""
        return self._idle.is_set()

    async def wait_idle(self) -> None:
        """Look for due rows now, and return once everything due is sent and recorded.

        Rows waiting for a retry later are not due; a row committed before this call is
        included (the call wakes the worker, like `wake()`). It returns only while `run()` or
        `drain()` is working; wrap it in `asyncio.timeout` to bound the wait.
        """
        self.wake()
        await self._idle.wait()

    def _note_idle(self) -> None:
        if self._nothing_due and not self._held:
            self._idle.set()

    async def start_as_leader(self) -> int:
        """Take over leases of a dead worker (only the leader runs a worker)."""
        async with self.db.session() as s:
            released = await release_all_leases(s)
        if released:
            log.warning("released %d rows leased by a previous worker", released)
        return released

    async def _refill(self) -> int:
        room = min(self.settings.batch, self._queue_cap - self._queue.qsize())
        if room <= 0:
            return 0
        self._claims_begun += 1
        number = self._claims_begun
        async with self.db.session() as s:
            rows = await claim(
                s, self.clock(), room, self.settings.lease, channels=tuple(self.channels)
            )
        self._more_due = len(rows) == room
        # A row whose lease ran out while this worker still holds it comes back: skip it.
        fresh = [row for row in rows if row.id not in self._held]
        for row in fresh:
            self._held.add(row.id)
            self._queue.put_nowait(row)
        if fresh:
            self._nothing_due = False
            self._idle.clear()
        elif number >= self._idle_after:
            self._nothing_due = True
            self._note_idle()
        return len(fresh)

    async def _flush(self) -> None:
        async with self._flush_lock:
            ids, self._sent = self._sent, []
            if ids:
                try:
                    async with self.db.session() as s:
                        await mark_sent(s, ids, self.clock())
                except BaseException:
                    # Cancelled (the flusher or a sender stopped at shutdown) or failed mid-write:
                    # the ids go back, so the last flush records them (marking twice is harmless).
                    self._sent[:0] = ids
                    raise
                # Only now, recorded as sent, may these ids be claimed (and skipped) again.
                self._held.difference_update(ids)
                self._note_idle()

    async def _record_failure(self, row: Claimed, err: SendError) -> None:
        try:
            await self._write_failure(row, err)
        finally:
            self._held.discard(row.id)
            self._note_idle()

    async def _write_failure(self, row: Claimed, err: SendError) -> None:
        async with self.db.session() as s:
            if err.kind == "blocked":
                await mark_blocked(s, row, self.clock(), err.detail)
            elif err.kind == "held":
                await mark_held(s, row, err.detail)
            elif err.kind == "dead":
                await mark_failed(
                    s, Claimed(**{**row.__dict__, "attempts": 10**6}), self.clock(), err.detail
                )
            else:
                status = await mark_failed(s, row, self.clock(), err.detail)
                log.info("row %s: %s, now %s", row.id, err, status)

    async def _send_one(self, row: Claimed) -> None:
        state = self.channels[row.channel]
        reply = render(row)
        while True:
            await state.wait_turn(row.chat_id)
            try:
                await state.sender.send(row.chat_id, reply, row.photo_ref)
            except SendError as err:
                if err.kind == "throttled":
                    state.http_429 += 1
                    state.pacer.pause(err.retry_after)
                    log.warning("%s asked to wait %.1fs", row.channel, err.retry_after)
                    continue
                await self._record_failure(row, err)
                return
            except (
                Exception
            ) as exc:  # a bug or an unexpected answer: retry later, never lose the row
                log.exception("sending row %s failed", row.id)
                await self._record_failure(row, SendError("retry", repr(exc)[:200]))
                return
            self._sent.append(row.id)
            self.sent_total += 1
            if len(self._sent) >= self.settings.flush_every:
                await self._flush()
            return

    async def _sender_loop(self) -> None:
        while True:
            row = await self._queue.get()
            if self._more_due and self._queue.qsize() < self._low_water:
                self._wake.set()
            try:
                await self._send_one(row)
            finally:
                self._queue.task_done()

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            await self._flush()

    def _start_senders(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._sender_loop()) for _ in range(self.settings.concurrency)]

    async def _stop_senders(self, tasks: list[asyncio.Task[None]], grace: float = 10.0) -> None:
        """Hand queued rows back, let sends in flight finish (bounded), record everything."""
        unsent = []
        if not self._queue.empty():
            self._nothing_due = False  # the rows handed back are due again
            self._idle.clear()
        while not self._queue.empty():
            row = self._queue.get_nowait()
            self._held.discard(row.id)
            unsent.append(row)
            self._queue.task_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._flush()
        if unsent:
            await self.give_back(unsent, self.clock())

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set."""
        # The ~300,000 objects of a started process never die; a full garbage collection
        # walking them stopped the loop for ~100 ms, after which the paced sends bunched up
        # and Telegram's limit answered 429 (bench/broadcast.py). Frozen, they are skipped.
        gc.collect()
        gc.freeze()
        tasks = self._start_senders()
        flusher = asyncio.create_task(self._flusher())
        self._running = True
        try:
            while not stop.is_set():
                if self._queue.qsize() < self._low_water and await self._refill():
                    continue
                self._wake.clear()
                waiter = asyncio.create_task(self._wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.settings.idle_poll,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()
        finally:
            self._running = False
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._stop_senders(tasks)

    async def settled(self) -> None:
        """Wait until nothing this worker holds is queued or being sent."""
        await self._queue.join()

    async def drain(self) -> int:
        """Send everything due now; return when nothing is queued or in flight (tests, the console)."""
        tasks = [] if self._running else self._start_senders()
        before = self.sent_total
        try:
            while True:
                await self._queue.join()
                await self._flush()
                if not await self._refill():
                    break
        finally:
            if tasks:
                await self._stop_senders(tasks)
        return self.sent_total - before

    async def give_back(self, rows: list[Claimed], not_before: datetime) -> None:
        """Return leased rows unsent (used when a process stops with rows still queued)."""
        async with self.db.session() as s:
            await mark_retry_now(s, [r.id for r in rows], not_before)
