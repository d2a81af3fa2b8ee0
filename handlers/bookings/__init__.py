"""Bookings at the service points (七彩微阵地): the resident's three taps and 我的预约 (`resident`);
今日名单, check-in, 代办 and the manager's board, sessions and points (`station`)."""

from __future__ import annotations

from handlers.bookings import resident, station
from handlers.feature import Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Router

router = Router()
router.include(resident.router)
router.include(station.router)

feature = Feature(
    name="booking",
    router=router,
    menu=(MenuItem("booking", 30),),
    commands=(
        Command("book", 30),
        Command("mybookings", 31),  # 我的预约: every resident
        Command("today", 32),  # 今日名单: a station's team (others are told it is not theirs)
    ),
    keywords=(
        Keywords(
            "booking",
            zh=(
                "预约 理发 义诊 法律咨询 微阵地 挂号 剪头发 剪头 剪发 量血压 "
                "测血压 体检 健康检查 律师 法律援助 预订 约个 约一下 订个 排个号 "
                "服务点 免费理发 修脚 磨剪刀 看病 法律问题 咨询律师 普法 消防常识 "
                "绿植 反诈 社保卡 银行业务 七彩"
            ),
            en=(
                "book, booking, appointment, haircut, health check, checkup, legal advice, "
                "lawyer, reserve, reservation, barber, clinic, blood pressure, slot"
            ),
            rank=2,
        ),
        Keywords(
            "my_bookings",
            zh="我的预约 我约的 我预约的 预约记录 我约了",
            en="my bookings, my appointments, my booking",
            factor=1.5,
            rank=3,
        ),
        Keywords(
            "today_list",
            zh="今日名单 今天的名单 签到名单 今天谁预约 预约名单",
            en="today's list, todays list, check-in list, who booked today",
            factor=1.5,
            rank=3,
        ),
    ),
    my_items=(30, resident.my_items),
)
