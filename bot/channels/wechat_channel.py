"""WeChat official account (公众号) and WeCom (企业微信): signed XML in, numbered text out.

One module for both platforms: they share the signature, the AES message format, the XML
and the 5-second rule, and differ in a few names (`Endpoint.channel` is 'wechat' or 'wecom').

In: verify (signature compared in constant time, timestamp within the allowed skew, nonce
never seen before), decrypt (safe mode), parse with DTDs forbidden, turn into an `Incoming`,
and hand it to `Linli.handle` as a task. Out: when the handler is done within the budget
(4 s by default; WeChat gives up at 5 and retries), its replies are the passive reply; else
the passive reply is empty and the replies follow through the outbox as customer-service
messages. Proactive messages leave through `WeChatSender` / `WeComSender`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from wechatpy import create_reply
from wechatpy import parse_message as parse_oa_message
from wechatpy.crypto import PrpCrypto as OaPrpCrypto
from wechatpy.crypto import WeChatCrypto as OaCrypto
from wechatpy.enterprise import parse_message as parse_wecom_message
from wechatpy.enterprise.crypto import PrpCrypto as WecomPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WecomCrypto
from wechatpy.utils import WeChatSigner

from bot.app import Linli
from bot.channels.wechat_api import AppCredentials, WeChatApi, WeChatApiError
from bot.config import Settings
from bot.delivery import ChannelLimits, SendError
from bot.i18n import translate
from bot.render import numbered_lines
from handlers import menu
from handlers.core import Incoming, Location, Media, Reply
from handlers.router import choices_of
from models.db import Database, utcnow
from models.direct_messages import enqueue_to_account, mark_unsubscribed, offer_pushed_choices
from models.inbox import first_delivery
from models.people import locale_of

log = logging.getLogger("linli.wechat")

# Both platforms cut a text message at 2048 bytes (UTF-8): a Chinese character is 3 of them.
TEXT_MAX_BYTES = 2048
# A WeChat message is a few hundred bytes; anything near this is not WeChat.
MAX_BODY = 64 * 1024
SUCCESS = "success"  # the empty answer that stops WeChat's retries


class Refused(Exception):
    """A request that is answered with `status` and has no effect."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


# ---------------------------------------------------------------- verification and crypto


def signature(*parts: str) -> str:
    """WeChat's SHA-1 over the sorted parts (token, timestamp, nonce[, encrypted body])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a signature."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Endpoint:
    """One platform's callback settings."""

    channel: str  # 'wechat' (official account) or 'wecom'
    token: str
    aes_key: str | None = None  # EncodingAESKey: safe mode (always on WeCom)
    app_id: str = ""  # the AppID (official account) or CorpID (WeCom) the messages carry
    agent_id: int | None = None
    max_skew: int = 300

    @property
    def safe(self) -> bool:
        return bool(self.aes_key)

    def _key(self) -> bytes:
        assert self.aes_key is not None
        return base64.b64decode(self.aes_key + "=")

    def decrypt(self, encrypted: str) -> str:
        """The plaintext of an encrypted body (the AppID/CorpID inside must be ours)."""
        cls = WecomPrpCrypto if self.channel == "wecom" else OaPrpCrypto
        try:
            return str(cls(self._key()).decrypt(encrypted, self.app_id))
        except Exception as err:  # bad base64, padding, or someone else's app id
            raise Refused(400, f"cannot decrypt: {type(err).__name__}") from err

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        """The encrypted envelope of a reply."""
        crypto_cls = WecomCrypto if self.channel == "wecom" else OaCrypto
        crypto = crypto_cls(self.token, self.aes_key, self.app_id)
        return str(crypto.encrypt_message(xml, nonce, timestamp))


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The child elements of an `<xml>` document; DTDs (entity bombs, external entities) refused."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SyntaxError, ValueError) as err:  # ParseError is a SyntaxError
        raise Refused(400, f"bad xml: {type(err).__name__}") from err
    if root.tag != "xml":
        raise Refused(400, "not a WeChat message")
    return {child.tag: (child.text or "") for child in root}


# ---------------------------------------------------------------- platform message → Incoming


@dataclass(frozen=True)
class Parsed:
    """What a message asks of us: an Incoming to handle, or a fixed answer, or nothing."""

    incoming: Incoming | None = None
    answer_key: str | None = None  # a catalog key answered directly (changes nothing)
    unsubscribed: bool = False


def dedupe_key(fields: dict[str, str]) -> str:
    """MsgId for messages; for events FromUserName + CreateTime (WeChat's own advice), plus the
    event and its key, so that two different taps within one second both count."""
    msg_id = fields.get("MsgId") or fields.get("MsgID")
    if msg_id and fields.get("MsgType") != "event":
        return msg_id
    parts = (fields.get(k, "") for k in ("FromUserName", "CreateTime", "Event", "EventKey"))
    return ":".join(parts)


def to_parsed(endpoint: Endpoint, xml: str, fields: dict[str, str]) -> Parsed:
    """The channel-neutral meaning of one (already verified and parsed-safe) message."""
    parse = parse_wecom_message if endpoint.channel == "wecom" else parse_oa_message
    try:
        msg = parse(xml)
    except (KeyError, ValueError, TypeError) as err:
        raise Refused(400, f"not a message: {err}") from err
    user = fields.get("FromUserName", "")
    if not user:
        raise Refused(400, "no sender")
    ch = endpoint.channel
    common: dict[str, Any] = {
        "channel": ch,
        "chat_id": user,
        "user_id": user,
        "message_id": dedupe_key(fields)[:128],
    }
    kind = fields.get("MsgType", "").lower()
    if kind == "text":
        return Parsed(Incoming(text=msg.content or "", **common))
    if kind == "image":
        # The MediaId is what the API serves the picture by (media/get); PicUrl may change.
        ref = msg.media_id or msg.image or ""
        return Parsed(Incoming(photos=(Media(ch, ref, "photo"),), **common))
    if kind == "voice":
        if msg.recognition:
            voice = Media(ch, msg.media_id or "", "voice")
            return Parsed(Incoming(text=msg.recognition, voice=voice, **common))
        return Parsed(answer_key="wechat.voice_needs_text", incoming=Incoming(**common))
    if kind == "location":
        try:
            point = Location(float(msg.location_x), float(msg.location_y))
        except (TypeError, ValueError) as err:
            raise Refused(400, "bad location") from err
        return Parsed(Incoming(location=point, **common))
    if kind == "event":
        return _event(fields, common)
    return Parsed(answer_key="wechat.unsupported", incoming=Incoming(**common))


def _event(fields: dict[str, str], common: dict[str, Any]) -> Parsed:
    event = fields.get("Event", "").lower()
    key = (fields.get("EventKey") or "").strip()
    if event == "subscribe":
        # Scanning an invitation QR code (scene = the code) to follow: like a deep link.
        code = key.removeprefix("qrscene_") if key.startswith("qrscene_") else ""
        return Parsed(Incoming(text=f"/start {code}".strip(), **common))
    if event == "scan":
        return Parsed(Incoming(text=f"/start {key}".strip(), **common))
    if event == "unsubscribe":
        return Parsed(unsubscribed=True, incoming=Incoming(**common))
    if event == "click" and key:
        return Parsed(Incoming(payload=key[:64], **common))
    if event == "enter_agent":  # WeCom: the person opened the app
        return Parsed()
    return Parsed()  # view (a link was opened), location reports, template receipts …


# ---------------------------------------------------------------- Reply → text pieces


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int = TEXT_MAX_BYTES) -> list[str]:
    """Pieces of at most `limit` UTF-8 bytes, cut between paragraphs, else lines, else characters."""
    if utf8_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for sep, parts in (("\n\n", text.split("\n\n")),):
        for part in parts:
            candidate = f"{current}{sep}{part}" if current else part
            if utf8_len(candidate) <= limit:
                current = candidate
                continue
            if current:
                pieces.append(current)
            if utf8_len(part) <= limit:
                current = part
                continue
            current = ""
            for line in part.split("\n"):
                candidate = f"{current}\n{line}" if current else line
                if utf8_len(candidate) <= limit:
                    current = candidate
                    continue
                if current:
                    pieces.append(current)
                current = ""
                for ch in line:
                    if utf8_len(current + ch) > limit:
                        pieces.append(current)
                        current = ""
                    current += ch
    if current:
        pieces.append(current)
    return pieces


def render_texts(replies: list[Reply], hint: str | None) -> list[str]:
    """The replies as one numbered text (as on the console), split into messages WeChat takes."""
    blocks = numbered_lines(replies)
    if hint and choices_of(replies):
        blocks.append(hint)
    text = "\n\n".join(b for b in blocks if b)
    return split_text(text) if text else []


def cdata_safe(text: str) -> str:
    """A text that cannot end the CDATA section it is rendered in."""
    return text.replace("]]>", "]]]]><![CDATA[>")


# ---------------------------------------------------------------- the callback endpoint


@dataclass
class Answered:
    """What one handled message turned into: texts (the first may be the passive reply), pictures."""

    texts: list[str] = field(default_factory=list)
    photo_refs: list[str] = field(default_factory=list)


class WeChatWebhook:
    """GET verification and POST messages of one platform, with the 4-second rule."""

    def __init__(
        self,
        linli: Linli,
        endpoint: Endpoint,
        *,
        api: WeChatApi | None = None,
        budget: float = 4.0,
    ) -> None:
        self.linli = linli
        self.endpoint = endpoint
        self.api = api
        self.budget = budget
        self.late: set[asyncio.Task[None]] = set()
        self.late_answers = 0  # answers that went out as customer-service messages (logs, tests)

    @property
    def channel(self) -> str:
        return self.endpoint.channel

    # -- checks

    def _check_time(self, timestamp: str) -> None:
        try:
            sent = int(timestamp)
        except ValueError as err:
            raise Refused(403, "bad timestamp") from err
        if abs(self.linli.clock().timestamp() - sent) > self.endpoint.max_skew:
            raise Refused(403, "timestamp outside the allowed window")

    async def _check_nonce(self, timestamp: str, nonce: str) -> None:
        """A (timestamp, nonce) pair is accepted once: the inbox table remembers it."""
        if not nonce or len(nonce) > 64:
            raise Refused(403, "bad nonce")
        async with self.linli.db.session() as s:
            fresh = await first_delivery(
                s, f"{self.channel}.nonce", f"{timestamp}:{nonce}", self.linli.clock()
            )
        if not fresh:
            raise Refused(403, "nonce already seen")

    def _check_signature(self, q: dict[str, str], *extra: str, name: str = "signature") -> None:
        expected = signature(
            self.endpoint.token, q.get("timestamp", ""), q.get("nonce", ""), *extra
        )
        if not same(q.get(name), expected):
            raise Refused(403, "wrong signature")

    # -- GET: the platform checks that the URL is ours

    async def verify(self, request: Request) -> Response:
        q = dict(request.query_params)
        echostr = q.get("echostr", "")
        try:
            if self.channel == "wecom":
                self._check_signature(q, echostr, name="msg_signature")
            else:
                self._check_signature(q)
            self._check_time(q.get("timestamp", ""))
            plain = self.endpoint.decrypt(echostr) if self.channel == "wecom" else echostr
            await self._check_nonce(q.get("timestamp", ""), q.get("nonce", ""))
        except Refused as err:
            log.warning("%s verification refused: %s", self.channel, err.why)
            return Response(status_code=err.status)
        return PlainTextResponse(plain)

    # -- POST: a message or an event

    async def receive(self, request: Request) -> Response:
        try:
            body = await _read_limited(request, MAX_BODY)
            q = dict(request.query_params)
            xml, fields = self._open(q, body)
            self._check_time(q.get("timestamp", ""))
            parsed = to_parsed(self.endpoint, xml, fields)
        except Refused as err:
            log.warning("%s request refused (%d): %s", self.channel, err.status, err.why)
            return Response(status_code=err.status)
        # Everything that touches the database runs as a task bounded by the budget: a slow
        # handler (or one holding the database) must not keep the platform waiting.
        task = asyncio.create_task(self._work(parsed, q.get("timestamp", ""), q.get("nonce", "")))
        done, _ = await asyncio.wait({task}, timeout=self.budget)
        if task not in done:
            # Too slow: answer empty now (that stops the retries), send the answer later.
            self._spawn(self._send_late(parsed.incoming, task))
            return PlainTextResponse(SUCCESS)
        try:
            answered = task.result()
        except Refused as err:
            log.warning("%s request refused (%d): %s", self.channel, err.status, err.why)
            return Response(status_code=err.status)
        if not answered.texts:
            if answered.photo_refs and parsed.incoming is not None:
                self._spawn(self._enqueue(parsed.incoming, [], answered.photo_refs, "more"))
            return PlainTextResponse(SUCCESS)
        first, rest = answered.texts[0], answered.texts[1:]
        if (rest or answered.photo_refs) and parsed.incoming is not None:
            self._spawn(self._enqueue(parsed.incoming, rest, answered.photo_refs, "more"))
        reply = create_reply(cdata_safe(first))
        reply.source = fields.get("ToUserName", "")
        reply.target = fields.get("FromUserName", "")
        xml_reply = reply.render()
        if self.endpoint.safe:
            xml_reply = self.endpoint.encrypt(
                xml_reply, q.get("nonce", ""), str(int(self.linli.clock().timestamp()))
            )
        return Response(xml_reply, media_type="application/xml")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run after the HTTP answer; kept so that shutdown and tests can wait for it."""
        task = asyncio.create_task(work)
        self.late.add(task)
        task.add_done_callback(self.late.discard)

    def _open(self, q: dict[str, str], body: bytes) -> tuple[str, dict[str, str]]:
        """Check the signature and return the plaintext XML and its fields."""
        outer = parse_xml(body)
        if self.endpoint.safe:
            # With an EncodingAESKey only encrypted messages count: plain mode's signature
            # covers no part of the body.
            encrypted = outer.get("Encrypt")
            if not encrypted:
                raise Refused(403, "plain message to a safe-mode endpoint")
            self._check_signature(q, encrypted, name="msg_signature")
            xml = self.endpoint.decrypt(encrypted)
            return xml, parse_xml(xml.encode())
        self._check_signature(q)
        return body.decode("utf-8", errors="replace"), outer

    async def _work(self, parsed: Parsed, timestamp: str, nonce: str) -> Answered:
        """Nonce check, then what the message asks for: the texts and pictures to answer."""
        await self._check_nonce(timestamp, nonce)
        inc = parsed.incoming
        if inc is None:
            return Answered()
        if parsed.unsubscribed:
            async with self.linli.db.session() as s:
                await mark_unsubscribed(s, self.channel, inc.user_id, self.linli.clock())
            return Answered()
        if parsed.answer_key is not None:
            async with self.linli.db.session() as s:
                locale = await locale_of(s, self.channel, inc.user_id)
            return Answered([translate(locale, parsed.answer_key)])
        return await self._handle(inc)

    async def _handle(self, inc: Incoming) -> Answered:
        replies = await self.linli.handle(inc)
        if not replies:
            return Answered()
        hint = None
        if choices_of(replies):
            async with self.linli.db.session() as s:
                hint = translate(
                    await locale_of(s, self.channel, inc.user_id), "wechat.reply_number"
                )
        photos: list[str] = []
        for r in replies:
            if r.photo is not None:
                uploaded = await self._upload(r)
                if uploaded:
                    photos.append(uploaded)
            elif r.photo_ref and r.photo_ref.startswith(f"{self.channel}:"):
                photos.append(r.photo_ref)  # a picture this platform already has (a MediaId)
        return Answered(render_texts(replies, hint), photos)

    async def _upload(self, reply: Reply) -> str | None:
        """A picture (an invitation QR code) as temporary media, sent after the text."""
        if self.api is None or reply.photo is None:
            return None
        try:
            data = await self.api.call(
                "/cgi-bin/media/upload",
                params={"type": "image"},
                files={"media": (reply.photo_name or "photo.png", reply.photo, "image/png")},
            )
        except (WeChatApiError, httpx.HTTPError, ValueError) as err:
            log.warning("%s picture upload failed: %s", self.channel, err)
            return None
        return f"{self.channel}:{data['media_id']}"

    async def _enqueue(self, inc: Incoming, texts: list[str], photos: list[str], kind: str) -> None:
        async with self.linli.db.session() as s:
            await enqueue_to_account(
                s,
                channel=self.channel,
                external_id=inc.user_id,
                texts=texts,
                photo_refs=photos,
                dedupe_key=f"{kind}:{self.channel}:{inc.message_id}",
                kind="reply",
                now=self.linli.clock(),
            )
        for listener in self.linli.after_commit:
            listener()

    async def _send_late(self, inc: Incoming | None, task: asyncio.Task[Answered]) -> None:
        try:
            answered = await task
        except Refused as err:
            log.warning("%s request refused after the budget: %s", self.channel, err.why)
            return
        except Exception:
            log.exception("late %s answer failed", self.channel)
            return
        if inc is not None and (answered.texts or answered.photo_refs):
            await self._enqueue(inc, answered.texts, answered.photo_refs, "late")
            self.late_answers += 1
            log.info("%s answer to %s sent late, as a message", self.channel, inc.message_id)

    async def settled(self) -> None:
        """Wait until every late answer is queued (shutdown, tests)."""
        while self.late:
            await asyncio.gather(*self.late, return_exceptions=True)


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it grows past `limit` (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, "body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- delivery (the outbox's way out)


# errcodes: what they mean for a message that could not be sent.
OUTSIDE_WINDOW = frozenset(
    {45015, 45047}
)  # 48-hour window closed / too many since the last contact
GONE = frozenset({43004, 43019, 40003, 60111, 81013})  # unfollowed, blocked us, no such user
THROTTLED = {45009: 3600.0, 45011: 60.0, 45033: 5.0, 45030: 60.0}  # quota exceeded → wait (s)
BUSY = frozenset({-1})


def classify(err: WeChatApiError) -> SendError:
    """A platform error as the delivery worker's kind of failure."""
    if err.errcode in GONE:
        return SendError("blocked", str(err))
    if err.errcode in THROTTLED:
        return SendError("throttled", str(err), retry_after=THROTTLED[err.errcode])
    if err.errcode in BUSY:
        return SendError("retry", str(err))
    return SendError("dead", str(err))


class _ApiSender(ABC):
    """Shared by both platforms: numbered pushed choices, pieces, pictures, error classes."""

    channel: str
    limits: ChannelLimits

    def __init__(
        self,
        api: WeChatApi,
        db: Database,
        limits: ChannelLimits,
        clock: Callable[[], Any] = utcnow,
    ) -> None:
        self.api = api
        self.db = db
        self.limits = limits
        self.clock = clock

    def is_group(self, chat_id: str) -> bool:
        return False

    async def _text(self, chat_id: str, reply: Reply) -> str:
        if not reply.choices:
            return reply.text
        pushed = [[c.label, c.payload] for c in reply.choices]
        async with self.db.session() as s:
            first = await offer_pushed_choices(s, self.channel, chat_id, pushed, self.clock())
        lines = [reply.text, *(f"  {first + i}. {c.label}" for i, c in enumerate(reply.choices))]
        return "\n".join(lines)

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        """Send one outbox row (picture first, then the text in pieces) or raise SendError."""
        try:
            if photo_ref and photo_ref.startswith(f"{self.channel}:"):
                await self._send_image(chat_id, photo_ref.split(":", 1)[1])
            text = await self._text(chat_id, reply)
            for piece in split_text(text) if text else []:
                await self._send_text(chat_id, piece)
        except WeChatApiError as err:
            raise classify(err) from err
        except (httpx.HTTPError, ValueError) as err:  # network, HTTP status, not JSON
            raise SendError("retry", repr(err)[:200]) from err

    @abstractmethod
    async def _send_text(self, chat_id: str, text: str) -> None:
        """One text message through the platform's API."""

    @abstractmethod
    async def _send_image(self, chat_id: str, media_id: str) -> None:
        """One picture the platform already has (by its media id)."""


class WeChatSender(_ApiSender):
    """Official account: customer-service messages inside the 48-hour window, else a template."""

    channel = "wechat"

    def __init__(
        self,
        api: WeChatApi,
        db: Database,
        limits: ChannelLimits,
        *,
        template_id: str | None = None,
        template_field: str = "thing1",
        template_max_chars: int = 20,
        clock: Callable[[], Any] = utcnow,
    ) -> None:
        super().__init__(api, db, limits, clock)
        self.template_id = template_id
        self.template_field = template_field
        self.template_max_chars = template_max_chars

    async def _send_text(self, chat_id: str, text: str) -> None:
        await self.api.call(
            "/cgi-bin/message/custom/send",
            json={"touser": chat_id, "msgtype": "text", "text": {"content": text}},
        )

    async def _send_image(self, chat_id: str, media_id: str) -> None:
        await self.api.call(
            "/cgi-bin/message/custom/send",
            json={"touser": chat_id, "msgtype": "image", "image": {"media_id": media_id}},
        )

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        try:
            await super().send(chat_id, reply, photo_ref)
        except SendError as err:
            cause = err.__cause__
            if not (isinstance(cause, WeChatApiError) and cause.errcode in OUTSIDE_WINDOW):
                raise
            await self._template(chat_id, reply, cause)

    async def _template(self, chat_id: str, reply: Reply, cause: WeChatApiError) -> None:
        """Outside the window: the configured template with the text shortened, or 'dead' saying why."""
        if not self.template_id:
            raise SendError(
                "dead",
                f"outside the 48-hour window ({cause.errcode}) and no WECHAT_TEMPLATE_ID",
            ) from cause
        text = " ".join(reply.text.split())
        if len(text) > self.template_max_chars:
            text = text[: self.template_max_chars - 1] + "…"
        try:
            await self.api.call(
                "/cgi-bin/message/template/send",
                json={
                    "touser": chat_id,
                    "template_id": self.template_id,
                    "data": {self.template_field: {"value": text}},
                },
            )
        except WeChatApiError as err:
            raise classify(err) from err
        except (httpx.HTTPError, ValueError) as err:
            raise SendError("retry", repr(err)[:200]) from err


class WeComSender(_ApiSender):
    """WeCom app messages (no 48-hour window; per-person limits are in `limits`)."""

    channel = "wecom"

    def __init__(
        self,
        api: WeChatApi,
        db: Database,
        limits: ChannelLimits,
        *,
        agent_id: int,
        clock: Callable[[], Any] = utcnow,
    ) -> None:
        super().__init__(api, db, limits, clock)
        self.agent_id = agent_id

    async def _message(self, chat_id: str, body: dict[str, Any]) -> None:
        data = await self.api.call(
            "/cgi-bin/message/send", json={"touser": chat_id, "agentid": self.agent_id, **body}
        )
        # WeCom answers 0 but lists the members it could not reach.
        if data.get("invaliduser") or data.get("unlicenseduser"):
            raise WeChatApiError(81013, f"invalid user {chat_id}")

    async def _send_text(self, chat_id: str, text: str) -> None:
        await self._message(chat_id, {"msgtype": "text", "text": {"content": text}})

    async def _send_image(self, chat_id: str, media_id: str) -> None:
        await self._message(chat_id, {"msgtype": "image", "image": {"media_id": media_id}})


# ---------------------------------------------------------------- custom menu


# Three top-level buttons (WeChat's maximum), each with up to five items of the main menu.
OA_MENU = (
    ("wechat.menu.services", ("report", "benefits", "booking", "status")),
    ("wechat.menu.community", ("vote", "events", "stations", "tasks", "myteam")),
    ("wechat.menu.me", ("register", "mute", "language", "help")),
)
WECOM_MENU = (
    ("wechat.menu.work", ("broadcast", "notices", "pending", "invite", "tasks")),
    ("wechat.menu.services", ("report", "status", "events", "vote", "stations")),
    ("wechat.menu.me", ("myteam", "register", "mute", "language", "help")),
)


def custom_menu(channel: str, locale: str = "zh") -> dict[str, Any]:
    """The platform menu: the main menu's items, grouped; a tap sends `intent:<name>`."""
    keys = dict(menu.ALL_ITEMS)
    buttons = []
    for title_key, names in WECOM_MENU if channel == "wecom" else OA_MENU:
        buttons.append(
            {
                "name": translate(locale, title_key),
                "sub_button": [
                    {"type": "click", "name": translate(locale, keys[n]), "key": f"intent:{n}"}
                    for n in names
                ],
            }
        )
    return {"button": buttons}


async def install_menu(api: WeChatApi, channel: str, agent_id: int | None = None) -> dict[str, Any]:
    """Create (replace) the custom menu of the official account or the WeCom app."""
    params = {"agentid": str(agent_id)} if channel == "wecom" and agent_id is not None else None
    return await api.call("/cgi-bin/menu/create", json=custom_menu(channel), params=params)


MAX_TEMPORARY_QR_SECONDS = 30 * 24 * 3600


async def invitation_qr_url(api: WeChatApi, code: str, seconds_left: int) -> tuple[str, int]:
    """A parametric QR code of the official account carrying an invitation code as its scene.

    Scanning it follows the account (or, for a follower, sends a SCAN event) with the code,
    which onboards the person like a Telegram deep link. WeChat's temporary codes live at most
    30 days; an invitation that lives longer gets a permanent code (their number is limited,
    100,000 per account). Returns the QR content URL and its lifetime in seconds (0: permanent).
    """
    scene = {"scene": {"scene_str": code}}
    if seconds_left <= MAX_TEMPORARY_QR_SECONDS:
        body = {"expire_seconds": seconds_left, "action_name": "QR_STR_SCENE", "action_info": scene}
    else:
        body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": scene}
    data = await api.call("/cgi-bin/qrcode/create", json=body)
    return str(data["url"]), int(data.get("expire_seconds", 0) or 0)


# ---------------------------------------------------------------- wiring from settings


def oa_endpoint(settings: Settings) -> Endpoint | None:
    """The official account's endpoint, when WECHAT_TOKEN is set."""
    if not settings.wechat_token:
        return None
    return Endpoint(
        "wechat",
        settings.wechat_token,
        settings.wechat_encoding_aes_key or None,
        settings.wechat_app_id or "",
        max_skew=settings.wechat_max_clock_skew_seconds,
    )


def wecom_endpoint(settings: Settings) -> Endpoint | None:
    """The WeCom app's endpoint, when WECOM_TOKEN is set (WeCom always encrypts)."""
    if not settings.wecom_token:
        return None
    if not (settings.wecom_encoding_aes_key and settings.wecom_corp_id):
        raise SystemExit("WECOM_TOKEN needs WECOM_ENCODING_AES_KEY and WECOM_CORP_ID")
    return Endpoint(
        "wecom",
        settings.wecom_token,
        settings.wecom_encoding_aes_key,
        settings.wecom_corp_id,
        agent_id=settings.wecom_agent_id,
        max_skew=settings.wechat_max_clock_skew_seconds,
    )


def oa_api(
    settings: Settings, db: Database, *, transport: Any = None, clock: Callable[[], Any] = utcnow
) -> WeChatApi | None:
    """The official account's API client, when the AppID and secret are set."""
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        return None
    app = AppCredentials.official_account(
        settings.wechat_api_base_url, settings.wechat_app_id, settings.wechat_app_secret
    )
    return WeChatApi(db, app, transport=transport, clock=clock)


def wecom_api(
    settings: Settings, db: Database, *, transport: Any = None, clock: Callable[[], Any] = utcnow
) -> WeChatApi | None:
    """The WeCom app's API client, when the CorpID and app secret are set."""
    if not (settings.wecom_corp_id and settings.wecom_corp_secret):
        return None
    app = AppCredentials.wecom(
        settings.wecom_api_base_url, settings.wecom_corp_id, settings.wecom_corp_secret
    )
    return WeChatApi(db, app, transport=transport, clock=clock)


@dataclass
class WeChatChannels:
    """Everything `linli serve` runs for WeChat and WeCom: endpoints, API clients, senders."""

    webhooks: list[tuple[str, WeChatWebhook]] = field(default_factory=list)  # (path, webhook)
    senders: list[_ApiSender] = field(default_factory=list)
    apis: list[WeChatApi] = field(default_factory=list)

    async def settle(self, within: float = 10.0) -> None:
        """Let late answers still being worked on reach the outbox (bounded)."""
        for _path, hook in self.webhooks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hook.settled(), within)

    async def close(self) -> None:
        """Close the HTTP clients (after the delivery worker stopped)."""
        for api in self.apis:
            await api.aclose()


def build_channels(linli: Linli, settings: Settings, *, transport: Any = None) -> WeChatChannels:
    """The configured WeChat / WeCom parts (none when nothing is configured)."""
    out = WeChatChannels()
    clock = linli.clock
    oa = oa_endpoint(settings)
    api = oa_api(settings, linli.db, transport=transport, clock=clock)
    if api is not None:
        out.apis.append(api)
        out.senders.append(
            WeChatSender(
                api,
                linli.db,
                ChannelLimits(settings.wechat_per_second, settings.wechat_per_chat_seconds),
                template_id=settings.wechat_template_id or None,
                template_field=settings.wechat_template_field,
                template_max_chars=settings.wechat_template_max_chars,
                clock=clock,
            )
        )
    if oa is not None:
        hook = WeChatWebhook(linli, oa, api=api, budget=settings.wechat_reply_budget_seconds)
        out.webhooks.append((settings.wechat_path, hook))
    wc = wecom_endpoint(settings)
    wapi = wecom_api(settings, linli.db, transport=transport, clock=clock)
    if wapi is not None and settings.wecom_agent_id is not None:
        out.apis.append(wapi)
        out.senders.append(
            WeComSender(
                wapi,
                linli.db,
                ChannelLimits(
                    settings.wecom_per_second, 60.0 / settings.wecom_per_person_per_minute
                ),
                agent_id=settings.wecom_agent_id,
                clock=clock,
            )
        )
    if wc is not None:
        hook = WeChatWebhook(linli, wc, api=wapi, budget=settings.wechat_reply_budget_seconds)
        out.webhooks.append((settings.wecom_path, hook))
    return out
