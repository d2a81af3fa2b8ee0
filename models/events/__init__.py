"""Events and meetings (活动、议事协商会) on the sign-up engine.

The package: `tables` (event, invitee, duty, rating), `rules` (who may join or organise, the
reminder times), `organising` (create, join, change, cancel, announce), `lists` (the roster,
its .xlsx, the .ics), `duties` (helpers on issue 4's tasks), `after` (ending, hours, ratings),
`kind` (the engine's slot kind and the duty task kind, registered at import), `demo`.
Import from `models.events`: every public name is re-exported here.

An event owns one slot of the engine (kind "event"): its places, waitlist, reminders and
check-in are the engine's. What is the event's own: who may join (an audience rule), the
reminder times it sets, companions, invitees with RSVP for meetings, the minutes, and telling
everyone signed up when the time or place changes.

Audience rules (data, `Event.audience`): `all` (every verified resident of the community),
`families` (households with a child under 14), `volunteers`, `couriers`, `grid` (one grid,
`Event.grid_id`), `invitees` (the `EventInvitee` rows only). Organisers and managers always see
their events.
"""

from __future__ import annotations

from models.events.after import end_event, rate_event, rating_buttons, unrated
from models.events.demo import DEMO_CODE, DEMO_MEETING, DEMO_WORKSHOP, seed_demo_events
from models.events.duties import add_duties, duty_of
from models.events.kind import EVENT
from models.events.lists import ics, roster, roster_xlsx
from models.events.organising import (
    NOTICE_AUDIENCES,
    Change,
    announce_event,
    cancel_event,
    change_event,
    create_event,
    get_event,
    join,
    upcoming_for,
)
from models.events.rules import (
    audience_refusal,
    event_of_slot,
    may_create_events,
    may_organise,
    when_text,
    zone_of,
)
from models.events.tables import (
    CHILD_AGE,
    DUTY_KIND,
    KIND,
    Audience,
    Event,
    EventDuty,
    EventInvitee,
    EventKind,
    EventRating,
    Rsvp,
)

__all__ = [
    "CHILD_AGE",
    "DEMO_CODE",
    "DEMO_MEETING",
    "DEMO_WORKSHOP",
    "DUTY_KIND",
    "EVENT",
    "KIND",
    "NOTICE_AUDIENCES",
    "Audience",
    "Change",
    "Event",
    "EventDuty",
    "EventInvitee",
    "EventKind",
    "EventRating",
    "Rsvp",
    "add_duties",
    "announce_event",
    "audience_refusal",
    "cancel_event",
    "change_event",
    "create_event",
    "duty_of",
    "end_event",
    "event_of_slot",
    "get_event",
    "ics",
    "join",
    "may_create_events",
    "may_organise",
    "rate_event",
    "rating_buttons",
    "roster",
    "roster_xlsx",
    "seed_demo_events",
    "unrated",
    "upcoming_for",
    "when_text",
    "zone_of",
]
