"""我的队伍: a volunteer picks a team and skills, pauses pushes, sets quiet hours;
team leaders, grid leaders and managers keep the roster."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

from handlers.core import Ask, Choice, Context, Done, Reply, StepResult
from handlers.feature import Audience, Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, with_menu
from models.errors import DomainError
from models.people import community_zone
from models.tables import Person, Team
from models.teams import (
    SKILLS,
    add_member,
    approve_member,
    candidates,
    join_team,
    joinable_teams,
    leave_team,
    managed_team,
    managed_teams,
    may_manage,
    memberships,
    pause,
    remove_member,
    resume,
    roster,
    set_member_active,
    set_quiet_hours,
)

router = Router()

PAUSE_DAYS = (1, 3, 7, 30)
QUIET_PRESETS = ((22, 7), (21, 8), (12, 14))


def _is_volunteer(ctx: Context) -> bool:
    return ctx.has_role("volunteer") or ctx.has_role("grid_leader")


def _ints(rest: str, count: int) -> list[int] | None:
    """'3:17' → [3, 17] when there are exactly `count` short numbers; else None."""
    parts = rest.split(":")
    if len(parts) != count or not all(p.isdigit() and len(p) <= 9 for p in parts):
        return None
    return [int(p) for p in parts]


def skill_choices(ctx: Context, chosen: list[str], prefix: str = "skill") -> list[Choice]:
    """The multi-select: one toggle per skill (☑ chosen, ☐ not), then 完成."""
    marks = [
        Choice(("☑ " if s in chosen else "☐ ") + ctx.t(f"report.cat_{s}"), f"{prefix}:{s}")
        for s in SKILLS
    ]
    return [*marks, Choice(ctx.t("team.btn_skills_done"), f"{prefix}:done")]


def toggle(chosen: list[str], skill: str) -> list[str]:
    """The selection with `skill` switched (unknown skills change nothing)."""
    if skill not in SKILLS:
        return chosen
    return [s for s in chosen if s != skill] if skill in chosen else [*chosen, skill]


def skills_text(ctx: Context, skills: list[str]) -> str:
    """'杂物堆放、环境卫生', or 'all' when empty."""
    if not skills:
        return ctx.t("team.skills_all")
    return "、".join(ctx.t(f"report.cat_{s}") for s in skills)


async def offer_team_choice(ctx: Context, intro: str = "") -> StepResult | None:
    """After a volunteer joins without a team: ask which of their grid's teams (None: no teams)."""
    assert ctx.person is not None and ctx.person.id is not None
    if await memberships(ctx.session, ctx.person.id):
        return None
    if not await joinable_teams(ctx.session, ctx.person):
        return None
    ctx.conversation.flow = TeamPickFlow.name
    ctx.conversation.step = None
    ctx.flow_data = {}
    return await router.flows[TeamPickFlow.name].start(ctx, f"intro:{intro}" if intro else "")


@router.flow
class TeamPickFlow(Flow):
    """Which team (with one-line descriptions), then which skills (multi-select)."""

    name = "team_pick"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        intro = arg.removeprefix("intro:") if arg.startswith("intro:") else ""
        if arg.isdigit():  # change my skills in this team
            return await self._ask_skills_for(ctx, int(arg))
        return await self._ask_team(ctx, intro)

    async def _ask_team(self, ctx: Context, intro: str = "") -> StepResult:
        assert ctx.person is not None
        teams = await joinable_teams(ctx.session, ctx.person)
        if not teams:
            return Done(with_menu(ctx, (intro + "\n" if intro else "") + ctx.t("team.no_teams")))
        lines = [intro] if intro else []
        lines.append(ctx.t("team.ask_team"))
        for i, team in enumerate(teams, 1):
            lines.append(ctx.t("team.option", n=i, name=team.name, about=team.description or "-"))
        choices = [Choice(t.name, f"pick:{t.id}") for t in teams]
        choices.append(Choice(ctx.t("team.btn_later"), "pick:none"))
        return Ask("team", [Reply("\n".join(lines), choices)])

    async def step_team(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        raw = (answer.payload or "").removeprefix("pick:")
        if raw == "none":
            return Done(with_menu(ctx, ctx.t("team.later")))
        teams = {str(t.id): t for t in await joinable_teams(ctx.session, ctx.person)}
        team = teams.get(raw)
        if team is None:
            return await self._ask_team(ctx, ctx.t("register.pick_one"))
        ctx.flow_data["team"] = team.id
        ctx.flow_data["skills"] = []
        return self._ask_skills(ctx, team)

    async def _ask_skills_for(self, ctx: Context, team_id: int) -> StepResult:
        assert ctx.person is not None and ctx.person.id is not None
        mine = {m.team.id: m for m in await memberships(ctx.session, ctx.person.id)}
        found = mine.get(team_id)
        if found is None:
            return Done(with_menu(ctx, ctx.t("team.not_member")))
        ctx.flow_data["team"] = team_id
        ctx.flow_data["skills"] = list(found.member.skills)
        return self._ask_skills(ctx, found.team)

    def _ask_skills(self, ctx: Context, team: Team, note: str = "") -> StepResult:
        choices = skill_choices(ctx, ctx.flow_data["skills"])
        return ask(ctx, "skills", "team.ask_skills", choices, note=note, team=team.name)

    async def step_skills(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        team = await ctx.session.get(Team, int(ctx.flow_data["team"]))
        if team is None:
            return Done(with_menu(ctx, ctx.t("team.not_found")))
        raw = (answer.payload or "").removeprefix("skill:")
        if answer.payload is None or raw not in (*SKILLS, "done"):
            return self._ask_skills(ctx, team, ctx.t("team.skills_hint"))
        if raw != "done":
            ctx.flow_data["skills"] = toggle(list(ctx.flow_data["skills"]), raw)
            return self._ask_skills(ctx, team)
        skills = list(ctx.flow_data["skills"])
        member = await join_team(ctx.session, ctx.person, team.id or 0, skills, ctx.now)
        key = "team.joined" if member.approved else "team.joined_waiting"
        return Done(with_menu(ctx, ctx.t(key, team=team.name, skills=skills_text(ctx, skills))))


@router.intent("myteam", "team")
async def my_team(ctx: Context, _arg: str) -> Outcome:
    """我的队伍: my teams, skills and push settings, with the buttons to change them."""
    if ctx.person is None or ctx.person.id is None or not _is_volunteer(ctx):
        return with_menu(ctx, ctx.t("error.volunteers_only"))
    rows = await memberships(ctx.session, ctx.person.id)
    if not rows:
        started = await offer_team_choice(ctx)
        if started is None:
            return with_menu(ctx, ctx.t("team.no_teams"))
        return started
    zone = await community_zone(ctx.session, ctx.person.community_id)
    lines = [ctx.t("team.mine_title")]
    choices: list[Choice] = []
    for m in rows:
        state = ctx.t("team.state_ok")
        if not m.member.approved:
            state = ctx.t("team.state_waiting")
        elif not m.member.active:
            state = ctx.t("team.state_inactive")
        lines.append(ctx.t("team.mine_line", team=m.team.name, state=state,
                           skills=skills_text(ctx, m.member.skills)))  # fmt: skip
        choices.append(
            Choice(ctx.t("team.btn_skills", team=m.team.name), f"team:skills:{m.team.id}")
        )
        if await may_manage(ctx.session, ctx.person, ctx.roles, m.team):
            choices.append(
                Choice(ctx.t("team.btn_roster", team=m.team.name), f"team:roster:{m.team.id}")
            )
        choices.append(Choice(ctx.t("team.btn_leave", team=m.team.name), f"team:leave:{m.team.id}"))
    first = rows[0].member
    if first.paused_until is not None and first.paused_until > ctx.now:
        until = first.paused_until.astimezone(zone).strftime("%Y-%m-%d")
        lines.append(ctx.t("team.paused_line", date=until))
        choices.insert(0, Choice(ctx.t("team.btn_resume"), "team:resume"))
    else:
        choices.insert(0, Choice(ctx.t("team.btn_pause"), "team:pause"))
    if first.quiet_from is not None:
        lines.append(ctx.t("team.quiet_line", start=first.quiet_from, end=first.quiet_to))
    else:
        lines.append(ctx.t("team.quiet_off_line"))
    choices.insert(1, Choice(ctx.t("team.btn_quiet"), "team:quiet"))
    choices.append(Choice(ctx.t("team.btn_join_other"), "team:join"))
    return [Reply("\n".join(lines), choices)]


@router.intent("roster", "roster")
async def teams_to_manage(ctx: Context, _arg: str) -> Outcome:
    """队伍管理: the teams this person may manage; one is opened directly."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    teams = await managed_teams(ctx.session, ctx.person, ctx.roles)
    if not teams:
        return with_menu(ctx, ctx.t("error.forbidden"))
    if len(teams) == 1:
        return await show_roster(ctx, teams[0].id or 0)
    choices = [Choice(t.name, f"team:roster:{t.id}") for t in teams]
    return [Reply(ctx.t("team.pick_roster"), choices)]


async def show_roster(ctx: Context, team_id: int) -> Outcome:
    """The roster: each member with hours, rating and state; one button per member."""
    assert ctx.person is not None
    team = await managed_team(ctx.session, ctx.person, ctx.roles, team_id)
    lines = [ctx.t("team.roster_title", team=team.name)]
    choices: list[Choice] = []
    for i, line in enumerate(await roster(ctx.session, ctx.person, ctx.roles, team_id), 1):
        m = line.member
        flags = []
        if m.is_leader:
            flags.append(ctx.t("team.flag_leader"))
        if not m.approved:
            flags.append(ctx.t("team.state_waiting"))
        if not m.active:
            flags.append(ctx.t("team.state_inactive"))
        if m.paused_until is not None and m.paused_until > ctx.now:
            flags.append(ctx.t("team.flag_paused"))
        rating = f"{line.rating:.1f}★ ({line.ratings})" if line.rating is not None else "-"
        lines.append(ctx.t("team.roster_line", n=i, name=line.person.name,
                           hours=f"{line.minutes / 60:.1f}", rating=rating,
                           flags=" ".join(flags), skills=skills_text(ctx, m.skills)))  # fmt: skip
        choices.append(
            Choice(f"{i}. {line.person.name}", f"team:member:{team_id}:{line.person.id}")
        )
    choices.append(Choice(ctx.t("team.btn_add"), f"team:add:{team_id}"))
    return [Reply("\n".join(lines), choices[:20])]


async def member_card(ctx: Context, team_id: int, person_id: int) -> Outcome:
    """One member and what the manager may do: approve, deactivate / activate, remove."""
    assert ctx.person is not None
    for line in await roster(ctx.session, ctx.person, ctx.roles, team_id):
        if line.person.id != person_id:
            continue
        m = line.member
        rating = f"{line.rating:.1f}★ ({line.ratings})" if line.rating is not None else "-"
        text = ctx.t("team.member_card", name=line.person.name, hours=f"{line.minutes / 60:.1f}",
                     rating=rating, skills=skills_text(ctx, m.skills))  # fmt: skip
        arg = f"{team_id}:{person_id}"
        choices = []
        if not m.approved:
            choices.append(Choice(ctx.t("team.btn_approve"), f"team:approve:{arg}"))
        if m.active:
            choices.append(Choice(ctx.t("team.btn_deactivate"), f"team:deact:{arg}"))
        else:
            choices.append(Choice(ctx.t("team.btn_activate"), f"team:act:{arg}"))
        choices.append(Choice(ctx.t("team.btn_remove"), f"team:remove:{arg}"))
        choices.append(Choice(ctx.t("team.btn_back_roster"), f"team:roster:{team_id}"))
        return [Reply(text, choices)]
    raise DomainError("team.not_member")


@router.payload("team")
async def team_button(ctx: Context, rest: str) -> Outcome:
    """team:<action>[:<team>[:<person>]] — every action is re-checked by its use case."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    action, _, tail = rest.partition(":")
    volunteer_actions = {"pause", "quiet", "resume", "join", "skills", "leave"}
    if action in volunteer_actions and not _is_volunteer(ctx):
        return with_menu(ctx, ctx.t("error.volunteers_only"))
    if action == "pause":
        return await start_flow(ctx, router.flows[PauseFlow.name])
    if action == "quiet":
        return await start_flow(ctx, router.flows[QuietFlow.name])
    if action == "resume":
        await resume(ctx.session, ctx.person)
        return with_menu(ctx, ctx.t("team.resumed"))
    if action == "join":
        return await start_flow(ctx, router.flows[TeamPickFlow.name])
    one = _ints(tail, 1)
    two = _ints(tail, 2)
    if action == "skills" and one:
        return await start_flow(ctx, router.flows[TeamPickFlow.name], str(one[0]))
    if action == "leave" and one:
        team = await leave_team(ctx.session, ctx.person, one[0], ctx.now)
        return with_menu(ctx, ctx.t("team.left", team=team.name))
    if action == "roster" and one:
        return await show_roster(ctx, one[0])
    if action == "add" and one:
        people = await candidates(ctx.session, ctx.person, ctx.roles, one[0])
        if not people:
            return with_menu(ctx, ctx.t("team.no_candidates"))
        choices = [Choice(p.name, f"team:addp:{one[0]}:{p.id}") for p in people[:20]]
        return [Reply(ctx.t("team.ask_add"), choices)]
    if two is None:
        return with_menu(ctx, ctx.t("error.stale_button"))
    team_id, person_id = two
    if action == "member":
        return await member_card(ctx, team_id, person_id)
    done: Person
    if action == "addp":
        done = await add_member(ctx.session, ctx.person, ctx.roles, team_id, person_id, ctx.now)
        key = "team.added_ok"
    elif action == "approve":
        done, changed = await approve_member(ctx.session, ctx.person, ctx.roles, team_id, person_id, ctx.now)  # fmt: skip
        key = "team.approved_ok" if changed else "team.approved_already"
    elif action in ("deact", "act"):
        done = await set_member_active(ctx.session, ctx.person, ctx.roles, team_id, person_id,
                                       action == "act", ctx.now)  # fmt: skip
        key = "team.activated_ok" if action == "act" else "team.deactivated_ok"
    elif action == "remove":
        done = await remove_member(ctx.session, ctx.person, ctx.roles, team_id, person_id, ctx.now)
        key = "team.removed_ok"
    else:
        return with_menu(ctx, ctx.t("error.stale_button"))
    return [Reply(ctx.t(key, name=done.name)), *await show_roster(ctx, team_id)]


def parse_date(text: str, today: date) -> date | None:
    """'2026-12-10', '12-10', '12月10日', '12/10' → a date (this year, or next if past); else None."""
    s = unicodedata.normalize("NFKC", text).strip()
    m = re.fullmatch(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})[日号]?", s)
    if not m:
        return None
    year = int(m.group(1)) if m.group(1) else today.year
    try:
        day = date(year, int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    if not m.group(1) and day <= today:
        try:
            day = day.replace(year=today.year + 1)
        except ValueError:
            return None
    return day


@router.flow
class PauseFlow(Flow):
    """暂停接单: until when (a few choices, or a typed date)."""

    name = "team_pause"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        return self._ask(ctx)

    def _ask(self, ctx: Context, note: str = "") -> StepResult:
        choices = [Choice(ctx.t("team.pause_days", days=d), f"pause:{d}") for d in PAUSE_DAYS]
        return ask(ctx, "until", "team.ask_pause", choices, note=note)

    async def step_until(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        zone = await community_zone(ctx.session, ctx.person.community_id)
        today = ctx.now.astimezone(zone).date()
        raw = (answer.payload or "").removeprefix("pause:")
        if answer.payload and raw.isdigit() and int(raw) in PAUSE_DAYS:
            until: date | None = today + timedelta(days=int(raw))
        else:
            until = parse_date(answer.text, today)
        if until is None:
            return self._ask(ctx, ctx.t("team.pause_date_hint"))
        try:
            await pause(ctx.session, ctx.person, until, ctx.now)
        except DomainError as err:
            if err.key != "team.pause_bad_date":
                raise
            return self._ask(ctx, ctx.t(err.key, **err.values))
        return Done(with_menu(ctx, ctx.t("team.paused_ok", date=until.isoformat())))


def parse_hours(text: str) -> tuple[int, int] | None:
    """'22-7', '22:00-07:00', '22点到7点' → (22, 7); else None."""
    s = unicodedata.normalize("NFKC", text).strip()
    m = re.fullmatch(
        r"(\d{1,2})(?::00)?\s*(?:点)?\s*(?:-|~|到|至|—)\s*(\d{1,2})(?::00)?\s*(?:点)?", s
    )
    if not m:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    if not (0 <= start <= 23 and 0 <= end <= 23) or start == end:
        return None
    return start, end


@router.flow
class QuietFlow(Flow):
    """免打扰时段: from which hour to which (presets, typed '22-7', or off)."""

    name = "team_quiet"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        return self._ask(ctx)

    def _ask(self, ctx: Context, note: str = "") -> StepResult:
        choices = [
            Choice(ctx.t("team.quiet_preset", start=a, end=b), f"quiet:{a}-{b}")
            for a, b in QUIET_PRESETS
        ]
        choices.append(Choice(ctx.t("team.btn_quiet_off"), "quiet:off"))
        return ask(ctx, "hours", "team.ask_quiet", choices, note=note)

    async def step_hours(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        raw = (answer.payload or "").removeprefix("quiet:") if answer.payload else answer.text
        if raw == "off":
            await set_quiet_hours(ctx.session, ctx.person, None, None)
            return Done(with_menu(ctx, ctx.t("team.quiet_cleared")))
        hours = parse_hours(raw)
        if hours is None:
            return self._ask(ctx, ctx.t("team.quiet_bad"))
        await set_quiet_hours(ctx.session, ctx.person, *hours)
        return Done(with_menu(ctx, ctx.t("team.quiet_set", start=hours[0], end=hours[1])))


feature = Feature(
    name="teams",
    router=router,
    menu=(
        MenuItem("myteam", 105, Audience.VOLUNTEER),
        MenuItem("roster", 250, Audience.STAFF),
    ),
    commands=(Command("team", 85),),
    keywords=(
        Keywords(
            "myteam",
            zh="我的队伍 加入队伍 换队伍 退出队伍 暂停接单 恢复接单 免打扰 我的技能 服务队",
            en="my team, join a team, pause tasks, resume tasks, quiet hours, my skills",
            rank=9,
        ),
    ),
)
