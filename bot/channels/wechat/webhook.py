"""The callback endpoint: GET verification and POST messages, with the 4-second rule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from wechatpy import create_reply

from bot.app import Linli
from bot.channels.wechat.api import WeChatApi, WeChatApiError
from bot.channels.wechat.crypto import Endpoint, Refused, parse_xml, same, signature
from bot.channels.wechat.messages import Parsed, cdata_safe, dedupe_key, render_texts, to_parsed
from bot.i18n import translate
from bot.media_store import stored_key
from handlers.core import Incoming, Reply
from handlers.router import choices_of
from models.direct_messages import enqueue_to_account, mark_unsubscribed
from models.inbox import first_delivery
from models.passive_replies import (
    PassiveReplyState,
    claim_delivery,
    record_answer,
    record_late,
)
from models.people import locale_of

log = logging.getLogger("linli.wechat")


# A WeChat message is a few hundred bytes; anything near this is not WeChat.
MAX_BODY = 64 * 1024
SUCCESS = "success"  # the empty answer that stops WeChat's retries


# ---------------------------------------------------------------- the callback endpoint


@dataclass
class Answered:
    """What one handled message turned into: texts (the first may be the passive reply), pictures."""

    texts: list[str] = field(default_factory=list)
    photo_refs: list[str] = field(default_factory=list)
    retry: bool = False  # a retry of a message answered before: nothing more to queue


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
        key = dedupe_key(fields)[:128]
        pair = f"{q.get('timestamp', '')}:{q.get('nonce', '')}"
        task = asyncio.create_task(self._work(parsed, key, pair))
        done, _ = await asyncio.wait({task}, timeout=self.budget)
        if task not in done:
            # Too slow: answer empty now (that stops the retries), send the answer later.
            self._spawn(self._send_late(parsed.incoming, key, task))
            return PlainTextResponse(SUCCESS)
        try:
            answered = task.result()
        except Refused as err:
            log.warning("%s request refused (%d): %s", self.channel, err.status, err.why)
            return Response(status_code=err.status)
        if answered.retry:
            log.info("%s retry of %s answered as before", self.channel, key)
        if not answered.texts:
            if answered.photo_refs and parsed.incoming is not None:
                self._spawn(self._enqueue(parsed.incoming, [], answered.photo_refs, "more"))
            return PlainTextResponse(SUCCESS)
        first, rest = answered.texts[0], answered.texts[1:]
        if (rest or answered.photo_refs) and parsed.incoming is not None and not answered.retry:
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

    async def _work(self, parsed: Parsed, key: str, pair: str) -> Answered:
        """Nonce check (a retry gets its first answer again), then what the message asks for."""
        nonce = pair.partition(":")[2]
        if not nonce or len(nonce) > 64:
            raise Refused(403, "bad nonce")
        async with self.linli.db.session() as s:
            delivery = await claim_delivery(s, self.channel, key, pair, self.linli.clock())
        if delivery.refused:
            raise Refused(403, "nonce already seen")
        if not delivery.first:
            # The platform's retry: the same passive reply again, or the empty answer while
            # the first is still being worked on or went out late (it arrives once, as a message).
            answered = delivery.state == PassiveReplyState.ANSWERED and delivery.text
            return Answered([delivery.text] if answered and delivery.text else [], retry=True)
        answered_now = await self._answer(parsed)
        async with self.linli.db.session() as s:
            await record_answer(
                s, self.channel, key, answered_now.texts[0] if answered_now.texts else ""
            )
        return answered_now

    async def _answer(self, parsed: Parsed) -> Answered:
        """What a first delivery asks for: the texts and pictures to answer."""
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
            # An album's pictures follow the text, in order (the text numbers them).
            photos += [ref for ref, _caption in r.album
                       if ref.startswith(f"{self.channel}:") or stored_key(ref)]  # fmt: skip
            if r.photo is not None:
                uploaded = await self._upload(r)
                if uploaded:
                    photos.append(uploaded)
            elif r.photo_ref and r.photo_ref.startswith(f"{self.channel}:"):
                photos.append(r.photo_ref)  # a picture this platform already has (a MediaId)
            elif stored_key(r.photo_ref):
                photos.append(str(r.photo_ref))  # from the media store: the sender uploads it
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

    async def _enqueue(
        self, inc: Incoming, texts: list[str], photos: list[str], kind: str, late_key: str = ""
    ) -> None:
        async with self.linli.db.session() as s:
            if late_key:
                await record_late(s, self.channel, late_key)
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

    async def _send_late(
        self, inc: Incoming | None, key: str, task: asyncio.Task[Answered]
    ) -> None:
        try:
            answered = await task
        except Refused as err:
            log.warning("%s request refused after the budget: %s", self.channel, err.why)
            return
        except Exception:
            log.exception("late %s answer failed", self.channel)
            return
        if answered.retry:
            return  # the first delivery answers (or answered) this message
        if inc is None or not (answered.texts or answered.photo_refs):
            async with self.linli.db.session() as s:
                await record_late(s, self.channel, key)
            return
        # Queued once (dedupe key) in the transaction that marks the message `late`.
        await self._enqueue(inc, answered.texts, answered.photo_refs, "late", late_key=key)
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
