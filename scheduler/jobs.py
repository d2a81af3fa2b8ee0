"""The clock's jobs: fixed, module-level functions; each claims what is due and marks it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from models.benefits import Catalogue, run_outreach_in_steps
from models.bookings import extend_series
from models.db import Database, utcnow
from models.housekeeping import prune, prune_outbox
from models.meetings import remind_unanswered
from models.notices import report_progress, start_due_notices
from models.poll_results import close_due_and_announce, remind_due_polls
from models.reminders import fire_due_reminders
from models.reports import escalate
from models.signups import close_ended_slots, expire_offers, fire_signup_reminders
from models.tasks import credit_hours

log = logging.getLogger("linli.clock")
# The time the ticking jobs read: the service's clock (the console's `--later` demo clock runs
# them, and the delivery worker, a few minutes ahead; tests pass their own).
Now = Callable[[], datetime]


async def reminders(
    db: Database, wake: Callable[[], None] | None = None, clock: Now = utcnow
) -> None:
    """Due reminders → outbox rows (late ones say so; too late ones are skipped)."""
    async with db.session() as session:
        counts = await fire_due_reminders(session, clock())
    if any(counts.values()):
        log.info("reminders: %s", counts)
        if wake:
            wake()


async def signups(
    db: Database, wake: Callable[[], None] | None = None, clock: Now = utcnow
) -> dict[str, int]:
    """The sign-up engine's clock: lapsed waitlist offers pass on, reminders of bookings and
    events go out, ended slots record their no-shows and ask the people who came to rate."""
    async with db.session() as session:
        now = clock()
        counts = {
            "offers_expired": await expire_offers(session, now),
            "reminded": await fire_signup_reminders(session, now),
            "slots_closed": await close_ended_slots(session, now),
            # Cheap when nothing is due (one query); keeps every series booked ahead.
            "sessions_made": await extend_series(session, now),
            "rsvp_reminded": await remind_unanswered(session, now),
        }
    if any(counts.values()):
        log.info("signups: %s", counts)
        if wake:
            wake()
    return counts


async def polls(
    db: Database, wake: Callable[[], None] | None = None, clock: Now = utcnow
) -> dict[str, int]:
    """Polls past their deadline close (the result chart goes to the audience, once); 24 hours
    before the close the people who have not voted are reminded (once)."""
    async with db.session() as session:
        now = clock()
        counts = {
            "closed": len(await close_due_and_announce(session, now)),
            "reminded": await remind_due_polls(session, now),
        }
    if any(counts.values()):
        log.info("polls: %s", counts)
        if wake:
            wake()
    return counts


async def notices(
    db: Database, wake: Callable[[], None] | None = None, clock: Now = utcnow
) -> None:
    """Scheduled notices whose time has come → bulk outbox rows."""
    async with db.session() as session:
        started = await start_due_notices(session, clock())
    if started:
        log.info("scheduled notices started: %s", started)
        if wake:
            wake()


# The escalation ladder climbs at most CASES_STEP rungs a transaction (SQLite's write lock is
# never held long behind the bot's messages) and CASES_PER_TICK a tick: a backlog (the first
# tick over an imported year, a clock that was stopped) clears over the next ticks, each of
# them well inside the job's 30 s interval.
CASES_STEP = 100
CASES_PER_TICK = 500


async def cases(db: Database, wake: Callable[[], None] | None = None, clock: Now = utcnow) -> int:
    """The escalation ladder (reports past a rung's time) and volunteer hours due for credit;
    returns how many rungs were climbed and tasks credited."""
    now = clock()
    escalated = 0
    while escalated < CASES_PER_TICK:
        async with db.session() as session:
            step = await escalate(session, now, limit=min(CASES_STEP, CASES_PER_TICK - escalated))
        escalated += step
        if step < CASES_STEP:
            break
    async with db.session() as session:
        credited = await credit_hours(session, now)
    if escalated or credited:
        log.info("cases: %s escalated, %s hours credited", escalated, credited)
        if wake:
            wake()
    return escalated + credited


async def progress(db: Database, wake: Callable[[], None] | None = None) -> None:
    """Tell notice authors how delivery goes (25/50/75 % and done)."""
    async with db.session() as session:
        told = await report_progress(session, utcnow())
    if told and wake:
        wake()


# One run deletes at most this many finished outbox rows, in transactions of OUTBOX_BATCH, so
# that it never holds the write lock long (SQLite) and a backlog clears over a few runs.
OUTBOX_BATCH = 10_000
OUTBOX_BATCHES_PER_RUN = 50


async def housekeeping(
    db: Database, retention_days: int, outbox_retention_days: int = 90
) -> dict[str, int]:
    """Forget old inbox keys, end flows that timed out, delete finished outbox rows past retention."""
    now = utcnow()
    async with db.session() as session:
        counts = await prune(session, now, timedelta(days=retention_days))
    deleted = 0
    for _ in range(OUTBOX_BATCHES_PER_RUN):
        async with db.session() as session:
            batch = await prune_outbox(
                session, now, timedelta(days=outbox_retention_days), OUTBOX_BATCH
            )
        deleted += batch
        if batch < OUTBOX_BATCH:
            break
    counts["outbox_rows"] = deleted
    log.info("housekeeping: %s", counts)
    return counts


async def eligibility(
    db: Database, programmes: Catalogue, wake: Callable[[], None] | None = None
) -> dict[str, int]:
    """The daily eligibility scan: approach people reaching a benefit's age, home visits, re-certification."""
    # A thousand people a transaction: the bot's own writes never wait long behind it.
    counts = await run_outreach_in_steps(db.session, programmes, utcnow())
    log.info("eligibility: %s", counts)
    if wake and any(counts.values()):
        wake()
    return counts
