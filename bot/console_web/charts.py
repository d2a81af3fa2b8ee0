"""Small charts as inline SVG: the browser draws the Chinese names with its own fonts (no CJK
font is needed on the server, unlike a matplotlib PNG), and nothing runs as script."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

PALETTE = ("#2e7d32", "#f9a825", "#ef6c00", "#c62828")


@dataclass(frozen=True)
class Bar:
    """One labelled bar, made of stacked parts (value, colour index)."""

    label: str
    parts: tuple[int, ...]


def stacked_bars(bars: list[Bar], legend: list[str], title: str) -> str:
    """Horizontal stacked bars with their totals, a legend below; an empty chart says nothing."""
    width, label_w, row_h, pad = 560, 130, 30, 8
    top = 28
    height = top + row_h * max(1, len(bars)) + 40
    most = max((sum(b.parts) for b in bars), default=0) or 1
    scale = (width - label_w - 60) / most
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="18" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for i, bar in enumerate(bars):
        y = top + i * row_h
        out.append(f'<text x="0" y="{y + 19}" font-size="13">{escape(bar.label[:12])}</text>')
        x = float(label_w)
        for j, value in enumerate(bar.parts):
            if value <= 0:
                continue
            w = value * scale
            out.append(
                f'<rect x="{x:.1f}" y="{y + pad / 2}" width="{w:.1f}" height="{row_h - pad}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(legend[j])}: {value}</title></rect>'
            )
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 19}" font-size="13">{sum(bar.parts)}</text>')
    y = top + row_h * max(1, len(bars)) + 18
    x = 0
    for j, name in enumerate(legend):
        out.append(
            f'<rect x="{x}" y="{y - 11}" width="12" height="12" fill="{PALETTE[j % len(PALETTE)]}"/>'
        )
        out.append(f'<text x="{x + 16}" y="{y}" font-size="12">{escape(name)}</text>')
        x += 16 + 14 * len(name) + 18
    out.append("</svg>")
    return "".join(out)


def simple_bars(items: list[tuple[str, int]], title: str, unit: str = "") -> str:
    """One value per label (volunteer hours by grid, notices' delivery)."""
    bars = [Bar(label, (value,)) for label, value in items]
    svg = stacked_bars(bars, [unit or title], title)
    return svg
