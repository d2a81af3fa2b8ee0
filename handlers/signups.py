"""The sign-up engine's own buttons, shared by every kind of slot (bookings, events).

The engine's messages carry `su:claim:<signup>` / `su:pass:<signup>` (a waitlist offer) and
`su:go:<signup>` / `su:cancel:<signup>` (a reminder). The use cases re-check that the presser is
the person signed up (or who signed up for them); a forged id answers "not found".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import Context
from handlers.feature import Feature
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from models.signups import cancel, claim_offer, decline_offer, get_signup

router = Router()


SignupAction = Callable[[AsyncSession, int, int, datetime], Awaitable[Any]]


def _who(ctx: Context) -> int | None:
    return ctx.person.id if ctx.person is not None else None


async def _act(ctx: Context, signup: int, use_case: SignupAction, done_key: str) -> Outcome:
    """Run one of the engine's per-sign-up use cases for this person (it re-checks who may)."""
    person = _who(ctx)
    if person is None:
        return with_menu(ctx, ctx.t("signup.not_found"))
    await use_case(ctx.session, signup, person, ctx.now)
    return with_menu(ctx, ctx.t(done_key))


@router.payload("su:claim", signup=int, refuse="signup.not_found")
async def su_claim(ctx: Context, signup: int) -> Outcome:
    """Take the place a waitlist offer holds."""
    return await _act(ctx, signup, claim_offer, "signup.claimed")


@router.payload("su:pass", signup=int, refuse="signup.not_found")
async def su_pass(ctx: Context, signup: int) -> Outcome:
    """Let the offered place go to the next in the queue."""
    return await _act(ctx, signup, decline_offer, "signup.passed_ok")


@router.payload("su:go", signup=int, refuse="signup.not_found")
async def su_go(ctx: Context, signup: int) -> Outcome:
    """'I am going': nothing changes, the person hears it is noted."""
    person = _who(ctx)
    found = await get_signup(ctx.session, signup)
    if person is None or person not in (found.person_id, found.booked_by_id):
        return with_menu(ctx, ctx.t("signup.not_found"))
    return with_menu(ctx, ctx.t("signup.going", code=found.code))


@router.payload("su:cancel", signup=int, refuse="signup.not_found")
async def su_cancel(ctx: Context, signup: int) -> Outcome:
    """Cancel one's own sign-up; freed places go to the waitlist."""
    return await _act(ctx, signup, cancel, "signup.cancelled_ok")


feature = Feature(name="signups", router=router)
