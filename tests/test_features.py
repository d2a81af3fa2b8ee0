"""The feature is the unit: what one declaration gives (menu, commands, keywords), the typed
button payloads the router parses, and the task-kind hooks models/tasks calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import Application

from bot.app import FEATURES, Linli
from bot.channels.telegram_channel import build_application, register_commands
from bot.config import Settings
from handlers import menu
from handlers.core import Context
from handlers.feature import Audience, Command, Feature, FeatureSet, MenuItem
from handlers.intents import Keywords
from handlers.router import Outcome, PayloadRoute, Router
from handlers.ui import with_menu
from models.db import Database
from models.errors import DomainError
from models.tables import Person
from models.tasks import (
    Task,
    TaskKindHooks,
    accept_task,
    create_task,
    finish_task,
    hand_back,
    register_task_kind,
    unregister_task_kind,
)
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi, RecordingRequest
from tests.telegram_chat import TelegramUser, link, menu_of, person_named, texts

# ---- a feature declared here, and nowhere else ----

garden_router = Router()


@garden_router.intent("garden", "garden", "plots")
async def garden(ctx: Context, _arg: str) -> Outcome:
    """The test feature's one screen."""
    return with_menu(ctx, "🌱 garden plots")


@garden_router.payload("plot", number=int, row=str)
async def plot(ctx: Context, number: int, row: str) -> Outcome:
    """A typed button: the fields arrive converted."""
    return with_menu(ctx, f"plot {number + 1} in row {row.upper()}")


GARDEN = Feature(
    name="garden",
    router=garden_router,
    menu=(MenuItem("garden", 105, Audience.VOLUNTEER),),
    commands=(Command("garden", 65),),
    keywords=(Keywords("garden", zh="菜园 种菜", en="vegetable garden, allotment", rank=50),),
)

LI, WANG = 9101, 9102  # a volunteer, and a resident who is not one


@pytest.fixture
async def garden_app(
    settings: Settings, demo: Database, clock: FakeClock, api: FakeBotApi
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The real Telegram stack over a bot whose features are the project's plus the garden."""
    linli = Linli(settings, db=demo, clock=clock, features=(*FEATURES, GARDEN))
    app = build_application(linli, settings, request=RecordingRequest(api), with_updater=False)
    await app.initialize()
    await link(demo, LI, "李红")
    await link(demo, WANG, "王建国")
    yield app
    await app.shutdown()


async def test_a_declared_feature_is_in_the_menu_of_its_audience_only(
    garden_app: Application,  # type: ignore[type-arg]
    api: FakeBotApi,
) -> None:
    volunteer = menu_of(await TelegramUser(garden_app, api, LI).send("/help"))
    resident = menu_of(await TelegramUser(garden_app, api, WANG).send("/help"))
    assert "menu.garden" in volunteer, "no catalog text yet: the label is its key"
    assert volunteer.index("menu.garden") + 1 == volunteer.index("⏱ 我的时长"), "105: before hours"
    assert "menu.garden" not in resident
    assert "menu.garden" not in menu_of(await TelegramUser(garden_app, api, 9199).send("/help"))


async def test_its_command_label_and_keywords_route_to_it(
    garden_app: Application,  # type: ignore[type-arg]
    api: FakeBotApi,
) -> None:
    li = TelegramUser(garden_app, api, LI)
    assert "garden plots" in texts(await li.send("/garden"))
    assert "garden plots" in texts(await li.send("/plots"))
    assert "garden plots" in texts(await li.send("menu.garden")), "the menu label"
    assert "garden plots" in texts(await li.send("我想在小区种菜"))
    assert "garden plots" in texts(await li.send("is there an allotment?"))
    assert "garden plots" not in texts(await li.send("楼道里堆满了杂物")), "reports still win"


async def test_its_command_is_published_in_declared_order(
    garden_app: Application,  # type: ignore[type-arg]
    api: FakeBotApi,
) -> None:
    await register_commands(garden_app)
    names = [c["command"] for c in api.commands[None]]
    assert names[names.index("stations") + 1] == "garden"
    assert names == [c.name for c in FeatureSet((*FEATURES, GARDEN)).commands]
    assert {c["command"] for c in api.commands["en"]} == set(names)


def test_the_project_menu_commands_and_keywords_are_derived() -> None:
    features = FeatureSet(FEATURES)
    assert [c.name for c in features.commands] == [
        "start", "report", "benefits", "book", "mybookings", "today", "vote", "survey", "events",
        "stations", "status",
        "register", "team", "mute", "link", "lang", "cancel", "help",
    ]  # fmt: skip
    assert features.detector.intents[-1] == "unknown"
    # myteam (20), my_events (11), my_bookings and today_list (10), link and survey (12), web (14)
    assert len(features.detector.intents) == 20
    # The WeChat channel's copy of the item names (until its split reads them) is the same set.
    assert {(i.intent, i.label_key) for i in features.menu_items} == set(menu.ALL_ITEMS)


def test_a_declaration_without_a_handler_or_twice_is_refused() -> None:
    orphan = Feature(name="orphan", router=Router(), menu=(MenuItem("nowhere", 1),))
    with pytest.raises(ValueError, match="without a handler"):
        FeatureSet((*FEATURES, orphan))
    with pytest.raises(ValueError, match="listed twice"):
        FeatureSet((*FEATURES, GARDEN, GARDEN))
    twin = Feature(name="twin", router=Router(), keywords=(Keywords("report", zh="报告"),))
    with pytest.raises(ValueError, match="keywords declared twice"):
        FeatureSet((*FEATURES, twin))


# ---- typed button payloads ----


async def _noop(ctx: Context, **fields: object) -> Outcome:
    return []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("task:take:42", {"task": 42}),
        ("task:take:000042", {"task": 42}),
        ("task:assignto:7:12", None),  # another pattern
        ("task:take:", None),
        ("task:take:-1", None),
        ("task:take:4a", None),
        ("task:take:３", None),  # a full-width digit is not an id
        ("task:take:1234567890", None),  # ten digits
        ("task:take:1:2", None),  # one field too many
        ("task:view:1", None),  # another literal
    ],
)
def test_a_payload_route_parses_typed_fields_or_refuses(
    payload: str, expected: dict[str, object] | None
) -> None:
    route = PayloadRoute(("task", "take"), (("task", int),), _noop)
    assert route.match(payload.split(":")) == expected


def test_str_fields_must_not_be_empty_and_registration_clashes_are_caught() -> None:
    route = PayloadRoute(("bapply",), (("person", int), ("programme", str)), _noop)
    assert route.match(["bapply", "3", "zlj"]) == {"person": 3, "programme": "zlj"}
    assert route.match(["bapply", "3", ""]) is None
    router = Router()
    router.payload("x:y", n=int)(_noop)
    with pytest.raises(ValueError, match="registered twice"):
        router.payload("x:y", m=int)(_noop)
    with pytest.raises(TypeError):
        PayloadRoute(("x",), (("f", float),), _noop).match(["x", "1.5"])


@pytest.mark.parametrize(
    "payload", ["plot:2:b:c", "plot:two:b", "plot:2:", "plot:99999999999:b", "plot:"]
)
async def test_a_malformed_payload_is_refused_politely(
    garden_app: Application,  # type: ignore[type-arg]
    api: FakeBotApi,
    payload: str,
) -> None:
    li = TelegramUser(garden_app, api, LI)
    answer = await li.press_payload(payload)
    assert "按钮已经失效" in texts(answer), texts(answer)
    assert menu_of(answer), "with the menu to go on from"
    assert "plot 3 in row B" in texts(await li.press_payload("plot:2:b"))


# ---- the task-kind hook registry ----


@pytest.fixture
def duty_hooks() -> Iterator[list[tuple[str, int, str]]]:
    """A task kind of the test's own: its hooks record (move, task, person) and it needs a photo."""
    calls: list[tuple[str, int, str]] = []

    def recorder(move: str):  # type: ignore[no-untyped-def]
        async def hook(session: AsyncSession, task: Task, person: Person, now: datetime) -> None:
            assert task.id is not None
            calls.append((move, task.id, person.name))

        return hook

    async def finished(
        session: AsyncSession, task: Task, person: Person, now: datetime, photo: object
    ) -> None:
        assert task.id is not None
        calls.append(("finished", task.id, f"{person.name} {photo}"))

    register_task_kind(
        TaskKindHooks(
            "test_duty",
            on_taken=recorder("taken"),
            on_released=recorder("released"),
            on_finished=finished,
            finish_needs_photo=True,
        )
    )
    try:
        yield calls
    finally:
        unregister_task_kind("test_duty")


async def test_a_task_kind_has_its_hooks_called_on_accept_hand_back_and_finish(
    demo: Database, clock: FakeClock, duty_hooks: list[tuple[str, int, str]]
) -> None:
    li = await person_named(demo, "李红")
    async with demo.session() as s:
        task = await create_task(
            s, now=clock(), community_id=li.community_id, grid_id=li.grid_id or 0,
            kind="test_duty", title="值班", offer_to=[li.id or 0],
        )  # fmt: skip
        task_id = task.id
    assert task_id is not None
    async with demo.session() as s:
        await accept_task(s, task_id, li, None, clock())
    async with demo.session() as s:
        await hand_back(s, task_id, li, clock())
    assert duty_hooks == [("taken", task_id, "李红"), ("released", task_id, "李红")]
    async with demo.session() as s:
        task = (await s.execute(select(Task).where(Task.id == task_id))).scalar_one()
        assert task.state == "open" and task.assignee_id is None


async def test_the_buttons_reach_the_hooks_and_the_kind_decides_about_the_photo(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock, duty_hooks: list
) -> None:
    app = await telegram()
    await link(demo, LI, "李红")
    li_person = await person_named(demo, "李红")
    async with demo.session() as s:
        task = await create_task(
            s, now=clock(), community_id=li_person.community_id, grid_id=li_person.grid_id or 0,
            kind="test_duty", title="值班", offer_to=[li_person.id or 0],
        )  # fmt: skip
        task_id = task.id
    li = TelegramUser(app, api, LI)
    await li.press_payload(f"task:take:{task_id}")
    assert duty_hooks == [("taken", task_id, "李红")]
    asked = await li.press_payload(f"task:finish:{task_id}")
    assert "照片" in texts(asked), "this kind asks for an after-photo"
    async with demo.session() as s:
        with pytest.raises(DomainError, match=r"task\.photo_needed"):
            await finish_task(s, task_id or 0, li_person, 30, clock())
    async with demo.session() as s:
        await finish_task(s, task_id or 0, li_person, 30, clock(), ("telegram", "after-1"))
    assert duty_hooks[-1] == ("finished", task_id, "李红 ('telegram', 'after-1')")


async def test_a_bare_photo_starts_a_report_through_the_features_router(
    garden_app: Application,  # type: ignore[type-arg]
    api: FakeBotApi,
) -> None:
    # Before issue 18 the home module looked `report` up in its own router (KeyError).
    wang = TelegramUser(garden_app, api, WANG)
    asked = await wang.deliver(api.photo_update(WANG, "junk-1"))
    assert "是什么问题" in texts(asked), texts(asked)
