"""扫码签到: the organiser gets the event's door poster (a QR code and the code in print); a
resident who scans it opens the chat with `/start ci_<token>` and is checked in.

`/start ci_<token>` reaches the button `ci:<token>` (home's deep-link rule: `/start x_rest` is
the button `x:rest`); the same happens on WeChat when a parametric QR code with the scene
`ci_<token>` is scanned. The rules are `models/event_checkin.py`: signed up → checked in; not
signed up → a one-tap "sign up and check in" when places are left (`ci:join:<token>`); outside
the door's hours, full, waiting or not in the audience → told why, nothing changed.
"""

from __future__ import annotations

from handlers.core import Choice, Context, Reply
from handlers.event_poster import poster_pdf, poster_png, poster_words
from handlers.feature import Feature
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from models.errors import DomainError
from models.event_checkin import join_at_the_door, poster_of, scan_poster

router = Router()


@router.payload("ci:poster", event=int, refuse="events.poster_unknown")
async def poster(ctx: Context, event: int) -> Outcome:
    """The organiser's 签到海报: the PNG in the chat (and an A4 PDF to print, on Telegram)."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    try:
        found = await poster_of(ctx.session, event, ctx.person.id)
    except DomainError as err:
        key = "signup.not_allowed" if err.key == "error.forbidden" else err.key
        return with_menu(ctx, ctx.t(key))
    link_for = ctx.data.get("invite_link")
    link = link_for(found.start_parameter) if callable(link_for) else found.start_parameter
    if link == found.start_parameter:  # no Telegram bot named: the QR carries the typed code
        link = f"签到 {found.code}"
    png = poster_png(poster_words(ctx.translate, found), link)
    caption = ctx.t("events.poster_ready", title=found.title, code=found.code)
    replies = [Reply(caption, photo=png, photo_name=f"event-{event}-poster.png")]
    if ctx.incoming.channel == "telegram":  # WeChat official accounts send no files
        replies.append(
            Reply(
                ctx.t("events.poster_pdf"),
                document=poster_pdf(png),
                document_name=f"event-{event}-poster.pdf",
            )
        )
    hint = ctx.t("events.poster_hint", code=found.code)
    if ctx.incoming.channel in ("wechat", "wecom"):  # a QR code WeChat's own scanner follows
        hint += "\n" + ctx.t("events.poster_wechat", event=event)
    return replies + with_menu(ctx, hint)


def _refused(ctx: Context, err: DomainError) -> Outcome:
    return with_menu(ctx, ctx.t(err.key, **err.values))


@router.payload("ci", token=str, refuse="events.poster_unknown")
async def scanned(ctx: Context, token: str) -> Outcome:
    """The poster was scanned: checked in, or offered a place, or told why not."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("events.scan_register_first"))
    try:
        done = await scan_poster(ctx.session, token, ctx.person, ctx.now)
    except DomainError as err:
        return _refused(ctx, err)
    if done.may_join:
        choices = [Choice(ctx.t("events.btn_join_here"), f"ci:join:{token}")]
        return [Reply(ctx.t("events.scan_not_signed_up", title=done.event.title), choices)]
    key = "events.scan_already" if done.already else "events.scan_checked_in"
    return with_menu(ctx, ctx.t(key, title=done.event.title, place=done.event.place))


@router.payload("ci:join", token=str, refuse="events.poster_unknown")
async def join_here(ctx: Context, token: str) -> Outcome:
    """The one tap the poster offers to someone not signed up: a place, checked in at once."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("events.scan_register_first"))
    try:
        done = await join_at_the_door(ctx.session, token, ctx.person, ctx.now)
    except DomainError as err:
        return _refused(ctx, err)
    return with_menu(
        ctx, ctx.t("events.scan_joined", title=done.event.title, place=done.event.place)
    )


feature = Feature(name="event_checkin", router=router)
