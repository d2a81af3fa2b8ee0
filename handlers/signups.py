"""The sign-up engine's own buttons, shared by every kind of slot (bookings, events).

The engine's messages carry `su:claim:<signup>` / `su:pass:<signup>` (a waitlist offer) and
`su:go:<signup>` / `su:cancel:<signup>` (a reminder). The use cases re-check that the presser is
the person signed up (or who signed up for them); a forged id answers "not found".
"""

from __future__ import annotations

from handlers.core import Context
from handlers.feature import Feature
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from models.signups import cancel, claim_offer, decline_offer, get_signup

router = Router()


def _who(ctx: Context) -> int | None:
    return ctx.person.id if ctx.person is not None else None


@router.payload("su:claim", signup=int, refuse="signup.not_found")
async def su_claim(ctx: Context, signup: int) -> Outcome:
    """Take the place a waitlist offer holds."""
    person = _who(ctx)
    if person is None:
        return with_menu(ctx, ctx.t("signup.not_found"))
    await claim_offer(ctx.session, signup, person, ctx.now)
    return with_menu(ctx, ctx.t("signup.claimed"))


@router.payload("su:pass", signup=int, refuse="signup.not_found")
async def su_pass(ctx: Context, signup: int) -> Outcome:
    """Let the offered place go to the next in the queue."""
    person = _who(ctx)
    if person is None:
        return with_menu(ctx, ctx.t("signup.not_found"))
    await decline_offer(ctx.session, signup, person, ctx.now)
    return with_menu(ctx, ctx.t("signup.passed_ok"))


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
    person = _who(ctx)
    if person is None:
        return with_menu(ctx, ctx.t("signup.not_found"))
    await cancel(ctx.session, signup, person, ctx.now)
    return with_menu(ctx, ctx.t("signup.cancelled_ok"))


feature = Feature(name="signups", router=router)
