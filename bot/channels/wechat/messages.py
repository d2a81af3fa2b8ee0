"""A platform message as an `Incoming`, and replies as the text pieces WeChat takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wechatpy import parse_message as parse_oa_message
from wechatpy.enterprise import parse_message as parse_wecom_message

from bot.channels.wechat.crypto import Endpoint, Refused
from bot.render import numbered_lines
from handlers.core import Incoming, Location, Media, Reply
from handlers.router import choices_of

# Both platforms cut a text message at 2048 bytes (UTF-8): a Chinese character is 3 of them.
TEXT_MAX_BYTES = 2048


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
