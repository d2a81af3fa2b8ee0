"""The sign-up engine: a person takes places in something that has a limited number of them.

The package, one module per part of the engine (every change of places still locks the slot first,
in `places._locked_slot`): `tables` (slot, sign-up, reminder), `kinds` (what a feature registers),
`places` (reading, making slots, signing up), `waitlist` (cancelling, offers, promotion),
`door` (check-in, closing ended slots, no-shows), `clock` (reminders, the invariants).
Import from `models.signups`: every public name is re-exported here.

One engine serves every feature with places: a session at a service point (a haircut at
09:00–09:30, three places) and an event (a DIY workshop, twenty places, companions allowed).
A feature registers a `SlotKind` (how to describe a slot, who manages it, its own booking rules,
when to remind) and makes `Slot` rows; the engine does the rest:

* **Capacity.** `Slot.held` counts the places booked, checked in or offered to someone on the
  waitlist. Taking places is one conditional `UPDATE slot SET held = held + n WHERE held + n <=
  capacity`; the row count decides, so two people racing for the last place give one booking.
* **One active sign-up per person and slot**: `Signup.active_key` (`"<slot>:<person>"`, NULL once
  cancelled / passed / a no-show) is unique, and it is inserted first, with ON CONFLICT DO NOTHING.
* **The waitlist promotes itself.** A freed place (a cancel, a declined or expired offer, added
  capacity) is offered to the first waiting person whose party fits, with a claim window; the
  offered places stay held, so a freed place is offered to exactly one person at a time. Every
  change of places on a slot first locks the slot's row (FOR UPDATE on PostgreSQL; SQLite has one
  writer), so promotions of one slot never interleave.
* **Reminders are rows** (`SignupReminder`), fired once by the clock, never for a sign-up that
  is no longer active.
* Check-in by a manager of the slot (tap a name) or by code; people still booked when the slot
  ends become no-shows; checked-in people are handed to the kind's `after_slot` hook (a rating).

Every use case runs in the caller's transaction and raises `DomainError` with a message key
(`signup.*`) when it refuses; a refusal changes nothing.
"""

from __future__ import annotations

from models.signups.clock import check_invariants, fire_signup_reminders
from models.signups.door import (
    CHECK_IN_OPENS,
    check_in,
    check_in_by_code,
    check_in_open,
    check_in_self,
    close_ended_slots,
    no_shows_since,
)
from models.signups.kinds import (
    KINDS,
    AfterSlot,
    Check,
    Describe,
    MayManage,
    Reminders,
    SlotKind,
    kind_of,
    register_kind,
)
from models.signups.places import (
    SignupResult,
    active_signup,
    create_slot,
    free_places,
    get_signup,
    new_code,
    person_signups,
    sign_up,
    signups_of,
    waiting_position,
)
from models.signups.tables import (
    ACTIVE,
    HOLDING,
    Signup,
    SignupReminder,
    SignupStatus,
    Slot,
    SlotStatus,
)
from models.signups.waitlist import (
    add_capacity,
    cancel,
    cancel_slot,
    claim_offer,
    decline_offer,
    expire_offers,
    promote,
)

__all__ = [
    "ACTIVE",
    "CHECK_IN_OPENS",
    "HOLDING",
    "KINDS",
    "AfterSlot",
    "Check",
    "Describe",
    "MayManage",
    "Reminders",
    "Signup",
    "SignupReminder",
    "SignupResult",
    "SignupStatus",
    "Slot",
    "SlotKind",
    "SlotStatus",
    "active_signup",
    "add_capacity",
    "cancel",
    "cancel_slot",
    "check_in",
    "check_in_by_code",
    "check_in_open",
    "check_in_self",
    "check_invariants",
    "claim_offer",
    "close_ended_slots",
    "create_slot",
    "decline_offer",
    "expire_offers",
    "fire_signup_reminders",
    "free_places",
    "get_signup",
    "kind_of",
    "new_code",
    "no_shows_since",
    "person_signups",
    "promote",
    "register_kind",
    "sign_up",
    "signups_of",
    "waiting_position",
]
