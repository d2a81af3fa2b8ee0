"""A fake WeChat / WeCom API server: the endpoints Linli calls, with the platform's errors.

`FakeWeChatServer.app` is a Starlette app serving, like api.weixin.qq.com and
qyapi.weixin.qq.com do:

- GET  /cgi-bin/token?grant_type=client_credential&appid=&secret=   (official account)
- GET  /cgi-bin/gettoken?corpid=&corpsecret=                          (WeCom)
- POST /cgi-bin/message/custom/send      customer-service message (48-hour window)
- POST /cgi-bin/message/template/send    template message
- POST /cgi-bin/message/send             WeCom app message (`invaliduser` for unknown members)
- POST /cgi-bin/menu/create              custom menu
- POST /cgi-bin/media/upload, GET /cgi-bin/media/get   temporary media (40007 after 3 days)

Every call but the token ones needs a live `access_token` (40001 otherwise, 42001 once
`expire_tokens()` was called). `outside_window` users get 45015, `unsubscribed` ones 43004,
and after `quota` successful sends everything gets 45009. Tests use it in-process through
httpx's ASGI transport, or over a real socket with `serving()`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

APP_ID = "wx-test-app"
APP_SECRET = "wx-test-secret"
CORP_ID = "ww-test-corp"
CORP_SECRET = "ww-test-secret"
AGENT_ID = 1000002
MEDIA_LIFETIME = timedelta(days=3)  # temporary media: what people send, and uploads


@dataclass
class Delivered:
    """One message the fake platform accepted."""

    seq: int
    api: str  # 'custom', 'template', 'wecom'
    touser: str
    msgtype: str
    text: str
    body: dict[str, Any]


@dataclass
class FakeWeChatServer:
    """State and behaviour of the platform side."""

    token_requests: int = 0
    live_tokens: set[str] = field(default_factory=set)
    expired_tokens: set[str] = field(default_factory=set)
    delivered: list[Delivered] = field(default_factory=list)
    menus: list[dict[str, Any]] = field(default_factory=list)
    qrcodes: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    media_created: dict[str, datetime] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    outside_window: set[str] = field(default_factory=set)
    unsubscribed: set[str] = field(default_factory=set)
    invalid_members: set[str] = field(default_factory=set)
    quota: int | None = None  # successful sends left before 45009
    calls: list[tuple[str, int]] = field(default_factory=list)  # (path, errcode)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_seq(self) -> int:
        """A number shared with the test client, to order passive replies and pushed messages."""
        return next(self._seq)

    def expire_tokens(self) -> None:
        """Every token handed out so far is now expired (the next call answers 42001)."""
        self.expired_tokens |= self.live_tokens
        self.live_tokens = set()

    def receive_media(self, data: bytes) -> str:
        """A file a person sends in the chat: the platform keeps it as temporary media."""
        media_id = f"received-{len(self.media) + 1}"
        self.media[media_id] = data
        self.media_created[media_id] = self.clock()
        return media_id

    def has_media(self, media_id: str) -> bool:
        """Whether the platform still keeps this temporary media."""
        created = self.media_created.get(media_id)
        if media_id not in self.media:
            return False
        return created is None or self.clock() - created <= MEDIA_LIFETIME

    def to(self, user: str) -> list[Delivered]:
        """What reached one user."""
        return [d for d in self.delivered if d.touser == user]

    # ---- HTTP

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/token", self._token, methods=["GET"]),
                Route("/cgi-bin/gettoken", self._gettoken, methods=["GET"]),
                Route("/cgi-bin/message/custom/send", self._custom, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self._template, methods=["POST"]),
                Route("/cgi-bin/message/send", self._wecom_send, methods=["POST"]),
                Route("/cgi-bin/menu/create", self._menu, methods=["POST"]),
                Route("/cgi-bin/qrcode/create", self._qrcode, methods=["POST"]),
                Route("/cgi-bin/media/upload", self._upload, methods=["POST"]),
                Route("/cgi-bin/media/get", self._media_get, methods=["GET"]),
            ]
        )

    def _answer(self, path: str, errcode: int, errmsg: str = "ok", **extra: Any) -> Response:
        self.calls.append((path, errcode))
        return JSONResponse({"errcode": errcode, "errmsg": errmsg, **extra})

    def _issue(self) -> dict[str, Any]:
        self.token_requests += 1
        token = secrets.token_urlsafe(24)
        self.live_tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    async def _token(self, request: Request) -> Response:
        q = request.query_params
        if q.get("grant_type") != "client_credential" or q.get("appid") != APP_ID:
            return self._answer("token", 40013, "invalid appid")
        if q.get("secret") != APP_SECRET:
            return self._answer("token", 40125, "invalid appsecret")
        self.calls.append(("token", 0))
        return JSONResponse(self._issue())

    async def _gettoken(self, request: Request) -> Response:
        q = request.query_params
        if q.get("corpid") != CORP_ID or q.get("corpsecret") != CORP_SECRET:
            return self._answer("gettoken", 40001, "invalid credential")
        return JSONResponse({"errcode": 0, "errmsg": "ok", **self._issue()})

    def _check_token(self, request: Request) -> int:
        token = request.query_params.get("access_token", "")
        if token in self.live_tokens:
            return 0
        return 42001 if token in self.expired_tokens else 40001

    def _quota_spent(self) -> bool:
        if self.quota is None:
            return False
        if self.quota <= 0:
            return True
        self.quota -= 1
        return False

    async def _json(self, request: Request) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(await request.body())
        return data

    def _record(self, api: str, body: dict[str, Any]) -> None:
        msgtype = body.get("msgtype", "template")
        if msgtype == "text":
            text = body["text"]["content"]
        elif api == "template":
            text = " ".join(v["value"] for v in body.get("data", {}).values())
        else:
            text = ""
        self.delivered.append(Delivered(self.next_seq(), api, body["touser"], msgtype, text, body))

    async def _custom(self, request: Request) -> Response:
        if code := self._check_token(request):
            return self._answer("custom", code, "access_token expired")
        body = await self._json(request)
        user = body.get("touser", "")
        if user in self.unsubscribed:
            return self._answer("custom", 43004, "require subscribe")
        if user in self.outside_window:
            return self._answer("custom", 45015, "response out of time limit")
        if body.get("msgtype") == "text" and len(body["text"]["content"].encode()) > 2048:
            return self._answer("custom", 45002, "content size out of limit")
        if body.get("msgtype") == "image" and not self.has_media(body["image"]["media_id"]):
            return self._answer("custom", 40007, "invalid media_id")
        if self._quota_spent():
            return self._answer("custom", 45009, "reach max api daily quota limit")
        self._record("custom", body)
        return self._answer("custom", 0)

    async def _template(self, request: Request) -> Response:
        if code := self._check_token(request):
            return self._answer("template", code, "access_token expired")
        body = await self._json(request)
        if body.get("touser") in self.unsubscribed:
            return self._answer("template", 43004, "require subscribe")
        if self._quota_spent():
            return self._answer("template", 45009, "reach max api daily quota limit")
        self._record("template", body)
        return self._answer("template", 0, msgid=len(self.delivered))

    async def _wecom_send(self, request: Request) -> Response:
        if code := self._check_token(request):
            return self._answer("wecom", code, "access_token expired")
        body = await self._json(request)
        if body.get("agentid") != AGENT_ID:
            return self._answer("wecom", 40056, "invalid agentid")
        if body.get("touser") in self.invalid_members:
            return self._answer("wecom", 0, invaliduser=body["touser"])
        if self._quota_spent():
            return self._answer("wecom", 45009, "api freq out of limit")
        self._record("wecom", body)
        return self._answer("wecom", 0, msgid=str(len(self.delivered)))

    async def _menu(self, request: Request) -> Response:
        if code := self._check_token(request):
            return self._answer("menu", code, "access_token expired")
        body = await self._json(request)
        buttons = body.get("button", [])
        if not 1 <= len(buttons) <= 3 or any(len(b.get("sub_button", [])) > 5 for b in buttons):
            return self._answer("menu", 40016, "invalid button size")
        if any(len(b["name"].encode()) > 16 for b in buttons):
            return self._answer("menu", 40018, "invalid button name size")
        self.menus.append({"agentid": request.query_params.get("agentid"), **body})
        return self._answer("menu", 0)

    async def _qrcode(self, request: Request) -> Response:
        """Parametric QR codes: temporary (at most 30 days) or permanent, scene_str 1–64 chars."""
        if code := self._check_token(request):
            return self._answer("qrcode", code, "access_token expired")
        body = await self._json(request)
        scene = str(body.get("action_info", {}).get("scene", {}).get("scene_str", ""))
        action = body.get("action_name")
        expire = int(body.get("expire_seconds", 0) or 0)
        if not 1 <= len(scene) <= 64 or action not in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
            return self._answer("qrcode", 40053, "invalid action info")
        if action == "QR_STR_SCENE" and not 60 <= expire <= 2_592_000:
            return self._answer("qrcode", 40009, "invalid expire_seconds")
        ticket = f"gQ{len(self.qrcodes) + 1:04d}"
        self.qrcodes.append({"scene": scene, "action": action, "expire_seconds": expire})
        extra = {"expire_seconds": expire} if action == "QR_STR_SCENE" else {}
        return self._answer(
            "qrcode", 0, ticket=ticket, url=f"http://weixin.qq.com/q/{ticket}", **extra
        )

    async def _upload(self, request: Request) -> Response:
        if code := self._check_token(request):
            return self._answer("upload", code, "access_token expired")
        data = _form_file(request.headers.get("content-type", ""), await request.body(), "media")
        if data is None:
            return self._answer("upload", 41005, "media data missing")
        media_id = f"media-{len(self.media) + 1}"
        self.media[media_id] = data
        self.media_created[media_id] = self.clock()
        self.calls.append(("upload", 0))
        return JSONResponse({"type": "image", "media_id": media_id, "created_at": 0})

    async def _media_get(self, request: Request) -> Response:
        if code := self._check_token(request):
            return self._answer("media", code, "access_token expired")
        media_id = request.query_params.get("media_id", "")
        if not self.has_media(media_id):
            return self._answer("media", 40007, "invalid media_id")
        data = self.media[media_id]
        self.calls.append(("media", 0))
        return Response(data, media_type="image/png")


def _form_file(content_type: str, body: bytes, name: str) -> bytes | None:
    """The bytes of one file field of a multipart/form-data body (the standard library's parser)."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


@asynccontextmanager
async def serving(server: FakeWeChatServer) -> AsyncIterator[str]:
    """Serve the fake on a real local socket for the duration; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(server.app, log_level="warning", lifespan="off", access_log=False)
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    try:
        # The socket already listens: connections queue in its backlog until uvicorn accepts.
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        await task
        sock.close()
