"""The media store: what people send is kept at receipt, checked, and shown on any channel."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.channels.wechat.api import WeChatApiError
from bot.config import Settings
from bot.media_store import GPS_IFD, FolderStore, NotKept, checked_image, content_key
from models.db import Database
from models.media import MediaCopy, StoredMedia
from models.reports import ReportPhoto
from tests.chat import TelegramChatUser
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi
from tests.telegram_chat import texts
from tests.wechat_chat import WeChatHarness, link_account, wechat_settings

WANG, LI = 41, 42


def jpeg(*, gps: bool = False, side: int = 64) -> bytes:
    """A small JPEG with a camera model in its EXIF and, when asked, where it was taken."""
    img = Image.new("RGB", (side, side * 3 // 4), (200, 80, 40))
    exif = Image.Exif()
    exif[0x0110] = "Linli test camera"
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def exif_of(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif()


async def test_the_folder_store_keeps_bytes_under_their_content_key(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "media")
    data = jpeg()
    key = content_key(data, "image/jpeg")
    await store.put(key, data, "image/jpeg")
    await store.put(key, data, "image/jpeg")  # the same file twice: still one
    assert await store.get(key) == data
    assert [p.name for p in (tmp_path / "media").rglob("*") if p.is_file()] == [key]
    with pytest.raises(KeyError):
        await store.get("0" * 64 + ".jpg")
    for bad in ("../../etc/passwd", ".hidden", ""):
        with pytest.raises(KeyError):
            await store.get(bad)


def test_a_photos_exif_location_is_removed_and_the_rest_kept() -> None:
    original = jpeg(gps=True)
    assert exif_of(original).get_ifd(GPS_IFD)
    kept, content_type = checked_image(original, 1024 * 1024)
    assert content_type == "image/jpeg"
    assert GPS_IFD not in exif_of(kept) and exif_of(kept)[0x0110] == "Linli test camera"
    with Image.open(io.BytesIO(kept)) as img:
        assert img.size == (64, 48)
    plain = jpeg()
    assert checked_image(plain, 1024 * 1024) == (plain, "image/jpeg")  # nothing to remove


def test_only_pictures_of_bounded_size_are_kept() -> None:
    with pytest.raises(NotKept):
        checked_image(b"%PDF-1.7 not a picture", 1024)
    with pytest.raises(NotKept):
        checked_image(b"MZ\x90\x00" + b"\x00" * 100, 1024)
    big = jpeg(side=400)
    with pytest.raises(NotKept):
        checked_image(big, len(big) - 1)
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, "BMP")
    with pytest.raises(NotKept):
        checked_image(bmp.getvalue(), 1024 * 1024)  # a picture, but not a kind we keep


async def test_a_wechat_photo_outlives_its_media_id_and_reaches_a_telegram_volunteer(
    settings: Settings, demo: Database, clock: FakeClock, telegram: object, api: FakeBotApi
) -> None:
    """The whole way: received on WeChat, kept, WeChat forgets it, shown on Telegram and WeChat."""
    harness = WeChatHarness(wechat_settings(settings), demo, clock)
    app = await telegram()  # type: ignore[operator]
    try:
        await link_account(demo, "wechat", "o41-wx", "王建国")
        await link_account(demo, "telegram", str(LI), "李红")
        wang = harness.user("o41-wx")
        photo = jpeg(gps=True)
        media_id = harness.server.receive_media(photo)

        await wang.send("3幢后面堆了好多杂物")
        await wang.press("杂物堆放")
        assert "已收到 1 张照片" in texts(await wang.photo(media_id))
        await wang.press("好了")
        await wang.location(28.1418, 120.9701)
        assert "R0001" in texts(await wang.press("✅ 提交"))

        async with demo.session() as s:
            (row,) = (await s.execute(select(ReportPhoto))).scalars().all()
            (kept,) = (await s.execute(select(StoredMedia))).scalars().all()
        assert (row.channel, row.ref) == ("store", kept.key)
        assert kept.source == f"wechat:{media_id}" and kept.content_type == "image/jpeg"
        stored = await harness.linli.media.store.get(kept.key)
        assert GPS_IFD not in exif_of(stored)  # where it was taken did not travel with it

        # A month later WeChat no longer has the picture …
        clock.advance(days=30)
        with pytest.raises(WeChatApiError) as gone:
            await harness.channels.apis[0].download(media_id)
        assert gone.value.errcode == 40007

        # … and the Telegram volunteer who takes the task sees it, uploaded from the store.
        from bot.channels.telegram_channel import TelegramSender
        from bot.delivery import ChannelLimits, DeliveryWorker

        worker = DeliveryWorker(
            demo,
            [TelegramSender(app.bot, ChannelLimits(1000, 0), harness.linli.media)],
            clock=clock,
        )
        await worker.drain()
        li = TelegramChatUser(app, api, LI, "李红")
        assert "新任务" in li.latest()
        assert "接单成功" in texts(await li.press("接单"))
        card = await li.press_payload("task:view:1")
        assert "上报时的照片" in texts(card)
        # Uploaded once, from the store (its first showing); Telegram keeps what was uploaded,
        # so every later showing goes by its file id.
        uploads = [m for m in api.to_chat(LI) if m.upload is not None]
        assert len(uploads) == 1 and uploads[0].upload == stored
        async with demo.session() as s:
            copies = {c.channel: c for c in (await s.execute(select(MediaCopy))).scalars()}
        assert copies["telegram"].ref.startswith("tg-upload-")
        assert [m.photo_id for m in card if m.photo] == [copies["telegram"].ref]

        # The resident looks at his report on WeChat: the picture is uploaded again from the
        # store (the platform answered 40007 for the old media id) and sent after the text.
        view = await wang.press_payload("report:view:1")
        assert "上报时的照片" in texts(view)
        await harness.deliver()
        images = [d for d in harness.server.to("o41-wx") if d.msgtype == "image"]
        assert len(images) == 1
        new_id = images[0].body["image"]["media_id"]
        assert new_id != media_id and harness.server.media[new_id] == stored
    finally:
        await harness.close()


async def test_a_telegram_photo_is_kept_and_shown_to_a_wechat_volunteer(
    settings: Settings, demo: Database, clock: FakeClock, telegram: object, api: FakeBotApi
) -> None:
    """The other way: a Telegram resident's photo, uploaded to WeChat when a volunteer looks."""
    harness = WeChatHarness(wechat_settings(settings), demo, clock)
    app = await telegram()  # type: ignore[operator]
    try:
        await link_account(demo, "telegram", str(WANG), "王建国")
        await link_account(demo, "wechat", "o42-wx", "李红")
        wang = TelegramChatUser(app, api, WANG, "王建国")
        api.files["junk-photo"] = jpeg()  # what getFile serves for the photo's file id
        await wang.send("3幢后面堆了好多杂物")
        await wang.press("杂物堆放")
        assert "已收到 1 张照片" in texts(await wang.photo("junk-photo"))
        await wang.press("好了")
        await wang.location(28.1418, 120.9701)
        assert "R0001" in texts(await wang.press("✅ 提交"))
        async with demo.session() as s:
            (kept,) = (await s.execute(select(StoredMedia))).scalars().all()
            copies = (await s.execute(select(MediaCopy))).scalars().all()
        assert kept.source == "telegram:junk-photo"
        assert [(c.channel, c.ref, c.expires_at) for c in copies] == [
            ("telegram", "junk-photo", None)  # Telegram keeps its file ids: shown by it there
        ]

        await harness.deliver()
        li = harness.user("o42-wx")
        await li.press("接单")
        await li.press_payload("task:view:1")
        await harness.deliver()
        images = [d for d in harness.server.to("o42-wx") if d.msgtype == "image"]
        assert images, [d.text[:20] for d in harness.server.to("o42-wx")]
        uploaded = images[-1].body["image"]["media_id"]
        assert harness.server.media[uploaded] == jpeg()
    finally:
        await harness.close()
