"""A WeChat user talking to the real endpoint: signed (and in safe mode encrypted) XML over HTTP.

`WeChatUser.send("取消")` posts what WeChat's servers would post for that message and returns
what the person then sees: the passive reply, and (after `deliver()`) messages pushed through
the customer-service API of the fake server. `press("label")` types the number shown next to
that label, as a person on WeChat does.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import httpx
from sqlalchemy import select
from wechatpy.crypto import PrpCrypto as OaPrpCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WecomPrpCrypto

from bot.app import Linli
from bot.channels.wechat import (
    Endpoint,
    WeChatWebhook,
    build_channels,
    parse_xml,
    signature,
)
from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.web import create_web_app
from models.db import Database
from models.tables import ChannelAccount, Person
from tests.fakes.wechat_server import (
    AGENT_ID,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    FakeWeChatServer,
)

NUMBERED = re.compile(r"(\d+)\. ([^　\n]+)")
_msg_ids = itertools.count(int(time.time()) * 1000)


@dataclass
class Said:
    """One message the person sees."""

    seq: int
    text: str
    passive: bool = True
    photo_id: str | None = None  # a picture message: its MediaId

    @property
    def keyboard(self) -> list[str]:
        """The numbered labels (choices and menu), as `telegram_chat.menu_of` reads them."""
        return [label.strip() for _n, label in NUMBERED.findall(self.text)]

    @property
    def numbered(self) -> list[tuple[int, str]]:
        return [(int(n), label.strip()) for n, label in NUMBERED.findall(self.text)]

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """The numbered choices as (label, the number to type), like Telegram's `Sent.buttons`."""
        return [(label, str(n)) for n, label in self.numbered]

    @property
    def photo(self) -> bool:
        return self.photo_id is not None


class WeChatUser:
    """One follower of the official account (or WeCom member) posting through the endpoint."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        endpoint: Endpoint,
        path: str,
        openid: str,
        clock: Callable[[], datetime],
        server: FakeWeChatServer,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.path = path
        self.openid = openid
        self.chat_id = openid
        self.clock = clock
        self.server = server
        self.heard: list[Said] = []
        self.last_fields: dict[str, str] | None = None
        self.last_status = 0
        self.last_body = b""
        self._taps = 0

    # ---- building and signing requests, as the platform does

    def envelope(self, fields: dict[str, str]) -> str:
        return "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + "</xml>"

    def signed(
        self, xml: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], str]:
        """Query and body of a POST carrying `xml`."""
        ts = timestamp or str(int(self.clock().timestamp()))
        nonce = nonce or secrets.token_hex(8)
        ep = self.endpoint
        query = {"timestamp": ts, "nonce": nonce}
        if ep.channel == "wechat":
            query["signature"] = signature(ep.token, ts, nonce)
            query["openid"] = self.openid
        if not ep.safe:
            return query, xml
        encrypted = self.encrypt(xml)
        query["msg_signature"] = signature(ep.token, ts, nonce, encrypted)
        if ep.channel == "wechat":
            query["encrypt_type"] = "aes"
        body = f"<xml><ToUserName><![CDATA[{ep.app_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return query, body

    def encrypt(self, xml: str) -> str:
        key = self.endpoint._key()
        cls = WecomPrpCrypto if self.endpoint.channel == "wecom" else OaPrpCrypto
        return bytes(cls(key).encrypt(xml, self.endpoint.app_id)).decode()

    def fields(self, **kw: str) -> dict[str, str]:
        base = {
            "ToUserName": self.endpoint.app_id or "gh_linli",
            "FromUserName": self.openid,
            "CreateTime": str(int(self.clock().timestamp())),
        }
        base.update(kw)
        if self.endpoint.channel == "wecom":
            base["AgentID"] = str(self.endpoint.agent_id or 0)
        return base

    async def post(self, query: dict[str, str], body: str | bytes) -> httpx.Response:
        response = await self.client.post(self.path, params=query, content=body)
        self.last_status = response.status_code
        self.last_body = response.content
        return response

    def open_reply(self, response: httpx.Response) -> str:
        """The text of a passive reply ('' for the empty answer)."""
        if response.status_code != 200 or response.text in ("", "success"):
            return ""
        fields = parse_xml(response.content)
        if "Encrypt" in fields:
            ep = self.endpoint
            q = response.request.url.params
            assert fields["MsgSignature"] == signature(
                ep.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"]
            )
            assert fields["Nonce"] == q["nonce"]
            cls = WecomPrpCrypto if ep.channel == "wecom" else OaPrpCrypto
            fields = parse_xml(cls(ep._key()).decrypt(fields["Encrypt"], ep.app_id).encode())
        assert fields["ToUserName"] == self.openid
        return fields.get("Content", "")

    async def deliver(self, fields: dict[str, str]) -> list[Said]:
        """Post one message as the platform would; return what the person sees now."""
        self.last_fields = fields
        query, body = self.signed(self.envelope(fields))
        response = await self.post(query, body)
        assert response.status_code == 200, (response.status_code, response.text)
        text = self.open_reply(response)
        if not text:
            return []
        said = Said(self.server.next_seq(), text)
        self.heard.append(said)
        return [said]

    # ---- what a person does

    async def send(self, text: str) -> list[Said]:
        """Type a message."""
        return await self.deliver(
            self.fields(MsgType="text", Content=text, MsgId=str(next(_msg_ids)))
        )

    async def photo(self, media_id: str, pic_url: str = "http://mmbiz.qpic.cn/x") -> list[Said]:
        return await self.deliver(
            self.fields(
                MsgType="image", PicUrl=pic_url, MediaId=media_id, MsgId=str(next(_msg_ids))
            )
        )

    async def location(self, lat: float, lon: float, label: str = "") -> list[Said]:
        return await self.deliver(
            self.fields(
                MsgType="location",
                Location_X=str(lat),
                Location_Y=str(lon),
                Scale="15",
                Label=label,
                MsgId=str(next(_msg_ids)),
            )
        )

    async def voice(self, recognition: str | None) -> list[Said]:
        extra = {"Recognition": recognition} if recognition is not None else {}
        return await self.deliver(
            self.fields(
                MsgType="voice", MediaId="voice-1", Format="amr", MsgId=str(next(_msg_ids)), **extra
            )
        )

    async def event(self, event: str, key: str | None = None) -> list[Said]:
        """An event (follow, menu tap, scan); each a second after the last, as a person taps."""
        extra = {"EventKey": key} if key is not None else {}
        self._taps += 1
        created = str(int(self.clock().timestamp()) + self._taps)
        return await self.deliver(
            self.fields(MsgType="event", Event=event, **extra) | {"CreateTime": created}
        )

    async def join_by_link(self, code: str) -> list[Said]:
        """Scan an invitation QR code (scene = the code) and follow the account."""
        return await self.event("subscribe", f"qrscene_{code}")

    async def redeliver(self) -> list[Said]:
        """The platform's retry of the last message (same body, newly signed)."""
        assert self.last_fields is not None
        return await self.deliver(self.last_fields)

    def pushed(self) -> list[Said]:
        """Messages that reached this person through the platform's message API."""
        return [
            Said(d.seq, d.text, passive=False, photo_id=d.body.get("image", {}).get("media_id"))
            for d in self.server.to(self.openid)
        ]

    def timeline(self) -> list[Said]:
        return sorted(self.heard + self.pushed(), key=lambda s: s.seq)

    def latest(self) -> str:
        """The newest message this person has (answered or pushed)."""
        return self.timeline()[-1].text

    async def press(self, label: str) -> list[Said]:
        """Type the number shown next to the newest choice containing `label`."""
        for said in reversed(self.timeline()):
            for n, shown in said.numbered:
                if label in shown:
                    return await self.send(str(n))
        raise AssertionError(f"no choice {label!r} in {[s.text for s in self.timeline()]}")

    async def press_payload(self, payload: str) -> list[Said]:
        """A menu tap carrying an arbitrary key (what a forged click event would send)."""
        return await self.event("CLICK", payload)


def reply_text(said: list[Said]) -> str:
    return "\n".join(s.text for s in said)


def query_of(kw: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in kw.items()}


# ---------------------------------------------------------------- the app under test

OA_TOKEN = "linli-oa-token"
WECOM_TOKEN = "linli-wecom-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as the consoles make them


def wechat_settings(settings: Settings, *, safe: bool = False, **extra: Any) -> Settings:
    """The test settings with both platforms configured against the fake server."""
    update: dict[str, Any] = {
        "wechat_token": OA_TOKEN,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_encoding_aes_key": AES_KEY if safe else None,
        "wechat_api_base_url": "http://wechat.fake",
        "wechat_per_second": 1000.0,
        "wechat_per_chat_seconds": 0.0,
        "wecom_token": WECOM_TOKEN,
        "wecom_corp_id": CORP_ID,
        "wecom_corp_secret": CORP_SECRET,
        "wecom_agent_id": AGENT_ID,
        "wecom_encoding_aes_key": AES_KEY,
        "wecom_api_base_url": "http://wecom.fake",
        "wecom_per_second": 1000.0,
        "wecom_per_person_per_minute": 60000.0,
    }
    update.update(extra)
    return settings.model_copy(update=update)


class WeChatHarness:
    """Linli's web app with WeChat and WeCom configured, the fake API server, a delivery worker."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Callable[[], datetime],
        server: FakeWeChatServer | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.server = server or FakeWeChatServer(clock=clock)
        self.linli = Linli(settings, db=db, clock=clock)
        self.channels = build_channels(
            self.linli, settings, transport=httpx.ASGITransport(app=self.server.app)
        )
        self.web = create_web_app(self.linli, settings, None, wechat=self.channels)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.web), base_url="https://linli.test"
        )
        self.worker = DeliveryWorker(db, list(self.channels.senders), clock=clock)

    def hook(self, channel: str = "wechat") -> WeChatWebhook:
        return next(h for _p, h in self.channels.webhooks if h.channel == channel)

    def path(self, channel: str = "wechat") -> str:
        return next(p for p, h in self.channels.webhooks if h.channel == channel)

    def user(self, openid: str, channel: str = "wechat") -> WeChatUser:
        hook = self.hook(channel)
        return WeChatUser(
            self.client, hook.endpoint, self.path(channel), openid, self.clock, self.server
        )

    async def deliver(self) -> int:
        """Late answers queued, then everything due sent."""
        for _p, hook in self.channels.webhooks:
            await hook.settled()
        return await self.worker.drain()

    async def close(self) -> None:
        await self.client.aclose()
        await self.channels.settle()
        await self.channels.close()


async def link_account(db: Database, channel: str, external_id: str, name: str) -> None:
    """Give a demo person an account on `channel` (as an invitation would have)."""
    async with db.session() as s:
        person = (await s.execute(select(Person).where(Person.name == name))).scalar_one()
        s.add(
            ChannelAccount(
                channel=channel, external_id=external_id, chat_id=external_id, person_id=person.id
            )
        )
