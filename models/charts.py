"""Bar charts with Chinese labels (poll results, survey answers, 居民评议), drawn as PNG.

The labels need a font that has the glyphs, or matplotlib draws empty boxes. The font comes
from a PyPI package the project installs (`cvttf-notosanscjk-regular`: Noto Sans CJK, OFL), so
`make install` is enough; when it is missing, a CJK font the system has (Noto Sans CJK,
Source Han Sans, WenQuanYi, found through matplotlib's font manager) is used instead.
`cjk_font()` says which; `tests/test_poll_results.py` checks its character map has the glyphs.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Families known to cover simplified Chinese, in order of preference (system fallback).
SYSTEM_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
)
RED = "#c0392b"


@dataclass(frozen=True)
class CjkFont:
    """The font file the charts use and where it came from ("package" or "system")."""

    path: Path
    source: str


def _packaged_font() -> Path | None:
    try:
        import cvttf_NotoSansCJK_Regular as noto  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        return Path(noto.get_TTF_path())
    except FileNotFoundError:
        return None


@functools.cache
def cjk_font() -> CjkFont | None:
    """The CJK font for charts: the packaged Noto Sans CJK, else a system one, else None."""
    packaged = _packaged_font()
    if packaged is not None and packaged.exists():
        return CjkFont(packaged, "package")
    from matplotlib import font_manager

    for family in SYSTEM_FAMILIES:
        try:
            found = font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        return CjkFont(Path(found), "system")
    return None


def _font_properties() -> Any:
    from matplotlib import font_manager

    font = cjk_font()
    if font is None:
        return font_manager.FontProperties()
    font_manager.fontManager.addfont(str(font.path))
    return font_manager.FontProperties(fname=str(font.path))


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    notes: Sequence[str] | None = None,
    footer: str = "",
    xmax: float | None = None,
) -> bytes:
    """A horizontal bar chart (PNG), labels in Chinese, the first label on top; `notes` are
    written after each bar ("12 票 (40%)"), `footer` under the chart ("参与率 63%")."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fp = _font_properties()
    n = max(1, len(labels))
    fig = Figure(figsize=(6, 1.3 + 0.55 * n), dpi=100)
    ax = fig.subplots()
    ys = list(range(len(labels)))[::-1]
    ax.barh(ys, list(values), color=RED, height=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels([str(label)[:18] for label in labels], fontproperties=fp, fontsize=10)
    top = xmax if xmax is not None else max([*values, 1]) * 1.35
    ax.set_xlim(0, top)
    for y, value, note in zip(ys, values, notes or [""] * len(labels), strict=True):
        ax.text(value + top * 0.01, y, note, va="center", fontproperties=fp, fontsize=9)
    ax.set_title(title[:40], fontproperties=fp, fontsize=12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if footer:
        fig.text(0.5, 0.02, footer, ha="center", fontproperties=fp, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 if footer else 0, 1, 1))
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def card_picture(title: str, subtitle: str, colours: Sequence[str]) -> bytes:
    """An illustrative design drawing (the demo's wall designs): stripes of colour and a name."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fp = _font_properties()
    fig = Figure(figsize=(4, 3), dpi=80)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    band = 0.7 / max(1, len(colours))
    for i, colour in enumerate(colours):
        ax.add_patch(Rectangle((0, 0.3 + i * band), 1, band, color=colour))
    for x in (0.15, 0.45, 0.75):  # windows
        ax.add_patch(Rectangle((x, 0.5), 0.12, 0.18, color="#34495e"))
    ax.text(0.5, 0.17, title, ha="center", fontproperties=fp, fontsize=16)
    ax.text(0.5, 0.05, subtitle, ha="center", fontproperties=fp, fontsize=10, color="#555555")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
