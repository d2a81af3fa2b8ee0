"""The few WeChat / WeCom server APIs Linli calls, over httpx, with one shared access token.

wechatpy's client is synchronous (requests); the handful of endpoints needed here are called
with httpx on the event loop instead. The access token lives in the database
(`models.channel_tokens`): fetched once, shared by every worker, refreshed exactly once when
the platform says it expired (40001 / 40014 / 42001).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from models.channel_tokens import refresh_token, valid_token
from models.db import Database, utcnow

log = logging.getLogger("linli.wechat")

# The platform's answer "this access token is not (or no longer) good".
TOKEN_EXPIRED = frozenset({40001, 40014, 42001})


class WeChatApiError(Exception):
    """An errcode other than 0."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class AppCredentials:
    """Where and how one app gets its token: the official account's or the WeCom app's."""

    name: str  # the token row, and the channel: 'wechat' or 'wecom'
    base_url: str
    token_path: str
    token_params: tuple[tuple[str, str], ...]

    @classmethod
    def official_account(cls, base_url: str, app_id: str, secret: str) -> AppCredentials:
        return cls(
            "wechat",
            base_url,
            "/cgi-bin/token",
            (("grant_type", "client_credential"), ("appid", app_id), ("secret", secret)),
        )

    @classmethod
    def wecom(cls, base_url: str, corp_id: str, secret: str) -> AppCredentials:
        return cls(
            "wecom", base_url, "/cgi-bin/gettoken", (("corpid", corp_id), ("corpsecret", secret))
        )


class WeChatApi:
    """Calls with `access_token` filled in; one fetch however many callers find it expired."""

    def __init__(
        self,
        db: Database,
        app: AppCredentials,
        *,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.db = db
        self.app = app
        self.clock = clock
        self.http = httpx.AsyncClient(
            base_url=app.base_url.rstrip("/"), transport=transport, timeout=timeout
        )
        self._token: str | None = None
        self._expires: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # tokens this object fetched from the platform (tests, logs)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _fetch(self) -> tuple[str, int]:
        response = await self.http.get(self.app.token_path, params=dict(self.app.token_params))
        data = self._json(response)
        self.fetches += 1
        log.info("%s access token fetched", self.app.name)
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def access_token(self, stale: str | None = None) -> str:
        """The shared token; with `stale`, one that is not it (refreshing it if nobody has)."""
        now = self.clock()
        if self._token and self._token != stale and self._expires and self._expires > now:
            return self._token
        async with self._lock:  # one refresh per process at a time ...
            now = self.clock()
            if self._token and self._token != stale and self._expires and self._expires > now:
                return self._token
            if stale is None:
                async with self.db.session() as s:
                    row = await valid_token(s, self.app.name, now)
                    if row is not None and row.token is not None:
                        self._token, self._expires = row.token, row.expires_at
                        return row.token
            # ... and one per database: the row stays locked while one worker fetches.
            async with self.db.session() as s:
                token = await refresh_token(s, self.app.name, now, stale, self._fetch)
                row = await valid_token(s, self.app.name, now)
                self._token = token
                self._expires = row.expires_at if row is not None else None
            return token

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        code = int(data.get("errcode", 0) or 0)
        if code != 0:
            raise WeChatApiError(code, str(data.get("errmsg", "")))
        return data

    async def download(self, media_id: str) -> bytes:
        """A file a person sent (temporary media): its bytes; 40007 once the platform forgot it."""
        token = await self.access_token()
        for attempt in (1, 2):
            response = await self.http.get(
                "/cgi-bin/media/get", params={"media_id": media_id, "access_token": token}
            )
            kind = response.headers.get("content-type", "")
            if response.is_success and not kind.startswith(("application/json", "text/")):
                return response.content
            try:
                self._json(response)
            except WeChatApiError as err:
                if err.errcode in TOKEN_EXPIRED and attempt == 1:
                    token = await self.access_token(stale=token)
                    continue
                raise
            raise WeChatApiError(-1, f"no file in the answer ({kind})")
        raise AssertionError("unreachable")

    async def upload_image(self, data: bytes, content_type: str, name: str) -> str:
        """A picture as temporary media (kept by the platform three days): its media id."""
        answer = await self.call(
            "/cgi-bin/media/upload",
            params={"type": "image"},
            files={"media": (name, data, content_type)},
        )
        return str(answer["media_id"])

    async def call(
        self,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        files: dict[str, Any] | None = None,
        method: str = "POST",
    ) -> dict[str, Any]:
        """Call an API with the token; a token-expired answer refreshes it once and retries once."""
        token = await self.access_token()
        for attempt in (1, 2):
            query = {**(params or {}), "access_token": token}
            if json is not None:
                # WeChat wants the Chinese as it is, not as \\u escapes (and counts bytes).
                body = jsonlib.dumps(json, ensure_ascii=False).encode()
                response = await self.http.request(
                    method,
                    path,
                    params=query,
                    content=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
            else:
                response = await self.http.request(method, path, params=query, files=files)
            try:
                return self._json(response)
            except WeChatApiError as err:
                if err.errcode in TOKEN_EXPIRED and attempt == 1:
                    token = await self.access_token(stale=token)
                    continue
                raise
        raise AssertionError("unreachable")
