"""The staff desk in a real headless Chromium (Debian's chromium, driven by Playwright for Python).

刘芳 opens the link "/web" gave her, signs in, sees the dashboard, approves the application her
grid leader filed, and opens a case with its photo; on a phone-sized screen too. Screenshots go
to test-artifacts/ (git-ignored) for a person to look at. Without a browser (no
/usr/bin/chromium: `make browser` installs it where apt-get can run as root) these tests skip
and say why; the plain HTTP tests (test_staff_desk.py) still run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Linli
from bot.config import Settings
from bot.web import create_web_app
from models.benefits import ApplicationStatus, BenefitApplication
from models.console import seed_desk_demo
from models.db import Database
from models.tables import Community
from tests.desk_client import BASE, file_case, link_for, serving

CHROMIUM = os.environ.get("LINLI_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HAVE_CHROMIUM = Path(CHROMIUM).exists()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """A headless Chromium, or a skip saying why there is none."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"no browser: {CHROMIUM} is missing (make browser installs Debian's chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed (make install)")
    async with async_playwright() as p:
        try:
            chromium = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as err:  # a browser that cannot start here is a skip, not a failure
            pytest.skip(f"chromium did not start: {str(err).splitlines()[0]}")
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_liu_fang_signs_in_sees_the_dashboard_and_approves_an_application(
    browser: object, linli: Linli, settings: Settings, demo: Database
) -> None:
    from playwright.async_api import Browser

    assert isinstance(browser, Browser)
    ARTIFACTS.mkdir(exist_ok=True)
    async with demo.session() as s:
        community = (await s.execute(select(Community))).scalar_one()
        await seed_desk_demo(s, community.id, linli.clock())  # type: ignore[arg-type]
    case = await file_case(linli, "王建国", "虹桥南村", "3")
    link = await link_for(linli, "刘芳")
    async with serving(create_web_app(linli, settings)) as base:
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        await page.goto(link.replace(BASE, base))
        await page.click("#sign-in")
        await page.wait_for_url(f"{base}/console/")
        assert await page.text_content("#apps-waiting") == "1"
        assert await page.text_content("#open-total") == "1"
        assert await page.locator("svg.chart").count() == 1, "open cases drawn (no hours yet)"
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        await page.click("text=待审核申请")
        await page.click("a[href^='/console/applications/']")
        await page.wait_for_selector("#approve")  # the application's page has loaded
        assert "钱桂兰" in await page.content()
        await page.click("#approve")
        await page.wait_for_selector("#decided")
        assert "已批准" in (await page.text_content("#app-status") or "")

        await page.goto(f"{base}/console/cases")
        await page.click(f"text=R{case:04d}")
        await page.wait_for_selector("figure img")
        loaded = await page.eval_on_selector("figure img", "img => img.naturalWidth")
        assert loaded == 40, "the case photo is served from the media store"
        await page.screenshot(path=str(ARTIFACTS / "case.png"), full_page=True)

        phone = await browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
        await phone.context.add_cookies(await page.context.cookies())
        await phone.goto(f"{base}/console/cases/{case}")
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "no sideways scrolling on a phone"
        await phone.screenshot(path=str(ARTIFACTS / "case-phone.png"), full_page=True)

        await page.click("text=退出")
        await page.goto(f"{base}/console/")
        assert "请在聊天里发送 /web" in await page.content()
    async with demo.session() as s:
        app = (await s.execute(select(BenefitApplication))).scalar_one()
        assert app.status == ApplicationStatus.APPROVED
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert (ARTIFACTS / "case.png").stat().st_size > 10_000


async def test_a_grid_leader_creates_an_event_in_the_browser_and_a_refusal_keeps_the_form(
    browser: object, linli: Linli, settings: Settings, demo: Database
) -> None:
    from playwright.async_api import Browser

    from models.events import Event

    assert isinstance(browser, Browser)
    ARTIFACTS.mkdir(exist_ok=True)
    link = await link_for(linli, "朱凡")
    async with serving(create_web_app(linli, settings)) as base:
        page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
        await page.goto(link.replace(BASE, base))
        await page.click("#sign-in")
        await page.wait_for_url(f"{base}/console/")
        await page.goto(f"{base}/console/events")
        await page.click("#new-event")
        await page.fill("input[name=title]", "社区义诊")
        await page.fill("input[name=date]", "2026-03-20")
        await page.fill("input[name=start]", "11:00")
        await page.fill("input[name=end]", "09:00")  # ends before it starts
        await page.fill("input[name=place]", "社区服务中心")
        await page.select_option("select[name=audience]", "families")
        await page.click("#event-form button[type=submit]")
        await page.wait_for_selector("#form-error")
        assert await page.input_value("input[name=title]") == "社区义诊", "kept"
        assert await page.input_value("select[name=audience]") == "families"
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the form fits a phone"
        await page.screenshot(path=str(ARTIFACTS / "event-form.png"), full_page=True)

        await page.fill("input[name=start]", "09:00")
        await page.fill("input[name=end]", "11:00")
        await page.click("#event-form button[type=submit]")
        await page.wait_for_selector("#done")
        assert "社区义诊" in (await page.text_content("h1") or "")
    async with demo.session() as s:
        event = (await s.execute(select(Event))).scalar_one()
        assert event.audience == "families" and event.place == "社区服务中心"
