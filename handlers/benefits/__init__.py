"""Benefits: 'can I get 尊老金?', one-tap applications, 代办, review by managers, the register file.

Every button payload is untrusted: each handler re-checks that this person may act on this
application (the use cases in models/benefits check again). The modules: `apply` (eligibility
and applying), `mine` (我的申请, a card, 补充材料), `review` (review, 代办 list, register import).
"""

from __future__ import annotations

from handlers.benefits import apply, mine, review
from handlers.benefits.review import render_import_report
from handlers.feature import Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Router

router = Router()
router.include(apply.router)
router.include(mine.router)
router.include(review.router)

feature = Feature(
    name="benefits",
    router=router,
    menu=(MenuItem("benefits", 20),),
    commands=(Command("benefits", 20),),
    keywords=(
        Keywords(
            "benefits",
            zh=(
                "尊老金 补贴 补助 办事 申请 高龄 低保 津贴 养老金 福利 救助 "
                "敬老 领钱 能领 怎么领 领取 残疾补贴 困难补助 政策 办理 老年卡 "
                "优待证 医保 社保 资格"
            ),
            en=(
                "allowance, benefit, benefits, apply, application:1.5, subsidy, pension, welfare, "
                "elderly allowance, eligible, entitled, elderly"
            ),
            rank=1,
        ),
    ),
    my_items=(10, mine.my_applications_item),
)

__all__ = ["feature", "render_import_report", "router"]
