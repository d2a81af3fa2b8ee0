"""Staff tools: invitation codes with a printable QR code for the notice board."""

from __future__ import annotations

import io
from datetime import datetime

import qrcode

from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.feature import Audience, Feature, MenuItem
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.teams import skill_choices, skills_text, toggle
from handlers.ui import ask, with_menu
from models.errors import DomainError
from models.onboarding import create_invitation
from models.people import Scope, community_zone, grids_in_scope
from models.tables import Grid, Role, Team
from models.teams import grid_teams

router = Router()


def qr_png(text: str) -> bytes:
    """A PNG QR code of `text`, large enough to print on an A4 notice."""
    img = qrcode.make(text, box_size=12, border=4)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


async def local_date(ctx: Context, moment: datetime) -> str:
    """A date as the community's calendar shows it (times are stored in UTC)."""
    assert ctx.person is not None
    zone = await community_zone(ctx.session, ctx.person.community_id)
    return moment.astimezone(zone).strftime("%Y-%m-%d")


@router.intent("invite", "invite")
async def invite(ctx: Context, _arg: str) -> Outcome:
    """Managers (and grid leaders, for their grid) make invitation codes."""
    if ctx.person is None or not ctx.is_staff:
        return with_menu(ctx, ctx.t("error.forbidden"))
    return await start_flow(ctx, router.flows["invite"])


@router.flow
class InviteFlow(Flow):
    """role → grid → (a volunteer's: team, default skills) → code, link and QR image."""

    name = "invite"

    def _roles(self, ctx: Context) -> list[str]:
        if ctx.has_role(Role.MANAGER):
            return [Role.RESIDENT, Role.VOLUNTEER, Role.REPRESENTATIVE, Role.GRID_LEADER]
        return [Role.RESIDENT, Role.VOLUNTEER]

    async def start(self, ctx: Context, arg: str) -> StepResult:
        choices = [Choice(ctx.t(f"role.{r}"), f"role:{r}") for r in self._roles(ctx)]
        return ask(ctx, "role", "invite.ask_role", choices)

    async def step_role(self, ctx: Context, answer: Answer) -> StepResult:
        role = (answer.payload or "").removeprefix("role:")
        if role not in self._roles(ctx):
            return await self.start(ctx, "")
        ctx.flow_data["role"] = role
        return await self._ask_grid(ctx)

    async def _grids(self, ctx: Context) -> list[Grid]:
        assert ctx.person is not None
        return await grids_in_scope(ctx.session, Scope.of(ctx.person.community_id, ctx.roles))

    async def _ask_grid(self, ctx: Context) -> StepResult:
        choices = [Choice(g.name, f"grid:{g.id}") for g in await self._grids(ctx)]
        return ask(ctx, "grid", "invite.ask_grid", choices)

    async def step_grid(self, ctx: Context, answer: Answer) -> StepResult:
        raw = (answer.payload or "").removeprefix("grid:")
        grids = {str(g.id): g for g in await self._grids(ctx)}
        grid = grids.get(raw)
        if grid is None:
            return await self._ask_grid(ctx)
        ctx.flow_data["grid"] = grid.id
        if ctx.flow_data["role"] == Role.VOLUNTEER and await self._teams(ctx):
            return await self._ask_team(ctx)
        return await self._create(ctx)

    async def _teams(self, ctx: Context) -> list[Team]:
        assert ctx.person is not None
        return await grid_teams(ctx.session, ctx.person.community_id, ctx.flow_data["grid"])

    async def _ask_team(self, ctx: Context) -> StepResult:
        choices = [Choice(t.name, f"iteam:{t.id}") for t in await self._teams(ctx)]
        choices.append(Choice(ctx.t("invite.btn_no_team"), "iteam:none"))
        return ask(ctx, "team", "invite.ask_team", choices)

    async def step_team(self, ctx: Context, answer: Answer) -> StepResult:
        raw = (answer.payload or "").removeprefix("iteam:")
        if raw == "none":
            return await self._create(ctx)
        teams = {str(t.id): t for t in await self._teams(ctx)}
        team = teams.get(raw)
        if team is None:
            return await self._ask_team(ctx)
        ctx.flow_data["team"] = team.id
        ctx.flow_data["skills"] = []
        return self._ask_skills(ctx, team.name)

    def _ask_skills(self, ctx: Context, team: str) -> StepResult:
        ctx.flow_data["team_name"] = team
        choices = skill_choices(ctx, ctx.flow_data["skills"], prefix="iskill")
        return ask(ctx, "skills", "invite.ask_skills", choices, team=team)

    async def step_skills(self, ctx: Context, answer: Answer) -> StepResult:
        raw = (answer.payload or "").removeprefix("iskill:")
        if answer.payload is None or not answer.payload.startswith("iskill:"):
            return self._ask_skills(ctx, ctx.flow_data["team_name"])
        if raw != "done":
            ctx.flow_data["skills"] = toggle(list(ctx.flow_data["skills"]), raw)
            return self._ask_skills(ctx, ctx.flow_data["team_name"])
        return await self._create(ctx)

    async def _create(self, ctx: Context) -> StepResult:
        assert ctx.person is not None
        grid = await ctx.session.get(Grid, ctx.flow_data["grid"])
        assert grid is not None
        try:
            invitation = await create_invitation(
                ctx.session,
                ctx.person,
                ctx.roles,
                role=ctx.flow_data["role"],
                grid_id=grid.id,
                now=ctx.now,
                team_id=ctx.flow_data.get("team"),
                skills=list(ctx.flow_data.get("skills", [])),
            )
        except DomainError as err:
            return Done(with_menu(ctx, ctx.t(err.key)))
        link_for = ctx.data.get("invite_link")
        link = link_for(invitation.code) if callable(link_for) else invitation.code
        text = ctx.t(
            "invite.created",
            code=invitation.code,
            role=ctx.t(f"role.{invitation.role}"),
            grid=grid.name,
            link=link,
            expires=await local_date(ctx, invitation.expires_at),
        )
        if invitation.team_id is not None:
            text += "\n" + ctx.t(
                "invite.created_team",
                team=ctx.flow_data.get("team_name", ""),
                skills=skills_text(ctx, invitation.skills),
            )
        poster = Reply(
            ctx.t("invite.poster", code=invitation.code, grid=grid.name),
            photo=qr_png(link),
            photo_name=f"invite-{invitation.code}.png",
        )
        reply = with_menu(ctx, text)
        return Done([poster, *reply])


feature = Feature(
    name="admin",
    router=router,
    menu=(MenuItem("invite", 240, Audience.STAFF),),
)
