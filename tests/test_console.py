"""The console, driven through piped standard input like a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from models.db import Database

LINLI = [sys.executable, "-m", "bot.cli"]


def run(
    args: list[str], stdin: str, database_url: str, root: Path
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        LINLI + args,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=60,
        check=False,
    )


async def test_piped_console_registers_a_guest_and_the_grid_leader_confirms(
    demo: Database, database_url: str, project_root: Path
) -> None:
    script = "\n".join(
        [
            "/start",
            "登记入住",
            "钱多多",
            "13800138000",
            "2",  # the second estate offered: 虹桥南村
            "3",  # its third building, in 朱凡's grid
            "2",
            "302",
            "确认",
            "/as",
            "/as 朱凡",
            "✅ 待确认居民",
            "1",  # the first (only) confirm button
        ]
    )
    result = run(["console"], script + "\n", database_url, project_root)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "有邀请码请直接发给我" in out
    assert "1. 虹桥东村" in out and "2. 虹桥南村" in out
    assert "虹桥南村3幢2单元302" in out
    assert "网格长确认" in out
    assert "2. 朱凡" in out and "现在您是：朱凡" in out
    assert "已确认 钱多多" in out


async def test_console_starts_as_a_named_person(
    demo: Database, database_url: str, project_root: Path
) -> None:
    result = run(["console", "--as", "刘芳"], "/start\n12\n", database_url, project_root)
    assert result.returncode == 0, result.stderr
    assert "现在您是：刘芳" in result.stdout
    assert "刘芳，您好" in result.stdout
    assert "邀请谁加入" in result.stdout  # 12 is the manager's invitation-code button


def test_intent_command_prints_the_name_alone(database_url: str, project_root: Path) -> None:
    one = run(["intent", "楼道里堆满了杂物"], "", database_url, project_root)
    assert one.stdout == "report\n"
    many = run(
        ["intent"],
        "我能领尊老金吗\n/notice\n📅 预约服务\nhelp me plz\n啊啊啊\n",
        database_url,
        project_root,
    )
    assert many.stdout.split() == ["benefits", "broadcast", "booking", "help", "unknown"]


async def test_the_report_loop_played_on_the_console_by_switching_persons(
    demo: Database, database_url: str, project_root: Path
) -> None:
    script = [
        "/as 王建国",
        "3幢后面堆了好多杂物",
        "1",  # 杂物堆放, guessed from the words, comes first
        "/photo",
        "1",  # 好了，下一步
        "1",  # 🏠 虹桥南村3幢
        "1",  # ✅ 提交
        "/as 李红",
        "📌 我的任务",
        "1",  # 查看 #1
        "1",  # 🙋 接单
        "1",  # ✅ 完成
        "/photo 清理干净了",
        "3",  # 1 小时
        "/as 王建国",
        "📋 我的事项",
        "1",  # 查看 R0001
        "1",  # ⭐⭐⭐⭐⭐
        "跳过",
        "/as 刘芳",
        "⭐ 居民评议",
    ]
    result = run(["console"], "\n".join(script) + "\n", database_url, project_root)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "已受理，编号 R0001" in out
    assert "接单成功" in out
    assert "任务 #1 已完成" in out
    assert "[照片：console:photo-2.jpg]" in out, "the after-photo shown to the resident"
    assert "R0001 已办结" in out
    assert "李红：5.0 分（1 次）" in out
    assert "ratings.png" in out, "the chart is saved as a picture"


async def test_outreach_job_then_the_grid_leader_applies_for_chen_on_the_console(
    demo: Database, database_url: str, project_root: Path
) -> None:
    job = run(["jobs", "run", "eligibility"], "", database_url, project_root)
    assert job.returncode == 0, job.stderr
    assert "1 approached" in job.stdout and "1 home visits" in job.stdout
    again = run(["jobs", "run", "eligibility"], "", database_url, project_root)
    assert "0 approached" in again.stdout, "one approach per person and period"
    script = [
        "📌 我的任务",
        "1",  # 查看 #1
        "5",  # 🤝 代为申请
        "1",  # 户口在本市：是
        "2",  # 已在别处领取：否
        "1",  # ✔ 确认申请
        "/photo 身份证",
        "2",  # ✔ 提交
        "1",  # ✅ 完成走访任务 #1
        "2",  # 30 分钟
    ]
    result = run(["console", "--as", "朱凡"], "\n".join(script) + "\n", database_url, project_root)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "上门走访：陈秀英" in out
    assert "代办：由 朱凡 代 陈秀英 申请" in out
    assert "已为 陈秀英 代办" in out
    assert "任务 #1 已完成" in out
