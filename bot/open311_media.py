"""The picture an Open311 POST points at (`media_url`), fetched into the media store.

Only http(s); the host must resolve to public addresses (no loopback, private or link-local
network: a client must not make the bot read the office's intranet); no redirects (a public
URL could redirect inward); a timeout; an image content type; at most the store's photo limit,
counted while reading. What arrives is then checked like a chat photo (`MediaKeeper`: a real
picture, EXIF location removed) and kept under its content key.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from bot.media_store import EXTENSIONS, Fetch

CHANNEL = "open311"  # the media fetchers' name for a URL a client gave
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_URL = 200


class MediaRefused(Exception):
    """A media_url that is not fetched: why, in a few words (for the log and service_notice)."""


async def _public_host(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise MediaRefused("host not found") from err
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise MediaRefused("host is not on the public internet")


def url_fetcher(max_bytes: int, *, allow_private: bool = False) -> Fetch:
    """A fetcher of picture URLs for the media keeper (`allow_private` only for tests)."""

    async def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
            raise MediaRefused("not an http(s) URL")
        if not allow_private:
            await _public_host(
                parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
            )
        async with (
            httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", url, headers={"accept": "image/*"}) as answer,
        ):
            if answer.status_code != 200:
                raise MediaRefused(f"answered {answer.status_code}")
            kind = answer.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in EXTENSIONS:
                raise MediaRefused(f"not a picture ({kind or 'no content type'})")
            length = answer.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise MediaRefused("too big")
            chunks, total = [], 0
            async for chunk in answer.aiter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise MediaRefused("too big")
                chunks.append(chunk)
            return b"".join(chunks)

    return fetch
