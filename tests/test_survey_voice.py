"""A survey answered with a voice note, on Telegram (a voice message) and WeChat (a voice message
with WeChat's speech recognition): the note is fetched from the platform into the media store at
receipt, the answer keeps its media reference, and the managers' results and the .xlsx export
show it."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from models.db import Database
from models.media import STORE
from models.people import community_zone
from models.survey_files import create_survey, read_survey_file
from models.surveys import SurveyAnswer, SurveyQuestion, results_xlsx
from models.tables import Person, Role
from tests.chat import Chat
from tests.conftest import FakeClock

EXAMPLE = (Path(__file__).resolve().parent.parent / "docs" / "survey-example.csv").read_bytes()
AMR = b"#!AMR\n" + bytes(range(256)) * 8  # what WeChat serves a voice message as
OGG = b"OggS" + bytes(range(256)) * 8  # Telegram's voice notes are Ogg Opus


async def example_survey(db: Database, clock: FakeClock) -> int:
    """The documented example survey (its last question asks for a voice note), by 刘芳."""
    async with db.session() as s:
        liu = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        zone = await community_zone(s, liu.community_id)
        draft = await read_survey_file(s, EXAMPLE, liu.community_id, clock(), zone)
        survey = await create_survey(s, draft, liu, frozenset({(Role.MANAGER, None)}), clock())
        return survey.id or 0


def on_the_platform(chat: Chat, ref: str, data: bytes, clock: FakeClock) -> None:
    """The voice note's bytes where the platform serves them (getFile / media/get)."""
    if chat.telegram:
        assert chat.api is not None
        chat.api.files[ref] = data
    else:
        assert chat.harness is not None
        chat.harness.server.media[ref] = data
        chat.harness.server.media_created[ref] = clock()


async def test_a_voice_note_answers_a_survey_question(chat: Chat, clock: FakeClock) -> None:
    survey = await example_survey(chat.db, clock)
    wang = await chat.person("王建国")
    await wang.send("问卷")
    assert wang.told("垃圾分类满意度调查") and "第 1/5 题" in wang.last_text
    await wang.press("5 星")
    await wang.press("够用")
    await wang.press("晚上 18-20 点")
    await wang.press("下一题")
    await wang.send("多放几个厨余垃圾桶")
    assert "第 5/5 题" in wang.last_text and "请按住说话，发一条语音" in wang.last_text
    if chat.wechat:  # a voice WeChat could not recognise never reaches the survey
        await wang.voice("unheard-1")
        assert "这段语音没能听清" in wang.last_text
        assert "问卷已完成" not in wang.last_text
    on_the_platform(chat, "voice-note-1", AMR if chat.wechat else OGG, clock)
    await wang.voice("voice-note-1", recognition="三楼楼道的灯坏了")
    assert "问卷已完成，谢谢您" in wang.last_text

    async with chat.db.session() as s:
        question = (
            await s.execute(select(SurveyQuestion).where(col(SurveyQuestion.position) == 5))
        ).scalar_one()
        answer = (
            await s.execute(
                select(SurveyAnswer).where(col(SurveyAnswer.question_id) == question.id)
            )
        ).scalar_one()
    assert question.kind == "voice"
    # Kept in the media store at receipt (a WeChat media id lasts three days), from this channel.
    assert answer.voice_ref is not None and answer.voice_ref.startswith(f"{STORE}:")
    assert await chat.arrived_as([answer.voice_ref]) == [chat.ref("voice-note-1")]
    # WeChat's recognition is kept as the text; Telegram transcribes nothing.
    assert answer.text == ("三楼楼道的灯坏了" if chat.wechat else None)

    liu = await chat.person("刘芳")
    await liu.press_payload(f"sv:results:{survey}")
    await chat.deliver()  # WeChat: the rest of a long answer comes through the API
    texts = 1 if chat.wechat else 0
    assert liu.told(f"5. 用一句话说说您家楼道最需要改进的地方：{texts} 条文字，1 条语音")
    if chat.telegram:  # the export comes as a file on Telegram
        assert chat.api is not None
        data = next(b for m, _n, b in chat.api.uploads if m == "sendDocument")
    else:  # WeChat receives no files: `linli export survey` writes the same workbook
        assert liu.told("linli export survey")
        async with chat.db.session() as s:
            data = await results_xlsx(s, survey)
    sheet = load_workbook(io.BytesIO(data))["全部回答"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    voiced = [row for row in rows if row[1] == 5]
    assert len(voiced) == 1 and voiced[0][5] == answer.voice_ref
    assert sheet["F1"].value == "语音（媒体引用）"
