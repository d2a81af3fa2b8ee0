"""The media store: pictures and voice notes people send, downloaded once when they arrive.

A platform keeps a file for a while (a WeChat media id three days); a case photo must still be
there after a month, and a volunteer on Telegram must see a WeChat resident's photo. So every
photo and voice note is fetched at receipt from its channel, checked (pictures only, bounded
size; a photo's EXIF location removed), and written under its SHA-256 to a store: a folder
by default, S3-compatible storage (`s3://bucket/prefix`, the `s3` extra) when several
processes serve. Handlers then see `Media("store", key)`. Shown on a channel, a stored file
goes by the copy that channel already has, else it is uploaded there once and remembered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError

from bot.config import Settings
from handlers.core import Incoming, Media
from models.db import Database
from models.media import (
    DRAWN,
    STORE,
    copy_on,
    drawn_bytes,
    record_stored,
    remember_copy,
    stored,
)

log = logging.getLogger("linli.media")

# How long a platform keeps what a person sent there (None: for good).
SOURCE_LIFETIME: dict[str, timedelta | None] = {
    "wechat": timedelta(days=3),
    "wecom": timedelta(days=3),
    "telegram": None,
}
IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
GPS_IFD = 0x8825  # the EXIF block that holds where a picture was taken


class MediaStore(Protocol):
    """Where the bytes live."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (the same key twice: the same bytes)."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes of `key`; KeyError when missing."""
        ...


class FolderStore:
    """A folder on this machine (one process, or a shared volume)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise KeyError(key)
        return self.root / key[:2] / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(_write_atomically, path, data)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as err:
            raise KeyError(key) from err


def _write_atomically(path: Path, data: bytes) -> None:
    if path.exists():
        return  # content-addressed: already there
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class S3Store:
    """S3-compatible object storage (AWS S3, MinIO, Aliyun OSS, Tencent COS) through aioboto3."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
    ) -> None:
        try:
            import aioboto3  # type: ignore[import-not-found]  # the optional `s3` extra
        except ImportError as err:
            raise SystemExit(
                "MEDIA_STORE=s3://… needs the s3 extra: pip install 'linli[s3]'"
            ) from err
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self.endpoint_url = endpoint_url

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        async with self.session.client("s3", endpoint_url=self.endpoint_url) as s3:
            await s3.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            )

    async def get(self, key: str) -> bytes:
        async with self.session.client("s3", endpoint_url=self.endpoint_url) as s3:
            try:
                answer = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
            except s3.exceptions.NoSuchKey as err:
                raise KeyError(key) from err
            async with answer["Body"] as body:
                data: bytes = await body.read()
                return data


def media_store(settings: Settings) -> MediaStore:
    """The store the settings name: `s3://bucket/prefix`, else a folder."""
    where = settings.media_store
    if where.startswith("s3://"):
        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        return S3Store(
            bucket,
            prefix,
            endpoint_url=settings.media_endpoint_url,
            access_key=settings.media_access_key,
            secret_key=settings.media_secret_key,
            region=settings.media_region,
        )
    return FolderStore(where)


# ---------------------------------------------------------------- checks


class NotKept(Exception):
    """A file that is not taken into the store (wrong type, too big)."""


def checked_image(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    """A picture's bytes (EXIF location removed) and type; NotKept for anything else."""
    if len(data) > max_bytes:
        raise NotKept(f"{len(data)} bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            kind = img.format or ""
            if kind not in IMAGE_TYPES:
                raise NotKept(f"not a picture we keep: {kind or 'unknown'}")
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            exif = img.getexif()
            if GPS_IFD not in exif:
                return data, IMAGE_TYPES[kind]
            # Where the picture was taken is not the person's to give away by sending it.
            del exif[GPS_IFD]
            out = io.BytesIO()
            options: dict[str, Any] = {"exif": exif.tobytes()}
            if kind == "JPEG":
                options["quality"] = "keep"
            img.save(out, format=kind, **options)
            return out.getvalue(), IMAGE_TYPES[kind]
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as err:
        raise NotKept(f"not a picture: {type(err).__name__}") from err


def checked_voice(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    """A voice note's bytes, bounded in size."""
    if len(data) > max_bytes:
        raise NotKept(f"{len(data)} bytes")
    return data, "audio/amr" if data.startswith(b"#!AMR") else "audio/ogg"


def content_key(data: bytes, content_type: str) -> str:
    """The file's name in the store: its SHA-256 and an extension."""
    ext = EXTENSIONS.get(content_type, content_type.rpartition("/")[2][:8] or "bin")
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


# ---------------------------------------------------------------- keeping and showing

Fetch = Callable[[str], Awaitable[bytes]]
# Upload bytes to a channel: its reference there and until when it is valid.
Upload = Callable[[bytes, str, str], Awaitable[tuple[str, datetime | None]]]


class MediaKeeper:
    """Takes what people send into the store at receipt; finds or makes a channel's copy to show."""

    def __init__(
        self,
        db: Database,
        store: MediaStore,
        fetchers: dict[str, Fetch],
        clock: Callable[[], datetime],
        *,
        max_photo_bytes: int = 5 * 1024 * 1024,
        max_voice_bytes: int = 2 * 1024 * 1024,
    ) -> None:
        self.db = db
        self.store = store
        self.fetchers = fetchers
        self.clock = clock
        self.max_photo_bytes = max_photo_bytes
        self.max_voice_bytes = max_voice_bytes

    async def keep(self, inc: Incoming) -> Incoming:
        """The message with its photos and voice note in the store (refused pictures dropped)."""
        if not (inc.photos or inc.voice) or inc.channel not in self.fetchers:
            return inc
        photos: list[Media] = []
        for media in inc.photos:
            kept = await self._keep_one(media)
            if kept is not None:
                photos.append(kept)
        voice = await self._keep_one(inc.voice) if inc.voice is not None else None
        if voice is None and inc.voice is not None:
            voice = inc.voice  # a voice note is still a voice note (its recognised text counts)
        return dataclasses.replace(inc, photos=tuple(photos), voice=voice)

    async def _keep_one(self, media: Media) -> Media | None:
        """The stored Media; the original when it cannot be fetched; None for a refused picture."""
        photo = media.kind == "photo"
        limit = self.max_photo_bytes if photo else self.max_voice_bytes
        if media.size is not None and media.size > limit:
            return media  # not downloaded; the handler says it is too big
        try:
            data = await self.fetchers[media.channel](media.ref)
        except Exception as err:  # the platform lost it, or the network: keep the reference
            log.warning("%s %s not fetched: %s", media.channel, media.kind, err)
            return media
        try:
            return await self.keep_bytes(data, media)
        except NotKept as err:
            log.info("%s %s not kept: %s", media.channel, media.kind, err)
            if len(data) > limit:
                return dataclasses.replace(media, size=len(data))  # "too big", said by the handler
            return None if photo else media

    async def keep_file(self, media: Media) -> Media | None:
        """One file into the store outside a message (the picture an Open311 POST points at):
        the stored Media, the original when it cannot be fetched, None for a refused picture."""
        if media.channel not in self.fetchers:
            return media
        return await self._keep_one(media)

    async def keep_bytes(self, data: bytes, media: Media) -> Media:
        """Bytes received as `media` into the store, checked as at receipt (NotKept if refused)."""
        photo = media.kind == "photo"
        limit = self.max_photo_bytes if photo else self.max_voice_bytes
        body, content_type = checked_image(data, limit) if photo else checked_voice(data, limit)
        key = content_key(body, content_type)
        await self.store.put(key, body, content_type)
        now = self.clock()
        lifetime = SOURCE_LIFETIME.get(media.channel)
        async with self.db.session() as s:
            await record_stored(
                s,
                key=key,
                kind=media.kind,
                content_type=content_type,
                size=len(body),
                channel=media.channel,
                ref=media.ref,
                now=now,
                # The original carries EXIF location when it had one: never shown again.
                copy_expires_at=now if body != data else (now + lifetime if lifetime else None),
            )
        return Media(STORE, key, media.kind, len(body), media.name)

    async def read(self, key: str) -> tuple[bytes, str]:
        """A stored file's bytes and type."""
        async with self.db.session() as s:
            row = await stored(s, key)
            drawn = await drawn_bytes(s, key) if row and row.source.startswith(DRAWN) else None
        if row is None:
            raise KeyError(key)
        if drawn is not None:  # a chart the bot drew: kept in the database (models/media.py)
            return drawn, row.content_type
        return await self.store.get(key), row.content_type

    async def copy(self, key: str, channel: str) -> str | None:
        """The file's reference on `channel`, while valid."""
        async with self.db.session() as s:
            return await copy_on(s, key, channel, self.clock())

    async def remember(
        self, key: str, channel: str, ref: str, expires_at: datetime | None = None
    ) -> None:
        """The file is now on `channel` as `ref`."""
        async with self.db.session() as s:
            await remember_copy(s, key, channel, ref, expires_at)

    async def ref_on(self, channel: str, key: str, upload: Upload) -> str:
        """The file's reference on `channel`: the copy it has, else an upload, remembered."""
        async with self.db.session() as s:
            ref = await copy_on(s, key, channel, self.clock())
        if ref is not None:
            return ref
        data, content_type = await self.read(key)
        ref, expires_at = await upload(data, content_type, key)
        async with self.db.session() as s:
            await remember_copy(s, key, channel, ref, expires_at)
        return ref


def stored_key(photo_ref: str | None) -> str | None:
    """The store key of a `store:<key>` reference."""
    if photo_ref and photo_ref.startswith(f"{STORE}:"):
        return photo_ref.split(":", 1)[1]
    return None
