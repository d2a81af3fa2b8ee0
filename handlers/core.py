"""The conversation vocabulary every channel and every feature shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import ChannelAccount, Conversation, Person

if TYPE_CHECKING:  # only for the annotation: the features are built from this vocabulary
    from handlers.feature import FeatureSet


@dataclass(frozen=True)
class Location:
    """A shared point."""

    latitude: float
    longitude: float


@dataclass(frozen=True)
class Venue:
    """A place to show on a map: a point with its name and address (Telegram sendVenue; channels
    without maps show the name and address as a line of text)."""

    latitude: float
    longitude: float
    title: str
    address: str


@dataclass(frozen=True)
class Media:
    """A photo or voice note, stored by reference on the channel it came from."""

    channel: str
    ref: str
    kind: str = "photo"
    size: int | None = None  # bytes, when the platform says
    name: str | None = None  # a document's file name ("底册.xlsx")


@dataclass(frozen=True)
class Incoming:
    """One thing a person said or pressed, whatever the channel."""

    channel: str
    chat_id: str
    user_id: str
    text: str = ""
    payload: str | None = None
    photos: tuple[Media, ...] = ()
    voice: Media | None = None
    location: Location | None = None
    document: Media | None = None  # a file that is not a picture (a register .xlsx / .csv)
    message_id: str | None = None
    display_name: str | None = None
    language_hint: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class Choice:
    """A button: what it says and the (short, untrusted) payload it sends back."""

    label: str
    payload: str


@dataclass
class Reply:
    """One message to show: text, buttons, an optional picture, whether the main menu shows."""

    text: str
    choices: list[Choice] = field(default_factory=list)
    photo: bytes | None = None
    photo_name: str | None = None
    # A stored photo, "channel:ref" (a Telegram file id …); shown only on that channel.
    photo_ref: str | None = None
    menu: list[Choice] | None = None
    # A file to send with the text where the channel can (Telegram): an .ics, an .xlsx.
    document: bytes | None = None
    document_name: str | None = None
    # A place sent after the text as a location message where the channel has maps (Telegram).
    venue: Venue | None = None
    # Several stored pictures shown together, (photo reference, caption) each: an album on
    # Telegram (sendMediaGroup), numbered pictures on WeChat and the console.
    album: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Ask:
    """A flow step's answer: show these replies and wait at `step` for the next input."""

    step: str
    replies: list[Reply]


@dataclass
class Done:
    """The flow ended (well, or by abort): show the replies and clear the flow."""

    replies: list[Reply]


StepResult = Ask | Done
Translate = Callable[..., str]


@dataclass
class Context:
    """What a handler may use: who is talking, in which language, the session, the clock."""

    session: AsyncSession
    incoming: Incoming
    account: ChannelAccount
    person: Person | None
    roles: frozenset[tuple[str, int | None]]
    locale: str
    now: datetime
    conversation: Conversation
    translate: Callable[[str, str], str]
    flow_data: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    # The bot's declared features (the main menu, the 我的事项 providers, task-card hooks).
    features: FeatureSet | None = None

    def t(self, key: str, **values: Any) -> str:
        """The text for `key` in the person's language, with values filled in."""
        text = self.translate(self.locale, key)
        return text.format(**values) if values else text

    def has_role(self, role: str, grid_id: int | None = None) -> bool:
        """True when the person holds `role` (for `grid_id`, or community-wide)."""
        for r, g in self.roles:
            if r == role and (grid_id is None or g is None or g == grid_id):
                return True
        return False

    @property
    def is_staff(self) -> bool:
        return self.has_role("manager") or self.has_role("grid_leader")
