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
