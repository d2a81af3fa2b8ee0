"""The door poster of an event: title, time, place, a QR code to scan and the code in print.

A PNG for the chat (and, on Telegram, an A4 PDF to print) drawn with Pillow; the QR code by
`qrcode`. Chinese needs a CJK font: the charts' packaged Noto Sans CJK (`cvttf-notosanscjk-regular`,
a dependency, `models/charts.py`), else a system one (fonts-noto-cjk, WenQuanYi); a machine with none draws
the Chinese in pinyin, so the poster still works (the QR code and the digits carry it).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from models.charts import cjk_font
from models.event_checkin import Poster

# Pages of 150 dpi A4: big enough to print, small enough to send in a chat.
WIDTH, HEIGHT = 1240, 1754
MARGIN = 90

SYSTEM_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2: Simplified Chinese
    ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)


@cache
def cjk_font_file() -> tuple[str, int] | None:
    """A font file (and its index in a collection) that draws Chinese, or None."""
    packaged = cjk_font()  # the charts' packaged Noto Sans CJK (models/charts.py), one font for all
    if packaged is not None and packaged.source == "package":
        return str(packaged.path), 0
    for path_text, index in SYSTEM_FONTS:
        if Path(path_text).is_file():
            return path_text, index
    return None


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font(size: int) -> tuple[Font, bool]:
    """A font of `size` pixels and whether it draws Chinese."""
    found = cjk_font_file()
    if found is not None:
        return ImageFont.truetype(found[0], size, index=found[1]), True
    return ImageFont.load_default(size=size), False


def _drawable(text: str, cjk: bool) -> str:
    """The text as the font can draw it: Chinese in pinyin when there is no CJK font."""
    if cjk:
        return text
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(text))


@dataclass(frozen=True)
class PosterText:
    """The words on the poster, each already in the languages it shows (Chinese first)."""

    title: str
    when: str
    place: str
    scan: str  # "扫码签到 / Scan to check in"
    code: str  # "微信：发送「签到 3821」"


def both(translate: Callable[[str, str], str], key: str, **values: object) -> str:
    """A poster line in Chinese, then English (the poster hangs for everyone)."""
    zh = translate("zh", key).format(**values)
    en = translate("en", key).format(**values)
    return zh if zh == en else f"{zh} · {en}"


def poster_words(translate: Callable[[str, str], str], poster: Poster) -> PosterText:
    """The words of an event's door poster."""
    return PosterText(
        title=poster.title,
        when=poster.when,
        place=poster.place,
        scan=both(translate, "events.poster_scan"),
        code=both(translate, "events.poster_code", code=poster.code),
    )


def qr_image(data: str, box: int) -> Image.Image:
    """The QR code of `data` (error correction M, four-module quiet zone) as a bitmap."""
    qr = qrcode.QRCode(error_correction=qrcode.ERROR_CORRECT_M, box_size=box, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white").get_image()
    return image.convert("RGB")


def _lines(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """`text` wrapped to `width` pixels (by characters: Chinese has no spaces)."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for ch in paragraph:
            if draw.textlength(line + ch, font=font) > width and line:
                out.append(line)
                line = ch
            else:
                line += ch
        out.append(line)
    return out


def poster_png(words: PosterText, qr_data: str) -> bytes:
    """The poster as a PNG of an A4 page at 150 dpi."""
    page = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(page)
    title_font, cjk = _font(72)
    body_font, _ = _font(44)
    small_font, _ = _font(38)
    y = MARGIN
    inner = WIDTH - 2 * MARGIN

    def centred(text: str, font: Font, gap: int, fill: str = "black") -> None:
        nonlocal y
        for line in _lines(draw, _drawable(text, cjk), font, inner):
            left, top, right, bottom = draw.textbbox((0, 0), line, font=font)
            draw.text(((WIDTH - (right - left)) / 2, y), line, font=font, fill=fill)
            y += int(bottom - top) + gap

    centred(words.title, title_font, 24)
    y += 10
    centred(words.when, body_font, 16)
    centred(words.place, body_font, 16)
    y += 30
    qr = qr_image(qr_data, 20)
    size = min(inner, HEIGHT - y - 330)
    qr = qr.resize((size, size), Image.Resampling.NEAREST)
    page.paste(qr, ((WIDTH - size) // 2, y))
    y += size + 30
    centred(words.scan, body_font, 16)
    centred(words.code, small_font, 12, fill="#b00000")
    out = io.BytesIO()
    page.save(out, format="PNG", optimize=True)
    return out.getvalue()


def poster_pdf(png: bytes) -> bytes:
    """The same page as a one-page PDF, to print at A4."""
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format="PDF", resolution=150.0)
    return out.getvalue()
