"""The staff desk over plain HTTP: the real web app and the real database, no browser.

Signing in by the chat's one-time link (used or expired links refused, residents and volunteers
get none), what each role may see (a grid leader typing another grid's case URL gets 404),
CSRF on every form, the register upload (a picture named .xlsx changes nothing), and the
review queue deciding with the chat's own use case.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import Linli
from bot.config import Settings
from models.benefits import ApplicationStatus, BenefitApplication
from models.console import ConsoleSession, seed_desk_demo
from models.db import Database
from models.notices import Notice
from models.register import RegisterImport
from models.reports import Report
from models.tables import Community, Grid, Outbox, Person
from tests.chat import Chat
from tests.conftest import FakeClock
from tests.desk_client import BASE, Desk, file_case, jpeg, link_for, link_in
from tests.wechat_chat import link_account


async def _count(db: Database, table: type) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def test_staff_sign_in_by_the_chats_link_once_and_residents_get_none(
    chat: Chat, linli: Linli, settings: Settings, demo: Database
) -> None:
    liu = await chat.person("刘芳")
    await liu.send("/web")
    assert "10分钟内有效" in liu.last_text
    link = link_in(liu.last_text)
    assert link.startswith(BASE + "/console/login/")

    wang = await chat.person("王建国")  # a resident and representative
    await wang.send("/web")
    assert "只对网格长、社区工作人员和队长开放" in wang.last_text
    assert "/console/login/" not in wang.last_text
    zhang = await chat.person("张伟")  # a volunteer
    await zhang.send("/web")
    assert "/console/login/" not in zhang.last_text
    li = await chat.person("李红")  # a volunteer who leads the steward team (队长)
    await li.send("/web")
    assert "/console/login/" in li.last_text

    async with Desk(linli, settings) as desk:
        signed = await desk.open_link(link)
        assert signed.status_code == 303 and signed.headers["location"] == "/console/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Max-Age" in cookie
        home = await desk.get("/console/")
        assert home.status_code == 200 and "刘芳" in home.text and "未办结工单" in home.text

    async with Desk(linli, settings) as other:  # the same link, a second time
        again = await other.open_link(link)
        assert again.status_code == 403 and "已过期或已经用过" in again.text
        assert (await other.get("/console/")).status_code == 401
    assert await _count(demo, ConsoleSession) == 1


async def test_an_expired_link_is_refused_and_a_session_ends(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    link = await link_for(linli, "朱凡")
    clock.advance(minutes=10, seconds=1)
    async with Desk(linli, settings) as desk:
        late = await desk.open_link(link)
        assert late.status_code == 403
        assert await _count(demo, ConsoleSession) == 0

        await desk.sign_in("朱凡")
        assert (await desk.get("/console/cases")).status_code == 200
        clock.advance(hours=8, seconds=1)  # the session's own expiry
        assert (await desk.get("/console/cases")).status_code == 401

        await desk.sign_in("朱凡")
        out = await desk.post("/console/logout")
        assert out.status_code == 303
        assert (await desk.get("/console/cases")).status_code == 401


async def test_a_grid_leader_cannot_open_another_grids_case_by_its_url(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    leqing = await file_case(linli, "王建国", "虹桥南村", "3")  # 乐清网格
    lemei = await file_case(linli, "赵敏", "虹桥东村", "2")  # 乐美网格
    async with Desk(linli, settings) as zhou:  # 周杰 leads 乐美网格
        await zhou.sign_in("周杰")
        listed = await zhou.get("/console/cases")
        assert f"R{lemei:04d}" in listed.text and f"R{leqing:04d}" not in listed.text
        assert (await zhou.get(f"/console/cases/{lemei}")).status_code == 200
        typed = await zhou.get(f"/console/cases/{leqing}")
        assert typed.status_code == 404
        assert "楼后堆了旧家具" not in typed.text
        closed = await zhou.post(f"/console/cases/{leqing}/close", {"reason": "不是我的"})
        assert closed.status_code in (400, 404)
    async with Desk(linli, settings) as zhu:  # 朱凡 leads 乐清网格: his case, with its photo
        await zhu.sign_in("朱凡")
        page = await zhu.get(f"/console/cases/{leqing}")
        assert page.status_code == 200 and "楼后堆了旧家具" in page.text
        assert "/console/media/photo/" in page.text
        src = page.text.split('src="/console/media/photo/')[1].split('"')[0]
        picture = await zhu.get(f"/console/media/photo/{src}")
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    async with Desk(linli, settings) as zhou:
        await zhou.sign_in("周杰")
        assert (await zhou.get(f"/console/media/photo/{src}")).status_code == 404
    async with Desk(linli, settings) as li:  # 李红 leads the team the case was routed to
        await li.sign_in("李红")
        mine = await li.get("/console/cases")
        assert f"R{leqing:04d}" in mine.text and f"R{lemei:04d}" not in mine.text
        page = await li.get(f"/console/cases/{leqing}")
        assert page.status_code == 200 and "关闭工单" not in page.text, "she looks, staff close"
        assert (await li.get("/console/notices")).status_code == 403
        assert (await li.get(f"/console/cases/{lemei}")).status_code == 404
    async with demo.session() as s:
        assert (await s.get(Report, leqing)).state == "new"  # type: ignore[union-attr]


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    await link_account(demo, "telegram", "31", "王建国")  # he hears what becomes of it
    case = await file_case(linli, "王建国", "虹桥南村", "3")
    async with Desk(linli, settings) as zhu:
        await zhu.sign_in("朱凡")
        await zhu.get(f"/console/cases/{case}")
        bare = await zhu.post(f"/console/cases/{case}/close", {"reason": "已处理"}, csrf=False)
        forged = await zhu.client.post(
            f"/console/cases/{case}/close", data={"reason": "已处理", "csrf": "x" * 32}
        )
        logout = await zhu.post("/console/logout", csrf=False)
        assert bare.status_code == forged.status_code == logout.status_code == 403
        async with demo.session() as s:
            assert (await s.get(Report, case)).state == "new"  # type: ignore[union-attr]
        assert (await zhu.get("/console/")).status_code == 200, "still signed in"

        no_reason = await zhu.post(f"/console/cases/{case}/close", {"reason": "  "})
        assert no_reason.status_code == 400 and "请写明关闭的原因" in no_reason.text
        done = await zhu.post(f"/console/cases/{case}/close", {"reason": "物业已清走"})
        assert done.status_code == 303
        page = await zhu.get(done.headers["location"])
        assert "已办结" in page.text and "物业已清走" in page.text
    async with demo.session() as s:
        assert (await s.get(Report, case)).state == "closed"  # type: ignore[union-attr]
        told = (
            await s.execute(select(Outbox).where(Outbox.text_key == "web.case_closed_notice"))
        ).scalars()
        assert [o.values["reason"] for o in told] == ["物业已清走"]


async def test_a_picture_named_xlsx_changes_nothing_and_a_register_reports_each_row(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    people = await _count(demo, Person)
    async with Desk(linli, settings) as liu:
        await liu.sign_in("刘芳")
        await liu.get("/console/register")
        bad = await liu.post(
            "/console/register/upload",
            files={"file": ("底册.xlsx", jpeg(7), "application/vnd.ms-excel")},
        )
        assert bad.status_code == 400 and "什么都没有改动" in bad.text
        assert await _count(demo, Person) == people
        assert await _count(demo, RegisterImport) == 0

        csv = (
            "姓名,身份证号,电话,小区,楼栋,单元,房号,网格\n"
            "孙丽,110101194001010012,13900000001,虹桥南村,2,1,301,乐清网格\n"
            "错号,110101194001010013,13900000002,虹桥南村,2,1,302,乐清网格\n"
        ).encode()
        good = await liu.post(
            "/console/register/upload", files={"file": ("register.csv", csv, "text/csv")}
        )
        assert good.status_code == 200, good.text
        assert "新增1人" in good.text and "未导入1行" in good.text
        assert "110101194001010012" not in good.text and "1101**********0012" in good.text
        export = await liu.get("/console/register/export")
        assert export.status_code == 200 and export.content[:2] == b"PK"
        assert b"110101194001010012" not in export.content
    assert await _count(demo, Person) == people + 1
    async with Desk(linli, settings) as zhu:  # a grid leader: not the register
        await zhu.sign_in("朱凡")
        assert (await zhu.get("/console/register")).status_code == 403


async def test_the_manager_approves_an_application_from_the_review_queue(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    async with demo.session() as s:
        community = (await s.execute(select(Community))).scalar_one()
        await seed_desk_demo(s, community.id, linli.clock())  # type: ignore[arg-type]
        app = (await s.execute(select(BenefitApplication))).scalar_one()
    async with Desk(linli, settings) as liu:
        await liu.sign_in("刘芳")
        queue = await liu.get("/console/applications")
        assert "钱桂兰" in queue.text and "代办" in queue.text
        page = await liu.get(f"/console/applications/{app.id}")
        assert "入户走访时代办" in page.text
        bad = await liu.post(f"/console/applications/{app.id}/decide", {"decision": "reject"})
        assert bad.status_code == 400, "a rejection needs its reason"
        ok = await liu.post(f"/console/applications/{app.id}/decide", {"decision": "approve"})
        assert ok.status_code == 303
        assert "已通过" in (await liu.get(ok.headers["location"])).text
        twice = await liu.post(f"/console/applications/{app.id}/decide", {"decision": "approve"})
        assert twice.status_code == 400
        audit = await liu.get("/console/audit")
        assert "<td>刘芳</td><td>申请通过</td>" in audit.text and "钱桂兰" in audit.text
    async with Desk(linli, settings) as zhou:  # grid leader of the other grid: not even seen
        await zhou.sign_in("周杰")
        assert (await zhou.get(f"/console/applications/{app.id}")).status_code == 404
    async with demo.session() as s:
        decided = await s.get(BenefitApplication, app.id)
        assert decided is not None and decided.status == ApplicationStatus.APPROVED


async def test_every_page_has_the_security_headers_and_speaks_english_on_request(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    async with Desk(linli, settings) as liu:
        signin = await liu.get("/console/")
        assert signin.status_code == 401
        await liu.sign_in("刘芳")
        for path in ("/console/", "/console/cases", "/console/notices", "/console/events",
                     "/console/audit", "/console/applications", "/console/register"):  # fmt: skip
            page = await liu.get(path)
            assert page.status_code == 200, path
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["referrer-policy"] == "no-referrer"
        switched = await liu.get("/console/lang/en?next=/console/cases")
        assert switched.status_code == 303 and switched.headers["location"] == "/console/cases"
        english = await liu.get("/console/cases")
        assert "Cases" in english.text and "Sign out" in english.text
        away = await liu.get("/console/lang/zh?next=https://evil.example/")
        assert away.headers["location"] == "/console/"
        audit = await liu.get("/console/audit")
        assert (
            "<td>刘芳</td><td>登录工作台</td>" in audit.text
        )  # back in Chinese: the switch said zh


async def test_a_notice_is_previewed_with_its_reach_then_sent_with_a_report(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    async with Desk(linli, settings) as liu:
        await liu.sign_in("刘芳")
        await liu.get("/console/notices")
        form = {"target": "community", "category": "general", "text": "周六上午停水", "when": ""}
        preview = await liu.post("/console/notices/preview", form)
        assert preview.status_code == 200 and "共" in preview.text and "能收到" in preview.text
        sent = await liu.post("/console/notices/send", form)
        assert sent.status_code == 303
        report = await liu.get(sent.headers["location"])
        assert "周六上午停水" in report.text and "没有绑定聊天账号" in report.text
    async with demo.session() as s:
        lemei = (await s.execute(select(Grid).where(Grid.name == "乐美网格"))).scalar_one()
    async with Desk(linli, settings) as zhu:  # 乐清's grid leader, aiming at 乐美 by hand
        await zhu.sign_in("朱凡")
        await zhu.get("/console/notices")
        assert f"grid:{lemei.id}" not in (await zhu.get("/console/notices")).text
        forged = await zhu.post("/console/notices/send", {**form, "target": f"grid:{lemei.id}"})
        assert forged.status_code == 400
    assert await _count(demo, Notice) == 1
