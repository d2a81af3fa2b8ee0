"""The organisers' side of 投票: create a poll in the chat (question, options with photos,
audience, per person or household, anonymous or named, deadline, reminder), their polls with
turnout by grid, the voter list of a named poll, the tally as .xlsx, the decision text, and
closing early. Every button re-checks `may_manage` (a forged one answers "not allowed")."""

from __future__ import annotations

from datetime import timedelta

from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.feature import Feature
from handlers.polls import deadline_text, registered, results_replies
from handlers.router import Answer, Flow, Outcome, Router, parse_number, start_flow
from handlers.ui import ask, with_menu
from models.errors import DomainError
from models.poll_results import (
    MAX_OPTIONS,
    PollDraft,
    close_early,
    create_poll,
    managed_poll,
    may_create,
    percent,
    polls_managed_by,
    set_decision,
    tally_xlsx,
    turnout_by_grid,
    voter_list,
)
from models.polls import PollAudience, PollStatus, tally

router = Router()

DAYS = (3, 7, 14)


def _staff(ctx: Context) -> bool:
    return registered(ctx) and may_create(ctx.roles)


@router.payload("pa:new")
async def new_poll(ctx: Context) -> Outcome:
    """➕ 发起投票: managers and grid leaders only."""
    if not _staff(ctx):
        return with_menu(ctx, ctx.t("polls.not_allowed"))
    return await start_flow(ctx, router.flows[NewPollFlow.name])


@router.flow
class NewPollFlow(Flow):
    """Question → options (text, or a photo with its caption) → audience → per person or
    household → anonymous or named → deadline → reminder → results early or at the close →
    confirm."""

    name = "poll_new"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data.update(options=[])
        return ask(ctx, "question", "polls.new_question")

    async def step_question(self, ctx: Context, answer: Answer) -> StepResult:
        text = answer.text.strip()
        if not text or len(text) > 200:
            return ask(ctx, "question", "polls.new_question", error="polls.new_bad_question")
        ctx.flow_data["question"] = text
        return self._ask_option(ctx)

    def _ask_option(self, ctx: Context, error: str | None = None) -> StepResult:
        options = ctx.flow_data.get("options", [])
        done = [Choice(ctx.t("polls.new_btn_options_done"), "done")] if len(options) >= 2 else []
        listed = "\n".join(f"{i}. {label}{' 🖼' if ref else ''}"
                           for i, (label, ref) in enumerate(options, 1))  # fmt: skip
        return ask(ctx, "option", "polls.new_option", done, error=error, note=listed,
                   number=len(options) + 1)  # fmt: skip

    async def step_option(self, ctx: Context, answer: Answer) -> StepResult:
        options: list[list[str | None]] = ctx.flow_data.get("options", [])
        if answer.payload == "done" and len(options) >= 2:
            return ask(ctx, "audience", "polls.new_audience", self._audiences(ctx))
        photos = answer.incoming.photos
        label = answer.text.strip()[:100]
        ref = f"{photos[0].channel}:{photos[0].ref}" if photos else None
        if not label and ref:
            label = ctx.t("polls.new_default_label", number=len(options) + 1)
        if not label:
            return self._ask_option(ctx, "polls.new_bad_option")
        options.append([label, ref])
        ctx.flow_data["options"] = options
        if len(options) >= MAX_OPTIONS:
            return ask(ctx, "audience", "polls.new_audience", self._audiences(ctx))
        return self._ask_option(ctx)

    def _audiences(self, ctx: Context) -> list[Choice]:
        choices = [Choice(ctx.t("polls.new_aud_residents"), "aud:residents")]
        if ctx.person is not None and ctx.person.grid_id is not None:
            choices.append(Choice(ctx.t("polls.new_aud_grid"), "aud:grid"))
        choices.append(Choice(ctx.t("polls.new_aud_reps"), "aud:reps"))
        return choices

    async def step_audience(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload not in ("aud:residents", "aud:grid", "aud:reps"):
            return ask(ctx, "audience", "polls.new_audience", self._audiences(ctx),
                       error="polls.new_pick")  # fmt: skip
        ctx.flow_data["audience"] = answer.payload.removeprefix("aud:")
        return ask(ctx, "count", "polls.new_count", self._counts(ctx))

    def _counts(self, ctx: Context) -> list[Choice]:
        return [Choice(ctx.t("polls.per_person"), "cnt:person"),
                Choice(ctx.t("polls.per_household"), "cnt:household")]  # fmt: skip

    async def step_count(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload not in ("cnt:person", "cnt:household"):
            return ask(ctx, "count", "polls.new_count", self._counts(ctx), error="polls.new_pick")
        ctx.flow_data["household"] = answer.payload == "cnt:household"
        return ask(ctx, "secret", "polls.new_secret", self._secrets(ctx))

    def _secrets(self, ctx: Context) -> list[Choice]:
        return [Choice(ctx.t("polls.new_named"), "sec:named"),
                Choice(ctx.t("polls.new_named_change"), "sec:change"),
                Choice(ctx.t("polls.new_anonymous"), "sec:anon")]  # fmt: skip

    async def step_secret(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload not in ("sec:named", "sec:change", "sec:anon"):
            return ask(
                ctx, "secret", "polls.new_secret", self._secrets(ctx), error="polls.new_pick"
            )
        ctx.flow_data["secret"] = answer.payload.removeprefix("sec:")
        return ask(ctx, "days", "polls.new_days", self._days(ctx))

    def _days(self, ctx: Context) -> list[Choice]:
        return [Choice(ctx.t("polls.new_days_n", days=d), f"days:{d}") for d in DAYS]

    async def step_days(self, ctx: Context, answer: Answer) -> StepResult:
        days = parse_number(answer.payload.removeprefix("days:")) if answer.payload else None
        if days is None and answer.payload is None:
            days = parse_number(answer.text.replace("天", "").replace("days", ""))
        if days is None or not 1 <= days <= 90:
            return ask(ctx, "days", "polls.new_days", self._days(ctx), error="polls.new_bad_days")
        ctx.flow_data["days"] = days
        return ask(ctx, "remind", "polls.new_remind", self._yes_no(ctx))

    def _yes_no(self, ctx: Context) -> list[Choice]:
        return [Choice(ctx.t("polls.new_remind_yes"), "rem:yes"),
                Choice(ctx.t("polls.new_remind_no"), "rem:no")]  # fmt: skip

    async def step_remind(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload not in ("rem:yes", "rem:no"):
            return ask(ctx, "remind", "polls.new_remind", self._yes_no(ctx), error="polls.new_pick")
        ctx.flow_data["remind"] = answer.payload == "rem:yes"
        return ask(ctx, "early", "polls.new_early", self._early(ctx))

    def _early(self, ctx: Context) -> list[Choice]:
        return [Choice(ctx.t("polls.new_early_no"), "early:no"),
                Choice(ctx.t("polls.new_early_yes"), "early:yes")]  # fmt: skip

    async def step_early(self, ctx: Context, answer: Answer) -> StepResult:
        """When the results show: after the close (the default), or while the poll is open."""
        if answer.payload not in ("early:no", "early:yes"):
            return ask(ctx, "early", "polls.new_early", self._early(ctx), error="polls.new_pick")
        ctx.flow_data["early"] = answer.payload == "early:yes"
        d = ctx.flow_data
        summary = ctx.t(
            "polls.new_summary",
            question=d["question"],
            options="、".join(str(label) for label, _ in d["options"]),
            audience=ctx.t(f"polls.new_aud_{d['audience']}"),
            count=ctx.t("polls.per_household" if d["household"] else "polls.per_person"),
            secret=ctx.t({"named": "polls.new_named", "change": "polls.new_named_change",
                          "anon": "polls.new_anonymous"}[d["secret"]]),
            days=d["days"],
        )  # fmt: skip
        summary += "\n" + ctx.t("polls.new_early_shown" if d["early"] else "polls.new_early_hidden")
        return ask(ctx, "confirm", "polls.new_confirm",
                   [Choice(ctx.t("polls.new_btn_open"), "open")], note=summary)  # fmt: skip

    async def step_confirm(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload != "open":
            return ask(ctx, "confirm", "polls.new_confirm",
                       [Choice(ctx.t("polls.new_btn_open"), "open")], error="polls.new_pick")  # fmt: skip
        assert ctx.person is not None
        d = ctx.flow_data
        audience = d["audience"]
        draft = PollDraft(
            question=d["question"],
            options=[(str(label), ref) for label, ref in d["options"]],
            closes_at=ctx.now + timedelta(days=int(d["days"])),
            audience=PollAudience.REPRESENTATIVES if audience == "reps" else PollAudience.RESIDENTS,
            grid_id=ctx.person.grid_id if audience == "grid" else None,
            per_household=bool(d["household"]),
            anonymous=d["secret"] == "anon",
            changeable=d["secret"] == "change",
            remind=bool(d["remind"]),
            results_before_close=bool(d.get("early", False)),
        )
        try:
            poll = await create_poll(ctx.session, draft, ctx.person, ctx.roles, ctx.now)
        except DomainError as err:
            return Done(with_menu(ctx, ctx.t(err.key, **err.values)))
        text = ctx.t("polls.new_done", question=poll.question, when=await deadline_text(ctx, poll))
        return Done([Reply(text, [Choice(ctx.t("polls.btn_manage"), f"pa:admin:{poll.id}")])])


@router.payload("pa:mine")
async def my_polls(ctx: Context) -> Outcome:
    """The polls this organiser manages, newest first."""
    if not _staff(ctx):
        return with_menu(ctx, ctx.t("polls.not_allowed"))
    assert ctx.person is not None
    polls = await polls_managed_by(ctx.session, ctx.person, ctx.roles)
    if not polls:
        return [Reply(ctx.t("polls.mine_none"), [Choice(ctx.t("polls.btn_new"), "pa:new")])]
    lines = [ctx.t("polls.mine_title")]
    choices = []
    for p in polls:
        state = ctx.t("polls.state_open" if p.status == PollStatus.OPEN else "polls.state_closed")
        lines.append(f"· {p.question}（{state}）")
        choices.append(Choice(ctx.t("polls.btn_admin_one", question=p.question[:16]),
                              f"pa:admin:{p.id}"))  # fmt: skip
    return [Reply("\n".join(lines), choices)]


@router.payload("pa:admin", poll=int, refuse="polls.not_found")
async def admin_card(ctx: Context, poll: int) -> Outcome:
    """The organiser's view: votes so far, turnout by grid, and what can be done."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await managed_poll(ctx.session, poll, ctx.person, ctx.roles)
    t = await tally(ctx.session, poll)
    lines = [ctx.t("polls.admin_title", question=found.question),
             ctx.t("polls.turnout", turnout=percent(t.voters, t.eligible), voters=t.voters,
                   eligible=t.eligible),
             ctx.t("polls.by_grid")]  # fmt: skip
    for g in await turnout_by_grid(ctx.session, found):
        lines.append(ctx.t("polls.grid_line", grid=g.grid, voted=g.voted, eligible=g.eligible,
                           turnout=percent(g.voted, g.eligible)))  # fmt: skip
    choices = [Choice(ctx.t("polls.btn_results"), f"poll:result:{poll}"),
               Choice(ctx.t("polls.btn_export"), f"pa:xlsx:{poll}")]  # fmt: skip
    if not found.anonymous:
        choices.append(Choice(ctx.t("polls.btn_voters"), f"pa:voters:{poll}"))
    choices.append(Choice(ctx.t("polls.btn_decide"), f"pa:decide:{poll}"))
    if found.status == PollStatus.OPEN:
        lines.append(ctx.t("polls.deadline", when=await deadline_text(ctx, found)))
        choices.append(Choice(ctx.t("polls.btn_close"), f"pa:close:{poll}"))
    else:
        lines.append(ctx.t("polls.closed"))
    return [Reply("\n".join(lines), choices)]


@router.payload("pa:voters", poll=int, refuse="polls.not_found")
async def voters(ctx: Context, poll: int) -> Outcome:
    """A named poll's voter list, for its organisers; an anonymous poll has none."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await managed_poll(ctx.session, poll, ctx.person, ctx.roles)
    rows = await voter_list(ctx.session, found)
    lines = [ctx.t("polls.voters_title", count=len(rows))]
    lines += [f"{i}. {name}：{label}" for i, (name, label) in enumerate(rows[:100], 1)]
    return with_menu(ctx, "\n".join(lines))


@router.payload("pa:xlsx", poll=int, refuse="polls.not_found")
async def export(ctx: Context, poll: int) -> Outcome:
    """The tally as .xlsx (a file on Telegram; elsewhere the command that writes it)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await managed_poll(ctx.session, poll, ctx.person, ctx.roles)
    if ctx.incoming.channel == "telegram":
        data = await tally_xlsx(ctx.session, found)
        return [Reply(ctx.t("polls.exported"), document=data, document_name=f"poll-{poll}.xlsx")]
    return with_menu(ctx, ctx.t("polls.export_elsewhere", poll=poll))


@router.payload("pa:close", poll=int, refuse="polls.not_found")
async def ask_close(ctx: Context, poll: int) -> Outcome:
    """提前结束: asks once more."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await managed_poll(ctx.session, poll, ctx.person, ctx.roles)
    return [Reply(ctx.t("polls.close_confirm", question=found.question),
                  [Choice(ctx.t("polls.btn_close_yes"), f"pa:closeok:{poll}")])]  # fmt: skip


@router.payload("pa:closeok", poll=int, refuse="polls.not_found")
async def do_close(ctx: Context, poll: int) -> Outcome:
    """Close now: the result goes to the audience, as at the deadline (once)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    closed = await close_early(ctx.session, poll, ctx.person, ctx.roles, ctx.now)
    found = await managed_poll(ctx.session, poll, ctx.person, ctx.roles)
    key = "polls.closed_now" if closed else "polls.closed"
    return [Reply(ctx.t(key)), *await results_replies(ctx, found), *with_menu(ctx, ctx.t("polls.results_end"))]  # fmt: skip


@router.payload("pa:decide", poll=int, refuse="polls.not_found")
async def decide(ctx: Context, poll: int) -> Outcome:
    """The organiser's decision text (sent with the result)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    await managed_poll(ctx.session, poll, ctx.person, ctx.roles)
    outcome = await start_flow(ctx, router.flows[DecisionFlow.name])
    ctx.flow_data["poll"] = poll
    return outcome


@router.flow
class DecisionFlow(Flow):
    """One question: the decision text."""

    name = "poll_decision"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        return ask(ctx, "text", "polls.decide_ask")

    async def step_text(self, ctx: Context, answer: Answer) -> StepResult:
        if not answer.text.strip():
            return ask(ctx, "text", "polls.decide_ask", error="polls.new_bad_question")
        assert ctx.person is not None
        await set_decision(ctx.session, int(ctx.flow_data.get("poll", 0)), ctx.person, ctx.roles,
                           answer.text)  # fmt: skip
        return Done(with_menu(ctx, ctx.t("polls.decided")))


feature = Feature(name="poll_admin", router=router)
