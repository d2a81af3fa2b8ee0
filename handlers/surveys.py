"""问卷: answer a survey question by question (one choice, several, 1–5 stars, text or a voice
note); stopping half-way and coming back resumes at the first unanswered question (the progress
is `SurveyResponse` rows, not the chat's flow, which times out). Managers see the results per
question and per team as charts, and get them as .xlsx."""

from __future__ import annotations

from handlers.core import Ask, Choice, Context, Done, Reply, StepResult
from handlers.feature import Command, Feature
from handlers.intents import Keywords
from handlers.router import Answer, Flow, Outcome, Router, parse_number, start_flow
from handlers.ui import ask, with_menu
from models.errors import DomainError
from models.poll_results import may_create
from models.surveys import (
    Given,
    Progress,
    QuestionKind,
    SurveyQuestion,
    answer,
    get_survey,
    open_surveys_for,
    question_chart,
    recent_surveys,
    results,
    results_xlsx,
    start_or_resume,
    team_chart,
    team_scores,
)

router = Router()


def _registered(ctx: Context) -> bool:
    return ctx.person is not None and ctx.person.id is not None


@router.intent("survey", "survey")
async def surveys(ctx: Context, _arg: str) -> Outcome:
    """The open surveys; one is started (or resumed) at once."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await open_surveys_for(ctx.session, ctx.person, ctx.now)
    staff = may_create(ctx.roles)
    # Organisers see the results of the community's recent surveys, theirs to answer or not.
    managed = await recent_surveys(ctx.session, ctx.person.community_id) if staff else []
    if not found and not managed:
        return with_menu(ctx, ctx.t("surveys.none"))
    todo = [(s, r) for s, r in found if r is None or r.finished_at is None]
    if len(todo) == 1 and not staff:
        return await _begin(ctx, todo[0][0].id or 0)
    lines = [ctx.t("surveys.list_title")]
    choices = []
    for s, r in found:
        state = ctx.t("surveys.state_done" if r and r.finished_at else
                      "surveys.state_started" if r else "surveys.state_new")  # fmt: skip
        lines.append(f"· {s.title}（{state}）")
        if not (r and r.finished_at):
            choices.append(Choice(ctx.t("surveys.btn_answer", title=s.title[:16]), f"sv:go:{s.id}"))
    mine = {s.id for s, _ in found}
    for s in managed:
        if s.id not in mine:
            lines.append(f"· {s.title}")
        choices.append(
            Choice(ctx.t("surveys.btn_results", title=s.title[:12]), f"sv:results:{s.id}")
        )
    return [Reply("\n".join(lines), choices)]


@router.payload("sv:go", survey=int, refuse="surveys.not_found")
async def go(ctx: Context, survey: int) -> Outcome:
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    return await _begin(ctx, survey)


async def _begin(ctx: Context, survey_id: int) -> Outcome:
    assert ctx.person is not None
    progress = await start_or_resume(ctx.session, survey_id, ctx.person, ctx.now)
    if progress.question is None:
        return with_menu(ctx, ctx.t("surveys.already_done"))
    await start_flow(ctx, router.flows[SurveyFlow.name])
    head = (
        ctx.t("surveys.resume", answered=progress.answered, total=progress.total)
        if progress.resumed and progress.answered
        else "\n".join(
            x
            for x in (
                ctx.t("surveys.intro", title=progress.survey.title),
                progress.survey.intro or "",
            )
            if x
        )
    )
    return question_step(ctx, progress, note=head)


def _choices(ctx: Context, q: SurveyQuestion, picked: list[int]) -> list[Choice]:
    if q.kind == QuestionKind.SINGLE:
        return [Choice(label, f"opt:{i}") for i, label in enumerate(q.options, 1)]
    if q.kind == QuestionKind.MULTIPLE:
        marks = [Choice(("☑ " if i in picked else "☐ ") + label, f"mopt:{i}")
                 for i, label in enumerate(q.options, 1)]  # fmt: skip
        return [*marks, Choice(ctx.t("surveys.btn_next"), "next")]
    if q.kind == QuestionKind.STARS:
        return [Choice(f"{i} 星 " + "⭐" * i, f"star:{i}") for i in range(5, 0, -1)]
    return []


def question_step(ctx: Context, progress: Progress, *, note: str = "", error: str | DomainError | None = None) -> Ask:  # fmt: skip
    """Ask the next question, remembering which it is (the answer is checked against it)."""
    q = progress.question
    assert q is not None
    picked = list(ctx.flow_data.get("picked", [])) if ctx.flow_data.get("question") == q.id else []
    ctx.flow_data.update(survey=progress.survey.id, question=q.id, picked=picked)
    hint = ctx.t(f"surveys.hint_{q.kind}")
    return ask(ctx, "answer", "surveys.question", _choices(ctx, q, picked), error=error, note=note,
               hint=hint, number=progress.answered + 1, total=progress.total, text=q.text)  # fmt: skip


@router.flow
class SurveyFlow(Flow):
    """One step, asked once per question; the answer goes to the database at once."""

    name = "survey"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        return Done([])  # started by _begin, which asks the first question itself

    async def step_answer(self, ctx: Context, ans: Answer) -> StepResult:
        assert ctx.person is not None
        survey_id = int(ctx.flow_data.get("survey", 0))
        progress = await start_or_resume(ctx.session, survey_id, ctx.person, ctx.now)
        q = progress.question
        if q is None or q.id != ctx.flow_data.get("question"):
            if q is None:
                return Done(with_menu(ctx, ctx.t("surveys.thanks")))
            return question_step(ctx, progress)
        given = self._given(ctx, q, ans)
        if given is None:  # a toggle of a multiple-choice question
            return question_step(ctx, progress)
        try:
            after = await answer(ctx.session, survey_id, q.id or 0, ctx.person, given, ctx.now)
        except DomainError as err:
            return question_step(ctx, progress, error=err)
        if after.question is None:
            return Done(with_menu(ctx, ctx.t("surveys.thanks")))
        ctx.flow_data["picked"] = []
        return question_step(ctx, after)

    def _given(self, ctx: Context, q: SurveyQuestion, ans: Answer) -> Given | None:
        payload = ans.payload or ""
        text = ans.text.strip()
        if q.kind == QuestionKind.SINGLE:
            n = parse_number(payload.removeprefix("opt:")) if payload else parse_number(text)
            return Given(choices=(n,) if n is not None else ())
        if q.kind == QuestionKind.MULTIPLE:
            picked: list[int] = list(ctx.flow_data.get("picked", []))
            if payload.startswith("mopt:"):
                n = parse_number(payload.removeprefix("mopt:"))
                if n is not None:
                    picked = [p for p in picked if p != n] if n in picked else [*picked, n]
                ctx.flow_data["picked"] = picked
                return None
            if payload != "next" and text:  # typed "1 3" or "1、3"
                picked = [n for part in text.replace("、", " ").replace(",", " ").split()
                          if (n := parse_number(part)) is not None]  # fmt: skip
            return Given(choices=tuple(picked))
        if q.kind == QuestionKind.STARS:
            n = (
                parse_number(payload.removeprefix("star:"))
                if payload
                else parse_number(text.replace("星", "").replace("⭐", "") or str(text.count("⭐")))
            )
            return Given(stars=n)
        voice = ans.incoming.voice
        return Given(text=text or None,
                     voice_ref=f"{voice.channel}:{voice.ref}" if voice is not None else None)  # fmt: skip


@router.payload("sv:results", survey=int, refuse="surveys.not_found")
async def survey_results(ctx: Context, survey: int) -> Outcome:
    """Results per question (charts) and per team, and the .xlsx on Telegram: organisers only."""
    if not _registered(ctx) or not may_create(ctx.roles):
        return with_menu(ctx, ctx.t("polls.not_allowed"))
    assert ctx.person is not None
    found = await get_survey(ctx.session, survey)
    if found.community_id != ctx.person.community_id:
        raise DomainError("surveys.not_found")
    started, finished, per_question = await results(ctx.session, survey)
    lines = [ctx.t("surveys.results_title", title=found.title, started=started, finished=finished)]
    replies: list[Reply] = []
    for r in per_question:
        q = r.question
        if q.kind == QuestionKind.STARS and r.average is not None:
            lines.append(ctx.t("surveys.result_stars", number=q.position, text=q.text,
                               average=f"{r.average:.1f}", count=r.answers))  # fmt: skip
        elif q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            counts = "、".join(f"{o} {n}" for o, n in zip(q.options, r.counts, strict=True))
            lines.append(ctx.t("surveys.result_choices", number=q.position, text=q.text,
                               counts=counts))  # fmt: skip
        else:
            lines.append(ctx.t("surveys.result_texts", number=q.position, text=q.text,
                               count=len(r.texts), voices=r.voices))  # fmt: skip
            lines += [f"  “{t[:60]}”" for t in r.texts[:5]]
        chart = question_chart(r) if r.answers else None
        if chart is not None:
            replies.append(Reply(f"{q.position}. {q.text}", photo=chart,
                                 photo_name=f"survey-{survey}-{q.position}.png"))  # fmt: skip
    teams = await team_scores(ctx.session, survey)
    if teams:
        lines.append(ctx.t("surveys.by_team"))
        lines += [f"  {name}：{avg:.1f} 星（{n}）" for name, avg, n in teams]
        replies.append(Reply(ctx.t("surveys.team_chart"),
                             photo=team_chart(found.title, teams), photo_name="teams.png"))  # fmt: skip
    out = [Reply("\n".join(lines)), *replies]
    if ctx.incoming.channel == "telegram":
        out.append(Reply(ctx.t("surveys.exported"), document=await results_xlsx(ctx.session, survey),
                         document_name=f"survey-{survey}.xlsx"))  # fmt: skip
    else:
        out += with_menu(ctx, ctx.t("surveys.export_elsewhere", survey=survey))
    return out


feature = Feature(
    name="survey",
    router=router,
    commands=(Command("survey", 45),),
    keywords=(
        Keywords(
            "survey",
            zh="问卷 调查问卷 满意度调查 满意度 填问卷 答问卷 居民评议 测评 调查表",
            en="survey, questionnaire, satisfaction survey, feedback form",
            rank=3,
        ),
    ),
)
