"""绑定其他账号: one person, one vote on every app. The app a person already uses gives a one-time
code (six digits, ten minutes); sending it from the other app links that account; a linked
account can be undone. The rules (single use, audit, refusing an account linked to someone
else, five wrong codes a day) are `models/linking.py`."""

from __future__ import annotations

from handlers.core import Choice, Context, Reply
from handlers.feature import Command, Feature, MyItems
from handlers.intents import Keywords
from handlers.router import Outcome, Router
from handlers.ui import CHANNEL_NAMES, with_menu
from models.linking import (
    accounts_of,
    looks_like_link_code,
    new_link_code,
    redeem_link_code,
    unlink_account,
)
from models.people import active_roles

router = Router()


def _channel(ctx: Context, channel: str) -> str:
    return ctx.t(CHANNEL_NAMES.get(channel, "channel.other"))


@router.intent("link", "link")
async def link(ctx: Context, _arg: str) -> Outcome:
    """The accounts linked to this person, a fresh code for the other app, and unlink buttons."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    code = await new_link_code(ctx.session, ctx.person, ctx.now)
    accounts = await accounts_of(ctx.session, ctx.person.id)
    lines = [ctx.t("link.code", code=code.code)]
    choices = []
    others = [a for a in accounts if a.id != ctx.account.id]
    if others:
        lines.append(
            ctx.t("link.linked", channels="、".join(_channel(ctx, a.channel) for a in others))
        )
        choices = [
            Choice(
                ctx.t("link.btn_unlink", channel=_channel(ctx, a.channel)), f"link:unlink:{a.id}"
            )
            for a in others
        ]
    lines.append(ctx.t("link.hint"))
    if choices:
        return [Reply("\n".join(lines), choices)]
    return with_menu(ctx, "\n".join(lines))


@router.before_intents
async def code_from_the_other_app(ctx: Context, text: str) -> Outcome | None:
    """Six digits sent on their own: a link code from the person's other app."""
    if not looks_like_link_code(text):
        return None
    person = await redeem_link_code(ctx.session, ctx.account, text, ctx.now)
    ctx.person = person
    ctx.roles = await active_roles(ctx.session, person)
    return with_menu(ctx, ctx.t("link.done", name=person.name))


@router.payload("link:unlink", account=int, refuse="linking.not_yours")
async def unlink(ctx: Context, account: int) -> Outcome:
    """Undo a link (audited); the account asking cannot unlink itself."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    gone = await unlink_account(ctx.session, ctx.person, account, ctx.account, ctx.now)
    return with_menu(ctx, ctx.t("link.unlinked", channel=_channel(ctx, gone.channel)))


async def _my_items(ctx: Context) -> MyItems | None:
    if ctx.person is None:
        return None
    return MyItems(choices=[Choice(ctx.t("menu.link"), "intent:link")])


feature = Feature(
    name="link",
    router=router,
    commands=(Command("link", 95),),
    keywords=(
        Keywords(
            "link",
            zh="绑定 绑定账号 绑定其他账号 关联账号 绑定微信 绑定电报 绑定码 解绑 两个账号 换手机",
            en="link account, link my account, link, unlink, connect account, second account",
            rank=4,
        ),
    ),
    my_items=(95, _my_items),
)
