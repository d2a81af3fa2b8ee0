"""Safe mode against independent implementations: the npm packages `wechat-crypto` and `@wecom/crypto`.

Messages encrypted and signed by them decrypt in our endpoint, and our encrypted replies
decrypt (and their signatures check) there. `make test` installs the packages into
tests/interop/ when node is present (`.ci/run` calls it); without node these tests are skipped.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels.wechat import parse_xml
from bot.config import Settings
from models.db import Database
from tests.conftest import FakeClock
from tests.fakes.wechat_server import APP_ID, CORP_ID
from tests.wechat_chat import AES_KEY, OA_TOKEN, WECOM_TOKEN, WeChatHarness, wechat_settings

INTEROP = Path(__file__).resolve().parent / "interop"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the interop vectors need it"),
    pytest.mark.skipif(
        not (INTEROP / "node_modules" / "wechat-crypto").exists()
        or not (INTEROP / "node_modules" / "@wecom" / "crypto").exists(),
        reason="npm packages missing: run `make test` (it runs npm ci in tests/interop)",
    ),
]


async def node(request: dict[str, Any]) -> dict[str, Any]:
    """One call of tests/interop/crypto.js."""
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(INTEROP / "crypto.js"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(json.dumps(request).encode())
    assert proc.returncode == 0, err.decode()
    answer: dict[str, Any] = json.loads(out)
    return answer


@pytest.fixture
async def harness(
    settings: Settings, demo: Database, clock: FakeClock
) -> AsyncIterator[WeChatHarness]:
    h = WeChatHarness(wechat_settings(settings, safe=True), demo, clock)
    yield h
    await h.close()


def message(
    to: str, sender: str, text: str, msg_id: str, clock: FakeClock, agent: bool = False
) -> str:
    extra = "<AgentID>1000002</AgentID>" if agent else ""
    return (
        f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(clock().timestamp())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId>{extra}</xml>"
    )


@pytest.mark.parametrize(
    ("lib", "channel", "token", "app_id", "path"),
    [
        ("wechat-crypto", "wechat", OA_TOKEN, APP_ID, "/wechat"),
        ("@wecom/crypto", "wecom", WECOM_TOKEN, CORP_ID, "/wecom"),
    ],
)
async def test_their_encrypted_message_in_our_encrypted_reply_out(
    harness: WeChatHarness,
    clock: FakeClock,
    lib: str,
    channel: str,
    token: str,
    app_id: str,
    path: str,
) -> None:
    ts, nonce = str(int(clock().timestamp())), "interop-nonce-1"
    plain = message(app_id, "o-interop", "/start", "770001", clock, agent=channel == "wecom")
    sealed = await node(
        {
            "lib": lib,
            "op": "encrypt",
            "token": token,
            "key": AES_KEY,
            "id": app_id,
            "text": plain,
            "timestamp": ts,
            "nonce": nonce,
        }
    )
    query = {"timestamp": ts, "nonce": nonce, "msg_signature": sealed["signature"]}
    if channel == "wechat":
        query |= {"encrypt_type": "aes", "signature": "unused-in-safe-mode", "openid": "o-interop"}
    body = (
        f"<xml><ToUserName><![CDATA[{app_id}]]></ToUserName>"
        f"<Encrypt><![CDATA[{sealed['encrypt']}]]></Encrypt></xml>"
    )
    answer = await harness.client.post(path, params=query, content=body)
    assert answer.status_code == 200, answer.text
    envelope = parse_xml(answer.content)
    check = await node(
        {
            "lib": lib,
            "op": "sign",
            "token": token,
            "key": AES_KEY,
            "id": app_id,
            "text": envelope["Encrypt"],
            "timestamp": envelope["TimeStamp"],
            "nonce": envelope["Nonce"],
        }
    )
    assert check["signature"] == envelope["MsgSignature"]
    opened = await node(
        {
            "lib": lib,
            "op": "decrypt",
            "token": token,
            "key": AES_KEY,
            "id": app_id,
            "text": envelope["Encrypt"],
        }
    )
    assert opened["id"] == app_id
    reply = parse_xml(opened["message"].encode())
    assert reply["ToUserName"] == "o-interop" and "邻里小助手" in reply["Content"]


async def test_wecom_url_check_with_their_echostr(harness: WeChatHarness, clock: FakeClock) -> None:
    ts, nonce = str(int(clock().timestamp())), "interop-nonce-2"
    sealed = await node(
        {
            "lib": "@wecom/crypto",
            "op": "encrypt",
            "token": WECOM_TOKEN,
            "key": AES_KEY,
            "id": CORP_ID,
            "text": "echo-5531",
            "timestamp": ts,
            "nonce": nonce,
        }
    )
    query = {
        "msg_signature": sealed["signature"],
        "timestamp": ts,
        "nonce": nonce,
        "echostr": sealed["encrypt"],
    }
    answer = await harness.client.get("/wecom", params=query)
    assert answer.status_code == 200 and answer.text == "echo-5531"
