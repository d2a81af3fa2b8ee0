"""Home: greeting, help, language, the 📋 我的事项 screen and what free text means before intents."""

from __future__ import annotations

from handlers.core import Context, Reply
from handlers.feature import Command, Feature, MenuItem
from handlers.intents import Keywords, normalize
from handlers.nlu import extract_details
from handlers.onboarding import join_with_code
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from models.onboarding import looks_like_code
from models.people import set_locale

router = Router()


@router.intent("help", "help", "menu")
async def show_help(ctx: Context, _arg: str) -> Outcome:
    """The menu with a short guide, and the /commands this person uses: 我的预约 for everyone,
    今日名单 for whoever runs a service point (its team, the managers)."""
    lines = [ctx.t("help.text"), ctx.t("help.commands_everyone")]
    # From the roles already loaded with the message (no query: help stays one statement,
    # tests/test_round_trips.py); /today itself tells a volunteer outside a point's team.
    if ctx.has_role("manager") or ctx.has_role("volunteer"):
        lines.append(ctx.t("help.commands_station"))
    return with_menu(ctx, "\n".join(lines))


@router.intent("start", "start")
async def start(ctx: Context, arg: str) -> Outcome:
    """Greeting; `/start CODE` (a deep link) joins through an invitation; `/start x_rest` is the
    button `x:rest` of the feature that registered `x` (a door poster's `ci_<token>`)."""
    if arg.strip():
        pressed = await _deep_link_button(ctx, arg.strip())
        if pressed is not None:
            return pressed
        return await join_with_code(ctx, arg.strip())
    if ctx.person is not None:
        return with_menu(ctx, ctx.t("start.hello_known", name=ctx.person.name))
    return with_menu(ctx, ctx.t("start.hello_new"))


async def _deep_link_button(ctx: Context, arg: str) -> Outcome | None:
    """The button a deep link's start parameter names (`ci_<token>` → `ci:<token>`), if any;
    invitation codes have no underscore and stay codes."""
    prefix, sep, rest = arg.partition("_")
    if not sep or not rest or ctx.features is None or prefix not in ctx.features.router.payloads:
        return None
    outcome = await ctx.features.router.press(ctx, f"{prefix}:{rest}")
    if outcome is None:
        return [Reply(ctx.t(ctx.features.router.refusals.get(prefix, "error.stale_button")))]
    return outcome


@router.intent("language", "lang", "language")
async def language(ctx: Context, arg: str) -> Outcome:
    """Switch between Chinese and English ('/lang en', 'English', '中文', or a toggle)."""
    word = normalize(arg)
    if word in ("en", "english", "英文", "英语") or "english" in word:
        target = "en"
    elif word in ("zh", "中文", "汉语", "chinese", "简体中文") or "中文" in word:
        target = "zh"
    else:
        target = "en" if ctx.locale == "zh" else "zh"
    ctx.locale = await set_locale(ctx.session, ctx.account, ctx.person, target)
    return with_menu(ctx, ctx.t("lang.switched"))


@router.intent("status", "status", "mycases")
async def my_items(ctx: Context, arg: str) -> Outcome:
    """我的事项: what each feature lists for this person; 'R0012 怎么样了' opens that case."""
    if ctx.person is None or ctx.person.id is None or ctx.features is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    quoted = extract_details(arg).case if arg else None
    if quoted is not None:
        shown = await ctx.features.router.press(ctx, f"report:view:{quoted}")
        if shown is not None:
            return shown
    parts = await ctx.features.my_items(ctx)
    lines = [line for p in parts for line in p.lines]
    choices = [c for p in parts for c in p.choices]
    if not lines:
        if choices:
            return [Reply(ctx.t("status.none"), choices)]
        return with_menu(ctx, ctx.t("status.none"))
    text = "\n".join([ctx.t("status.title"), *lines])
    return [Reply(text, choices[:9]), *with_menu(ctx, ctx.t("status.hint"))]


@router.before_intents
async def media_or_code(ctx: Context, text: str) -> Outcome | None:
    """A bare photo is a report, a bare location looks for stations, a code joins."""
    inc = ctx.incoming
    intents = ctx.features.router.intents if ctx.features is not None else router.intents
    if not text and inc.photos and "report" in intents:
        return await intents["report"](ctx, "")
    if not text and inc.location is not None and "stations" in intents:
        return await intents["stations"](ctx, "")
    if looks_like_code(text):
        return await join_with_code(ctx, text)
    return None


feature = Feature(
    name="home",
    router=router,
    menu=(
        MenuItem("status", 70),
        MenuItem("language", 900),
        MenuItem("help", 910),
    ),
    commands=(
        Command("start", 0),
        Command("status", 70),
        Command("lang", 100),
        Command("cancel", 110),  # answered by the dispatcher itself, in every flow
        Command("help", 120),
    ),
    keywords=(
        Keywords(
            "status",
            zh=(
                "我的事项 进度 办得怎么样 怎么样了 我的申请 到哪一步 哪一步 "
                "处理结果 有结果 处理了吗 查进度 办好了吗 到哪了 催办 催一下 "
                "还没处理 没人处理 我的上报 我的投诉 我的报修 审核 批下来 "
                "批了吗 有回音 有消息吗 处理得怎么样 多久能 我上报的 我报的 "
                "我提交的 我反映的"
            ),
            en=(
                "status, progress, my cases, my case, my applications, my application, my "
                "reports, my report, my requests, my bookings, track, any news, what happened"
            ),
            factor=2.0,
            rank=6,
        ),
        Keywords(
            "help",
            zh=(
                "帮助 菜单 怎么用 你好 您好 使用说明 功能 能做什么 会什么 在吗 "
                "哈喽 指南 帮忙 说明 怎么操作 有人吗"
            ),
            en=(
                "help, menu, hello, hi, hey, start, how to use, commands, what can you do, usage, "
                "guide, instructions, good morning"
            ),
            factor=0.5,
            rank=10,
        ),
        Keywords(
            "language",
            zh=("英文 英语 中文 切换语言 语言 汉语 普通话 说中文 说英语 换成英文 换成中文"),
            en="language, english, chinese, switch language, lang, mandarin",
            factor=2.0,
            rank=11,
        ),
    ),
)
