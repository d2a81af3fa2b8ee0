"""Problem reports (随手拍): filing (`filing`); following, chasing and rating a case (`cases`);
the grid's open cases and the ratings for staff (`oversight`)."""

from __future__ import annotations

from handlers.feature import Audience, Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.reports import cases, filing, oversight
from handlers.router import Router
from models.tasks import TaskKind

router = Router()
router.include(filing.router)
router.include(cases.router)
router.include(oversight.router)

feature = Feature(
    name="reports",
    router=router,
    menu=(
        MenuItem("report", 10),
        MenuItem("cases", 200, Audience.STAFF),
        MenuItem("ratings", 300, Audience.MANAGER),
    ),
    commands=(Command("report", 10),),
    keywords=(
        Keywords(
            "report",
            zh=(
                "杂物 堆放 乱堆 乱放 乱堆乱放 堆满 堆着 垃圾 漏水 渗水 坏了 "
                "损坏 破损 随手拍 上报 问题上报 投诉 举报 路灯 噪音 扰民 隐患 "
                "安全隐患 纠纷 报修 维修 堵塞 堵了 占道 飞线充电 楼道充电 不亮 "
                "漏电 异味 脏乱 违建 积水 反映问题 有问题 太吵 私拉电线 乱停 "
                "消防通道 井盖 下水道 楼道:1.5 物业不管 水管 爆管 爆了 漏了"
            ),
            en=(
                "report, broken, clutter, cluttered, junk, leak, leaking, garbage, trash, "
                "rubbish, noise, noisy, complain, complaint, streetlight, street light, hazard, "
                "dispute, damaged, blocked, litter, not working, repair, fix, problem:1.5, "
                "issue:1.5, mess, smell, flooded, dirty"
            ),
            rank=0,
        ),
        Keywords(
            "rate",
            zh=(
                "评价 打分 打个分 打几分 满意 不满意 评议 评分 星级 几颗星 五星 "
                "好评 差评 满意度 点赞 给个评 吐槽一下服务 点个赞"
            ),
            en=(
                "rate, rating, review, feedback, stars, star, score, satisfied, satisfaction, "
                "evaluate, thumbs up"
            ),
            factor=2.0,
            rank=7,
        ),
    ),
    my_items=(20, cases.my_reports),
    task_cards={TaskKind.REPORT: cases.report_task_card},
)
